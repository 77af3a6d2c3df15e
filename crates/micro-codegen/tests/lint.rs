//! `micro proto lint`'s rules on fixtures: `lint/shop/v1/messy.proto` and `lint/misplaced/` break
//! every rule, `lint/shop/v1/clean.proto` none.

mod common;

use std::collections::BTreeSet;

use micro_codegen::lint::{self, RULES};
use micro_codegen::protos;

use common::{fixtures, settings};

fn findings(except: &BTreeSet<String>) -> Vec<lint::Finding> {
    let root = fixtures().join("lint");
    let files = protos::find(&root).unwrap();
    let compiled = protos::compile(&files, &[root]).expect("the fixtures compile");
    lint::lint(&compiled.pool, &compiled.requested, except)
}

#[test]
fn every_rule_fires_on_the_messy_contracts_and_none_on_the_clean_one() {
    let found = findings(&BTreeSet::new());
    let fired: BTreeSet<&str> = found.iter().map(|f| f.rule).collect();
    let all: BTreeSet<&str> = RULES.iter().map(|r| r.id).collect();
    assert_eq!(
        fired,
        all,
        "rules that never fired: {:?}",
        all.difference(&fired)
    );
    assert!(
        found.iter().all(|f| f.file != "shop/v1/clean.proto"),
        "{:#?}",
        found
            .iter()
            .filter(|f| f.file == "shop/v1/clean.proto")
            .collect::<Vec<_>>()
    );
    // Every finding has a position and a fix.
    assert!(found.iter().all(|f| f.line > 0 && !f.fix.is_empty()));
    let text: Vec<String> = found.iter().map(ToString::to_string).collect();
    settings().bind(|| insta::assert_snapshot!("lint_findings", text.join("\n")));
}

#[test]
fn excepted_rules_are_not_reported() {
    let except: BTreeSet<String> = ["ENUM_VALUE_PREFIX", "RPC_REQUEST_RESPONSE_UNIQUE"]
        .map(str::to_owned)
        .into();
    let found = findings(&except);
    assert!(!found.is_empty());
    assert!(found.iter().all(|f| !except.contains(f.rule)), "{found:#?}");
}
