//! `micro proto server` on a file its user already has: only the RPCs its `impl` block lacks are
//! added, every byte already there kept; files that cannot be read are refused, not rewritten.

use std::collections::BTreeSet;

use micro_codegen::model::Package;
use micro_codegen::stubs::{AppendError, append_missing, render};
use micro_codegen::{model, protos};

mod common;
use common::{fixtures, settings};

/// The echo fixture's model: one service with unary, server-, client- and bidi-streaming RPCs.
fn echo() -> Package {
    let root = fixtures();
    let compiled = protos::compile(&[root.join("echo/v1/echo.proto")], &[root]).unwrap();
    let packages = BTreeSet::from(["echo.v1".to_owned()]);
    model(&compiled.pool, &packages).unwrap().remove(0)
}

/// The skeleton as it was before the contract gained its last `added` RPCs.
fn older_skeleton(package: &Package, added: usize) -> String {
    let mut older = package.services[0].clone();
    older.methods.truncate(older.methods.len() - added);
    render(package, &older).unwrap()
}

#[test]
fn missing_rpcs_are_appended_and_nothing_else_changes() {
    let package = echo();
    let service = &package.services[0];
    let expected: Vec<String> = service.methods[service.methods.len() - 2..]
        .iter()
        .map(|m| m.name.clone())
        .collect();
    // The user's hand: a comment, and a body of their own.
    let edited = older_skeleton(&package, 2).replacen(
        "Err(Status::unimplemented(",
        "// mine\n        Err(Status::unimplemented(",
        1,
    );
    let appended = append_missing(&package, service, &edited)
        .unwrap()
        .expect("two RPCs are missing");
    assert_eq!(appended.added, expected);
    let end = edited.rfind("\n}").unwrap();
    assert!(appended.contents.starts_with(&edited[..end]));
    assert!(appended.contents.ends_with(&edited[end..]));
    assert!(appended.contents.contains("// mine"));
    syn::parse_file(&appended.contents).expect("still Rust");
    settings().bind(|| insta::assert_snapshot!("stubs_appended", appended.contents));

    // Run again, nothing is missing: the file is left alone.
    assert_eq!(
        append_missing(&package, service, &appended.contents).unwrap(),
        None
    );
}

#[test]
fn the_trait_is_found_under_a_name_of_the_users_and_in_an_empty_block() {
    let package = echo();
    let service = &package.services[0];
    let user_file = "use crate::api::echo::v1::echo_server::Echo as Api;\n\
                     use tonic::{Request, Response, Status};\n\n\
                     pub struct Mine;\n\n\
                     #[tonic::async_trait]\n\
                     impl Api for Mine {}\n";
    let appended = append_missing(&package, service, user_file)
        .unwrap()
        .expect("every RPC is missing");
    assert_eq!(appended.added.len(), service.methods.len());
    assert!(
        appended
            .contents
            .starts_with(&user_file[..user_file.len() - 2])
    );
    assert!(
        appended
            .contents
            .contains("impl Api for Mine {\n    async fn ")
    );
    assert!(appended.contents.ends_with("    }\n}\n"));
    // The package's types are named in full: this file imports none of them.
    assert!(appended.contents.contains("crate::api::echo::v1::"));
    syn::parse_file(&appended.contents).expect("still Rust");
}

#[test]
fn a_file_that_cannot_be_read_is_left_alone_with_a_reason() {
    let package = echo();
    let service = &package.services[0];
    let broken = older_skeleton(&package, 1).replacen("pub struct", "pub struct struct", 1);
    let err = append_missing(&package, service, &broken).unwrap_err();
    assert!(
        matches!(err, AppendError::Unparsable { line, .. } if line > 1),
        "{err}"
    );
    assert!(err.to_string().contains("does not parse"), "{err}");

    let elsewhere = "pub struct Echoing;\nimpl Echoing {}\n";
    let err = append_missing(&package, service, elsewhere).unwrap_err();
    assert!(
        err.to_string().contains("no `impl Echo for …` block"),
        "{err}"
    );
}
