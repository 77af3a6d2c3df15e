//! `micro new`: renders the service template and its generated code into a temporary folder beside
//! the target, then moves it into place, so a failure leaves nothing behind.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::files;
use crate::output::Printer;
use crate::project::Project;
use crate::scaffold::{self, ServiceOptions};
use crate::workspace;

pub mod choices;
pub mod template;

pub struct Options {
    pub name: String,
    /// The folder the service's folder is created in.
    pub parent: PathBuf,
    pub force: bool,
    /// Inside a Cargo workspace, become one of its members.
    pub join_workspace: bool,
    /// The choices flags made; the rest are asked or defaulted.
    pub given: choices::Given,
    pub asking: choices::Asking,
    /// A cargo-generate template to use instead of micro's own.
    pub template: Option<template::Template>,
}

pub fn run(options: &Options, printer: Printer) -> anyhow::Result<()> {
    crate::names::validate_crate_name(&options.name).map_err(|reason| {
        anyhow::anyhow!("invalid service name: {reason}\nhint: use lowercase words joined by `-`, e.g. `order-service`")
    })?;
    let target = options.parent.join(&options.name);
    let occupied = target.is_dir() && fs_err::read_dir(&target)?.next().is_some();
    if target.exists() && !target.is_dir() {
        anyhow::bail!("`{}` exists and is not a folder", target.display());
    }
    if occupied && !options.force {
        anyhow::bail!(
            "`{}` already exists and is not empty\nhint: choose another name, or pass `--force` to write into it",
            target.display()
        );
    }

    fs_err::create_dir_all(&options.parent)?;
    let mut staging = tempfile::Builder::new();
    staging.prefix(".micro-new-");
    // The folder becomes the service's: it gets the mode a plain `mkdir` gets, not a temporary
    // folder's private one.
    #[cfg(unix)]
    staging.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o777));
    let staging = staging.tempdir_in(&options.parent).with_context(|| {
        format!(
            "creating a temporary folder in `{}`",
            options.parent.display()
        )
    })?;
    let mut workspace = workspace::find(&options.parent, &target)?;
    if !options.join_workspace {
        workspace = None;
    }
    // Questions come after every check that could refuse, so nobody answers them for nothing.
    let rendered = match &options.template {
        None => {
            let choices = choices::decide(options.given, options.asking, printer)?;
            let files = scaffold::render_service(&ServiceOptions {
                name: options.name.clone(),
                choices,
                workspace: workspace.as_ref().map(workspace::Join::place),
            })?;
            files::write_new(staging.path(), &files)?;
            let project = Project::load(staging.path())?;
            crate::contracts::generate_staged(&project)
                .context("generating code for the template's contracts (a micro bug)")?;
            staging.path().to_owned()
        }
        Some(template) => {
            let root = template::render(
                template,
                &options.name,
                staging.path(),
                options.asking,
                printer,
            )?;
            // A template with contracts gets their code generated, as micro's own does.
            if crate::contracts::any_in(&root.join("api")) {
                crate::contracts::generate_staged(&Project::load(&root)?)?;
            }
            root
        }
    };

    // Everything that could fail is decided before the service moves into place.
    let manifest = rendered.join("Cargo.toml");
    if !options.join_workspace && workspace::find(&options.parent, &target)?.is_some() {
        // Cargo refuses a package inside a workspace that does not list it, unless the package
        // is a workspace of its own.
        workspace::stand_alone(&manifest)?;
    }
    // The runtime, vendored: once per workspace, at its root, or in the service itself.
    let uses_runtime =
        options.template.is_none() || crate::contracts::any_in(&rendered.join("api"));
    let runtime_home = match &workspace {
        Some(workspace) => workspace
            .manifest
            .parent()
            .unwrap_or(&options.parent)
            .to_owned(),
        None => target.clone(),
    };
    let runtime_dir = runtime_home.join(crate::vendor::DIR);
    if uses_runtime {
        crate::vendor::set_dependency(
            &rendered,
            &crate::vendor::relative_path(&target, &runtime_dir),
        )?;
        if workspace.is_none() {
            files::write_generated(&rendered.join(crate::vendor::DIR), &crate::vendor::files())?;
        }
    }
    if let Some(workspace) = &workspace {
        workspace.inherit_dependencies(&manifest)?;
    } else if let Some(repository) = enclosing_git_repository(&options.parent) {
        printer.warn(format!(
            "`{}` is inside the git repository at `{}`; the service becomes part of it",
            target.display(),
            repository.display()
        ));
    }

    if occupied {
        merge_into(&rendered, &target)?;
    } else {
        if target.is_dir() {
            fs_err::remove_dir(&target)?;
        }
        // The staging folder itself, or the folder the template made inside it (which leaves the
        // emptied staging folder to be removed on drop).
        fs_err::rename(&rendered, &target)?;
    }

    printer.status(
        "Created",
        format!("service `{}` in `{}`", options.name, target.display()),
    );
    if let Some(workspace) = &workspace {
        if uses_runtime && !runtime_dir.join("Cargo.toml").is_file() {
            files::write_generated(&runtime_dir, &crate::vendor::files())?;
            printer.status(
                "Vendored",
                format!(
                    "micro-runtime into `{}`, shared by the workspace",
                    runtime_dir.display()
                ),
            );
        }
        workspace.write()?;
        if let Some(member) = &workspace.member {
            printer.status(
                "Added",
                format!(
                    "`{member}` to the workspace members in `{}`",
                    workspace.manifest.display()
                ),
            );
        }
    }
    let relative = relative_to_cwd(&target);
    // Only micro's own template is known to serve the greeter.
    let try_it = match options.template {
        None => "\n  curl http://localhost:8000/helloworld/micro",
        Some(_) => "",
    };
    printer.line(format!(
        "\nNext:\n  cd {}\n  micro run{try_it}",
        relative.display()
    ));
    Ok(())
}

/// Copies every file of `staging` over `target` (each file atomically), keeping files that only
/// `target` has.
fn merge_into(staging: &Path, target: &Path) -> anyhow::Result<()> {
    for entry in walkdir::WalkDir::new(staging) {
        let entry = entry?;
        if entry.file_type().is_file() {
            let relative = entry.path().strip_prefix(staging)?;
            files::write_atomic(&target.join(relative), &fs_err::read(entry.path())?)?;
        }
    }
    Ok(())
}

/// The root of the git repository `dir` is in, if any.
fn enclosing_git_repository(dir: &Path) -> Option<PathBuf> {
    let dir = std::path::absolute(dir).ok()?;
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_owned)
}

/// `path` relative to the current folder when it is below it, for the next-steps hint.
fn relative_to_cwd(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_owned))
        .unwrap_or_else(|| path.to_owned())
}
