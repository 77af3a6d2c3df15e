//! Compiles `.proto` contracts in-process with protox, so no `protoc` is ever needed.
//!
//! The imports contracts commonly rely on (`google/api/*` and kratos' `errors/errors.proto`) ship
//! inside the binary and resolve after the user's include folders, so a project needs no
//! `third_party/` copy of them. `google/protobuf/*` comes built into protox.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};
use miette::Diagnostic;
use prost_reflect::DescriptorPool;
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/src/protos/include");

/// A set of compiled contracts.
pub struct Compiled {
    /// Every file with its imports, options and extensions intact (read options from here).
    pub pool: DescriptorPool,
    /// The names (relative to their include folder) of the files that were asked for.
    pub requested: Vec<String>,
}

impl Compiled {
    /// Whether `file` is one of ours rather than a user's: embedded or built into protox.
    pub fn is_bundled(file: &str) -> bool {
        // A user's own file under `google/protobuf/` (protobuf's test messages, say) is theirs.
        EMBEDDED.get_file(file).is_some() || GoogleFileResolver::new().open_file(file).is_ok()
    }
}

/// The contracts at `path`: the file itself, or every `.proto` file below the folder, sorted so
/// that generation does not depend on the order a directory lists its entries in.
pub fn find(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut found = Vec::new();
    let mut pending = vec![path.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            // Not through symbolic links, which could lead in circles.
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "proto") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A contract that did not compile, already worded for a person.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(String);

/// Compiles `files` (paths on disk), resolving imports against `includes` in order, then the
/// embedded contracts.
pub fn compile(files: &[PathBuf], includes: &[PathBuf]) -> Result<Compiled, CompileError> {
    let includes: Vec<PathBuf> = includes.iter().map(|dir| absolute(dir)).collect();
    let mut resolver = ChainFileResolver::new();
    for dir in &includes {
        resolver.add(IncludeFileResolver::new(dir.clone()));
    }
    resolver.add(EmbeddedResolver);
    resolver.add(GoogleFileResolver::new());

    let mut requested = Vec::with_capacity(files.len());
    for file in files {
        let file = absolute(file);
        let name = includes
            .iter()
            .find_map(|dir| file.strip_prefix(dir).ok())
            .map(|rel| rel.iter().map(|c| c.to_string_lossy()).collect::<Vec<_>>().join("/"))
            .ok_or_else(|| {
                CompileError(format!(
                    "`{}` is not inside any include folder ({})\n\
                     hint: move it under the project's `api/` folder, or pass its root with `-I DIR`",
                    file.display(),
                    list(&includes)
                ))
            })?;
        requested.push(name);
    }

    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(true);
    for name in &requested {
        compiler
            .open_file(name)
            .map_err(|err| describe(&err, &includes))?;
    }
    Ok(Compiled {
        pool: compiler.descriptor_pool(),
        requested,
    })
}

/// Serves the contracts that ship inside the binary.
struct EmbeddedResolver;

impl FileResolver for EmbeddedResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let file = EMBEDDED
            .get_file(name)
            .ok_or_else(|| protox::Error::file_not_found(name))?;
        let source = file.contents_utf8().expect("embedded contracts are UTF-8");
        File::from_source(name, source)
    }
}

