//! `micro proto add`: a new contract from `templates/proto/`, with its package taken from the
//! folder it goes in and a CRUD service named after the file.

use std::path::Path;

use heck::ToUpperCamelCase;

use crate::output::Printer;
use crate::project::{CONTRACTS_DIR, Project};
use crate::scaffold;

/// Writes the contract `file` (relative to `cwd`). Inside a project it must land under the
/// project's `api/` folder, unless `force`.
pub fn run(cwd: &Path, file: &Path, force: bool, printer: Printer) -> anyhow::Result<()> {
    let file = &normalized(&cwd.join(file));
    if file.extension().is_none_or(|e| e != "proto") {
        anyhow::bail!("`{}` does not end in `.proto`", file.display());
    }
    if file.exists() {
        anyhow::bail!(
            "`{}` already exists; micro never overwrites a contract",
            file.display()
        );
    }
    let start = file
        .ancestors()
        .find(|dir| dir.is_dir())
        .unwrap_or(Path::new("."));
    let project = Project::find(cwd).or_else(|_| Project::find(start)).ok();
    if let Some(project) = &project
        && !file.starts_with(project.contracts_dir())
        && !force
    {
        anyhow::bail!(
            "`{}` is outside the project's contracts folder `{}`\nhint: contracts belong under `{CONTRACTS_DIR}/` (e.g. `{CONTRACTS_DIR}/order/v1/order.proto`); pass `--force` to write it there anyway",
            file.display(),
            project.contracts_dir().display()
        );
    }
    let relative = project
        .as_ref()
        .and_then(|p| file.strip_prefix(p.contracts_dir()).ok())
        .or_else(|| {
            // Outside a project, a leading `api/` is still the contracts folder, not the package.
            let parts = file.iter().collect::<Vec<_>>();
            let at = parts.iter().rposition(|p| *p == CONTRACTS_DIR)?;
            file.strip_prefix(parts[..=at].iter().collect::<std::path::PathBuf>())
                .ok()
        })
        .unwrap_or(file);
    let package = crate::names::package_for_path(relative).ok_or_else(|| {
        anyhow::anyhow!(
            "cannot tell the package of `{}`\nhint: put the contract in a versioned folder, e.g. `api/order/v1/order.proto`",
            file.display()
        )
    })?;
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let resource = stem.to_upper_camel_case();
    if resource.is_empty() || resource.starts_with(|c: char| c.is_ascii_digit()) {
        anyhow::bail!("`{stem}` cannot name a service; start the file name with a letter");
    }
    let service = format!("{resource}Service");
    let contents = scaffold::render_contract(&package, &resource)?;
    crate::files::write_atomic(file, contents.as_bytes())?;
    let shown = project
        .as_ref()
        .and_then(|p| file.strip_prefix(&p.root).ok())
        .unwrap_or(file);
    printer.status(
        "Created",
        format!(
            "{} (package `{package}`, service `{service}`)",
            shown.display()
        ),
    );
    printer.line(format!("\nNext: micro proto client {}", shown.display()));
    Ok(())
}

/// `path` with `.` and `..` resolved by their names alone, so `api/../../x` is seen to leave the
/// project before anything is written (the folders need not exist).
fn normalized(path: &Path) -> std::path::PathBuf {
    use std::path::Component;

    let mut out = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
