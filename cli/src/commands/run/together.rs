//! `micro run -p a -p b`: several services of one workspace built in one cargo run and run side
//! by side, each from its own folder, their output line by line behind their names (as
//! docker compose shows it), signals sent to all. When one exits, the others are stopped as an
//! orchestrator would stop them, and micro exits with the first one's code: a half-running
//! system is worse for development than a stopped one.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;

use super::Options;
use super::build;
use super::process::{self, Service};
use super::target::Target;
use crate::output::Printer;

/// How long a service may drain after SIGTERM before it is killed (services' own grace is 10 s
/// by default).
const GRACE: Duration = Duration::from_secs(15);

pub fn run(targets: &[Target], options: &Options, printer: Printer) -> anyhow::Result<ExitCode> {
    let executables = build::build_all(targets, options.release, printer)?;
    let width = targets.iter().map(|t| t.bin.len()).max().unwrap_or(0);
    let (exited, exits) = mpsc::channel::<usize>();
    let mut services = Vec::new();
    for (i, (target, executable)) in targets.iter().zip(&executables).enumerate() {
        printer.status(
            "Running",
            format!("`{}` in `{}`", target.bin, target.dir.display()),
        );
        let mut service = Service::start_piped(executable, &target.dir, &options.args)
            .with_context(|| format!("starting `{}`", target.bin))?;
        let prefix = format!("{:<width$} | ", target.bin);
        let (stdout, stderr) = service.take_output();
        let out = relay(stdout, prefix.clone(), false);
        let err = relay(stderr, prefix, true);
        // A service's output ends when it exits (or closes both streams, which is as final).
        let exited = exited.clone();
        std::thread::spawn(move || {
            let _ = (out.join(), err.join());
            let _ = exited.send(i);
        });
        services.push(service);
    }
    #[cfg(unix)]
    let forwarding = process::forward_signals(services.iter().map(Service::pid).collect())?;

    let first = exits.recv().context("waiting for the services")?;
    for (i, service) in services.iter_mut().enumerate() {
        if i != first {
            service.stop(process::SIGTERM, GRACE);
        }
    }
    let status = services[first].wait()?;
    #[cfg(unix)]
    forwarding.close();
    Ok(process::exit_code(status))
}

/// Copies `stream` to micro's stdout (or stderr) a line at a time, each behind `prefix`.
fn relay(
    stream: Option<impl Read + Send + 'static>,
    prefix: String,
    to_stderr: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Some(stream) = stream else { return };
        for line in BufReader::new(stream).split(b'\n') {
            let Ok(line) = line else { return };
            let line = String::from_utf8_lossy(&line);
            // One write per line, so lines of different services never interleave.
            let text = format!("{prefix}{}\n", line.trim_end_matches('\r'));
            let _ = match to_stderr {
                true => std::io::stderr().lock().write_all(text.as_bytes()),
                false => std::io::stdout().lock().write_all(text.as_bytes()),
            };
        }
    })
}
