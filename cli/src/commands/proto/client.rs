//! `micro proto client`: generates the code of contracts into the contracts folder, next to them,
//! and remounts the module tree (`api/mod.rs`) over every package generated so far.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::codegen::{self, GeneratedFile};
use crate::files::{self, Outcome};
use crate::output::Printer;
use crate::project::Project;
use crate::protos::{self, Compiled};

/// The files one package may have generated, in the order `mod.rs` includes them.
const PACKAGE_FILES: &[&str] = &["pb.rs", "pb.serde.rs", "http.rs"];

pub struct Options {
    pub cwd: PathBuf,
    /// A contract or a folder of contracts; the whole contracts folder when absent.
    pub path: Option<PathBuf>,
    pub includes: Vec<PathBuf>,
}

pub fn run(options: &Options, printer: Printer) -> anyhow::Result<()> {
    let project = Project::find(&options.cwd)?;
    let contracts = project.contracts_dir();
    let path = options.path.clone().unwrap_or_else(|| contracts.clone());
    let written = generate(&contracts, &path, &options.includes)?;
    printer.files(&project.root, &written);
    let changed = written
        .iter()
        .filter(|(_, o)| *o != Outcome::Unchanged)
        .count();
    printer.status(
        "Generated",
        format!("{} files ({changed} changed)", written.len()),
    );
    Ok(())
}

/// Generates the code of the contracts at `path` into `contracts` (the folder the module tree is
/// mounted from). Packages are generated whole: with every contract of the same package, and with
/// the user packages they import.
pub fn generate(
    contracts: &Path,
    path: &Path,
    includes: &[PathBuf],
) -> anyhow::Result<Vec<(PathBuf, Outcome)>> {
    let selected = super::proto_files(path)?;
    if selected.is_empty() {
        anyhow::bail!("no `.proto` files under `{}`", path.display());
    }
    let mut all = if contracts.is_dir() {
        super::proto_files(contracts)?
    } else {
        Vec::new()
    };
    for file in &selected {
        if !all.contains(file) {
            all.push(file.clone());
        }
    }
    let mut include_dirs = vec![contracts.to_owned()];
    include_dirs.extend(includes.iter().cloned());
    let compiled = protos::compile(&all, &include_dirs)?;

    let selected_names: Vec<&String> = compiled
        .requested
        .iter()
        .zip(&all)
        .filter(|(_, file)| selected.contains(file))
        .map(|(name, _)| name)
        .collect();
    let packages = packages_to_generate(&compiled, &selected_names)?;
    let model = codegen::model(&compiled.pool, &packages)?;
    let generated = codegen::client(&compiled.pool, &model)?;

    let mut written = files::write_generated(contracts, &generated)?;
    written.extend(remove_stale(contracts, &packages, &generated)?);
    let index = codegen::index(&generated_packages(contracts)?)?;
    written.extend(files::write_generated(contracts, &[index])?);
    Ok(written)
}

/// The packages of the selected files, and every user package they import (transitively), so the
/// generated code never refers to a module that does not exist.
fn packages_to_generate(
    compiled: &Compiled,
    selected: &[&String],
) -> anyhow::Result<BTreeSet<String>> {
    let mut packages = BTreeSet::new();
    let mut pending: Vec<String> = selected.iter().map(|s| s.to_string()).collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) || Compiled::is_bundled(&name) {
            continue;
        }
        let file = compiled
            .pool
            .get_file_by_name(&name)
            .ok_or_else(|| anyhow::anyhow!("`{name}` is missing from the compiled set"))?;
        if file.package_name().is_empty() {
            anyhow::bail!(
                "`{name}` declares no `package`\nhint: add e.g. `package {};` so its code has a module to live in",
                crate::names::package_for_path(Path::new(&name))
                    .unwrap_or_else(|| "myservice.v1".into())
            );
        }
        packages.insert(file.package_name().to_owned());
        pending.extend(file.dependencies().map(|d| d.name().to_owned()));
    }
    Ok(packages)
}

/// Deletes generated files a regenerated package no longer has (e.g. `http.rs` once its last HTTP
/// rule is gone). Only files with micro's header are touched.
fn remove_stale(
    contracts: &Path,
    packages: &BTreeSet<String>,
    generated: &[GeneratedFile],
) -> anyhow::Result<Vec<(PathBuf, Outcome)>> {
    let mut removed = Vec::new();
    for package in packages {
        let dir = crate::names::package_dir(package);
        for name in PACKAGE_FILES {
            let relative = dir.join(name);
            let path = contracts.join(&relative);
            if generated.iter().any(|f| f.path == relative) {
                continue;
            }
            if fs_err::read_to_string(&path).is_ok_and(|text| codegen::is_generated(&text)) {
                fs_err::remove_file(&path)?;
                removed.push((path, Outcome::Updated));
            }
        }
    }
    Ok(removed)
}

/// Every package whose generated code is on disk, with its files: the index mounts them all, not
/// just the ones generated in this run.
fn generated_packages(contracts: &Path) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut packages = BTreeMap::new();
    for entry in walkdir::WalkDir::new(contracts) {
        let entry = entry?;
        if !entry.file_type().is_dir() {
            continue;
        }
        let dir = entry.path();
        let present: Vec<String> = PACKAGE_FILES
            .iter()
            .filter(|name| {
                fs_err::read_to_string(dir.join(name))
                    .is_ok_and(|text| codegen::is_generated(&text))
            })
            .map(|name| name.to_string())
            .collect();
        if present.first().is_some_and(|first| first == "pb.rs") {
            let relative = dir.strip_prefix(contracts)?;
            let package: Vec<String> = relative
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            packages.insert(package.join("."), present);
        }
    }
    Ok(packages)
}
