//! Which binary `micro run` runs: the one binary of the package the folder is in, or of the
//! workspace; with several, the one `-p`/`--bin` names, or the one picked on a terminal.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cargo_metadata::{MetadataCommand, TargetKind};

use crate::commands::new::choices::Asking;

/// What one `-p` and `--bin` asked for.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub package: Option<String>,
    pub bin: Option<String>,
}

/// A binary to build and run.
#[derive(Debug, Clone)]
pub struct Target {
    pub package: String,
    pub bin: String,
    /// The package's folder: the service runs here.
    pub dir: PathBuf,
}

pub fn select(cwd: &Path, selection: &Selection, asking: Asking) -> anyhow::Result<Target> {
    let metadata = MetadataCommand::new()
        .current_dir(cwd)
        .no_deps()
        .exec()
        .map_err(|err| {
            anyhow::anyhow!(
                "`{}` is not inside a Cargo project ({err})\nhint: run this inside a service made by `micro new`, or its workspace",
                cwd.display()
            )
        })?;
    let mut binaries: Vec<Target> = Vec::new();
    for package in metadata.workspace_packages() {
        let dir = package
            .manifest_path
            .parent()
            .context("a manifest has a folder")?
            .as_std_path()
            .to_owned();
        for target in package
            .targets
            .iter()
            .filter(|t| t.is_kind(TargetKind::Bin))
        {
            binaries.push(Target {
                package: package.name.to_string(),
                bin: target.name.clone(),
                dir: dir.clone(),
            });
        }
    }
    let all = binaries.clone();
    let names = |targets: &[Target]| {
        targets
            .iter()
            .map(|t| format!("`-p {} --bin {}`", t.package, t.bin))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(package) = &selection.package {
        binaries.retain(|t| &t.package == package);
        anyhow::ensure!(
            !binaries.is_empty(),
            "the workspace has no package `{package}` with a binary\nhint: choose one of {}",
            names(&all)
        );
    }
    if let Some(bin) = &selection.bin {
        binaries.retain(|t| &t.bin == bin);
        anyhow::ensure!(
            !binaries.is_empty(),
            "no binary `{bin}`\nhint: choose one of {}",
            names(&all)
        );
    }
    // Without a choice, the package the folder is in narrows it down.
    if selection.package.is_none() && selection.bin.is_none() {
        let cwd = std::path::absolute(cwd)?;
        let here: Vec<Target> = binaries
            .iter()
            .filter(|t| cwd.starts_with(&t.dir))
            .cloned()
            .collect();
        if !here.is_empty() {
            binaries = here;
        }
    }
    match binaries.len() {
        0 => anyhow::bail!(
            "`{}` has no binary to run\nhint: a service made by `micro new` has one; add a `src/main.rs`",
            metadata.workspace_root
        ),
        1 => Ok(binaries.remove(0)),
        _ if asking == Asking::Prompt => {
            let items: Vec<String> = binaries
                .iter()
                .map(|t| match t.package == t.bin {
                    true => t.package.clone(),
                    false => format!("{} ({})", t.package, t.bin),
                })
                .collect();
            let chosen = dialoguer::Select::new()
                .with_prompt("Which service?")
                .items(&items)
                .default(0)
                .interact()
                .context("reading the answer")?;
            Ok(binaries.remove(chosen))
        }
        _ => anyhow::bail!(
            "the workspace has several binaries to run\nhint: choose one with {}",
            names(&binaries)
        ),
    }
}
