//! `micro upgrade`: replaces a service's vendored runtime with this micro's and regenerates every
//! contract, so the framework code and the generated code move together. `--check` only reports.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::files::{self, Outcome};
use crate::output::Printer;
use crate::project::Project;
use crate::vendor;

pub struct Options {
    pub cwd: PathBuf,
    pub check: bool,
    /// Replace a vendored runtime someone edited.
    pub force: bool,
}

pub fn run(options: &Options, printer: Printer) -> anyhow::Result<ExitCode> {
    let project = Project::find(&options.cwd)?;
    let dependency = vendor::dependency_dir(&project.root)?;
    let dir = dependency
        .clone()
        .unwrap_or_else(|| vendor::home_for(&project.root).join(vendor::DIR));
    let runtime = vendor::files();
    let shown = |path: &std::path::Path| {
        path.strip_prefix(&project.root)
            .unwrap_or(path)
            .display()
            .to_string()
    };

    if options.check {
        let mut stale: Vec<PathBuf> = runtime
            .iter()
            .filter(|file| {
                fs_err::read_to_string(dir.join(&file.path)).ok().as_deref()
                    != Some(file.contents.as_str())
            })
            .map(|file| dir.join(&file.path))
            .collect();
        if dependency.is_none() {
            stale.push(project.root.join("Cargo.toml"));
        }
        stale.extend(crate::contracts::out_of_date(&project)?);
        if stale.is_empty() {
            printer.status(
                "Checked",
                format!(
                    "the runtime and generated code are micro {}'s",
                    env!("CARGO_PKG_VERSION")
                ),
            );
            return Ok(ExitCode::SUCCESS);
        }
        for path in &stale {
            eprintln!("out of date: {}", shown(path));
        }
        eprintln!(
            "error: {} files differ from what micro {} writes\nhint: run `micro upgrade` and commit the result",
            stale.len(),
            env!("CARGO_PKG_VERSION")
        );
        return Ok(ExitCode::FAILURE);
    }

    if vendor::is_pristine(&dir)? == Some(false) && !options.force {
        anyhow::bail!(
            "the runtime vendored in `{}` was edited since micro wrote it; refusing to replace it\n\
             hint: move your changes into the service's own code, or pass `--force` to discard them",
            shown(&dir)
        );
    }
    let mut written = if options.force {
        // An edited file may have lost micro's header, which `write_generated` would respect.
        files::write_changed(&dir, &runtime)?
    } else {
        files::write_generated(&dir, &runtime)?
    };
    if dependency.is_none() {
        vendor::set_dependency(&project.root, &vendor::relative_path(&project.root, &dir))?;
        written.push((project.root.join("Cargo.toml"), Outcome::Updated));
    }
    written.extend(crate::contracts::regenerate(&project)?);
    printer.files(&project.root, &written);
    let changed = written
        .iter()
        .filter(|(_, outcome)| *outcome != Outcome::Unchanged)
        .count();
    printer.status(
        "Upgraded",
        format!(
            "to micro {} ({changed} files changed)",
            env!("CARGO_PKG_VERSION")
        ),
    );
    Ok(ExitCode::SUCCESS)
}
