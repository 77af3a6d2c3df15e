//! `micro new --template`: a service from a cargo-generate template (the Rust ecosystem's template
//! format: `cargo-generate.toml`, Liquid placeholders such as `{{project-name}}`), on disk or in a
//! git repository, rendered by the `cargo-generate` crate into micro's staging folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cargo_generate::{GenerateArgs, TemplatePath, Vcs};

use super::choices::Asking;
use crate::output::Printer;

/// Where a template comes from.
#[derive(Debug, Clone)]
pub struct Template {
    /// A folder, or a git URL.
    pub location: String,
    /// A git branch; implies git even for a folder.
    pub branch: Option<String>,
}

impl Template {
    /// A folder that exists is copied unless a branch is asked for; anything else is cloned.
    fn is_git(&self) -> bool {
        self.branch.is_some() || !Path::new(&self.location).is_dir()
    }
}

/// Renders `template` as the service `name` into `staging`; returns the service's folder there.
/// Placeholders are asked on a terminal; otherwise they take the template's defaults, and a
/// placeholder without one is an error naming it.
pub fn render(
    template: &Template,
    name: &str,
    staging: &Path,
    asking: Asking,
    printer: Printer,
) -> anyhow::Result<PathBuf> {
    let mut template_path = TemplatePath::default();
    if template.is_git() {
        template_path.git = Some(template.location.clone());
        template_path.branch = template.branch.clone();
    } else {
        let folder = std::path::absolute(&template.location)?;
        template_path.path = Some(folder.to_string_lossy().into_owned());
    }
    let args = GenerateArgs {
        template_path,
        name: Some(name.to_owned()),
        // The name is already a valid crate name; keep it exactly as given.
        force: true,
        silent: asking != Asking::Prompt,
        destination: Some(staging.to_owned()),
        vcs: Some(Vcs::None),
        // micro adds the service to an enclosing workspace itself, as for its own template.
        no_workspace: true,
        ..GenerateArgs::default()
    };

    let spinner = (asking != Asking::Prompt && !printer.is_quiet()).then(|| {
        let spinner = indicatif::ProgressBar::new_spinner()
            .with_message(format!("rendering template `{}`", template.location));
        spinner.enable_steady_tick(Duration::from_millis(100));
        spinner
    });
    let rendered = cargo_generate::generate(args);
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let root = rendered.map_err(|err| explain(template, err))?;
    anyhow::ensure!(
        root.join("Cargo.toml").is_file(),
        "template `{}` has no `Cargo.toml` at its root\nhint: micro's templates are Cargo packages; \
         point `--template` at the folder that holds the template's `Cargo.toml`",
        template.location
    );
    Ok(root)
}

/// Turns cargo-generate's error into one that says what failed and what to do.
fn explain(template: &Template, err: anyhow::Error) -> anyhow::Error {
    let hint = if template.is_git() {
        match &template.branch {
            Some(branch) => format!(
                "check that `{}` is a git repository you can clone (URL, network, credentials) \
                 and that it has a branch `{branch}`",
                template.location
            ),
            None => format!(
                "`{}` is not a folder, so it was cloned with git: check the URL, the network and \
                 your credentials, or pass the template's folder",
                template.location
            ),
        }
    } else {
        "fix the template (its `cargo-generate.toml` and placeholders), or answer its questions on \
         a terminal"
            .to_owned()
    };
    err.context(format!(
        "rendering template `{}` failed\nhint: {hint}",
        template.location
    ))
}
