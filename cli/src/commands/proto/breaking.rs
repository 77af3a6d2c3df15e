//! `micro proto breaking --against REF`: the project's contracts against those at a git
//! revision, read out of the repository (`git ls-tree`, `git show`; no checkout, the working tree
//! is not touched) and compiled in-process beside the current ones.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::Context as _;

use crate::codegen::breaking;
use crate::contracts;
use crate::output::Printer;
use crate::project::Project;
use crate::protos::{self, Compiled};

pub struct Options {
    pub cwd: PathBuf,
    /// A branch, tag or commit.
    pub against: String,
    pub includes: Vec<PathBuf>,
    /// An array of findings as JSON on stdout, instead of text.
    pub json: bool,
}

pub fn run(options: &Options, printer: Printer) -> anyhow::Result<ExitCode> {
    let project = Project::find(&options.cwd)?;
    let revision = &options.against;
    let includes = project.include_dirs(&options.includes);
    let now = protos::compile(
        &contracts::proto_files(&project.contracts_dir())?,
        &includes,
    )?;

    // The folders contracts are read from, as they were at the revision.
    let scratch = tempfile::tempdir()?;
    let commit = git(&project.root, &["rev-parse", "--verify", "--quiet", &format!("{revision}^{{commit}}")])
        .ok()
        .filter(|out| !out.is_empty())
        .with_context(|| {
            format!(
                "`{revision}` is not a commit of the repository at `{}`\nhint: name a branch, tag or commit, e.g. `main` or `HEAD~1`",
                project.root.display()
            )
        })?;
    let commit = String::from_utf8_lossy(&commit).trim().to_owned();
    let mut earlier_includes = Vec::new();
    for dir in &includes {
        let Ok(relative) = dir.strip_prefix(&project.root) else {
            // A folder outside the project is not versioned with it: read as it is now.
            earlier_includes.push(dir.clone());
            continue;
        };
        let copied = scratch.path().join(relative);
        extract(&project.root, &commit, relative, &copied)?;
        earlier_includes.push(copied);
    }
    let earlier_contracts = scratch.path().join(crate::project::CONTRACTS_DIR);
    let earlier_files = if earlier_contracts.is_dir() {
        contracts::proto_files(&earlier_contracts)?
    } else {
        Vec::new()
    };
    if earlier_files.is_empty() {
        printer.status(
            "Compared",
            format!("no contracts under `api/` at `{revision}`: nothing to break"),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let before = protos::compile(&earlier_files, &earlier_includes)
        .with_context(|| format!("compiling the contracts at `{revision}`"))?;

    let packages = user_packages(&before);
    let mut findings = breaking::compare(&before.pool, &now.pool, &packages);
    for finding in &mut findings {
        finding.file = if finding.earlier {
            format!(
                "{revision}:{}",
                contracts::shown(&finding.file, &earlier_includes, scratch.path())
            )
        } else {
            contracts::shown(&finding.file, &includes, &options.cwd)
        };
    }

    super::print_findings(&findings, options.json)?;
    if findings.is_empty() {
        printer.status(
            "Compared",
            format!(
                "{} packages against `{revision}`: nothing breaks their clients",
                packages.len()
            ),
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "error: {} breaking changes against `{revision}`\nhint: keep what clients use, or publish the change as a new package version (`v2`) beside the old one",
        findings.len()
    );
    Ok(ExitCode::FAILURE)
}

/// The proto packages of the compiled files, not the bundled ones.
fn user_packages(compiled: &Compiled) -> BTreeSet<String> {
    compiled
        .requested
        .iter()
        .filter(|name| !Compiled::is_bundled(name))
        .filter_map(|name| compiled.pool.get_file_by_name(name))
        .map(|file| file.package_name().to_owned())
        .filter(|package| !package.is_empty())
        .collect()
}

/// Writes the `.proto` files under `folder` (relative to the repository's `root`) at `commit` to
/// `into`, keeping their paths below `folder`.
fn extract(root: &Path, commit: &str, folder: &Path, into: &Path) -> anyhow::Result<()> {
    let folder = folder.to_string_lossy();
    let listed = git(
        root,
        &["ls-tree", "-r", "-z", "--name-only", commit, "--", &folder],
    )?;
    for name in listed.split(|b| *b == 0).filter(|n| n.ends_with(b".proto")) {
        let name = String::from_utf8_lossy(name);
        let text = git(root, &["show", &format!("{commit}:./{name}")])?;
        let below = Path::new(name.as_ref())
            .strip_prefix(folder.as_ref())
            .unwrap_or(Path::new(name.as_ref()));
        let path = into.join(below);
        fs_err::create_dir_all(path.parent().expect("a file has a folder"))?;
        fs_err::write(path, text)?;
    }
    Ok(())
}

/// Runs git in `root`; its output, or an error with what it said.
fn git(root: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow::anyhow!("`git` is not installed, and `micro proto breaking` reads the earlier contracts with it")
            }
            _ => anyhow::Error::new(err).context("running git"),
        })?;
    if !output.status.success() {
        anyhow::bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}
