//! `micro proto …`: contracts in, code out.

pub mod add;
pub mod client;
pub mod server;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::codegen::{self, Package};
use crate::project::Project;
use crate::protos::{self, Compiled};

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

/// Every contract of `project` compiled, with the model of its own packages (not the bundled
/// ones), for the commands that read contracts rather than generate from them.
pub fn project_contracts(project: &Project) -> anyhow::Result<(Compiled, Vec<Package>)> {
    let contracts = project.contracts_dir();
    let files = if contracts.is_dir() {
        proto_files(&contracts)?
    } else {
        Vec::new()
    };
    if files.is_empty() {
        anyhow::bail!(
            "`{}` holds no contracts\nhint: add one with `micro proto add api/<package>/v1/<name>.proto`",
            contracts.display()
        );
    }
    let compiled = protos::compile(&files, &project.include_dirs(&[]))?;
    let packages: BTreeSet<String> = compiled
        .requested
        .iter()
        .filter_map(|name| compiled.pool.get_file_by_name(name))
        .map(|file| file.package_name().to_owned())
        .collect();
    let model = codegen::model(&compiled.pool, &packages)?;
    Ok((compiled, model))
}
