//! `micro proto lint`: the contracts at a path (by default the project's `api/` folder), compiled
//! in-process and checked by the generator's rule set; findings name the file on disk.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::codegen::lint;
use crate::contracts;
use crate::output::Printer;
use crate::project::Project;
use crate::protos;

pub struct Options {
    pub cwd: PathBuf,
    /// A contract or a folder of contracts; the whole contracts folder when absent.
    pub path: Option<PathBuf>,
    pub includes: Vec<PathBuf>,
    /// An array of findings as JSON on stdout, instead of text.
    pub json: bool,
    /// Print the rules instead of linting.
    pub list_rules: bool,
}

pub fn run(options: &Options, printer: Printer) -> anyhow::Result<ExitCode> {
    if options.list_rules {
        for rule in lint::RULES {
            println!("{:<28} {}", rule.id, rule.summary);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let project = Project::find(&options.cwd)?;
    let path = options
        .path
        .clone()
        .unwrap_or_else(|| project.contracts_dir());
    let files = contracts::proto_files(&path)?;
    if files.is_empty() {
        anyhow::bail!("no `.proto` files under `{}`", path.display());
    }
    let includes = project.include_dirs(&options.includes);
    let compiled = protos::compile(&files, &includes)?;
    let except: &BTreeSet<String> = &project.lint_except;
    let mut findings = lint::lint(&compiled.pool, &compiled.requested, except);
    for finding in &mut findings {
        finding.file = contracts::shown(&finding.file, &includes, &options.cwd);
    }

    super::print_findings(&findings, options.json)?;
    if findings.is_empty() {
        printer.status(
            "Linted",
            format!("{} contracts, no findings", compiled.requested.len()),
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "error: {} findings in {} contracts\nhint: fix them, or switch a rule off in `[package.metadata.micro]`, e.g. `lint-except = [\"{}\"]`",
        findings.len(),
        compiled.requested.len(),
        findings[0].rule
    );
    Ok(ExitCode::FAILURE)
}
