//! What the last generation of each package was made from and what it wrote, so that the next
//! run regenerates only the packages whose inputs changed: with 100 contracts, editing one costs
//! one package's generation. And what the last whole run read and left on disk, so that a run
//! asked the same with nothing changed (`--check` in CI, a save that touched no contract) has
//! nothing to compile. It is a cache and nothing more: kept under the target folder, never
//! committed, and anything it cannot vouch for (no record, another micro, a generated file edited
//! or deleted since) is generated again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codegen::{self, GeneratedFile};
use crate::project::Project;

/// The record of one project's generated packages.
pub struct Fingerprints {
    /// Where the record is kept; none for a run that must leave nothing behind.
    path: Option<PathBuf>,
    record: Record,
    pending: Option<PendingRun>,
}

#[derive(Default, Serialize, Deserialize)]
struct Record {
    /// The micro that wrote the record; another version's record is ignored.
    micro: String,
    packages: BTreeMap<String, Generated>,
    /// The last run that left the contracts folder as it generates it.
    run: Option<Run>,
}

/// A whole run: what it was asked, every contract it compiled, the files it wrote beside the
/// packages' own (the module tree, descriptors, API documents), and what it warned about.
#[derive(Clone, Serialize, Deserialize)]
struct Run {
    /// The hash of the request (see [`Fingerprints::asked`]) and of the contracts folder's
    /// listing once the run was done: a contract or a generated package added or removed since
    /// changes it.
    asked: String,
    /// Every compiled file by name: the hash of the file it was read from, or none for one that
    /// came from inside micro (and must still not be found in an include folder).
    sources: BTreeMap<String, Option<String>>,
    files: BTreeMap<PathBuf, Written>,
    warnings: Vec<String>,
}

/// What a run asked and read, held until its files are on disk and it can be recorded.
struct PendingRun {
    request: String,
    includes: Vec<PathBuf>,
    sources: BTreeMap<String, Option<String>>,
    files: BTreeMap<PathBuf, Written>,
    warnings: Vec<String>,
}

/// What an unchanged run would leave: every generated file, and the warnings it gave.
pub struct UnchangedRun {
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// One package's inputs, and the files generated from them.
#[derive(Clone, Serialize, Deserialize)]
struct Generated {
    inputs: String,
    files: BTreeMap<PathBuf, Written>,
}

/// A generated file as written: the hash of its contents, and its size and modification time
/// once seen on disk. A file whose size and time are as recorded is taken as written without
/// reading it (as git's index does); any other is read and hashed.
#[derive(Clone, Serialize, Deserialize)]
struct Written {
    hash: String,
    seen: Option<(u64, u128)>,
}

/// A file's size and modification time (nanoseconds since the epoch).
fn stat(path: &Path) -> Option<(u64, u128)> {
    let metadata = fs_err::metadata(path).ok()?;
    let modified = metadata.modified().ok()?;
    let nanos = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((metadata.len(), nanos))
}

/// [`stat`], for a file not modified in the last two seconds: one written again within the
/// same clock tick, at the same size, would look untouched, so a recent file is hashed next
/// time instead.
fn settled_stat(path: &Path) -> Option<(u64, u128)> {
    let seen = stat(path)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    (now.saturating_sub(seen.1) > 2_000_000_000).then_some(seen)
}

impl Fingerprints {
    /// The record of `project`, or an empty one.
    pub fn open(project: &Project) -> Fingerprints {
        let path = record_path(project);
        let record = fs_err::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
            .filter(|record| record.micro == env!("CARGO_PKG_VERSION"))
            .unwrap_or_default();
        Fingerprints {
            path: Some(path),
            record,
            pending: None,
        }
    }

    /// The files (relative to `contracts`) generated for `package` from `inputs`, if the record
    /// has them and every one is on disk as it was written.
    pub fn unchanged(
        &mut self,
        package: &str,
        inputs: &str,
        contracts: &Path,
    ) -> Option<Vec<PathBuf>> {
        let generated = self
            .record
            .packages
            .get_mut(package)
            .filter(|g| g.inputs == inputs)?;
        let intact = generated
            .files
            .iter_mut()
            .all(|(path, written)| written.intact(&contracts.join(path)));
        intact.then(|| generated.files.keys().cloned().collect())
    }

