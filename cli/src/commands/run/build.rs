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
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&target.dir)
        .args(["build", "--message-format=json-render-diagnostics"])
        .args(["--package", &target.package, "--bin", &target.bin])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
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

    let mut executable = None;
    let stdout = child.stdout.take().context("cargo's output")?;
    for message in Message::parse_stream(std::io::BufReader::new(stdout)) {
        match message.context("reading cargo's messages")? {
            Message::CompilerArtifact(artifact) => {
                progress.inc(1);
                progress.set_message(artifact.target.name.clone());
                if artifact.target.name == target.bin && artifact.executable.is_some() {
                    executable = artifact.executable.map(PathBuf::from);
                }
            }
            Message::BuildFinished(_) => progress.set_message("done"),
            _ => {}
        }
    }
    progress.finish_and_clear();
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        return Err(BuildFailed(target.bin.clone()).into());
    }
    executable.with_context(|| format!("cargo built no executable named `{}`", target.bin))
}
