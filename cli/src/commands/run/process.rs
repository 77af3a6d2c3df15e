//! The running service: started from its folder, stopped as an orchestrator would (SIGTERM, a
//! grace period, then SIGKILL), its exit code passed on.

use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// The signal that asks a service to drain and exit.
#[cfg(unix)]
pub const SIGTERM: i32 = libc::SIGTERM;
#[cfg(not(unix))]
pub const SIGTERM: i32 = 15;

pub struct Service {
    child: Child,
}

/// What tells a service it runs on a developer's machine, where the `dev-only-…` credentials its
/// configuration ships with are accepted; one already set (to run as in production) is kept.
const ENVIRONMENT: (&str, &str) = ("MICRO_ENV", "development");

fn command(executable: &Path, dir: &Path, args: &[String]) -> Command {
    let mut command = Command::new(executable);
    command.args(args).current_dir(dir);
    if std::env::var_os(ENVIRONMENT.0).is_none() {
        command.env(ENVIRONMENT.0, ENVIRONMENT.1);
    }
    command
}

impl Service {
    pub fn start(executable: &Path, dir: &Path, args: &[String]) -> anyhow::Result<Service> {
        let child = command(executable, dir, args)
            .spawn()
            .with_context(|| format!("starting `{}`", executable.display()))?;
        Ok(Service { child })
    }

    /// Like [`Service::start`], with stdout and stderr piped to micro ([`Service::take_output`]).
    pub fn start_piped(executable: &Path, dir: &Path, args: &[String]) -> anyhow::Result<Service> {
        let child = command(executable, dir, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting `{}`", executable.display()))?;
        Ok(Service { child })
    }

    /// The service's piped stdout and stderr, once.
    pub fn take_output(&mut self) -> (Option<ChildStdout>, Option<ChildStderr>) {
        (self.child.stdout.take(), self.child.stderr.take())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait(&mut self) -> anyhow::Result<ExitStatus> {
        self.child.wait().context("waiting for the service")
    }

    /// The exit status, if the service has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends `signal` (SIGTERM to stop), waits up to `grace` for the service to drain and exit,
    /// then kills it.
    pub fn stop(&mut self, signal: i32, grace: Duration) -> ExitStatus {
        if let Some(status) = self.exited() {
            return status;
        }
        send(self.pid(), signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        self.child.wait().unwrap_or_else(|_| killed())
    }
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn send(pid: u32, signal: i32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions; a stale pid only yields ESRCH.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

#[cfg(not(unix))]
fn send(_pid: u32, _signal: i32) {}

#[cfg(unix)]
fn killed() -> ExitStatus {
    std::os::unix::process::ExitStatusExt::from_raw(libc::SIGKILL)
}

#[cfg(not(unix))]
fn killed() -> ExitStatus {
    std::os::windows::process::ExitStatusExt::from_raw(1)
}

/// The service's exit code as micro's own; killed by a signal is a failure.
pub fn exit_code(status: ExitStatus) -> ExitCode {
    match status.code() {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    }
}

/// Relays SIGINT, SIGTERM and SIGHUP to every one of `pids` until the returned handle is closed.
#[cfg(unix)]
pub fn forward_signals(pids: Vec<u32>) -> anyhow::Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            for &pid in &pids {
                send(pid, signal);
            }
        }
    });
    Ok(handle)
}
