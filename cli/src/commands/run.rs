//! `micro run`: builds and runs the service the current folder belongs to, from its root so that
//! its relative config paths resolve, forwarding arguments and the exit code.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::Context as _;

use crate::output::Printer;
use crate::project::Project;

pub struct Options {
    pub cwd: PathBuf,
    pub release: bool,
    pub args: Vec<String>,
}

pub fn run(options: &Options, printer: Printer) -> anyhow::Result<ExitCode> {
    let project = Project::find(&options.cwd)?;
    printer.status("Running", format!("the service in `{}`", project.root.display()));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(&project.root).arg("run");
    if options.release {
        command.arg("--release");
    }
    if printer.is_quiet() {
        command.arg("--quiet");
    }
    command.arg("--").args(&options.args);
    // The child shares our process group, so Ctrl-C reaches it directly; we only wait and pass
    // its exit code on.
    let status = command.status().context("starting `cargo run`; is cargo installed and on PATH?")?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