    /// The hash of what a run is asked: which contracts (`path`), against which include folders
    /// and options. With the contracts folder's listing and the sources, it decides whether
    /// the last run's files still stand.
    pub fn asked(path: &Path, includes: &[PathBuf], options: &codegen::Options) -> String {
        let mut hasher = Sha256::new();
        for part in std::iter::once(path).chain(includes.iter().map(PathBuf::as_path)) {
            let part = std::path::absolute(part).unwrap_or_else(|_| part.to_owned());
            hasher.update(part.as_os_str().as_encoded_bytes());
            hasher.update([0]);
        }
        hasher.update(format!("{options:?}"));
        format!("{:x}", hasher.finalize())
    }

    /// The files of the last run, when a run asked `request` would generate them again as they
    /// are: the contracts folder lists what it listed then, every contract it compiled reads as
    /// it did (and resolves to the same file), and every file it wrote is on disk as written.
    pub fn unchanged_run(
        &mut self,
        request: &str,
        includes: &[PathBuf],
        contracts: &Path,
    ) -> Option<UnchangedRun> {
        // Taken out of the record, and put back only if it still stands: a run that goes on to
        // generate records its own.
        let mut run = self.record.run.take()?;
        if run.asked != asked_with_listing(request, contracts) {
            return None;
        }
        if !sources_unchanged(&run.sources, includes) {
            return None;
        }
        let outputs = run
            .files
            .iter_mut()
            .chain(self.record.packages.values_mut().flat_map(|g| &mut g.files));
        let mut files = Vec::new();
        for (path, written) in outputs {
            if !written.intact(&contracts.join(path)) {
                return None;
            }
            files.push(path.clone());
        }
        let warnings = run.warnings.clone();
        self.record.run = Some(run);
        Some(UnchangedRun { files, warnings })
    }

    /// Notes what this run asked and read: every file of `pool` (its source on disk is found
    /// through `includes` as the compiler found it), the files it generates beside the
    /// packages', and its warnings. Recorded by [`save`](Self::save), once they are on disk.
    pub fn remember_run(
        &mut self,
        request: String,
        includes: &[PathBuf],
        pool: &prost_reflect::DescriptorPool,
        files: &[&GeneratedFile],
        warnings: &[String],
    ) {
        let sources = pool
            .files()
            .map(|file| (file.name().to_owned(), source_hash(file.name(), includes)))
            .collect();
        let files = files
            .iter()
            .map(|file| (file.path.clone(), Written::of(file)))
            .collect();
        self.pending = Some(PendingRun {
            request,
            includes: includes.to_vec(),
            sources,
            files,
            warnings: warnings.to_vec(),
        });
    }

    /// Notes that `files` are what `package` generates from `inputs`.
    pub fn remember(&mut self, package: &str, inputs: String, files: &[&GeneratedFile]) {
        let files = files
            .iter()
            .map(|file| (file.path.clone(), Written::of(file)))
            .collect();
        self.record
            .packages
            .insert(package.to_owned(), Generated { inputs, files });
    }

    /// Keeps only the packages in `packages`: a package generated elsewhere since is not vouched
    /// for by an older record.
    pub fn retain(&mut self, packages: &std::collections::BTreeSet<String>) {
        self.record
            .packages
            .retain(|name, _| packages.contains(name));
    }

    /// Makes [`save`](Self::save) write nothing: for a service being made in a staging folder,
    /// whose record would name a folder that is gone once the service moves into place.
    pub fn discard(&mut self) {
        self.path = None;
    }

