//! The `micro` binary as a user meets it: what each command writes, prints and exits with.

mod common;

use std::path::{Path, PathBuf};

use common::{
    ECHO_SERVER_ARGS, OPTION_COMBINATIONS, add_echo_contract, add_tricky_contracts, fixtures,
    micro, new_service, python_tool, transcript, tree,
};

#[test]
fn new_renders_the_whole_service() {
    let work = tempfile::tempdir().unwrap();
    let output = micro(work.path(), &["new", "hello"]);
    assert_snapshot!("new_hello_output", transcript(&output, work.path()));
    assert!(output.status.success());
    assert_snapshot!("new_hello_tree", tree(&work.path().join("hello")));
    // Nothing is left behind but the service.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 1);
}

#[test]
fn new_refuses_bad_names_with_a_hint() {
    let work = tempfile::tempdir().unwrap();
    for name in ["async", "2fast", "my service", "std"] {
        let output = micro(work.path(), &["new", name]);
        assert_eq!(output.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("error: invalid service name"),
            "{stderr}"
        );
        assert!(stderr.contains("hint:"), "{stderr}");
    }
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn new_refuses_a_non_empty_target_without_force() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("hello");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "mine").unwrap();

    let output = micro(work.path(), &["new", "hello"]);
    assert_snapshot!("new_refuses_non_empty", transcript(&output, work.path()));
    assert_eq!(common::paths(&target), ["notes.txt"]);

    let output = micro(work.path(), &["new", "hello", "--force", "--quiet"]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    assert_eq!(
        std::fs::read_to_string(target.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(target.join("api/helloworld/v1/pb.rs").is_file());
    // The staging folder is gone once its files are merged.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 1);
}

#[test]
fn new_accepts_an_existing_empty_folder_and_path() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("services/hello")).unwrap();
    let output = micro(work.path(), &["new", "hello", "--path", "services", "-q"]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    assert!(work.path().join("services/hello/Cargo.toml").is_file());
}

#[test]
fn proto_add_writes_a_contract_named_after_its_file() {
    let work = tempfile::tempdir().unwrap();
    let shop = new_service(work.path(), "shop");
    let output = micro(&shop, &["proto", "add", "api/order/v1/order_item.proto"]);
    assert_snapshot!("proto_add_output", transcript(&output, work.path()));
    assert_snapshot!(
        "proto_add_contract",
        std::fs::read_to_string(shop.join("api/order/v1/order_item.proto")).unwrap()
    );

    // The new contract generates cleanly, from a subfolder of the project.
    let output = micro(&shop.join("src"), &["proto", "client", "-q"]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    assert!(shop.join("api/order/v1/http.rs").is_file());

    let again = micro(&shop, &["proto", "add", "api/order/v1/order_item.proto"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // A path that leaves `api/` is refused, and nothing is written; `--force` writes it.
    let escaping = ["proto", "add", "api/../../x/v1/y.proto"];
    let refused = micro(&shop.join("src"), &["proto", "add", "../../x/v1/y.proto"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("outside the project's contracts folder"),
        "{}",
        transcript(&refused, work.path())
    );
    assert_eq!(micro(&shop, &escaping).status.code(), Some(1));
    assert!(!work.path().join("x").exists(), "nothing was written");
    let forced = micro(&shop, &[&escaping[..], &["--force"]].concat());
    assert!(
        forced.status.success(),
        "{}",
        transcript(&forced, work.path())
    );
    assert!(work.path().join("x/v1/y.proto").is_file());
}

#[test]
fn proto_client_and_server_generate_the_fixture() {
    let work = tempfile::tempdir().unwrap();
    let hello = new_service(work.path(), "hello");
    add_echo_contract(&hello);

    let output = micro(&hello, &["proto", "client", "api/echo/v1/echo.proto"]);
    assert_snapshot!("proto_client_output", transcript(&output, work.path()));
    assert_snapshot!("proto_client_echo", tree(&hello.join("api/echo")));
    assert_snapshot!(
        "proto_client_index",
        std::fs::read_to_string(hello.join("api/mod.rs")).unwrap()
    );
    // One document covers both packages: the greeter's and the echo fixture's.
    assert_snapshot!(
        "proto_client_openapi",
        std::fs::read_to_string(hello.join("api/openapi.yaml")).unwrap()
    );

    // `micro routes` lists every operation of both contracts, read from the contracts alone.
    let output = micro(&hello, &["routes"]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    assert_snapshot!("routes", String::from_utf8(output.stdout).unwrap());

    // A second run changes nothing and says so.
    let output = micro(&hello, &["proto", "client"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("(0 changed)"));
    // --verbose also lists what it left as it was; --quiet with it is a usage error.
    let output = micro(&hello, &["proto", "client", "--verbose"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Unchanged api/echo/v1/pb.rs"), "{stderr}");
    assert_eq!(
        micro(&hello, &["proto", "client", "-q", "-v"])
            .status
            .code(),
        Some(2)
    );

    let output = micro(&hello, ECHO_SERVER_ARGS);
    assert_snapshot!("proto_server_output", transcript(&output, work.path()));
    let stub = hello.join("src/service/echo.rs");
    assert_snapshot!("proto_server_echo", std::fs::read_to_string(&stub).unwrap());

    // The stub is the user's now: with nothing missing, a second run keeps it as it is...
    let output = micro(&hello, ECHO_SERVER_ARGS);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("Kept"));
    // ...and one without the service's `impl` is refused, and left as it was.
    std::fs::write(&stub, "// mine\n").unwrap();
    let output = micro(&hello, ECHO_SERVER_ARGS);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("src/service/echo.rs: no `impl Echo for …` block"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&stub).unwrap(), "// mine\n");

    // A service already named `…Service` keeps its name; its trait is imported as `…Api`.
    let contract = hello.join("api/shop/v1/shop.proto");
    std::fs::create_dir_all(contract.parent().unwrap()).unwrap();
    std::fs::write(
        &contract,
        "syntax = \"proto3\";\npackage shop.v1;\nmessage Empty {}\nservice OrderService {\n  rpc Get(Empty) returns (Empty);\n}\n",
    )
    .unwrap();
    let output = micro(
        &hello,
        &[
            "proto",
            "server",
            "api/shop/v1/shop.proto",
            "-t",
            "src/service",
            "-q",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    let stub = std::fs::read_to_string(hello.join("src/service/order_service.rs")).unwrap();
    assert!(
        stub.contains("use crate::api::shop::v1::order_service_server::OrderService as OrderApi;")
            && stub.contains("pub struct OrderService {}")
            && stub.contains("impl OrderApi for OrderService {"),
        "{stub}"
    );
}

#[test]
fn proto_client_never_replaces_a_file_it_did_not_write() {
    let work = tempfile::tempdir().unwrap();
    let hello = new_service(work.path(), "hello");
    let mine = hello.join("api/helloworld/v1/http.rs");
    std::fs::write(&mine, "// hand-written\n").unwrap();
    let output = micro(&hello, &["proto", "client"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "// hand-written\n");
}

#[test]
fn contract_errors_name_file_line_and_column() {
    let work = tempfile::tempdir().unwrap();
    let hello = new_service(work.path(), "hello");
    let before = tree(&hello.join("api"));
    let broken = hello.join("api/helloworld/v1/greeter.proto");
    let text = std::fs::read_to_string(&broken)
        .unwrap()
        .replace("string name = 1;", "strin name = 1");
    std::fs::write(&broken, &text).unwrap();

    let output = micro(&hello, &["proto", "client"]);
    assert_snapshot!(
        "proto_client_syntax_error",
        transcript(&output, work.path())
    );
    // Nothing generated was touched.
    assert_eq!(
        tree(&hello.join("api")),
        before.replace("string name = 1;", "strin name = 1")
    );
}

#[test]
fn missing_imports_suggest_an_include_folder() {
    let work = tempfile::tempdir().unwrap();
    let hello = new_service(work.path(), "hello");
    std::fs::write(
        hello.join("api/helloworld/v1/extra.proto"),
        "syntax = \"proto3\";\npackage helloworld.v1;\nimport \"shared/v1/money.proto\";\n",
    )
    .unwrap();
    let output = micro(&hello, &["proto", "client"]);
    assert_snapshot!(
        "proto_client_missing_import",
        transcript(&output, work.path())
    );
}

#[test]
fn usage_errors_exit_2() {
    let work = tempfile::tempdir().unwrap();
    assert_eq!(micro(work.path(), &["new"]).status.code(), Some(2));
    assert_eq!(micro(work.path(), &["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        micro(work.path(), &["proto", "client", "--nope"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn commands_outside_a_project_say_where_to_run_them() {
    let work = tempfile::tempdir().unwrap();
    let output = micro(work.path(), &["proto", "client"]);
    assert_snapshot!(
        "proto_client_outside_project",
        transcript(&output, work.path())
    );
}

#[test]
fn help_for_every_command() {
    let work = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["new"],
        &["proto"],
        &["proto", "add"],
        &["proto", "client"],
        &["proto", "server"],
        &["run"],
        &["call"],
        &["routes"],
        &["completions"],
    ];
    let mut all = String::new();
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let output = micro(work.path(), &args);
        assert!(output.status.success(), "{args:?}");
        all.push_str(&format!(
            "$ micro {}\n{}\n",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout)
        ));
    }
    assert_snapshot!("help", all);
}

#[test]
fn proto_client_check_fails_on_drift_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let hello = new_service(work.path(), "hello");
    let output = micro(&hello, &["proto", "client", "--check"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        transcript(&output, work.path())
    );

    let contract = hello.join("api/helloworld/v1/greeter.proto");
    let edited = std::fs::read_to_string(&contract).unwrap().replace(
        "string message = 1;",
        "string message = 1;\n  int32 count = 2;",
    );
    std::fs::write(&contract, edited).unwrap();
    let before = tree(&hello.join("api"));
    let output = micro(&hello, &["proto", "client", "--check"]);
    assert_snapshot!("proto_client_check_drift", transcript(&output, work.path()));
    assert_eq!(tree(&hello.join("api")), before, "--check writes nothing");

    micro(&hello, &["proto", "client", "-q"]);
    let output = micro(&hello, &["proto", "client", "--check"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        transcript(&output, work.path())
    );
}

/// A second run generates only the packages whose contracts or imports changed since the first,
/// or whose generated files were touched, and what it leaves is what a run from nothing writes.
#[test]
fn proto_client_regenerates_only_what_changed() {
    let work = tempfile::tempdir().unwrap();
    let service = new_service(work.path(), "shop");
    add_tricky_contracts(&service);
    let run = |args: &[&str]| {
        let output = micro(&service, args);
        assert!(
            output.status.success(),
            "{}",
            transcript(&output, work.path())
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let check_finds_drift = || {
        let output = micro(&service, &["proto", "client", "--check"]);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}",
            transcript(&output, work.path())
        );
    };
    let first = run(&["proto", "client"]);
    assert!(!first.contains("regenerated"), "{first}");

    // Asked the same with nothing changed, a run compiles nothing.
    let again = run(&["proto", "client"]);
    assert!(
        again.contains("(0 changed); no contract changed since the last run"),
        "{again}"
    );
    let check = run(&["proto", "client", "--check"]);
    assert!(check.contains("up to date"), "{check}");
    // A generated file deleted since is noticed, and written again.
    std::fs::remove_file(service.join("api/openapi.json")).unwrap();
    check_finds_drift();
    let restored = run(&["proto", "client"]);
    assert!(
        restored.contains("Created api/openapi.json")
            && restored.contains("0 of 4 packages regenerated"),
        "{restored}"
    );

    // shop.v1 changes: it and shop.admin.v1, which imports it, are generated again; common.v1 and
    // helloworld.v1 are not.
    let shop = service.join("api/shop/v1/shop.proto");
    let edited = std::fs::read_to_string(&shop).unwrap().replace(
        "\nmessage Product {",
        "\n// Read by the incremental generation test.\nmessage Product {",
    );
    std::fs::write(&shop, edited).unwrap();
    check_finds_drift();
    let after_edit = run(&["proto", "client"]);
    assert!(
        after_edit.contains("2 of 4 packages regenerated"),
        "{after_edit}"
    );
    assert!(
        after_edit.contains("Updated api/shop/v1/pb.rs"),
        "{after_edit}"
    );

    // A generated file edited by hand is not trusted: its package is generated again.
    let common = service.join("api/common/v1/pb.rs");
    let generated = std::fs::read_to_string(&common).unwrap();
    std::fs::write(
        &common,
        generated.replace("pub struct", "pub(crate) struct"),
    )
    .unwrap();
    check_finds_drift();
    let after_touch = run(&["proto", "client"]);
    assert!(
        after_touch.contains("1 of 4 packages regenerated"),
        "{after_touch}"
    );
    assert_eq!(std::fs::read_to_string(&common).unwrap(), generated);

    // A contract added is generated, alone.
    let extra = service.join("api/extra/v1");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(
        extra.join("extra.proto"),
        "syntax = \"proto3\";\npackage extra.v1;\nmessage Extra { string note = 1; }\n",
    )
    .unwrap();
    check_finds_drift();
    let after_add = run(&["proto", "client"]);
    assert!(
        after_add.contains("1 of 5 packages regenerated")
            && after_add.contains("Created api/extra/v1/pb.rs"),
        "{after_add}"
    );

    // The same files as generating everything from nothing.
    let incremental = tree(&service.join("api"));
    std::fs::remove_dir_all(service.join("target")).unwrap();
    for path in common::paths(&service.join("api")) {
        if !path.ends_with(".proto") {
            std::fs::remove_file(service.join("api").join(path)).unwrap();
        }
    }
    let from_nothing = run(&["proto", "client"]);
    assert!(!from_nothing.contains("regenerated"), "{from_nothing}");
    assert_eq!(tree(&service.join("api")), incremental);
}

#[test]
fn upgrade_refreshes_the_runtime_and_refuses_an_edited_one() {
    let work = tempfile::tempdir().unwrap();
    let hello = new_service(work.path(), "hello");
    let status = |args: &[&str]| micro(&hello, args).status.code();
    assert_eq!(status(&["upgrade", "--check"]), Some(0));

    // An edit to the vendored runtime is seen, and not discarded without `--force`.
    let gateway = hello.join("micro-runtime/src/gateway.rs");
    let pristine = std::fs::read_to_string(&gateway).unwrap();
    std::fs::write(&gateway, format!("{pristine}// a local fix\n")).unwrap();
    let output = micro(&hello, &["upgrade", "--check"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("out of date: micro-runtime/src/gateway.rs"),
        "{}",
        transcript(&output, work.path())
    );
    let output = micro(&hello, &["upgrade"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("was edited since micro wrote it"),
        "{}",
        transcript(&output, work.path())
    );
    assert!(
        std::fs::read_to_string(&gateway)
            .unwrap()
            .ends_with("// a local fix\n")
    );
    assert_eq!(status(&["upgrade", "--force"]), Some(0));
    assert_eq!(std::fs::read_to_string(&gateway).unwrap(), pristine);

    // A service from before the runtime was a crate: the runtime files generated into `api/`
    // go, and the crate is vendored and depended on.
    std::fs::remove_dir_all(hello.join("micro-runtime")).unwrap();
    let manifest = hello.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let old_manifest: String = text
        .lines()
        .filter(|line| !line.starts_with("micro-runtime ="))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&manifest, &old_manifest).unwrap();
    let old_runtime =
        "// @generated by micro 0.1.0 — do not edit; run `micro proto client` to regenerate.\n";
    std::fs::write(hello.join("api/gateway.rs"), old_runtime).unwrap();
    assert_eq!(status(&["upgrade", "--check"]), Some(1));
    let output = micro(&hello, &["upgrade"]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("Removed api/gateway.rs"), "{printed}");
    assert!(
        printed.contains("Created micro-runtime/src/gateway.rs"),
        "{printed}"
    );
    assert!(!hello.join("api/gateway.rs").exists());
    assert!(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .contains(r#"micro-runtime = { path = "micro-runtime" }"#)
    );
    assert_eq!(status(&["upgrade", "--check"]), Some(0));
}

#[test]
fn proto_field_names_are_a_service_option() {
    let work = tempfile::tempdir().unwrap();
    let hello = new_service(work.path(), "hello");
    add_echo_contract(&hello);
    let manifest = hello.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let proto = text.replace(
        r#"json-field-names = "json""#,
        r#"json-field-names = "proto""#,
    );
    assert_ne!(text, proto, "the scaffold states the option");
    std::fs::write(&manifest, &proto).unwrap();

    let output = micro(&hello, &["proto", "client"]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    let serde = std::fs::read_to_string(hello.join("api/echo/v1/pb.serde.rs")).unwrap();
    assert!(serde.contains(r#"serialize_field("big_number""#));
    assert!(!serde.contains(r#"serialize_field("bigNumber""#));
    // Input still takes either name.
    assert!(serde.contains(r#""bigNumber""#));
    let openapi = std::fs::read_to_string(hello.join("api/openapi.yaml")).unwrap();
    assert!(openapi.contains("big_number:") && !openapi.contains("bigNumber:"));

    std::fs::write(
        &manifest,
        text.replace(
            r#"json-field-names = "json""#,
            "json-field-names = \"camel\"",
        ),
    )
    .unwrap();
    let output = micro(&hello, &["proto", "client"]);
    assert_eq!(output.status.code(), Some(1));
    assert_snapshot!(
        "proto_field_names_bad_value",
        transcript(&output, work.path())
    );
}

#[test]
fn tricky_contracts_generate_routes_errors_validation_and_one_document() {
    let work = tempfile::tempdir().unwrap();
    let shop = new_service(work.path(), "shop");
    add_tricky_contracts(&shop);
    let output = micro(&shop, &["proto", "client"]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    // micro's own output; prost's and pbjson's messages are pinned by the echo fixture.
    for file in [
        "shop/v1/http.rs",
        "shop/v1/errors.rs",
        "shop/v1/validate.rs",
        "shop/admin/v1/http.rs",
        "mod.rs",
        "openapi.yaml",
    ] {
        let name = format!("tricky_{}", file.replace(['/', '.'], "_"));
        let text = std::fs::read_to_string(shop.join("api").join(file)).unwrap();
        assert_snapshot!(name, text);
    }
}

#[test]
fn generation_errors_name_file_line_and_what_to_do() {
    let work = tempfile::tempdir().unwrap();
    let hello = new_service(work.path(), "hello");
    let contract = hello.join("api/helloworld/v1/greeter.proto");
    let text = std::fs::read_to_string(&contract).unwrap().replace(
        "service Greeter {\n",
        "service Greeter {\n  rpc Upload(HelloRequest) returns (HelloReply) {\n    option (google.api.http) = {post: \"/upload/{missing}\" body: \"*\"};\n  }\n",
    );
    std::fs::write(&contract, text).unwrap();
    let before = tree(&hello.join("api"));
    let output = micro(&hello, &["proto", "client"]);
    assert_snapshot!(
        "proto_client_contract_error",
        transcript(&output, work.path())
    );
    assert_eq!(tree(&hello.join("api")), before, "nothing was written");
}

/// Every file and folder of a new service has the mode a plain file or folder created there gets
/// (nothing keeps a temporary file's private mode), so the image's non-root user can read its
/// configuration.
#[cfg(unix)]
#[test]
fn a_new_service_has_the_modes_of_plain_files() {
    use std::os::unix::fs::PermissionsExt as _;

    let work = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir()
        .unwrap();
    let hello = new_service(work.path(), "hello");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    std::fs::write(work.path().join("plain"), "").unwrap();
    std::fs::create_dir(work.path().join("plain-dir")).unwrap();
    let (file_mode, dir_mode) = (
        mode(&work.path().join("plain")),
        mode(&work.path().join("plain-dir")),
    );
    assert_eq!(mode(&hello), dir_mode, "the service's folder");
    for entry in walkdir::WalkDir::new(&hello) {
        let entry = entry.unwrap();
        let expected = if entry.file_type().is_dir() {
            dir_mode
        } else {
            file_mode
        };
        assert_eq!(mode(entry.path()), expected, "{}", entry.path().display());
    }
    // What the Dockerfile's non-root user does: read the configuration.
    let config = hello.join("configs/config.yaml");
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt as _;
        m.uid() == 0
    });
    if is_root && Path::new("/usr/sbin/runuser").exists() {
        let output = std::process::Command::new("/usr/sbin/runuser")
            .args(["-u", "nobody", "--", "cat"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "nobody cannot read the configuration: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// `proto-include` in `[package.metadata.micro]` tells every command where imports live, as
/// `-I` tells one; a value that is not a list of folders is an error naming its line.
#[test]
fn proto_include_resolves_imports_for_every_command() {
    let work = tempfile::tempdir().unwrap();
    let hello = new_service(work.path(), "hello");
    let shared = hello.join("third_party/acme/type/v1");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(
        shared.join("money.proto"),
        "syntax = \"proto3\";\npackage acme.type.v1;\nmessage Money { int64 units = 1; }\n",
    )
    .unwrap();
    let contract = hello.join("api/helloworld/v1/greeter.proto");
    let text = std::fs::read_to_string(&contract)
        .unwrap()
        .replace(
            "import \"google/api/annotations.proto\";",
            "import \"google/api/annotations.proto\";\nimport \"acme/type/v1/money.proto\";",
        )
        .replace(
            "string name = 1;",
            "string name = 1;\n  acme.type.v1.Money tip = 2;",
        );
    std::fs::write(&contract, text).unwrap();

    let output = micro(&hello, &["routes"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        transcript(&output, work.path())
    );
    let manifest = hello.join("Cargo.toml");
    let cargo_toml = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        cargo_toml.replace(
            "# proto-include = [\"third_party\"]",
            "proto-include = [\"third_party\"]",
        ),
    )
    .unwrap();
    for args in [&["routes"][..], &["proto", "client", "-q"]] {
        let output = micro(&hello, args);
        assert!(
            output.status.success(),
            "{}",
            transcript(&output, work.path())
        );
    }
    assert!(hello.join("api/acme/type/v1/pb.rs").is_file());
    // An import from outside the contracts folder that changes is noticed too, though nothing
    // in the contracts folder did.
    std::fs::write(
        shared.join("money.proto"),
        "syntax = \"proto3\";\npackage acme.type.v1;\nmessage Money { int64 units = 1; int32 nanos = 2; }\n",
    )
    .unwrap();
    let output = micro(&hello, &["proto", "client", "--check"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        transcript(&output, work.path())
    );
    micro(&hello, &["proto", "client", "-q"]);
    let money = std::fs::read_to_string(hello.join("api/acme/type/v1/pb.rs")).unwrap();
    assert!(money.contains("pub nanos: i32"), "{money}");

    std::fs::write(
        &manifest,
        cargo_toml.replace(
            "# proto-include = [\"third_party\"]",
            "proto-include = \"third_party\"",
        ),
    )
    .unwrap();
    let output = micro(&hello, &["routes"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Cargo.toml:") && stderr.contains("`proto-include`"),
        "{stderr}"
    );
}

/// A binding micro cannot route is left out with a warning naming it; the rest of the contract,
/// the method's gRPC side included, is generated.
#[test]
fn unroutable_bindings_are_skipped_with_a_warning() {
    let work = tempfile::tempdir().unwrap();
    let hello = new_service(work.path(), "hello");
    let contract = hello.join("api/helloworld/v1/greeter.proto");
    let text = std::fs::read_to_string(&contract).unwrap().replace(
        "service Greeter {\n",
        "service Greeter {\n  rpc Purge(HelloRequest) returns (HelloReply) {\n    option (google.api.http) = {custom: {kind: \"PURGE\" path: \"/cache/{name}\"}};\n  }\n",
    );
    std::fs::write(&contract, text).unwrap();
    let output = micro(&hello, &["proto", "client"]);
    assert_snapshot!(
        "proto_client_skipped_binding",
        transcript(&output, work.path())
    );
    let routes = std::fs::read_to_string(hello.join("api/helloworld/v1/http.rs")).unwrap();
    assert!(!routes.contains("/cache/"), "{routes}");
    let messages = std::fs::read_to_string(hello.join("api/helloworld/v1/pb.rs")).unwrap();
    assert!(
        messages.contains("async fn purge("),
        "the method stays on gRPC"
    );
}

#[test]
fn new_inside_a_workspace_adds_exactly_one_member_line() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("acme");
    std::fs::create_dir_all(root.join("services")).unwrap();
    for member in ["tools/lint", "libs/core"] {
        let name = member.rsplit('/').next().unwrap();
        std::fs::create_dir_all(root.join(member).join("src")).unwrap();
        std::fs::write(
            root.join(member).join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition.workspace = true\n"
            ),
        )
        .unwrap();
        std::fs::write(root.join(member).join("src/lib.rs"), "").unwrap();
    }
    let original = std::fs::read_to_string(fixtures().join("workspace/Cargo.toml")).unwrap();
    std::fs::write(root.join("Cargo.toml"), &original).unwrap();

    let output = micro(&root.join("services"), &["new", "orders"]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("Added"));

    let updated = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let expected = original.replace(
        "\t\"libs/core\",   # the shared core\n",
        "\t\"libs/core\",   # the shared core\n\t\"services/orders\",\n",
    );
    assert_eq!(updated, expected, "exactly one line is added");

    // The service inherits what the workspace declares, keeping its own features.
    let manifest = std::fs::read_to_string(root.join("services/orders/Cargo.toml")).unwrap();
    assert!(
        manifest.contains("anyhow = { workspace = true }"),
        "{manifest}"
    );
    assert!(
        manifest.contains(r#"serde = { workspace = true, features = ["derive"] }"#),
        "{manifest}"
    );
    assert!(
        manifest.contains(r#"tokio = { workspace = true, features = ["#),
        "{manifest}"
    );

    // The runtime is vendored once, at the workspace's root, for every service to share.
    assert!(root.join("micro-runtime/Cargo.toml").is_file());
    assert!(!root.join("services/orders/micro-runtime").exists());
    assert!(
        manifest.contains(r#"micro-runtime = { path = "../../micro-runtime" }"#),
        "{manifest}"
    );

    // Cargo reads both manifests as one workspace.
    assert!(cargo_metadata(&root.join("services/orders")).contains("\"name\":\"orders\""));

    // Its image builds from the workspace root, where the shared runtime and lock file are.
    let dockerfile = std::fs::read_to_string(root.join("services/orders/Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("RUN cargo build --release --locked -p orders")
            && dockerfile.contains("COPY services/orders/configs /app/configs"),
        "{dockerfile}"
    );
    let compose = std::fs::read_to_string(root.join("services/orders/compose.yaml")).unwrap();
    assert!(
        compose.contains("context: ../..")
            && compose.contains("dockerfile: services/orders/Dockerfile"),
        "{compose}"
    );

    // A second service lands under the first; `--no-workspace` leaves the workspace alone.
    let output = micro(
        &root.join("services"),
        &["new", "billing", "--no-workspace"],
    );
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    assert_eq!(
        std::fs::read_to_string(root.join("Cargo.toml")).unwrap(),
        expected
    );
    // …which cargo accepts only because the service is a workspace of its own.
    assert!(cargo_metadata(&root.join("services/billing")).contains("\"name\":\"billing\""));

    // A folder the workspace excludes is left alone: no member line, and none needed.
    let excluding = expected.replace(
        "[workspace.package]",
        "exclude = [\"examples\"]\n\n[workspace.package]",
    );
    std::fs::write(root.join("Cargo.toml"), &excluding).unwrap();
    std::fs::create_dir_all(root.join("examples")).unwrap();
    let output = micro(&root.join("examples"), &["new", "demo"]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    assert_eq!(
        std::fs::read_to_string(root.join("Cargo.toml")).unwrap(),
        excluding
    );
    assert!(cargo_metadata(&root.join("examples/demo")).contains("\"name\":\"demo\""));
}

/// `cargo metadata` of the package in `dir`, which fails unless cargo reads its manifest and
/// the workspace around it as one consistent whole.
fn cargo_metadata(dir: &std::path::Path) -> String {
    let metadata = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        metadata.status.success(),
        "{}",
        String::from_utf8_lossy(&metadata.stderr)
    );
    String::from_utf8(metadata.stdout).unwrap()
}

#[test]
fn new_writes_deploy_files_that_validate() {
    let work = tempfile::tempdir().unwrap();
    let validator = python_tool("kubernetes-validate==1.37.0", "kubernetes-validate");
    let default: (&str, &[&str]) = ("default", &[]);
    for (combination, flags) in std::iter::once(&default).chain(OPTION_COMBINATIONS) {
        let parent = work.path().join(combination);
        std::fs::create_dir_all(&parent).unwrap();
        let mut args = vec!["new", "app", "-q"];
        args.extend_from_slice(flags);
        let output = micro(&parent, &args);
        assert!(output.status.success(), "{}", transcript(&output, &parent));
        let service = parent.join("app");
        let manifests: Vec<PathBuf> = ["configmap", "deployment", "service"]
            .iter()
            .map(|name| service.join(format!("deploy/kubernetes/{name}.yaml")))
            .collect();
        let output = std::process::Command::new(&validator)
            .arg("--strict")
            .args(&manifests)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{combination}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // The other deploy files are YAML that parses (PyYAML comes with the validator).
        let output = std::process::Command::new(validator.with_file_name("python"))
            .args([
                "-c",
                "import sys, yaml\nfor f in sys.argv[1:]: yaml.safe_load(open(f))",
            ])
            .arg(service.join("compose.yaml"))
            .arg(service.join(".github/workflows/ci.yml"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{combination}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The ConfigMap's config has only keys the shipped config has (the service refuses
        // unknown ones), with values of the same kind.
        let output = std::process::Command::new(validator.with_file_name("python"))
            .args(["-c", CONFIG_MAP_MATCHES_CONFIG])
            .arg(service.join("deploy/kubernetes/configmap.yaml"))
            .arg(service.join("configs/config.yaml"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{combination}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// In a workspace of several services, `micro run` asks which (here, without a terminal, it
/// names the flags), and runs the one `-p` names from its own folder, passing its exit code on.
#[test]
fn run_picks_a_service_of_a_workspace() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"alpha\", \"beta\"]\nresolver = \"3\"\n",
    )
    .unwrap();
    for (name, code) in [("alpha", 0), ("beta", 3)] {
        std::fs::create_dir_all(root.join(name).join("src")).unwrap();
        std::fs::write(
            root.join(name).join("Cargo.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n"),
        )
        .unwrap();
        std::fs::write(
            root.join(name).join("src/main.rs"),
            format!(
                "fn main() {{\n    let dir = std::env::current_dir().unwrap();\n    println!(\"{name} in {{}} with {{:?}}\", dir.file_name().unwrap().to_string_lossy(), std::env::args().nth(1));\n    std::process::exit({code});\n}}\n"
            ),
        )
        .unwrap();
    }
    let run = |cwd: &Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_micro"))
            .arg("run")
            .args(args)
            .current_dir(cwd)
            .env("CARGO_TARGET_DIR", root.join("target"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };

    let output = run(root, &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`-p alpha --bin alpha`, `-p beta --bin beta`"),
        "{stderr}"
    );
    let output = run(root, &["-p", "gamma"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no package `gamma`"));

    let output = run(root, &["-p", "alpha", "--", "hi"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        transcript(&output, root)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "alpha in alpha with Some(\"hi\")\n"
    );
    // Inside a member, that member runs; its exit code is micro's.
    let output = run(&root.join("beta/src"), &[]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        transcript(&output, root)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("beta in beta"));

    // kratos' spellings: `run DIR` names the service by its folder, `-w` where it runs.
    let output = run(root, &["alpha"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        transcript(&output, root)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("alpha in alpha"));
    let output = run(root, &["alpha", "-w", "beta/src"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        transcript(&output, root)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("alpha in src"),
        "{}",
        transcript(&output, root)
    );
    let output = run(root, &["nowhere"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("`micro run DIR` takes the service's folder")
    );
}

/// `micro run -p a -p b` runs both from their folders, each output line behind its name; when
/// one exits, the other is stopped, and the first one's exit code is micro's.
#[test]
fn run_runs_several_services_together() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path();
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"sleeper\", \"quitter\"]\nresolver = \"3\"\n",
    )
    .unwrap();
    let programs = [
        (
            "sleeper",
            "println!(\"sleeping\");\n    std::thread::sleep(std::time::Duration::from_secs(120));",
        ),
        (
            "quitter",
            "std::thread::sleep(std::time::Duration::from_millis(500));\n    eprintln!(\"bye from {}\", std::env::current_dir().unwrap().display());\n    std::process::exit(3);",
        ),
    ];
    for (name, body) in programs {
        std::fs::create_dir_all(root.join(name).join("src")).unwrap();
        std::fs::write(
            root.join(name).join("Cargo.toml"),
            format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n"),
        )
        .unwrap();
        std::fs::write(
            root.join(name).join("src/main.rs"),
            format!("fn main() {{\n    {body}\n}}\n"),
        )
        .unwrap();
    }
    let started = std::time::Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(["run", "-p", "sleeper", "-p", "quitter"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        transcript(&output, root)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("sleeper | sleeping\n"), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "quitter | bye from {}",
            root.join("quitter").display()
        )),
        "{stderr}"
    );
    // The sleeper was stopped, not waited for.
    assert!(started.elapsed() < std::time::Duration::from_secs(100));

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(["run", "-p", "sleeper", "-p", "quitter", "--watch"])
        .current_dir(root)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("take one service"));
}

/// Every shell gets a completion script naming the commands; bash's parses.
#[test]
fn completions_generate_for_each_shell() {
    let work = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = micro(work.path(), &["completions", shell]);
        assert!(
            output.status.success(),
            "{shell}: {}",
            transcript(&output, work.path())
        );
        let script = String::from_utf8(output.stdout).unwrap();
        for command in ["new", "proto", "run", "call", "routes", "completions"] {
            assert!(script.contains(command), "{shell} completes no `{command}`");
        }
        if shell == "bash" {
            let path = work.path().join("micro.bash");
            std::fs::write(&path, &script).unwrap();
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    let output = micro(work.path(), &["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
}

/// The examples' manifests (the order service's written for PostgreSQL, NATS and Redis, both
/// registering in etcd) validate too, and their compose file parses; the examples' own tests
/// check their ConfigMaps load.
#[test]
fn the_examples_kubernetes_manifests_validate() {
    let validator = python_tool("kubernetes-validate==1.37.0", "kubernetes-validate");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for service in ["order-service", "user-service"] {
        let folder = examples.join(service).join("deploy/kubernetes");
        let output = std::process::Command::new(&validator)
            .arg("--strict")
            .args(
                ["configmap", "deployment", "service"]
                    .map(|name| folder.join(format!("{name}.yaml"))),
            )
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{service}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // PyYAML comes with the validator.
    let output = std::process::Command::new(validator.with_file_name("python"))
        .args([
            "-c",
            "import sys, yaml\nservices = yaml.safe_load(open(sys.argv[1]))['services']\nassert {'order-service', 'user-service', 'etcd'} <= set(services), services",
        ])
        .arg(examples.join("compose.yaml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const CONFIG_MAP_MATCHES_CONFIG: &str = r#"
import sys, yaml
deployed = yaml.safe_load(yaml.safe_load(open(sys.argv[1]))["data"]["config.yaml"])
shipped = yaml.safe_load(open(sys.argv[2]))
def check(deployed, shipped, path):
    for key, value in deployed.items():
        assert key in shipped, f"{path}{key} is not in configs/config.yaml"
        if isinstance(value, dict):
            check(value, shipped[key], f"{path}{key}.")
        else:
            assert type(value) is type(shipped[key]), f"{path}{key}: {value!r} vs {shipped[key]!r}"
            assert not (isinstance(value, str) and ":" in value and " " in value), f"{path}{key}: {value!r}"
check(deployed, shipped, "")
"#;

/// Each option's flag, and the fullest combination, pinned as what they change from the default
/// tree (which `new_renders_the_whole_service` pins).
#[test]
fn new_renders_each_option() {
    let work = tempfile::tempdir().unwrap();
    let plain = tree(&new_service(work.path(), "app"));
    for (snapshot, flags) in OPTION_COMBINATIONS {
        let parent = work.path().join(snapshot);
        std::fs::create_dir_all(&parent).unwrap();
        let mut args = vec!["new", "app", "-q"];
        args.extend_from_slice(flags);
        let output = micro(&parent, &args);
        assert!(output.status.success(), "{}", transcript(&output, &parent));
        let diff = similar::TextDiff::from_lines(&plain, &tree(&parent.join("app")))
            .unified_diff()
            .context_radius(2)
            .to_string();
        assert_snapshot!(format!("new_{snapshot}"), diff);
    }
}

/// `micro new` on a terminal asks each question flags left open, and the answers shape the
/// service. Driven through a real pseudo-terminal; arrow keys pick, Enter confirms.
#[cfg(unix)]
#[test]
fn new_asks_on_a_terminal() {
    let work = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_micro"));
    command
        .args(["new", "app", "--auth", "none"])
        .current_dir(work.path())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    let mut session = rexpect::session::spawn_command(command, Some(30_000)).unwrap();
    // Keys are sent once a question's last choice is drawn and the terminal is in raw mode.
    let answer = |session: &mut rexpect::session::PtySession, last_choice: &str, downs: usize| {
        session.exp_string(last_choice).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        for _ in 0..downs {
            session.send("\x1b[B").unwrap();
        }
        session.send("\r").unwrap();
        session.flush().unwrap();
    };
    session
        .exp_string("Where does the service keep its data? (--storage)")
        .unwrap();
    answer(&mut session, "migrations run at start-up", 2);
    session
        .exp_string("Does it publish events? (--messaging)")
        .unwrap();
    answer(
        &mut session,
        "Events published to NATS, and a JetStream consumer of them",
        1,
    );
    session
        .exp_string("Which transports serve the contract? (--transport)")
        .unwrap();
    answer(&mut session, "HTTP keeps health, readiness and metrics", 2);
    session
        .exp_string("How does it find the services it calls? (--registry)")
        .unwrap();
    answer(&mut session, "a Kubernetes headless Service", 1);
    // `--auth` was given, so that question is not asked.
    let (asked_after, _) = session.exp_string("Created").map(|s| (s, ())).unwrap();
    assert!(!asked_after.contains("authenticate"), "{asked_after}");
    session.exp_eof().unwrap();

    let manifest = std::fs::read_to_string(work.path().join("app/Cargo.toml")).unwrap();
    assert!(manifest.contains(r#""postgres""#), "{manifest}");
    assert!(manifest.contains("async-nats"), "{manifest}");
    assert!(!manifest.contains("jsonwebtoken"), "{manifest}");
    assert!(
        !manifest.contains("swagger-ui-dist"),
        "gRPC only: {manifest}"
    );
    let config = std::fs::read_to_string(work.path().join("app/configs/config.yaml")).unwrap();
    assert!(config.contains("kind: etcd"), "{config}");
}

#[test]
fn new_without_a_terminal_names_the_defaults_it_took() {
    let work = tempfile::tempdir().unwrap();
    let output = micro(work.path(), &["new", "app", "--storage", "sqlite"]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "Defaulted --messaging none --auth none --transport http,grpc --registry none (no terminal to ask on;"
        ),
        "{stderr}"
    );
    // Plain text: stderr is not a terminal, so no colour codes.
    assert!(!stderr.contains('\x1b'), "{stderr}");
}

/// `--template` renders a cargo-generate template from a folder; without a terminal its
/// placeholders take their defaults.
#[test]
fn new_renders_a_custom_template_folder() {
    let work = tempfile::tempdir().unwrap();
    let template = fixtures().join("template");
    let output = anonymous(env!("CARGO_BIN_EXE_micro"))
        .args(["new", "team-svc", "--template", template.to_str().unwrap()])
        .current_dir(work.path())
        .env("PATH", "")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    let service = work.path().join("team-svc");
    let manifest = std::fs::read_to_string(service.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(r#"name = "team-svc""#), "{manifest}");
    let main = std::fs::read_to_string(service.join("src/main.rs")).unwrap();
    assert!(
        main.contains(r#"println!("Hello from the team template");"#),
        "{main}"
    );
    // No git and no `$USER` here: a template's author is left empty rather than refused.
    assert!(manifest.contains(r#"authors = [""]"#), "{manifest}");
    assert!(!service.join("cargo-generate.toml").exists());
    assert_eq!(leftovers(work.path()), ["team-svc"]);
}

/// `-r URL -b B` (kratos' spellings of `--template URL --branch B`) clones the branch (here from
/// a local repository, offline).
#[test]
fn new_renders_a_custom_template_branch_from_git() {
    let work = tempfile::tempdir().unwrap();
    let repository = work.path().join("template.git");
    common::copy_tree(&fixtures().join("template"), &repository);
    let git = |args: &[&str]| common::git(&repository, args);
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "template"]);
    git(&["checkout", "-q", "-b", "loud"]);
    let config = repository.join("cargo-generate.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("Hello from the team template", "HELLO"),
    )
    .unwrap();
    git(&["commit", "-q", "-am", "louder"]);
    git(&["checkout", "-q", "main"]);

    let parent = work.path().join("services");
    std::fs::create_dir_all(&parent).unwrap();
    let url = format!("file://{}", repository.display());
    // The template's `{{authors}}` come from git's configuration, as cargo-generate's own do.
    let git_config = work.path().join("gitconfig");
    std::fs::write(
        &git_config,
        "[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n",
    )
    .unwrap();
    let output = anonymous(env!("CARGO_BIN_EXE_micro"))
        .args(["new", "loud-svc", "-r", &url, "-b", "loud"])
        .current_dir(&parent)
        .env("GIT_CONFIG_GLOBAL", &git_config)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );
    let main = std::fs::read_to_string(parent.join("loud-svc/src/main.rs")).unwrap();
    assert!(main.contains(r#"println!("HELLO");"#), "{main}");
    let manifest = std::fs::read_to_string(parent.join("loud-svc/Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"authors = ["Ada Lovelace <ada@example.com>"]"#),
        "{manifest}"
    );
}

/// A template that cannot be fetched is an error that says what to check, and leaves nothing.
#[test]
fn new_explains_a_template_it_cannot_fetch() {
    let work = tempfile::tempdir().unwrap();
    let output = micro(
        work.path(),
        &[
            "new",
            "svc",
            "--template",
            "https://127.0.0.1:9/no/such-template.git",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        transcript(&output, work.path())
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "error: rendering template `https://127.0.0.1:9/no/such-template.git` failed"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("hint: `https://127.0.0.1:9/no/such-template.git` is not a folder, so it was cloned with git"), "{stderr}");
    assert!(
        leftovers(work.path()).is_empty(),
        "{:?}",
        leftovers(work.path())
    );
}

/// Without the `git` program, a template to clone is refused with what to do instead.
#[test]
fn new_says_a_template_needs_git_to_be_cloned() {
    let work = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(["new", "svc", "-r", "gh:acme/service-template"])
        .current_dir(work.path())
        .env("PATH", work.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`git` is not installed, and micro clones templates with it"),
        "{stderr}"
    );
    assert!(
        stderr.contains("clone the template yourself and pass its folder"),
        "{stderr}"
    );
    assert!(leftovers(work.path()).is_empty());
}

/// `program` run with none of the variables that name its user (`USER`, `CARGO_NAME`, git's).
fn anonymous(program: &str) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    for variable in [
        "USER",
        "USERNAME",
        "NAME",
        "CARGO_NAME",
        "CARGO_EMAIL",
        "EMAIL",
    ] {
        command.env_remove(variable);
    }
    for variable in ["GIT_AUTHOR", "GIT_COMMITTER"] {
        command.env_remove(format!("{variable}_NAME"));
        command.env_remove(format!("{variable}_EMAIL"));
    }
    command
}

/// `micro proto lint` names each finding's file on disk, line, column, rule and fix, exits 1, and
/// speaks JSON for tools; `lint-except` switches rules off, and an unknown rule id is refused.
#[test]
fn proto_lint_reports_findings_and_takes_exceptions() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("shop");
    common::copy_tree(&fixtures().join("lint"), &project.join("api"));
    let manifest = "[package]\nname = \"shop\"\nversion = \"0.1.0\"\nedition = \"2024\"\n";
    std::fs::write(project.join("Cargo.toml"), manifest).unwrap();

    let text = micro(&project, &["proto", "lint"]);
    assert_eq!(
        text.status.code(),
        Some(1),
        "{}",
        transcript(&text, &project)
    );
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains(
            "api/shop/v1/messy.proto:25:3: VALIDATE_LENGTH_RANGE: `shop.v1.OrderQuery.orderNote`: \
             `string.min_len` (10) is above `string.max_len` (2), so no value passes\n  fix: "
        ),
        "{stdout}"
    );
    let count = stdout.matches("\n  fix: ").count();
    assert!(
        String::from_utf8_lossy(&text.stderr)
            .contains(&format!("error: {count} findings in 4 contracts")),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );

    let json = micro(&project, &["proto", "lint", "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(findings.len(), count);
    assert_eq!(findings[0]["file"], "api/misplaced/nameless.proto");
    assert_eq!(findings[0]["rule"], "PACKAGE_DEFINED");
    assert!(findings.iter().all(|f| f["line"].as_u64() > Some(0)));

    // One clean contract alone has nothing to say.
    let clean = micro(&project, &["proto", "lint", "api/shop/v1/clean.proto"]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        transcript(&clean, &project)
    );
    assert!(clean.stdout.is_empty());

    let except = "[package.metadata.micro]\nlint-except = [\"ENUM_VALUE_PREFIX\"]\n";
    std::fs::write(project.join("Cargo.toml"), format!("{manifest}{except}")).unwrap();
    let fewer = micro(&project, &["proto", "lint"]);
    assert_eq!(fewer.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&fewer.stdout);
    assert!(!stdout.contains("ENUM_VALUE_PREFIX"), "{stdout}");
    assert_eq!(stdout.matches("\n  fix: ").count(), count - 1);

    let unknown = "[package.metadata.micro]\nlint-except = [\"NO_SUCH_RULE\"]\n";
    std::fs::write(project.join("Cargo.toml"), format!("{manifest}{unknown}")).unwrap();
    let refused = micro(&project, &["proto", "lint"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("Cargo.toml:6: `lint-except` in `[package.metadata.micro]` must be a list of rule ids, and `NO_SUCH_RULE` is none"),
        "{stderr}"
    );
}

/// `micro proto breaking --against REF` reads the contracts at a revision out of the repository
/// (the working tree untouched): additions pass, breaks are listed where they are (what is gone,
/// where it was at REF) and exit 1; a revision that does not exist is refused by name.
#[test]
fn proto_breaking_compares_with_a_git_revision() {
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("shop");
    let api = project.join("api");
    common::copy_tree(&fixtures().join("breaking/before"), &api);
    let manifest = "[package]\nname = \"shop\"\nversion = \"0.1.0\"\nedition = \"2024\"\n";
    std::fs::write(project.join("Cargo.toml"), manifest).unwrap();
    let git = |args: &[&str]| common::git(&project, args);
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "v1 of the contract"]);
    // Not `common::micro`: this command needs git on the PATH.
    let micro = |project: &std::path::Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_micro"))
            .args(args)
            .current_dir(project)
            .output()
            .unwrap()
    };

    let contract = api.join("shop/v1/orders.proto");
    let replace = |version: &str| {
        std::fs::copy(
            fixtures().join(format!("breaking/{version}/shop/v1/orders.proto")),
            &contract,
        )
        .unwrap();
    };
    replace("additive");
    let added = micro(&project, &["proto", "breaking", "--against", "main"]);
    assert_eq!(
        added.status.code(),
        Some(0),
        "{}",
        transcript(&added, &project)
    );

    replace("after");
    let broken = micro(&project, &["proto", "breaking", "--against", "main"]);
    assert_eq!(
        broken.status.code(),
        Some(1),
        "{}",
        transcript(&broken, &project)
    );
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert!(
        stdout.contains("api/shop/v1/orders.proto:54:3: FIELD_RENUMBERED: `shop.v1.Order.user_id`: field `user_id` is number 10, not 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "main:api/shop/v1/orders.proto:21:1: SERVICE_REMOVED: `shop.v1.AuditService`"
        ),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&broken.stderr);
    let count = stdout.matches("\n  fix: ").count();
    assert!(
        stderr.contains(&format!("error: {count} breaking changes against `main`")),
        "{stderr}"
    );
    let json = micro(
        &project,
        &["proto", "breaking", "--against", "main", "--format", "json"],
    );
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(findings.len(), count);
    // The working tree is as it was: only the edited contract differs from the commit.
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(&project)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&status.stdout),
        " M api/shop/v1/orders.proto\n"
    );

    let unknown = micro(
        &project,
        &["proto", "breaking", "--against", "no-such-branch"],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("`no-such-branch` is not a commit of the repository"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

/// What `micro new` writes passes `micro proto lint`, whatever the choices.
#[test]
fn new_services_pass_their_own_lint() {
    let work = tempfile::tempdir().unwrap();
    for (name, flags) in [
        ("plain", &[][..]),
        ("eventful", &["--messaging", "nats"][..]),
    ] {
        let mut args = vec!["new", name, "-q"];
        args.extend_from_slice(flags);
        let made = micro(work.path(), &args);
        assert!(made.status.success(), "{}", transcript(&made, work.path()));
        let service = work.path().join(name);
        let lint = micro(&service, &["proto", "lint"]);
        assert_eq!(
            lint.status.code(),
            Some(0),
            "{}",
            transcript(&lint, &service)
        );
    }
}

/// The names in `dir`, sorted: what a command left behind.
fn leftovers(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
