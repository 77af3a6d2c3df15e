//! Contracts nobody here wrote: real public contract sets from open-source projects (under
//! `tests/corpus/`, each with a `SOURCE.md` naming its repository, commit and paths) go through
//! `micro proto client` as a user would run it (`micro proto client api -I third_party`, no
//! `protoc` anywhere), and the generated code must build and pass clippy with warnings denied.
//!
//! Each set becomes one library crate that mounts only its generated `api` module; the crates
//! share one workspace, one lock file and the end-to-end tests' target folder, so the service
//! stack compiles once.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{micro, transcript};

/// The crates generated code uses, by the names the scaffold's `Cargo.toml` gives them; their
/// versions and features are read from there, so the corpus builds against what services get.
const GENERATED_CODE_DEPENDENCIES: &[&str] = &[
    "axum",
    "base64",
    "futures-util",
    "pbjson",
    "pbjson-types",
    "prost",
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

#[test]
fn public_contract_sets_generate_build_and_pass_clippy() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut sets: Vec<String> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    sets.sort();
    assert!(sets.len() >= 8, "the corpus has {} sets", sets.len());

    let work = tempfile::tempdir().unwrap();
    let dependencies = scaffold_dependencies();
    for set in &sets {
        let source = corpus.join(set);
        assert!(
            source.join("SOURCE.md").is_file(),
            "{set} says where it comes from"
        );
        let crate_dir = work.path().join(set);
        copy_tree(&source.join("api"), &crate_dir.join("api"));
        let includes = source.join("third_party");
        if includes.is_dir() {
            copy_tree(&includes, &crate_dir.join("third_party"));
        }
        let workspace_deps: String = GENERATED_CODE_DEPENDENCIES
            .iter()
            .map(|name| format!("{name}.workspace = true\n"))
            .collect();
        std::fs::write(
            crate_dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"corpus-{set}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[lib]\npath = \"lib.rs\"\n\n[dependencies]\n{workspace_deps}"
            ),
        )
        .unwrap();
        std::fs::write(
            crate_dir.join("lib.rs"),
            "//! Only the generated code.\n\n#[rustfmt::skip]\npub mod api;\n",
        )
        .unwrap();

        let mut args = vec!["proto", "client", "api", "-q"];
        if includes.is_dir() {
            args.extend(["-I", "third_party"]);
        }
        let started = Instant::now();
        let output = micro(&crate_dir, &args);
        assert!(
            output.status.success(),
            "{set}: {}",
            transcript(&output, work.path())
        );
        eprintln!("{set}: generated in {:.2?}", started.elapsed());
    }

    let members: Vec<String> = sets.iter().map(|s| format!("\"{s}\"")).collect();
    std::fs::write(
        work.path().join("Cargo.toml"),
        format!(
            "[workspace]\nresolver = \"3\"\nmembers = [{}]\n\n[workspace.dependencies]\n{dependencies}",
            members.join(", ")
        ),
    )
    .unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO"))
        .args(["clippy", "--workspace", "--quiet", "--", "-D", "warnings"])
        .current_dir(work.path())
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the generated code of the corpus does not build cleanly:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "{} sets built and linted in {:.2?}",
        sets.len(),
        started.elapsed()
    );
}

/// `[workspace.dependencies]` lines for the generated code's crates, as the scaffold pins them.
fn scaffold_dependencies() -> String {
    let manifest = include_str!("../../templates/service/Cargo.toml.tera");
    GENERATED_CODE_DEPENDENCIES
        .iter()
        .map(|name| {
            manifest
                .lines()
                .find(|line| line.starts_with(&format!("{name} = ")))
                .unwrap_or_else(|| panic!("the scaffold depends on `{name}`"))
                .to_owned()
                + "\n"
        })
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The end-to-end tests' target folder, so the service stack is compiled once for both.
fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e")
}
