//! The contracts operation every command shares: find a project's contracts, compile them
//! (in-process, no protoc), plan the files the generator gives, and write or check them.
//! `proto client`, `new`, `run --watch` and `upgrade` generate through it; `call` and `routes`
//! read the model through it. It prints nothing: commands decide what to show.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::codegen::{self, GeneratedFile, PACKAGE_FILES, Package};
use crate::files::{self, Outcome};
use crate::fingerprints::{self, Fingerprints};
use crate::project::Project;
use crate::protos::{self, Compiled};

/// Every `.proto` file at `path` (a file, or a folder searched recursively), sorted.
pub fn proto_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.exists() {
        anyhow::bail!("`{}` does not exist", path.display());
    }
    protos::find(path).with_context(|| format!("reading `{}`", path.display()))
}

/// Every contract of `project` compiled, with the model of its own packages (not the bundled
/// ones), for the commands that read contracts rather than generate from them.
pub fn read(project: &Project) -> anyhow::Result<(Compiled, Vec<Package>)> {
    let contracts = project.contracts_dir();
    let files = if contracts.is_dir() {
        proto_files(&contracts)?
    } else {
        Vec::new()
    };
    if files.is_empty() {
        anyhow::bail!(
            "`{}` holds no contracts\nhint: add one with `micro proto add api/<package>/v1/<name>.proto`",
            contracts.display()
        );
    }
    let compiled = protos::compile(&files, &project.include_dirs(&[]))?;
    let packages: BTreeSet<String> = compiled
        .requested
        .iter()
        .filter_map(|name| compiled.pool.get_file_by_name(name))
        .map(|file| file.package_name().to_owned())
        .collect();
    let model = codegen::model(&compiled.pool, &packages)?;
    Ok((compiled, model))
}

/// A compiled contract's name (`shop/v1/cart.proto`) as a path to show: below the first of
/// `includes` that holds it, relative to `base` when it is below that.
pub fn shown(name: &str, includes: &[PathBuf], base: &Path) -> String {
    includes
        .iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .map(|path| {
            path.strip_prefix(base)
                .unwrap_or(&path)
                .display()
                .to_string()
        })
        .unwrap_or_else(|| name.to_owned())
}

/// Whether `dir` holds any contract (at any depth).
pub fn any_in(dir: &Path) -> bool {
    dir.is_dir() && protos::find(dir).is_ok_and(|files| !files.is_empty())
}

/// Regenerates the code of the whole contracts folder, if it holds any contract.
pub fn regenerate(project: &Project) -> anyhow::Result<Vec<(PathBuf, Outcome)>> {
    let folder = project.contracts_dir();
    if !any_in(&folder) {
        return Ok(Vec::new());
    }
    generate(project, &folder, &[])
}

/// Generates the code of a service being made in a staging folder, leaving no record of it (see
/// [`Fingerprints::discard`]).
pub fn generate_staged(project: &Project) -> anyhow::Result<Vec<(PathBuf, Outcome)>> {
    let folder = project.contracts_dir();
    if !any_in(&folder) {
        return Ok(Vec::new());
    }
    let mut plan = plan(project, &folder, &[])?;
    plan.fingerprints.discard();
    plan.write(&folder)
}

/// Generates the code of the contracts at `path` into the project's contracts folder (where the
/// module tree is mounted from) and writes it.
pub fn generate(
    project: &Project,
    path: &Path,
    includes: &[PathBuf],
) -> anyhow::Result<Vec<(PathBuf, Outcome)>> {
    plan(project, path, includes)?.write(&project.contracts_dir())
}

/// The generated files of the whole contracts folder that differ from what its contracts give
/// (for `micro upgrade --check`).
pub fn out_of_date(project: &Project) -> anyhow::Result<Vec<PathBuf>> {
    let contracts = project.contracts_dir();
    if !any_in(&contracts) {
        return Ok(Vec::new());
    }
    Ok(plan(project, &contracts, &[])?.out_of_date(&contracts))
}

/// What generation would do to the contracts folder: files to write (paths relative to it),
/// generated files that are already as they would be written, and generated files that no longer
/// have a reason to exist.
pub struct Plan {
    pub files: Vec<GeneratedFile>,
    /// The files of packages whose inputs did not change since they were generated, on disk as
    /// they were written then (see [`fingerprints`]): not generated again.
    kept: Vec<PathBuf>,
    /// How many packages this run generates, and how many it keeps as they are.
    pub packages_generated: usize,
    pub packages_kept: usize,
    stale: Vec<PathBuf>,
    /// What the contracts ask for that was left out, each naming where.
    pub warnings: Vec<String>,
    fingerprints: Fingerprints,
    /// Whether the last run was asked the same, and nothing it read or wrote changed since:
    /// nothing was compiled.
    pub nothing_changed: bool,
}

impl Plan {
    /// How many generated files the contracts give, written or kept.
    pub fn len(&self) -> usize {
        self.files.len() + self.kept.len()
    }

