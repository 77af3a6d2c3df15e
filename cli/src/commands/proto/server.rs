//! `micro proto server`: writes an implementation skeleton for every service of a contract into
//! the user's code. An existing file is the user's: it only gains stubs for the RPCs its `impl`
//! block lacks (the contract grew), every byte already there kept.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::codegen;
use crate::files;
use crate::output::Printer;
use crate::project::Project;
use crate::protos;

pub struct Options {
    pub file: PathBuf,
    pub target_dir: PathBuf,
    pub includes: Vec<PathBuf>,
}

pub fn run(options: &Options, printer: Printer) -> anyhow::Result<()> {
    let project = Project::find(options.file.parent().unwrap_or(&options.file))?;
    let includes = project.include_dirs(&options.includes);
    let compiled = protos::compile(std::slice::from_ref(&options.file), &includes)?;
    let name = &compiled.requested[0];
    let file = compiled
        .pool
        .get_file_by_name(name)
        .expect("a requested file is in the pool");
    let packages = BTreeSet::from([file.package_name().to_owned()]);
    let mut model = codegen::model(&compiled.pool, &packages)?;
    // Only the services this file declares, not its package siblings'.
    for package in &mut model {
        package.services.retain(|s| &s.file == name);
    }
    let stubs = codegen::server_stubs(&model)?;
    if stubs.is_empty() {
        anyhow::bail!("`{}` declares no service", options.file.display());
    }
    // `server_stubs` gives one file per service, in the model's order.
    let services = model.iter().flat_map(|package| {
        package
            .services
            .iter()
            .map(move |service| (package, service))
    });
    let mut outcomes = Vec::with_capacity(stubs.len());
    for (stub, (package, service)) in stubs.iter().zip(services) {
        let path = options.target_dir.join(&stub.path);
        if !path.exists() {
            files::write_atomic(&path, stub.contents.as_bytes())?;
            outcomes.push((path, files::Outcome::Created));
            continue;
        }
        // The user's file: only stubs for the RPCs it lacks are added, nothing else touched.
        let existing = fs_err::read_to_string(&path)?;
        let appended =
            codegen::stubs::append_missing(package, service, &existing).map_err(|err| {
                use codegen::stubs::AppendError;
                match err {
                    // `FILE:LINE:COLUMN: …`, as compilers say it.
                    AppendError::Unparsable { .. } => anyhow::anyhow!("{}:{err}", path.display()),
                    AppendError::NoImpl(..) => anyhow::anyhow!("{}: {err}", path.display()),
                }
            })?;
        match appended {
            None => outcomes.push((path, files::Outcome::Kept)),
            Some(appended) => {
                files::write_atomic(&path, appended.contents.as_bytes())?;
                let added: Vec<String> = appended
                    .added
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect();
                let shown = path.strip_prefix(&project.root).unwrap_or(&path);
                printer.status(
                    "Added",
                    format!("{} to `{}`", added.join(", "), shown.display()),
                );
            }
        }
    }
    printer.files(&project.root, &outcomes);
    if outcomes.iter().any(|(_, o)| *o == files::Outcome::Created) {
        printer.line("\nNext: declare each new module in its parent (`pub mod …;`) and serve it from `src/server/`.");
    }
    Ok(())
}
