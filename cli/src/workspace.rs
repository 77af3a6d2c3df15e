//! Joining a new service to the Cargo workspace around it: one line added to `members`, with the
//! workspace's formatting and comments kept (toml_edit), and the service's dependencies pointed at
//! `[workspace.dependencies]` where the workspace declares them.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use toml_edit::{Array, DocumentMut, Item, Value};

/// The workspace a new service joins, and its manifest as it will be written.
pub struct Join {
    pub manifest: PathBuf,
    /// The service's path relative to the workspace root (`services/order`).
    pub path: String,
    /// The member path added, relative to the workspace root (`services/order`), or `None` when a
    /// glob in `members` already covers the service.
    pub member: Option<String>,
    new_text: String,
    /// `[workspace.dependencies]` names, which the service's own manifest should inherit.
    shared: Vec<String>,
}

/// The workspace whose root is at or above `parent` and which would take a service created at
/// `target`, or `None` when there is none (or it excludes the target).
pub fn find(parent: &Path, target: &Path) -> anyhow::Result<Option<Join>> {
    let parent = std::path::absolute(parent)?;
    let target = std::path::absolute(target)?;
    for dir in parent.ancestors() {
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = fs_err::read_to_string(&manifest) else {
            continue;
        };
        let doc: DocumentMut = text
            .parse()
            .with_context(|| format!("`{}` is not valid TOML", manifest.display()))?;
        let Some(workspace) = doc.get("workspace").and_then(Item::as_table_like) else {
            continue;
        };
        let member = target
            .strip_prefix(dir)?
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let listed = |key: &str| -> Vec<String> {
            workspace
                .get(key)
                .and_then(Item::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        if listed("exclude").iter().any(|p| excludes(p, &member)) {
            return Ok(None);
        }
        let shared = workspace
            .get("dependencies")
            .and_then(Item::as_table_like)
            .map(|deps| deps.iter().map(|(name, _)| name.to_owned()).collect())
            .unwrap_or_default();
        let covered = listed("members").iter().any(|p| covers(p, &member));
        let new_text = if covered {
            text.clone()
        } else {
            add_member(doc, &member).to_string()
        };
        return Ok(Some(Join {
            manifest,
            path: member.clone(),
            member: (!covered).then_some(member),
            new_text,
            shared,
        }));
    }
    Ok(None)
}

impl Join {
    /// Where the service sits in this workspace, as its templates need it.
    pub fn place(&self) -> crate::scaffold::WorkspacePlace {
        let depth = self.path.split('/').filter(|part| !part.is_empty()).count();
        crate::scaffold::WorkspacePlace {
            member: self.path.clone(),
            root: vec![".."; depth.max(1)].join("/"),
        }
    }

    /// Points the service's dependencies that the workspace also declares at the workspace's
    /// version (`anyhow = { workspace = true }`), keeping their features. A dependency that turns
    /// default features off is left alone: a member cannot change that of an inherited one.
    pub fn inherit_dependencies(&self, service_manifest: &Path) -> anyhow::Result<()> {
        let text = fs_err::read_to_string(service_manifest)?;
        let mut doc: DocumentMut = text.parse()?;
        for section in ["dependencies", "dev-dependencies"] {
            let Some(deps) = doc.get_mut(section).and_then(Item::as_table_like_mut) else {
                continue;
            };
            for name in &self.shared {
                let Some(dep) = deps.get_mut(name) else {
                    continue;
                };
                let features = dep.get("features").cloned();
                if dep.get("default-features").is_some() {
                    continue;
                }
                let mut inherited = toml_edit::InlineTable::new();
                inherited.insert("workspace", true.into());
                if let Some(Item::Value(features)) = features {
                    inherited.insert("features", features);
                }
                *dep = Item::Value(Value::InlineTable(inherited));
            }
        }
        crate::files::write_atomic(service_manifest, doc.to_string().as_bytes())
    }

    /// Writes the workspace manifest with the new member.
    pub fn write(&self) -> anyhow::Result<()> {
        if self.member.is_some() {
            crate::files::write_atomic(&self.manifest, self.new_text.as_bytes())?;
        }
        Ok(())
    }
}

/// Makes a package its own workspace (an empty `[workspace]` table), for a service that stays out
/// of the workspace around it.
pub fn stand_alone(service_manifest: &Path) -> anyhow::Result<()> {
    let mut text = fs_err::read_to_string(service_manifest)?;
    text.push_str(
        "\n# Not a member of the workspace around it (`micro new --no-workspace`).\n[workspace]\n",
    );
    crate::files::write_atomic(service_manifest, text.as_bytes())
}

/// Appends `member` to `workspace.members`, laid out like the entries already there.
fn add_member(mut doc: DocumentMut, member: &str) -> DocumentMut {
    let workspace = doc["workspace"]
        .as_table_like_mut()
        .expect("checked to be a table");
    let members = workspace
        .entry("members")
        .or_insert(Item::Value(Value::Array(Array::new())));
    let Some(members) = members.as_array_mut() else {
        return doc;
    };
    let mut value = Value::from(member);
    let last_prefix = members
        .iter()
        .last()
        .and_then(|last| last.decor().prefix()?.as_str().map(str::to_owned));
    match last_prefix {
        // A multi-line list: the new entry goes on a line of its own, indented like the last one.
        // What followed the last entry on its line (a comment) stays there, and so does the
        // layout before the closing bracket.
        Some(prefix) if prefix.contains('\n') => {
            let indent = &prefix[prefix.rfind('\n').expect("contains a newline") + 1..];
            // Without a trailing comma, the rest of the last line hangs on the last entry itself.
            let trailing_comma = members.trailing_comma();
            let last = members.len() - 1;
            let after_last = if trailing_comma {
                members.trailing().as_str().unwrap_or("\n").to_owned()
            } else {
                let decor = members.get_mut(last).expect("not empty").decor_mut();
                let suffix = decor
                    .suffix()
                    .and_then(|s| s.as_str())
                    .unwrap_or("")
                    .to_owned();
                decor.set_suffix("");
                suffix
            };
            let (rest_of_line, before_bracket) = match after_last.rfind('\n') {
                Some(at) => after_last.split_at(at + 1),
                None => (after_last.as_str(), ""),
            };
            let rest_of_line = if rest_of_line.ends_with('\n') {
                rest_of_line.to_owned()
            } else {
                format!("{rest_of_line}\n")
            };
            value
                .decor_mut()
                .set_prefix(format!("{rest_of_line}{indent}"));
            if trailing_comma {
                value.decor_mut().set_suffix("");
                members.set_trailing(format!("\n{before_bracket}"));
            } else {
                value.decor_mut().set_suffix(format!("\n{before_bracket}"));
            }
        }
        Some(_) => {
            value.decor_mut().set_prefix(" ");
            value.decor_mut().set_suffix("");
        }
        None => {}
    }
    members.push_formatted(value);
    doc
}

/// Whether an `exclude` entry leaves out `member`: as cargo reads it, a plain path that excludes
/// everything below it (`examples` excludes `examples/order-service`).
fn excludes(excluded: &str, member: &str) -> bool {
    let mut parts = member.split('/');
    excluded
        .trim_end_matches('/')
        .split('/')
        .all(|expected| parts.next() == Some(expected))
}

/// Whether a `members` entry (a path, possibly with `*` globs) covers `member`.
fn covers(pattern: &str, member: &str) -> bool {
    let pattern = pattern.trim_end_matches('/');
    let mut parts = member.split('/');
    for expected in pattern.split('/') {
        let Some(part) = parts.next() else {
            return false;
        };
        if !glob_segment(expected, part) {
            return false;
        }
    }
    parts.next().is_none()
}

/// One path segment against a glob segment with `*` and `?`.
fn glob_segment(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => {
            pattern.len() == text.len()
                && pattern
                    .chars()
                    .zip(text.chars())
                    .all(|(p, t)| p == '?' || p == t)
        }
        Some((head, tail)) => {
            text.is_char_boundary(head.len())
                && glob_segment(head, &text[..head.len()])
                && (head.len()..=text.len())
                    .filter(|at| text.is_char_boundary(*at))
                    .any(|at| glob_segment(tail, &text[at..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_cover_members() {
        assert!(covers("services/*", "services/order"));
        assert!(covers("services/order", "services/order"));
        assert!(covers("svc-?", "svc-a"));
        assert!(!covers("services/*", "tools/order"));
        assert!(!covers("services", "services/order"));
        assert!(covers("*", "order"));
    }

    #[test]
    fn exclusions_cover_everything_below_them() {
        assert!(excludes("examples", "examples/order-service"));
        assert!(excludes("examples/", "examples/order-service"));
        assert!(excludes("examples/order-service", "examples/order-service"));
        assert!(!excludes("examples/order-service", "examples/other"));
        assert!(!excludes("example", "examples/order-service"));
    }

    fn added(manifest: &str) -> String {
        add_member(manifest.parse().unwrap(), "services/new").to_string()
    }

    #[test]
    fn members_keep_their_layout_and_comments() {
        let multi = "[workspace]\nmembers = [\n  \"a\",   # the first\n  \"b\", # the second\n]\n";
        assert_eq!(
            added(multi),
            "[workspace]\nmembers = [\n  \"a\",   # the first\n  \"b\", # the second\n  \"services/new\",\n]\n"
        );
        let no_comma = "[workspace]\nmembers = [\n    \"a\"\n]\n";
        assert_eq!(
            added(no_comma),
            "[workspace]\nmembers = [\n    \"a\",\n    \"services/new\"\n]\n"
        );
        let inline = "[workspace]\nmembers = [\"a\"]  # one line\n";
        assert_eq!(
            added(inline),
            "[workspace]\nmembers = [\"a\", \"services/new\"]  # one line\n"
        );
        let none = "[workspace]\nresolver = \"3\"\n";
        assert_eq!(
            added(none),
            "[workspace]\nresolver = \"3\"\nmembers = [\"services/new\"]\n"
        );
    }
}