    pub fn write(mut self, contracts: &Path) -> anyhow::Result<Vec<(PathBuf, Outcome)>> {
        let mut written = files::write_generated(contracts, &self.files)?;
        written.extend(
            self.kept
                .iter()
                .map(|p| (contracts.join(p), Outcome::Unchanged)),
        );
        for relative in &self.stale {
            let path = contracts.join(relative);
            fs_err::remove_file(&path)?;
            written.push((path, Outcome::Removed));
        }
        self.fingerprints.save(contracts);
        Ok(written)
    }

    /// The files `write` would create, change or delete.
    pub fn out_of_date(mut self, contracts: &Path) -> Vec<PathBuf> {
        let changed = self.files.iter().filter(|file| {
            fs_err::read_to_string(contracts.join(&file.path))
                .ok()
                .as_deref()
                != Some(file.contents.as_str())
        });
        let out_of_date: Vec<PathBuf> = changed
            .map(|f| &f.path)
            .chain(&self.stale)
            .map(|p| contracts.join(p))
            .collect();
        // What is on disk is what this micro generates: the next check can trust it.
        if out_of_date.is_empty() {
            self.fingerprints.save(contracts);
        }
        out_of_date
    }
}

/// Names the contract of a generation error by its path on disk, as compile errors do.
fn with_path_on_disk(err: anyhow::Error, includes: &[PathBuf]) -> anyhow::Error {
    match err.downcast::<codegen::ContractError>() {
        Ok(err) => on_disk(err, includes).into(),
        Err(err) => err,
    }
}

fn on_disk(mut err: codegen::ContractError, includes: &[PathBuf]) -> codegen::ContractError {
    if let Some(path) = includes
        .iter()
        .map(|dir| dir.join(&err.file))
        .find(|p| p.is_file())
    {
        err.file = path.display().to_string();
    }
    err
}

/// Packages are generated whole: with every contract of the same package, and with the user
/// packages they import.
pub fn plan(project: &Project, path: &Path, includes: &[PathBuf]) -> anyhow::Result<Plan> {
    let contracts = &project.contracts_dir();
    let selected = proto_files(path)?;
    if selected.is_empty() {
        anyhow::bail!("no `.proto` files under `{}`", path.display());
    }
    let mut all = if path == contracts.as_path() {
        selected.clone()
    } else if contracts.is_dir() {
        proto_files(contracts)?
    } else {
        Vec::new()
    };
    for file in &selected {
        if !all.contains(file) {
            all.push(file.clone());
        }
    }
    let include_dirs = project.include_dirs(includes);
    // A run asked what the last one was, with nothing changed since, has nothing to generate.
    let request = Fingerprints::asked(path, &include_dirs, &project.options);
    let mut fingerprints = Fingerprints::open(project);
    if let Some(unchanged) = fingerprints.unchanged_run(&request, &include_dirs, contracts) {
        return Ok(Plan {
            files: Vec::new(),
            packages_generated: 0,
            packages_kept: 0,
            kept: unchanged.files,
            stale: Vec::new(),
            warnings: unchanged.warnings,
            fingerprints,
            nothing_changed: true,
        });
    }
    let compiled = protos::compile(&all, &include_dirs)?;

    let selected_names: Vec<&String> = compiled
        .requested
        .iter()
        .zip(&all)
        .filter(|(_, file)| selected.contains(file))
        .map(|(name, _)| name)
        .collect();
    let packages = packages_to_generate(&compiled, &selected_names)?;
    let mut mounted = generated_packages(contracts)?;
    // One model for this run's packages and those generated earlier: the code is this run's,
    // the API documents cover them all (those whose contracts are in the compiled set: all of
    // the contracts folder, and what this run was given).
    let documented: BTreeSet<String> = mounted
        .keys()
        .chain(&packages)
        .filter(|package| compiled.pool.files().any(|f| f.package_name() == *package))
        .cloned()
        .collect();
    let model = codegen::model(&compiled.pool, &documented)
        .map_err(|err| with_path_on_disk(err, &include_dirs))?;
    let info = codegen::openapi::Info {
        title: project.name.clone(),
        version: project.version.clone(),
    };
    let document = codegen::openapi_document(&model, &info, &project.options);
    // The API document (megabytes, for a large service) is written out on another core while the
    // packages are generated.
    std::thread::scope(|scope| {
        let documents = scope.spawn(|| codegen::openapi_files(&document));
        let asked: Vec<&codegen::Package> = model
            .iter()
            .filter(|p| packages.contains(&p.name))
            .collect();
        let warnings: Vec<String> = asked
            .iter()
            .flat_map(|package| &package.warnings)
            .map(|warning| on_disk(warning.clone(), &include_dirs).to_string())
            .collect();

        // Packages whose inputs are those of their files on disk keep those files.
        let mut inputs = fingerprints::Inputs::new(&compiled.pool, &project.options);
        let (kept, fresh): (Vec<_>, Vec<_>) = asked
            .into_iter()
            .map(|package| {
                let hash = inputs.of(&package.name);
                let files = fingerprints.unchanged(&package.name, &hash, contracts);
                (package, hash, files)
            })
            .partition(|(_, _, files)| files.is_some());
        let kept: BTreeMap<String, Vec<PathBuf>> = kept
            .into_iter()
            .filter_map(|(package, _, files)| Some((package.name.clone(), files?)))
            .collect();
        let generated: BTreeSet<String> = fresh.iter().map(|(p, ..)| p.name.clone()).collect();
        let mut files = codegen::client(&compiled.pool, &generated, &project.options)?;
        for (package, hash, _) in fresh {
            let dir = crate::names::package_dir(&package.name);
            let own: Vec<&GeneratedFile> = files
                .iter()
                .filter(|f| f.path.parent() == Some(dir.as_path()))
                .collect();
            fingerprints.remember(&package.name, hash, &own);
        }

        // The module tree mounts what will be on disk afterwards: packages generated earlier, with
        // this run's packages as this run leaves them.
        let mut stale = Vec::new();
        for package in &packages {
            let present = match kept.get(package) {
                Some(on_disk) => present_files(package, on_disk),
                None => codegen::package_files(&files, package),
            };
            stale.extend(no_longer_generated(contracts, package, &present));
            mounted.insert(package.clone(), present);
        }
        // micro 0.1 wrote the runtime into the contracts folder; it is the `micro-runtime` crate now.
        for name in ["errors.rs", "gateway.rs", "validate.rs"] {
            if files::is_generated(&contracts.join(name)) {
                stale.push(PathBuf::from(name));
            }
        }
        let packages_files = files.len();
        files.push(codegen::index(&mounted, &project.options)?);
        files.push(codegen::descriptors(&compiled.pool, &documented)?);
        files.extend(documents.join().expect("the OpenAPI thread panicked")?);
        fingerprints.retain(&mounted.keys().cloned().collect());
        let beside_packages: Vec<&GeneratedFile> = files[packages_files..].iter().collect();
        fingerprints.remember_run(
            request,
            &include_dirs,
            &compiled.pool,
            &beside_packages,
            &warnings,
        );
        Ok(Plan {
            files,
            packages_generated: packages.len() - kept.len(),
            packages_kept: kept.len(),
            kept: kept.into_values().flatten().collect(),
            stale,
            warnings,
            fingerprints,
            nothing_changed: false,
        })
    })
}

