//! The user guide in `book/`: it builds with mdBook, with no warnings and no broken links (the
//! linkcheck2 backend), its code included from sources that compile; and the commands of its
//! getting-started chapter work exactly as written, run one after another by bash.

use std::path::{Path, PathBuf};
use std::process::Command;

fn book() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../book")
}

/// `tool`, or a failure saying how to install it (`.ci/run` does).
fn installed(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{tool}` is not installed; the book needs mdbook 0.5.4 and mdbook-linkcheck2 0.11.0:\n  cargo install --locked mdbook --version 0.5.4\n  cargo install --locked mdbook-linkcheck2 --version 0.11.0"
            )
        })
}

#[test]
fn the_book_builds_without_warnings_or_broken_links() {
    let mdbook = installed("mdbook");
    installed("mdbook-linkcheck2");
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(mdbook)
        .arg("build")
        .arg("--dest-dir")
        .arg(out.path())
        .current_dir(book())
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "mdbook build failed:\n{log}");
    let complaints: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("WARN") || line.contains("ERROR") || line.contains("warning"))
        .collect();
    assert!(complaints.is_empty(), "mdbook complained:\n{log}");
    // The excerpts came from the example's sources, not from copies.
    let walkthrough = std::fs::read_to_string(out.path().join("html/order-service.html")).unwrap();
    assert!(walkthrough.contains("fifty_creates_against_a_stock_of_ten_accept_exactly_ten"));
    assert!(!walkthrough.contains("{{#include"));
}

/// What the README tells a newcomer: `mdbook build book` (and so `mdbook serve book`) works with
/// stock mdBook alone; the link checker is an optional backend.
#[test]
fn stock_mdbook_alone_builds_the_book() {
    let mdbook = installed("mdbook");
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&mdbook, bin.path().join("mdbook")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(bin.path().join("mdbook"))
        .args(["build", "book", "--dest-dir"])
        .arg(out.path())
        .current_dir(book().join(".."))
        .env("PATH", bin.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "stock mdBook cannot build the book:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        out.path().join("html/index.html").is_file() || out.path().join("index.html").is_file()
    );
}

/// The shell blocks (```sh) of a chapter, in order.
fn shell_blocks(chapter: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in chapter.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Helpers the script gets ahead of the chapter's commands: `curl` waits for the service the
/// chapter started in the background to finish building and listen, and fails on an HTTP error.
const PRELUDE: &str = r#"set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
curl() {
  for _ in $(seq 1200); do
    (exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null && break
    sleep 0.5
  done
  command curl --silent --show-error --fail "$@"
  echo
}
"#;

#[test]
fn the_getting_started_commands_work_as_written() {
    let chapter = std::fs::read_to_string(book().join("src/getting-started.md")).unwrap();
    let blocks = shell_blocks(&chapter);
    assert!(
        blocks.len() >= 5,
        "the chapter has {} shell blocks",
        blocks.len()
    );
    for port in [8000, 9000] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is taken; the getting-started chapter serves on it"
        );
    }
    let work = tempfile::tempdir().unwrap();
    let script = format!("{PRELUDE}{}", blocks.join(""));
    let micro_dir = Path::new(env!("CARGO_BIN_EXE_micro")).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(micro_dir.to_owned()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env("PATH", path)
        // Services built by the tests share one target folder, so dependencies compile once.
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e"),
        )
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the chapter's commands failed:\n--- script\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert_eq!(stdout.matches("Hello micro").count(), 2, "{stdout}");
    assert!(stdout.contains("refused, as it should be"), "{stdout}");
    assert!(
        stdout.contains("/todo.v1.TodoService/CreateTodo"),
        "{stdout}"
    );
    assert!(
        work.path()
            .join("hello/src/service/todo_service.rs")
            .is_file()
    );
}
