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
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs_err::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "proto") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}
