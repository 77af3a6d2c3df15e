//! Finding the service a command runs in, from any folder inside it, and reading what its
//! `Cargo.toml` tells micro.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::codegen;

/// The folder, under a service's root, that holds its contracts and their generated code.
pub const CONTRACTS_DIR: &str = "api";

/// A Cargo package micro works in.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// The package name and version, which title its API documents.
    pub name: String,
    pub version: String,
    /// `[package.metadata.micro]`.
    pub options: codegen::Options,
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
                return Project::load(dir);
            }
        }
        anyhow::bail!(
            "`{}` is not inside a Cargo package\nhint: run this inside a service made by `micro new`",
            start.display()
        )
    }

    /// The package whose `Cargo.toml` is in `root`.
    pub fn load(root: &Path) -> anyhow::Result<Project> {
        let manifest = root.join("Cargo.toml");
        let text = fs_err::read_to_string(&manifest)?;
        // The parsed document keeps spans, so a bad setting can be reported by line.
        let doc = toml_edit::Document::parse(text.as_str())
            .with_context(|| format!("`{}` is not valid TOML", manifest.display()))?;
        let package = doc.get("package");
        let string = |key: &str| {
            package
                .and_then(|p| p.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let name = string("name").unwrap_or_else(|| {
            root.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        // A version inherited from the workspace is not worth resolving for a document title.
        let version = string("version").unwrap_or_else(|| "0.0.0".to_owned());

        let mut options = codegen::Options::default();
        if let Some(micro) = package
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.get("micro"))
        {
            let setting = micro.get("json-field-names");
            match setting.map(|v| v.as_str()) {
                None | Some(Some("json")) => {}
                Some(Some("proto")) => options.proto_field_names = true,
                Some(_) => {
                    let line = setting
                        .and_then(toml_edit::Item::span)
                        .map_or(0, |span| text[..span.start].matches('\n').count() + 1);
                    anyhow::bail!(
                        "{}:{line}: `json-field-names` in `[package.metadata.micro]` must be \"json\" or \"proto\"\nhint: \"json\" writes lowerCamelCase names (the proto3 default), \"proto\" the names as declared",
                        manifest.display(),
                    )
                }
            }
        }
        Ok(Project {
            root: root.to_owned(),
            name,
            version,
            options,
        })
    }

    pub fn contracts_dir(&self) -> PathBuf {
        self.root.join(CONTRACTS_DIR)
    }
}
