//! The generator called as a library, without the CLI: fixture contracts compiled in-process and
//! every file generated from them pinned whole, so any change to generated code shows up here as
//! a diff to review.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use micro_codegen::{Options, generate, openapi, protos};

mod common;
use common::{fixtures, settings};

/// Every file generated from the contracts under `root`, as `== path` and its text.
fn generated(root: &Path, files: &[&str], options: &Options) -> String {
    let files: Vec<PathBuf> = files.iter().map(|file| root.join(file)).collect();
    let compiled = protos::compile(&files, &[root.to_owned()]).expect("the fixtures compile");
    let packages: BTreeSet<String> = compiled
        .pool
        .files()
        .filter(|file| !protos::Compiled::is_bundled(file.name()))
        .map(|file| file.package_name().to_owned())
        .collect();
    let info = openapi::Info {
        title: "fixture".into(),
        version: "0.1.0".into(),
    };
    let output = generate(&compiled.pool, &packages, options, &info).expect("generation succeeds");
    assert!(output.warnings.is_empty(), "{:?}", output.warnings);
    let mut files = output.files;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
        .iter()
        .map(|file| format!("== {}\n{}", file.path.display(), file.contents))
        .collect()
}

#[test]
fn the_echo_contract_generates_as_pinned() {
    let output = generated(&fixtures(), &["echo/v1/echo.proto"], &Options::default());
    settings().bind(|| insta::assert_snapshot!("codegen_echo", output));
}

#[test]
fn the_tricky_contracts_generate_as_pinned_with_proto_field_names_and_nats_clients() {
    let options = Options {
        proto_field_names: true,
        nats: true,
        ..Options::default()
    };
    let output = generated(
        &fixtures().join("tricky"),
        &[
            "common/v1/types.proto",
            "shop/v1/shop.proto",
            "shop/admin/v1/admin.proto",
        ],
        &options,
    );
    settings().bind(|| insta::assert_snapshot!("codegen_tricky_proto_names", output));
}

#[test]
fn a_contract_error_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let contract = dir.path().join("bad/v1/bad.proto");
    fs_err::create_dir_all(contract.parent().unwrap()).unwrap();
    // A route whose variable names no field of the request.
    fs_err::write(
        &contract,
        "syntax = \"proto3\";\npackage bad.v1;\nimport \"google/api/annotations.proto\";\n\
         message Req { string id = 1; }\nmessage Rep {}\n\
         service Bad { rpc Get(Req) returns (Rep) { option (google.api.http) = { get: \"/v1/{missing}\" }; } }\n",
    )
    .unwrap();
    let compiled = protos::compile(&[contract], &[dir.path().to_owned()]).unwrap();
    let packages = BTreeSet::from(["bad.v1".to_owned()]);
    let info = openapi::Info {
        title: "bad".into(),
        version: "0.1.0".into(),
    };
    let err = generate(&compiled.pool, &packages, &Options::default(), &info).unwrap_err();
    let err = err
        .downcast::<micro_codegen::ContractError>()
        .expect("a typed contract error");
    assert_eq!(err.file, "bad/v1/bad.proto");
    assert!(err.to_string().contains("missing"), "{err}");
}

/// Access rules that could not be enforced stop generation, naming the line and the fix.
#[test]
fn access_rules_that_cannot_hold_are_refused_with_their_line() {
    let cases = [
        (
            "option (micro.auth.min_role) = \"ROOT\";",
            "",
            "`ROOT` is not a role of `bad.v1.Role`; it has ROLE_READER, ROLE_WRITER",
        ),
        (
            "option (micro.auth.min_role) = \"writer\"; option (micro.auth.public) = true;",
            "",
            "cannot be `public` and have a `min_role`",
        ),
        (
            "",
            "enum Other { option (micro.auth.roles) = true; OTHER_UNSPECIFIED = 0; OTHER_A = 1; }",
            "already has a roles enum, `bad.v1.Role`",
        ),
    ];
    for (method_options, more, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let contract = dir.path().join("bad/v1/bad.proto");
        fs_err::create_dir_all(contract.parent().unwrap()).unwrap();
        fs_err::write(
            &contract,
            format!(
                "syntax = \"proto3\";\npackage bad.v1;\nimport \"micro/auth.proto\";\n\
                 enum Role {{ option (micro.auth.roles) = true; ROLE_UNSPECIFIED = 0; \
                 ROLE_READER = 1; ROLE_WRITER = 2; }}\n{more}\n\
                 message Req {{}}\nmessage Rep {{}}\n\
                 service Bad {{\n  rpc Get(Req) returns (Rep) {{ {method_options} }}\n}}\n"
            ),
        )
        .unwrap();
        let compiled = protos::compile(&[contract], &[dir.path().to_owned()]).unwrap();
        let packages = BTreeSet::from(["bad.v1".to_owned()]);
        let info = openapi::Info {
            title: "bad".into(),
            version: "0.1.0".into(),
        };
        let err = generate(&compiled.pool, &packages, &Options::default(), &info)
            .unwrap_err()
            .downcast::<micro_codegen::ContractError>()
            .expect("a typed contract error");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(err.position.starts_with(':'), "no line in {err}");
    }
}
