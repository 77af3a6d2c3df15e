//! The `micro` binary: parses the command line, runs one command, and turns its error into a
//! message and an exit code (0 success, 1 failure, 2 usage).

mod cli;
mod commands;
mod contracts;
mod files;
mod fingerprints;
mod output;
mod project;
mod scaffold;
mod vendor;
mod workspace;

use std::process::ExitCode;

// The generator is its own crate; the commands know it by these names.
use micro_codegen as codegen;
use micro_codegen::{names, protos};

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let cli::Command::New(args) = &cli.command
        && args.template.is_some()
    {
        commands::new::template::provide_author();
    }
    let printer = output::Printer::new(cli.quiet, cli.verbose);
    match commands::dispatch(cli.command, printer) {
        Ok(code) => code,
        Err(err) => {
            report(&err);
            ExitCode::FAILURE
        }
    }
}

/// `error: …`, then each cause on its own line; hints are part of the messages.
fn report(err: &anyhow::Error) {
    let red = output::ERROR;
    anstream::eprintln!("{red}error{red:#}: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
