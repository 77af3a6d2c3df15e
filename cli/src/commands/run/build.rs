//! Building the chosen binary with cargo, showing progress from cargo's JSON messages while cargo
//! prints its warnings and errors as it always does.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Context as _;
use cargo_metadata::Message;
use indicatif::{ProgressBar, ProgressStyle};

use super::target::Target;
use crate::output::Printer;

/// A build that failed; cargo has already printed why.
#[derive(Debug, thiserror::Error)]
#[error("the build of `{0}` failed")]
pub struct BuildFailed(pub String);

/// Builds `target` and returns its executable.
pub fn build(target: &Target, release: bool, printer: Printer) -> anyhow::Result<PathBuf> {
    let mut executables = build_all(std::slice::from_ref(target), release, printer)?;
    Ok(executables.remove(0))
}

/// Builds `targets` (of one workspace) in one cargo run and returns their executables, in order.
pub fn build_all(
    targets: &[Target],
    release: bool,
    printer: Printer,
) -> anyhow::Result<Vec<PathBuf>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&targets.first().context("something to build")?.dir)
        .args(["build", "--message-format=json-render-diagnostics"]);
    for target in targets {
        command.args(["--package", &target.package, "--bin", &target.bin]);
    }
    command.stdout(Stdio::piped()).stderr(Stdio::inherit());
    if release {
        command.arg("--release");
    }
    // Cargo's own status lines would fight the progress bar; its diagnostics print either way.
    if !printer.is_verbose() {
        command.arg("--quiet");
    }
    let mut child = command
        .spawn()
        .context("starting `cargo build`; is cargo installed and on PATH?")?;

    // Drawn only on a terminal (indicatif hides it otherwise), and never with --quiet.
    let progress = match printer.is_quiet() || printer.is_verbose() {
        true => ProgressBar::hidden(),
        false => ProgressBar::new_spinner(),
    };
    progress.set_style(
        ProgressStyle::with_template(
            "{spinner:.green} {prefix:>10.green.bold} {pos} crates {wide_msg}",
        )
        .expect("a valid template"),
    );
    progress.set_prefix("Building");
    progress.enable_steady_tick(std::time::Duration::from_millis(120));

    let mut executables: Vec<Option<PathBuf>> = vec![None; targets.len()];
    let stdout = child.stdout.take().context("cargo's output")?;
    for message in Message::parse_stream(std::io::BufReader::new(stdout)) {
        match message.context("reading cargo's messages")? {
            Message::CompilerArtifact(artifact) => {
                progress.inc(1);
                progress.set_message(artifact.target.name.clone());
                let built = targets.iter().position(|t| {
                    t.bin == artifact.target.name
                        && artifact.manifest_path.parent().map(|dir| dir.as_std_path())
                            == Some(t.dir.as_path())
                });
                if let (Some(i), Some(executable)) = (built, &artifact.executable) {
                    executables[i] = Some(PathBuf::from(executable));
                }
            }
            Message::BuildFinished(_) => progress.set_message("done"),
            _ => {}
        }
    }
    progress.finish_and_clear();
    let status = child.wait().context("waiting for cargo")?;
    let names = || {
        targets
            .iter()
            .map(|t| t.bin.as_str())
            .collect::<Vec<_>>()
            .join("`, `")
    };
    if !status.success() {
        return Err(BuildFailed(names()).into());
    }
    targets
        .iter()
        .zip(executables)
        .map(|(target, executable)| {
            executable.with_context(|| format!("cargo built no executable named `{}`", target.bin))
        })
        .collect()
}
