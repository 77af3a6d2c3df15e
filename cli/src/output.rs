//! Everything micro tells a person goes to stderr through here; stdout is left for data. Colours
//! as cargo's, dropped when stderr is not a terminal or `NO_COLOR` is set (anstream decides).

use std::path::Path;

use anstyle::{AnsiColor, Style};

pub const STATUS: Style = AnsiColor::Green.on_default().bold();
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const ERROR: Style = AnsiColor::Red.on_default().bold();

/// Prints status lines unless `--quiet` was given; with `--verbose`, also what is usually left
/// out (unchanged files, cargo's own progress lines, where `call` found a method).
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    quiet: bool,
    verbose: bool,
}

impl Printer {
    pub fn new(quiet: bool, verbose: bool) -> Self {
        Printer {
            quiet,
            verbose: verbose && !quiet,
        }
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    pub fn is_verbose(&self) -> bool {
        self.verbose
    }

    /// A status line shown only with `--verbose`.
    pub fn detail(&self, verb: &str, what: impl std::fmt::Display) {
        if self.verbose {
            self.status(verb, what);
        }
    }

    /// A right-aligned verb and what it applied to, as cargo prints its progress.
    pub fn status(&self, verb: &str, what: impl std::fmt::Display) {
        if !self.quiet {
            anstream::eprintln!("{STATUS}{verb:>12}{STATUS:#} {what}");
        }
    }

    /// Something the person should know even though the command goes on.
    pub fn warn(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            anstream::eprintln!("{WARNING}warning{WARNING:#}: {text}");
        }
    }

    pub fn line(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Reports written files by their path relative to `base`.
    pub fn files(&self, base: &Path, files: &[(std::path::PathBuf, crate::files::Outcome)]) {
        use crate::files::Outcome;
        for (path, outcome) in files {
            let verb = match outcome {
                Outcome::Created => "Created",
                Outcome::Updated => "Updated",
                Outcome::Removed => "Removed",
                Outcome::Unchanged if self.verbose => "Unchanged",
                Outcome::Unchanged => continue,
                Outcome::Kept => "Kept",
            };
            let shown = path.strip_prefix(base).unwrap_or(path);
            self.status(verb, shown.display());
        }
    }
}
