//! Finding the service a command runs in, from any folder inside it.

use std::path::{Path, PathBuf};

/// The folder, under a service's root, that holds its contracts and their generated code.
pub const CONTRACTS_DIR: &str = "api";

/// A Cargo package micro works in.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// The nearest folder at or above `start` with a `Cargo.toml` that declares a package.
    pub fn find(start: &Path) -> anyhow::Result<Project> {
        let start = std::path::absolute(start)?;
        for dir in start.ancestors() {
            let manifest = dir.join("Cargo.toml");
            if let Ok(text) = fs_err::read_to_string(&manifest)
                && text.lines().any(|line| line.trim() == "[package]")
            {
                return Ok(Project {
                    root: dir.to_owned(),
                });
            }
        }
        anyhow::bail!(
            "`{}` is not inside a Cargo package\nhint: run this inside a service made by `micro new`",
            start.display()
        )
    }

    pub fn contracts_dir(&self) -> PathBuf {
        self.root.join(CONTRACTS_DIR)
    }
}
