//! `micro run`: builds and runs the service the current folder belongs to, from its root so that
//! its relative config paths resolve, forwarding arguments, signals and the exit code.

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
    printer.status(
        "Running",
        format!("the service in `{}`", project.root.display()),
    );
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

    let mut child = command
        .spawn()
        .context("starting `cargo run`; is cargo installed and on PATH?")?;
    // cargo execs the service once it is built, so the child's pid becomes the service's: a
    // SIGTERM sent to micro (by a supervisor, or a test) reaches the service, which shuts down
    // gracefully while micro waits for its exit code.
    #[cfg(unix)]
    let forwarding = forward_signals(child.id())?;
    let status = child.wait().context("waiting for the service")?;
    #[cfg(unix)]
    forwarding.close();
    Ok(match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// Relays SIGINT, SIGTERM and SIGHUP to `pid` until the returned handle is closed.
#[cfg(unix)]
fn forward_signals(pid: u32) -> anyhow::Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let handle = signals.handle();
    let pid = libc::pid_t::try_from(pid).context("child pid out of range")?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            // SAFETY: kill(2) has no memory-safety preconditions; a stale pid only yields ESRCH.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    });
    Ok(handle)
}
