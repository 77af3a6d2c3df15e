//! `micro proto breaking`'s comparison on fixtures: `breaking/after` breaks every rule against
//! `breaking/before` (and keeps a reserved field and value, which are not breaks);
//! `breaking/additive` only adds.

mod common;

use std::collections::BTreeSet;

use micro_codegen::breaking::{self, RULES};
use micro_codegen::protos;

use common::{fixtures, settings};

fn compiled(version: &str) -> protos::Compiled {
    let root = fixtures().join("breaking").join(version);
    let files = protos::find(&root).unwrap();
    protos::compile(&files, &[root]).expect("the fixtures compile")
}

fn changes(from: &str, to: &str) -> Vec<micro_codegen::lint::Finding> {
    let packages: BTreeSet<String> = ["shop.v1".to_owned()].into();
    breaking::compare(&compiled(from).pool, &compiled(to).pool, &packages)
}

#[test]
fn every_kind_of_break_is_found_where_it_is() {
    let found = changes("before", "after");
    let fired: BTreeSet<&str> = found.iter().map(|f| f.rule).collect();
    let all: BTreeSet<&str> = RULES.iter().map(|(id, _)| *id).collect();
    assert_eq!(fired, all, "never fired: {:?}", all.difference(&fired));
    // What was reserved is not reported.
    assert!(
        found
            .iter()
            .all(|f| !f.item.ends_with(".legacy") && !f.item.ends_with("ORDER_STATUS_OLD")),
        "{found:#?}"
    );
    let text: Vec<String> = found
        .iter()
        .map(|f| format!("{}{f}", if f.earlier { "(before) " } else { "" }))
        .collect();
    settings().bind(|| insta::assert_snapshot!("breaking_changes", text.join("\n")));
}

#[test]
fn additions_break_nothing() {
    assert_eq!(changes("before", "additive"), []);
    assert_eq!(changes("before", "before"), []);
}
