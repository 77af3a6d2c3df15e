//! What the last generation of each package was made from and what it wrote, so that the next
//! run regenerates only the packages whose inputs changed: with 100 contracts, editing one costs
//! one package's generation. It is a cache and nothing more: kept under the target folder, never
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
}

#[derive(Default, Serialize, Deserialize)]
struct Record {
    /// The micro that wrote the record; another version's record is ignored.
    micro: String,
    packages: BTreeMap<String, Generated>,
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
        let intact = generated.files.iter_mut().all(|(path, written)| {
            let path = contracts.join(path);
            let seen = stat(&path);
            if seen.is_some() && seen == written.seen {
                return true;
            }
            let intact = fs_err::read(&path).is_ok_and(|bytes| hash_of(&bytes) == written.hash);
            if intact {
                written.seen = settled_stat(&path);
            }
            intact
        });
        intact.then(|| generated.files.keys().cloned().collect())
    }

    /// Notes that `files` are what `package` generates from `inputs`.
    pub fn remember(&mut self, package: &str, inputs: String, files: &[&GeneratedFile]) {
        let files = files
            .iter()
            .map(|file| {
                let written = Written {
                    hash: hash_of(file.contents.as_bytes()),
                    seen: None,
                };
                (file.path.clone(), written)
            })
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
        for (path, written) in self
            .record
            .packages
            .values_mut()
            .flat_map(|generated| &mut generated.files)
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
