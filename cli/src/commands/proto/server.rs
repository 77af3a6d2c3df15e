//! `micro proto server`: writes an implementation skeleton for every service of a contract into
//! the user's code. Existing files are the user's and are never touched.

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
    let written = files::write_new(&options.target_dir, &stubs)?;
    printer.files(&project.root, &written);
    if written.iter().any(|(_, o)| *o == files::Outcome::Created) {
        printer.line("\nNext: declare each new module in its parent (`pub mod …;`) and serve it from `src/server/`.");
    }
    Ok(())
}
