//! What the codegen's test files share: where the fixtures are, and where snapshots go.

use std::path::{Path, PathBuf};

/// The CLI's test fixtures, shared with its end-to-end tests.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cli/tests/fixtures")
}

/// Snapshots live with the CLI's, under the repository's `tests/snapshots/`.
pub fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/snapshots"
    ));
    settings.set_prepend_module_to_snapshot(false);
    settings
}