    /// Writes the record, once the files it names are on disk in `contracts`; a record that cannot
    /// be written only costs the next run its shortcut.
    pub fn save(&mut self, contracts: &Path) {
        self.record.micro = env!("CARGO_PKG_VERSION").to_owned();
        if let Some(pending) = self.pending.take() {
            // Sources are hashed again now: a contract saved while this run compiled is not
            // vouched for by it.
            let unchanged = sources_unchanged(&pending.sources, &pending.includes);
            self.record.run = unchanged.then(|| Run {
                asked: asked_with_listing(&pending.request, contracts),
                sources: pending.sources,
                files: pending.files,
                warnings: pending.warnings,
            });
        }
        let runs_files = self.record.run.iter_mut().flat_map(|run| &mut run.files);
        for (path, written) in self
            .record
            .packages
            .values_mut()
            .flat_map(|generated| &mut generated.files)
            .chain(runs_files)
        {
            if written.seen.is_none() {
                written.seen = settled_stat(&contracts.join(path));
            }
        }
        if let Some(path) = &self.path
            && let Ok(json) = serde_json::to_vec(&self.record)
        {
            let _ = crate::files::write_atomic(path, &json);
        }
    }
}

/// Hashes what each package's generated code depends on: the descriptors of its files and their
/// imports, micro's version, and the project's generation options. Each file is hashed once, however
/// many packages import it.
pub struct Inputs<'a> {
    pool: &'a prost_reflect::DescriptorPool,
    options: String,
    files: BTreeMap<String, String>,
}

impl<'a> Inputs<'a> {
    pub fn new(pool: &'a prost_reflect::DescriptorPool, options: &codegen::Options) -> Self {
        Inputs {
            pool,
            options: format!("{options:?}"),
            files: BTreeMap::new(),
        }
    }

    /// The hash of `package`'s inputs.
    pub fn of(&mut self, package: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(env!("CARGO_PKG_VERSION"));
        hasher.update([0]);
        hasher.update(&self.options);
        for file in codegen::package_inputs(self.pool, package) {
            let digest = self
                .files
                .entry(file.name().to_owned())
                .or_insert_with(|| hash_of(&file.encode_to_vec()));
            hasher.update([0]);
            hasher.update(file.name());
            hasher.update([0]);
            hasher.update(digest.as_bytes());
        }
        format!("{:x}", hasher.finalize())
    }
}

impl Written {
    fn of(file: &GeneratedFile) -> Written {
        Written {
            hash: hash_of(file.contents.as_bytes()),
            seen: None,
        }
    }

    /// Whether the file at `path` is as written: by its size and time when they are as seen, by
    /// its contents otherwise (noting its size and time for the next run once it has settled).
    fn intact(&mut self, path: &Path) -> bool {
        let seen = stat(path);
        if seen.is_some() && seen == self.seen {
            return true;
        }
        let intact = fs_err::read(path).is_ok_and(|bytes| hash_of(&bytes) == self.hash);
        if intact {
            self.seen = settled_stat(path);
        }
        intact
    }
}

/// The hash of the file a contract named `name` is read from: the first include folder that
/// holds it, as the compiler looks; none when no folder does (micro has it built in).
fn source_hash(name: &str, includes: &[PathBuf]) -> Option<String> {
    includes
        .iter()
        .find_map(|dir| fs_err::read(dir.join(name)).ok())
        .map(|bytes| hash_of(&bytes))
}

/// Whether every file of `sources` still reads as it did, from the same place.
fn sources_unchanged(sources: &BTreeMap<String, Option<String>>, includes: &[PathBuf]) -> bool {
    sources
        .iter()
        .all(|(name, hash)| source_hash(name, includes) == *hash)
}

/// `request` hashed with the contracts folder's listing: every path below it, in order.
fn asked_with_listing(request: &str, contracts: &Path) -> String {
    let mut hasher = Sha256::new();
    hasher.update(request);
    for entry in walkdir::WalkDir::new(contracts)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        let relative = entry.path().strip_prefix(contracts).unwrap_or(entry.path());
        hasher.update([0]);
        hasher.update(relative.as_os_str().as_encoded_bytes());
    }
    format!("{:x}", hasher.finalize())
}

fn hash_of(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// `micro/codegen-<hash of the project's folder>.json` in the project's target folder: cargo's
/// (`CARGO_TARGET_DIR`, or `target` beside the workspace manifest, where the runtime is vendored
/// too), which is ignored by version control and shared by the packages of a workspace, hence
/// the project's own name.
fn record_path(project: &Project) -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::path::absolute(dir).unwrap_or_default(),
        None => crate::vendor::home_for(&project.root).join("target"),
    };
    let root = fs_err::canonicalize(&project.root).unwrap_or_else(|_| project.root.clone());
    let folder = hash_of(root.as_os_str().as_encoded_bytes());
    target
        .join("micro")
        .join(format!("codegen-{}.json", &folder[..16]))
}
