//! `micro run --watch`: rebuilds and restarts the service when its sources change. A changed
//! `.proto` regenerates the contracts' code first. A failed build leaves the running service up
//! and says so; the next change tries again.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use super::Options;
use super::build::{self, BuildFailed};
use super::process::{self, Service};
use super::target::Target;
use crate::output::Printer;
use crate::project::Project;

/// Changes closer together than this make one rebuild.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// How long the old service may take to drain after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(10);

enum Event {
    Changed(BTreeSet<PathBuf>),
    #[cfg_attr(not(unix), allow(dead_code))]
    Signal(i32),
}

pub fn run(target: &Target, options: &Options, printer: Printer) -> anyhow::Result<ExitCode> {
    let (events, incoming) = mpsc::channel::<Event>();
    #[cfg(unix)]
    let _signals = relay_signals(events.clone())?;
    let root = target.dir.clone();
    let mut debouncer = new_debouncer(DEBOUNCE, None, move |result: DebounceEventResult| {
        let Ok(changes) = result else { return };
        // Writes, creations, removals and renames; not reads, which every build does.
        let paths: BTreeSet<PathBuf> = changes
            .into_iter()
            .filter(|change| {
                matches!(
                    change.kind,
                    EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                )
            })
            .flat_map(|change| change.event.paths)
            .filter(|path| is_source(&root, path))
            .collect();
        if !paths.is_empty() {
            let _ = events.send(Event::Changed(paths));
        }
    })
    .context("watching the service's folder")?;
    debouncer
        .watch(&target.dir, RecursiveMode::Recursive)
        .with_context(|| format!("watching `{}`", target.dir.display()))?;
    printer.status(
        "Watching",
        format!("`{}` for changes", target.dir.display()),
    );

    let mut service = build_and_start(target, options, printer)?;
    // Generated files micro itself just wrote: their change events are not edits.
    let mut just_generated: BTreeSet<PathBuf> = BTreeSet::new();
    loop {
        let event = match incoming.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = service.as_mut().and_then(Service::exited) {
                    printer.warn(format!(
                        "the service exited ({status}); waiting for changes"
                    ));
                    service = None;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => anyhow::bail!("the file watcher stopped"),
        };
        let mut changed = match event {
            Event::Signal(signal) => {
                let status = service.as_mut().map(|s| s.stop(signal, GRACE));
                return Ok(status.map_or(ExitCode::SUCCESS, process::exit_code));
            }
            Event::Changed(paths) => paths,
        };
        changed.retain(|path| !just_generated.remove(path));
        if changed.is_empty() {
            continue;
        }
        let shown: Vec<String> = changed
            .iter()
            .map(|path| {
                path.strip_prefix(&target.dir)
                    .unwrap_or(path)
                    .display()
                    .to_string()
            })
            .collect();
        printer.status("Changed", shown.join(", "));

        if changed
            .iter()
            .any(|path| path.extension().is_some_and(|e| e == "proto"))
        {
            match regenerate(&target.dir) {
                Ok(written) => just_generated.extend(written),
                Err(err) => {
                    report_kept(printer, &err, service.is_some());
                    continue;
                }
            }
        }
        match build::build(target, options.release, printer) {
            Ok(executable) => {
                if let Some(mut old) = service.take() {
                    printer.status("Restarting", format!("`{}`", target.bin));
                    old.stop(process::SIGTERM, GRACE);
                }
                service = Some(Service::start(
                    &executable,
                    options.workdir.as_deref().unwrap_or(&target.dir),
                    &options.args,
                )?);
            }
            Err(err) if err.is::<BuildFailed>() => report_kept(printer, &err, service.is_some()),
            Err(err) => return Err(err),
        }
    }
}

fn build_and_start(
    target: &Target,
    options: &Options,
    printer: Printer,
) -> anyhow::Result<Option<Service>> {
    match build::build(target, options.release, printer) {
        Ok(executable) => {
            let workdir = options.workdir.as_deref().unwrap_or(&target.dir);
            printer.status(
                "Running",
                format!("`{}` in `{}`", target.bin, workdir.display()),
            );
            Ok(Some(Service::start(&executable, workdir, &options.args)?))
        }
        Err(err) if err.is::<BuildFailed>() => {
            printer.warn(format!("{err}; fix it and save to try again"));
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

fn report_kept(printer: Printer, err: &anyhow::Error, running: bool) {
    let what = match running {
        true => "the running service stays up until a build succeeds",
        false => "nothing runs until a build succeeds",
    };
    // Shown even with --quiet: the person's edit did not take.
    let red = crate::output::ERROR;
    anstream::eprintln!("{red}error{red:#}: {err:#}; {what}");
    let _ = printer;
}

/// Regenerates the contracts' code; returns the files it wrote.
fn regenerate(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let project = Project::find(dir)?;
    let written = crate::contracts::regenerate(&project)?;
    Ok(written
        .into_iter()
        .filter(|(_, outcome)| *outcome != crate::files::Outcome::Unchanged)
        .map(|(path, _)| path)
        .collect())
}

/// Whether a change to `path` calls for a rebuild: Rust and proto sources, manifests and config
/// files, outside build output and version control. (Not `Cargo.lock`, which builds write, nor
/// `data/`, where services keep their databases.)
fn is_source(root: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(root) else {
        return false;
    };
    let hidden_or_output = relative.components().any(|part| {
        let part = part.as_os_str().to_string_lossy();
        part == "target" || part.starts_with('.')
    });
    if hidden_or_output {
        return false;
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    matches!(extension, "rs" | "proto")
        || path.file_name().is_some_and(|name| name == "Cargo.toml")
        || (relative.starts_with("configs")
            && matches!(extension, "yaml" | "yml" | "toml" | "json"))
}

/// Sends SIGINT, SIGTERM and SIGHUP to micro as events, so the service is stopped first.
#[cfg(unix)]
fn relay_signals(events: mpsc::Sender<Event>) -> anyhow::Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if events.send(Event::Signal(signal)).is_err() {
                break;
            }
        }
    });
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_code_contracts_manifests_and_config() {
        let root = Path::new("/srv/app");
        for path in [
            "src/service/greeter.rs",
            "api/helloworld/v1/greeter.proto",
            "Cargo.toml",
            "configs/config.yaml",
        ] {
            assert!(is_source(root, &root.join(path)), "{path}");
        }
        for path in [
            "target/debug/app.d",
            ".git/index",
            "Cargo.lock",
            "data/app.db",
            "README.md",
            "src/.service.rs.swp",
        ] {
            assert!(!is_source(root, &root.join(path)), "{path}");
        }
        assert!(!is_source(root, Path::new("/elsewhere/x.rs")));
    }
}
