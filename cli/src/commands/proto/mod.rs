//! `micro proto …`: contracts in, code out.

pub mod add;
pub mod client;
pub mod server;

use std::path::{Path, PathBuf};

/// Every `.proto` file at `path` (a file, or a folder searched recursively), sorted.
pub fn proto_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    if !path.is_dir() {
        anyhow::bail!("`{}` does not exist", path.display());
    }
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(path) {
        let entry = entry?;
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "proto") {
            found.push(entry.into_path());
        }
    }
    found.sort();
    Ok(found)
}
