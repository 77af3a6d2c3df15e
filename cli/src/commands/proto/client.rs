//! `micro proto client`: generates the code of contracts into the contracts folder, next to them,
//! and remounts the module tree (`api/mod.rs`) over every package generated so far.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::contracts;
use crate::files::Outcome;
use crate::output::Printer;
use crate::project::Project;

pub struct Options {
    pub cwd: PathBuf,
    /// A contract or a folder of contracts; the whole contracts folder when absent.
    pub path: Option<PathBuf>,
    pub includes: Vec<PathBuf>,
    /// Write nothing; fail if any generated file is out of date.
    pub check: bool,
}

pub fn run(options: &Options, printer: Printer) -> anyhow::Result<ExitCode> {
    let project = Project::find(&options.cwd)?;
    let folder = project.contracts_dir();
    let path = options.path.clone().unwrap_or_else(|| folder.clone());
    let plan = contracts::plan(&project, &path, &options.includes)?;
    for warning in &plan.warnings {
        printer.warn(warning);
    }

    if options.check {
        let count = plan.len();
        let stale = plan.out_of_date(&folder);
        if stale.is_empty() {
            printer.status("Checked", format!("{count} generated files are up to date"));
            return Ok(ExitCode::SUCCESS);
        }
        for path in &stale {
            let shown = path.strip_prefix(&project.root).unwrap_or(path);
            eprintln!("out of date: {}", shown.display());
        }
        eprintln!(
            "error: {} generated files differ from their contracts\nhint: run `micro proto client` and commit the result",
            stale.len()
        );
        return Ok(ExitCode::FAILURE);
    }

    // Generated code calls the runtime crate; a package that has none gets it vendored.
    let (mut written, added) = crate::vendor::ensure(&project.root)?;
    if added {
        written.push((project.root.join("Cargo.toml"), Outcome::Updated));
    }
    let (generated, kept) = (plan.packages_generated, plan.packages_kept);
    let nothing_changed = plan.nothing_changed;
    written.extend(plan.write(&folder)?);
    printer.files(&project.root, &written);
    let changed = written
        .iter()
        .filter(|(_, o)| *o != Outcome::Unchanged)
        .count();
    // Packages whose contracts and imports did not change since the last run are not generated
    // again; say so, so that a quick run is not mistaken for one that skipped work it owed.
    let skipped = match kept {
        _ if nothing_changed => "; no contract changed since the last run".to_owned(),
        0 => String::new(),
        kept => format!(
            "; {generated} of {} packages regenerated, the others unchanged since the last run",
            generated + kept
        ),
    };
    printer.status(
        "Generated",
        format!("{} files ({changed} changed){skipped}", written.len()),
    );
    Ok(ExitCode::SUCCESS)
}
