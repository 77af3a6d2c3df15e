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
    /// Folders to resolve contracts' imports from after `api/` (`proto-include` in
    /// `[package.metadata.micro]`, e.g. `["third_party"]`), as absolute paths.
    pub includes: Vec<PathBuf>,
    /// Lint rules switched off (`lint-except` in `[package.metadata.micro]`).
    pub lint_except: std::collections::BTreeSet<String>,
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
        let mut includes = Vec::new();
        let mut lint_except = std::collections::BTreeSet::new();
        let line_of = |item: Option<&toml_edit::Item>| {
            item.and_then(toml_edit::Item::span)
                .map_or(0, |span| text[..span.start].matches('\n').count() + 1)
        };
        if let Some(micro) = package
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.get("micro"))
        {
            if let Some(setting) = micro.get("proto-include") {
                let folders: Option<Vec<&str>> = setting
                    .as_array()
                    .map(|array| array.iter().map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                let Some(folders) = folders else {
                    anyhow::bail!(
                        "{}:{}: `proto-include` in `[package.metadata.micro]` must be a list of folders\nhint: e.g. `proto-include = [\"third_party\"]`, relative to the package",
                        manifest.display(),
                        line_of(Some(setting)),
                    );
                };
                includes = folders.iter().map(|folder| root.join(folder)).collect();
            }
            if let Some(setting) = micro.get("client-only") {
                let packages: Option<Vec<&str>> = setting
                    .as_array()
                    .map(|array| array.iter().map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                let Some(packages) = packages else {
                    anyhow::bail!(
                        "{}:{}: `client-only` in `[package.metadata.micro]` must be a list of proto packages\nhint: e.g. `client-only = [\"user.v1\"]`: contracts this service calls but does not serve",
                        manifest.display(),
                        line_of(Some(setting)),
                    );
                };
                options.client_only = packages.into_iter().map(str::to_owned).collect();
            }
            if let Some(setting) = micro.get("nats-clients") {
                let Some(on) = setting.as_bool() else {
                    anyhow::bail!(
                        "{}:{}: `nats-clients` in `[package.metadata.micro]` must be true or false\nhint: `nats-clients = true` generates a typed NATS client per service (`greeter_nats::Client`); it needs the runtime's `nats` feature",
                        manifest.display(),
                        line_of(Some(setting)),
                    );
                };
                options.nats = on;
            }
            if let Some(setting) = micro.get("lint-except") {
                let rules: Option<Vec<&str>> = setting
                    .as_array()
                    .map(|array| array.iter().map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                let unknown = rules
                    .as_ref()
                    .and_then(|rules| rules.iter().find(|r| !codegen::lint::is_rule(r)));
                if rules.is_none() || unknown.is_some() {
                    anyhow::bail!(
                        "{}:{}: `lint-except` in `[package.metadata.micro]` must be a list of rule ids{}\nhint: e.g. `lint-except = [\"ENUM_VALUE_PREFIX\"]`; `micro proto lint --rules` lists them",
                        manifest.display(),
                        line_of(Some(setting)),
                        unknown
                            .map(|rule| format!(", and `{rule}` is none"))
                            .unwrap_or_default(),
                    );
                }
                lint_except = rules.into_iter().flatten().map(str::to_owned).collect();
            }
            let setting = micro.get("json-field-names");
            match setting.map(|v| v.as_str()) {
                None | Some(Some("json")) => {}
                Some(Some("proto")) => options.proto_field_names = true,
                Some(_) => {
                    let line = line_of(setting);
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
            includes,
            lint_except,
        })
    }

    pub fn contracts_dir(&self) -> PathBuf {
        self.root.join(CONTRACTS_DIR)
    }

    /// Where contracts' imports resolve: `api/`, then the project's `proto-include` folders, then
    /// `extra` (a command's `-I` folders).
    pub fn include_dirs(&self, extra: &[PathBuf]) -> Vec<PathBuf> {
        let mut dirs = vec![self.contracts_dir()];
        dirs.extend(self.includes.iter().cloned());
        dirs.extend(extra.iter().cloned());
        dirs
    }
}