/// Words a protox error as `file:line:column: message`, shows the offending line, and says what to
/// do about a missing import.
fn describe(err: &protox::Error, includes: &[PathBuf]) -> CompileError {
    let file = err.file().map(str::to_owned);
    let on_disk = file.as_deref().and_then(|name| {
        includes
            .iter()
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    let offset = err
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| label.offset());

    let mut text = String::new();
    match (&on_disk, offset) {
        (Some(path), Some(offset)) => {
            let source = fs_err::read_to_string(path).unwrap_or_default();
            let offset = missing_semicolon_at(err, &source, offset).unwrap_or(offset);
            let (line, column, line_text) = locate(&source, offset);
            let _ = write!(text, "{}:{line}:{column}: {err}", path.display());
            let _ = write!(
                text,
                "\n{line:>5} | {line_text}\n      | {}^",
                " ".repeat(column - 1)
            );
        }
        (Some(path), None) => {
            let _ = write!(text, "{}: {err}", path.display());
        }
        (None, _) => {
            let _ = write!(text, "{err}");
        }
    }
    if err.is_file_not_found() {
        let _ = write!(
            text,
            "\nhint: the import is not under any include folder ({}); add its root with `-I DIR`",
            list(includes)
        );
    }
    CompileError(text)
}

/// The parser notices a missing `;` at the next token, often on the next line; the place to fix
/// is right after the last token before it.
fn missing_semicolon_at(err: &protox::Error, source: &str, offset: usize) -> Option<usize> {
    if !err.to_string().starts_with("expected ';'") {
        return None;
    }
    let before = source.get(..offset)?;
    let end = before.trim_end().len();
    before[end..].contains('\n').then_some(end)
}

/// The 1-based line and column of a byte offset, and that line's text.
fn locate(source: &str, offset: usize) -> (usize, usize, &str) {
    let offset = offset.min(source.len());
    let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[offset..]
        .find('\n')
        .map_or(source.len(), |i| offset + i);
    let line = source[..offset].matches('\n').count() + 1;
    let column = source[line_start..offset].chars().count() + 1;
    (
        line,
        column,
        source[line_start..line_end].trim_end_matches('\r'),
    )
}

fn list(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| format!("`{}`", d.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_offsets() {
        let source = "syntax = \"proto3\";\nmessage A {\n  strin x = 1;\n}\n";
        let offset = source.find("strin").unwrap();
        assert_eq!(locate(source, offset), (3, 3, "  strin x = 1;"));
    }

    #[test]
    fn embedded_imports_resolve_without_third_party() {
        let dir = tempfile::tempdir().unwrap();
        let proto = dir.path().join("a/v1/a.proto");
        fs_err::create_dir_all(proto.parent().unwrap()).unwrap();
        fs_err::write(
            &proto,
            "syntax = \"proto3\";\npackage a.v1;\nimport \"google/api/annotations.proto\";\n\
             import \"errors/errors.proto\";\nmessage M {}\n\
             service S { rpc Get(M) returns (M) { option (google.api.http) = { get: \"/m\" }; } }\n",
        )
        .unwrap();
        let compiled = compile(&[proto], &[dir.path().to_owned()]).unwrap();
        assert_eq!(compiled.requested, ["a/v1/a.proto"]);
        assert!(
            compiled
                .pool
                .get_extension_by_name("google.api.http")
                .is_some()
        );
        assert!(
            compiled
                .pool
                .get_extension_by_name("errors.default_code")
                .is_some()
        );
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let proto = dir.path().join("bad.proto");
        fs_err::write(
            &proto,
            "syntax = \"proto3\";\nmessage A {\n  strin x = 1\n}\n",
        )
        .unwrap();
        let err = compile(std::slice::from_ref(&proto), &[dir.path().to_owned()])
            .err()
            .unwrap()
            .to_string();
        // protox notices a missing `;` at the next token; micro points where it belongs.
        assert!(
            err.starts_with(&format!("{}:3:14:", proto.display())),
            "{err}"
        );
        assert!(
            err.contains("    3 |   strin x = 1\n      |              ^"),
            "{err}"
        );
    }

    #[test]
    fn missing_imports_suggest_an_include_folder() {
        let dir = tempfile::tempdir().unwrap();
        let proto = dir.path().join("a.proto");
        fs_err::write(&proto, "syntax = \"proto3\";\nimport \"other/b.proto\";\n").unwrap();
        let err = compile(&[proto], &[dir.path().to_owned()])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("other/b.proto"), "{err}");
        assert!(err.contains("-I DIR"), "{err}");
    }
}
