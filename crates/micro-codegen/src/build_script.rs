//! Generation from a service's `build.rs`, for teams who would rather not commit generated code.
//!
//! micro's default is the other way: `micro proto client` writes the code next to the contracts,
//! it is reviewed and committed, and CI runs `micro proto client --check`. That keeps this crate
//! (and protox, prost-build, syn…) out of the service's build. With a build script the same files
//! are written into `$OUT_DIR/micro/` on every contract change instead:
//!
//! ```no_run
//! // build.rs
//! fn main() -> anyhow::Result<()> {
//!     micro_codegen::build_script::Contracts::new("api").generate()
//! }
//! ```
//!
//! and mounted where `#[path = "../api/mod.rs"] pub mod api;` was:
//! `pub mod api { include!(concat!(env!("OUT_DIR"), "/micro/mod.rs")); }`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::{ContractError, Options, openapi, protos};

/// The contracts of one service, and how to generate their code.
#[derive(Debug, Clone)]
pub struct Contracts {
    dir: PathBuf,
    includes: Vec<PathBuf>,
    options: Options,
}

impl Contracts {
    /// The contracts under `dir` (relative to the package's manifest, as build scripts run),
    /// which is also the root their imports are resolved from.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Contracts {
            dir: dir.into(),
            includes: Vec::new(),
            options: Options::default(),
        }
    }

    /// Another folder imports are resolved from (micro's embedded `google/api`, `validate` and
    /// `errors` protos always are).
    pub fn include(mut self, dir: impl Into<PathBuf>) -> Self {
        self.includes.push(dir.into());
        self
    }

    /// Replies name fields as declared (`user_id`) rather than in lowerCamelCase; the build-script
    /// twin of `json-field-names = "proto"`.
    pub fn proto_field_names(mut self, on: bool) -> Self {
        self.options.proto_field_names = on;
        self
    }

    /// A typed NATS client per service; the build-script twin of `nats-clients = true`.
    pub fn nats_clients(mut self, on: bool) -> Self {
        self.options.nats = on;
        self
    }

    /// Generates into `$OUT_DIR/micro/`, tells Cargo to run again when a contract changes, and
    /// passes on what the contracts ask for that was left out as Cargo warnings.
    pub fn generate(&self) -> anyhow::Result<()> {
        let out = std::env::var_os("OUT_DIR")
            .context("OUT_DIR is not set: `generate` is meant to run in a build script")?;
        println!("cargo:rerun-if-changed={}", self.dir.display());
        for dir in &self.includes {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
        let info = openapi::Info {
            title: std::env::var("CARGO_PKG_NAME").unwrap_or_default(),
            version: std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        };
        for warning in self.generate_into(&Path::new(&out).join("micro"), &info)? {
            println!("cargo:warning={warning}");
        }
        Ok(())
    }

    /// Generates every package of the contracts into `out` (the module tree at `out/mod.rs`),
    /// rewriting only files whose contents changed so Cargo rebuilds no more than it must.
    pub fn generate_into(
        &self,
        out: &Path,
        info: &openapi::Info,
    ) -> anyhow::Result<Vec<ContractError>> {
        let files =
            protos::find(&self.dir).with_context(|| format!("reading `{}`", self.dir.display()))?;
        if files.is_empty() {
            anyhow::bail!("`{}` holds no `.proto` files", self.dir.display());
        }
        let mut includes = vec![self.dir.clone()];
        includes.extend(self.includes.iter().cloned());
        let compiled = protos::compile(&files, &includes)?;
        let packages = compiled
            .requested
            .iter()
            .filter_map(|name| compiled.pool.get_file_by_name(name))
            .map(|file| file.package_name().to_owned())
            .collect();
        let output = crate::generate(&compiled.pool, &packages, &self.options, info)?;
        for file in &output.files {
            let path = out.join(&file.path);
            if std::fs::read_to_string(&path).ok().as_deref() == Some(file.contents.as_str()) {
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating `{}`", parent.display()))?;
            }
            std::fs::write(&path, &file.contents)
                .with_context(|| format!("writing `{}`", path.display()))?;
        }
        Ok(output.warnings)
    }
}
