//! Running the real `micro` binary the way a user does, and shaping what it did into snapshots.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `micro` in `cwd` with no `protoc` reachable: `PROTOC` points nowhere and `PATH` is empty.
pub fn micro(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_micro"))
        .args(args)
        .current_dir(cwd)
        .env("PROTOC", "/nonexistent/protoc")
        .env("PATH", "")
        .env("COLUMNS", "100")
        .env_remove("NO_COLOR")
        .output()
        .expect("micro runs")
}

/// Exit code, stdout and stderr, with `root` written as `[ROOT]` so snapshots do not depend on
/// where the test ran.
pub fn transcript(output: &Output, root: &Path) -> String {
    let clean = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let root = root.to_string_lossy();
        text.replace(root.as_ref(), "[ROOT]")
    };
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output
            .status
            .code()
            .map_or("signal".into(), |c| c.to_string()),
        clean(&output.stdout),
        clean(&output.stderr)
    )
}

/// Every file under `root` as `== path` followed by its contents, sorted by path, so a file that
/// appears or disappears changes the snapshot as much as an edited one.
pub fn tree(root: &Path) -> String {
    let mut files = Vec::new();
    collect(root, root, &mut files);
    files.sort();
    let mut out = String::new();
    for relative in files {
        // The vendored runtime is `crates/micro-runtime`, tested as a crate; its presence is shown.
        if relative.starts_with("micro-runtime") {
            out.push_str(&format!(
                "== {} (the vendored runtime)\n",
                relative.display()
            ));
            continue;
        }
        let text = std::fs::read_to_string(root.join(&relative)).expect("text files");
        out.push_str(&format!("== {}\n{}", relative.display(), text));
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// Just the sorted relative paths under `root`.
pub fn paths(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    collect(root, root, &mut files);
    let mut paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    paths.sort();
    paths
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            collect(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).expect("below root").to_owned());
        }
    }
}

/// Every answer each question of `micro new` can get, by flag, and all of them at once.
pub const OPTION_COMBINATIONS: &[(&str, &[&str])] = &[
    ("storage_sqlite", &["--storage", "sqlite"]),
    ("storage_postgres", &["--storage", "postgres"]),
    ("messaging_nats", &["--messaging", "nats"]),
    ("auth_jwt", &["--auth", "jwt"]),
    ("auth_apikey", &["--auth", "apikey"]),
    ("transport_http", &["--transport", "http"]),
    ("transport_grpc", &["--transport", "grpc"]),
    (
        "fullest",
        &[
            "--storage",
            "postgres",
            "--messaging",
            "nats",
            "--auth",
            "both",
            "--transport",
            "http,grpc,nats",
            "--registry",
            "etcd",
        ],
    ),
    ("registry_dns", &["--registry", "dns"]),
    ("one_port", &["--one-port"]),
];

/// `micro new NAME -q` in `parent`; returns the service's folder.
pub fn new_service(parent: &Path, name: &str) -> PathBuf {
    let output = micro(parent, &["new", name, "-q"]);
    assert!(output.status.success(), "{}", transcript(&output, parent));
    parent.join(name)
}

/// Copies the fixture contract (every binding shape) into `service` as `api/echo/v1/echo.proto`.
pub fn add_echo_contract(service: &Path) {
    let contract = service.join(ECHO_CONTRACT);
    std::fs::create_dir_all(contract.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("echo/v1/echo.proto"), &contract).unwrap();
}

/// Where [`add_echo_contract`] puts the fixture, relative to the service.
pub const ECHO_CONTRACT: &str = "api/echo/v1/echo.proto";

/// `micro proto server` for the fixture, into the scaffold's `src/service/`.
pub const ECHO_SERVER_ARGS: &[&str] = &["proto", "server", ECHO_CONTRACT, "-t", "src/service"];

/// Copies the tricky contracts (every field shape and well-known type, three packages importing
/// one another) into `service`'s `api/`.
pub fn add_tricky_contracts(service: &Path) {
    let source = fixtures().join("tricky");
    for file in paths(&source) {
        let target = service.join("api").join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(source.join(&file), target).unwrap();
    }
}

/// `micro proto server` arguments for each service of the tricky contracts.
pub const TRICKY_SERVER_ARGS: &[&[&str]] = &[
    &[
        "proto",
        "server",
        "api/shop/v1/shop.proto",
        "-t",
        "src/service",
    ],
    &[
        "proto",
        "server",
        "api/shop/admin/v1/admin.proto",
        "-t",
        "src/service",
    ],
];

/// The fixtures folder of these tests.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Snapshots live at the repository's `tests/snapshots/`, where reviewers look for them.
#[macro_export]
macro_rules! assert_snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/snapshots"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

/// A command-line tool from PyPI (or `python` with a library), installed once into a virtualenv
/// of its own in cargo's scratch folder (`target/tmp/`), so the tests need nothing but Python 3 on
/// the machine.
pub fn python_tool(requirement: &str, executable: &str) -> PathBuf {
    let package = requirement.split(['=', '<', '>']).next().unwrap();
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("py-{package}"));
    let tool = venv.join("bin").join(executable);
    // Written once pip has succeeded: a venv an interrupted run left is installed again.
    let installed = venv.join(format!("installed {requirement}"));
    // Tests run in parallel, in several processes: one installs while the others wait for it.
    let lock = std::fs::File::create(venv.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if installed.is_file() && tool.is_file() {
        return tool;
    }
    let run = |program: &Path, args: &[&str]| {
        let output = Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run `{}` ({err}); these tests need Python 3 with venv",
                    program.display()
                )
            });
        assert!(
            output.status.success(),
            "`{} {args:?}` failed:\n{}",
            program.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(
        Path::new("python3"),
        &["-m", "venv", venv.to_str().unwrap()],
    );
    run(&venv.join("bin/pip"), &["install", "--quiet", requirement]);
    std::fs::write(&installed, "").unwrap();
    tool
}

/// Runs git in `dir` as a fixed author; fails the test when git does.
pub fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
}

/// Copies every file under `from` to the same place under `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    for file in paths(from) {
        let target = to.join(&file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&file), target).unwrap();
    }
}

/// `target/e2e` of this workspace, where every project the tests build shares its dependencies:
/// apart from micro's own target folder, whose lock the running `cargo test` holds.
pub fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e")
}

/// A port nothing listens on at the moment it is asked for.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs cargo with `args` in a project the tests assembled, in the shared target folder.
pub fn cargo_in(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(project)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .output()
        .expect("cargo runs")
}

/// The scaffold's `Cargo.toml` lines for `crates`, so projects the tests assemble build against
/// what services get.
pub fn scaffold_dependency_lines(crates: &[&str]) -> String {
    let manifest = include_str!("../../../templates/service/Cargo.toml.tera");
    crates
        .iter()
        .map(|name| {
            let line = manifest
                .lines()
                .find(|line| line.starts_with(&format!("{name} = ")))
                .unwrap_or_else(|| panic!("the scaffold depends on `{name}`"));
            format!("{line}\n")
        })
        .collect()
}

/// The crates generated code uses, by the names the scaffold's `Cargo.toml` gives them; their
/// versions and features are read from there, so the corpus builds against what services get.
pub const GENERATED_CODE_DEPENDENCIES: &[&str] = &[
    "axum",
    "base64",
    "futures-util",
    "pbjson",
    "pbjson-types",
    "prost",
    "prost-reflect",
    "regex",
    "reqwest",
    "serde",
    "serde_json",
    "serde_path_to_error",
    "thiserror",
    "tonic",
    "tonic-prost",
    "tonic-types",
];