/// The [`PACKAGE_FILES`] of `package` among `paths` (relative to the contracts folder).
fn present_files(package: &str, paths: &[PathBuf]) -> Vec<String> {
    let dir = crate::names::package_dir(package);
    PACKAGE_FILES
        .iter()
        .filter(|name| paths.contains(&dir.join(name)))
        .map(|name| name.to_string())
        .collect()
}

/// Generated files of `package` on disk that are not among `present`: generated once, for a
/// contract that has since lost what they were for.
fn no_longer_generated(contracts: &Path, package: &str, present: &[String]) -> Vec<PathBuf> {
    let dir = crate::names::package_dir(package);
    PACKAGE_FILES
        .iter()
        .filter(|name| !present.iter().any(|p| p == *name))
        .map(|name| dir.join(name))
        .filter(|relative| files::is_generated(&contracts.join(relative)))
        .collect()
}

/// The packages of the selected files, and every user package they import (transitively), so the
/// generated code never refers to a module that does not exist.
fn packages_to_generate(
    compiled: &Compiled,
    selected: &[&String],
) -> anyhow::Result<BTreeSet<String>> {
    let mut packages = BTreeSet::new();
    let mut pending: Vec<String> = selected.iter().map(|s| s.to_string()).collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) || Compiled::is_bundled(&name) {
            continue;
        }
        let file = compiled
            .pool
            .get_file_by_name(&name)
            .ok_or_else(|| anyhow::anyhow!("`{name}` is missing from the compiled set"))?;
        if file.package_name().is_empty() {
            anyhow::bail!(
                "`{name}` declares no `package`\nhint: add e.g. `package {};` so its code has a module to live in",
                crate::names::package_for_path(Path::new(&name))
                    .unwrap_or_else(|| "myservice.v1".into())
            );
        }
        packages.insert(file.package_name().to_owned());
        pending.extend(file.dependencies().map(|d| d.name().to_owned()));
    }
    Ok(packages)
}

/// Every package whose generated code is on disk, with its files.
fn generated_packages(contracts: &Path) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut packages = BTreeMap::new();
    for entry in walkdir::WalkDir::new(contracts) {
        let entry = entry?;
        if !entry.file_type().is_dir() {
            continue;
        }
        let dir = entry.path();
        let present: Vec<String> = PACKAGE_FILES
            .iter()
            .filter(|name| files::is_generated(&dir.join(name)))
            .map(|name| name.to_string())
            .collect();
        if present.first().is_some_and(|first| first == "pb.rs") {
            let relative = dir.strip_prefix(contracts)?;
            let package: Vec<String> = relative
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            packages.insert(package.join("."), present);
        }
    }
    Ok(packages)
}
