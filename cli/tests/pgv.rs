//! protoc-gen-validate's own harness, run against what micro generates: the harness contracts
//! (`tests/corpus/pgv`) go through `micro proto client`, and each of the harness's cases
//! (`tests/pgv/cases.json`, made from its `cases.go` by `tests/pgv/cases_from_go.py`) is built
//! as a message from the contracts' descriptors, encoded, decoded by the generated prost type and
//! checked by the generated validator, which must find it valid or invalid as PGV says.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use heck::{ToSnakeCase as _, ToUpperCamelCase as _};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage as _, Value,
};
use serde_json::Value as Json;

use common::{
    GENERATED_CODE_DEPENDENCIES, cargo_in, copy_tree, micro, scaffold_dependency_lines, transcript,
};

/// The Go package aliases of the harness, and the proto packages they stand for.
const GO_PACKAGES: &[(&str, &str)] = &[
    ("cases", "tests.harness.cases"),
    ("other_package", "tests.harness.cases.other_package"),
    (
        "yet_another_package",
        "tests.harness.cases.yet_another_package",
    ),
    ("sort", "tests.harness.cases.sort"),
    ("durationpb", "google.protobuf"),
    ("timestamppb", "google.protobuf"),
    ("anypb", "google.protobuf"),
    ("wrapperspb", "google.protobuf"),
];

#[test]
fn generated_validators_pass_protoc_gen_validate_harness() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let set = tests.join("corpus/pgv");
    let work = tempfile::tempdir().unwrap();
    let crate_dir = work.path().join("harness");
    copy_tree(&set.join("api"), &crate_dir.join("api"));
    copy_tree(&set.join("third_party"), &crate_dir.join("third_party"));
    let dependencies = scaffold_dependency_lines(GENERATED_CODE_DEPENDENCIES);
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"pgv-harness\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[lib]\npath = \"lib.rs\"\n\n[dependencies]\n{dependencies}\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(crate_dir.join("lib.rs"), "#[rustfmt::skip]\npub mod api;\n").unwrap();
    let output = micro(
        &crate_dir,
        &["proto", "client", "api", "-I", "third_party", "-q"],
    );
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, work.path())
    );

    // The cases as encoded messages, by the Rust path of their type.
    let pool = compile(&crate_dir);
    let cases: Vec<Json> =
        serde_json::from_str(&std::fs::read_to_string(tests.join("pgv/cases.json")).unwrap())
            .unwrap();
    let mut lines = String::new();
    let mut types = BTreeSet::new();
    for case in &cases {
        let message = build(&pool, None, &case["message"])
            .unwrap_or_else(|err| panic!("{}: {err}", case["name"]));
        let rust_path = rust_path(&message.descriptor());
        types.insert(rust_path.clone());
        let bytes = base64::engine::general_purpose::STANDARD.encode(message.encode_to_vec());
        writeln!(
            lines,
            "{rust_path}\t{bytes}\t{}\t{}",
            case["failures"],
            case["name"].as_str().unwrap()
        )
        .unwrap();
    }
    std::fs::write(crate_dir.join("cases.tsv"), lines).unwrap();

    // One arm per type the generator validates; the others have no rules to break.
    let validated = validated_types(&crate_dir.join("api"));
    let arms: String = types
        .iter()
        .filter(|path| validated.contains(*path))
        .map(|path| format!("        \"{path}\" => check::<api::{path}>(bytes),\n"))
        .collect();
    std::fs::create_dir_all(crate_dir.join("tests")).unwrap();
    std::fs::write(
        crate_dir.join("tests/harness.rs"),
        HARNESS.replace("        // ARMS\n", &arms),
    )
    .unwrap();

    let output = cargo_in(
        &crate_dir,
        &["test", "--quiet", "--test", "harness", "--", "--nocapture"],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "protoc-gen-validate's harness cases fail:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The test run inside the generated crate: every case decoded and validated by its type.
const HARNESS: &str = r#"//! protoc-gen-validate's harness cases against micro's validators.

use base64::Engine as _;
use pgv_harness::api;

fn check<T: prost::Message + Default + micro_runtime::validate::Validate>(bytes: &[u8]) -> Result<(), String> {
    let message = T::decode(bytes).map_err(|err| format!("does not decode: {err}"))?;
    message.validate().map_err(|err| err.message)
}

fn validate(rust_path: &str, bytes: &[u8]) -> Result<(), String> {
    match rust_path {
        // ARMS
        _ => Ok(()),
    }
}

#[test]
fn cases() {
    let cases = include_str!("../cases.tsv");
    let (mut passed, mut failed) = (0, Vec::new());
    for line in cases.lines() {
        let mut parts = line.splitn(4, '\t');
        let (path, bytes, failures, name) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let bytes = base64::engine::general_purpose::STANDARD.decode(bytes).unwrap();
        let valid = failures == "0";
        match (validate(path, &bytes), valid) {
            (Ok(()), true) | (Err(_), false) => passed += 1,
            (Ok(()), false) => failed.push(format!("{name}: accepted, PGV refuses it")),
            (Err(why), true) => failed.push(format!("{name}: refused ({why}), PGV accepts it")),
        }
    }
    println!("protoc-gen-validate harness: {passed} passed, {} failed", failed.len());
    for failure in &failed {
        println!("  {failure}");
    }
    assert!(failed.is_empty());
}
"#;

/// The contracts' descriptors, compiled in-process as micro compiles them.
fn compile(crate_dir: &Path) -> DescriptorPool {
    let api = crate_dir.join("api");
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&api)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "proto"))
        .map(|p| p.strip_prefix(&api).unwrap().to_owned())
        .collect();
    let mut compiler = protox::Compiler::new([api.clone(), crate_dir.join("third_party")]).unwrap();
    compiler.include_imports(true);
    compiler.open_files(files).unwrap();
    compiler.descriptor_pool()
}

/// Every type with a generated `Validate` impl, as a Rust path below `api`.
fn validated_types(api: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in walkdir::WalkDir::new(api) {
        let path = entry.unwrap().into_path();
        if path.file_name().is_none_or(|n| n != "validate.rs") || path.parent() == Some(api) {
            continue;
        }
        let package: Vec<String> = path
            .parent()
            .unwrap()
            .strip_prefix(api)
            .unwrap()
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            if let Some(rest) = line.strip_prefix("impl ")
                && let Some((_, ty)) = rest.split_once("::Validate for ")
            {
                let ty = ty.trim_end_matches(" {");
                out.insert(format!("{}::{ty}", package.join("::")));
            }
        }
    }
    out
}

/// The Rust path prost gives a message, below the `api` module.
fn rust_path(message: &MessageDescriptor) -> String {
    let mut parts: Vec<String> = message
        .package_name()
        .split('.')
        .map(str::to_owned)
        .collect();
    let mut nesting = Vec::new();
    let mut parent = message.parent_message();
    while let Some(p) = parent {
        nesting.push(p.name().to_snake_case());
        parent = p.parent_message();
    }
    nesting.reverse();
    parts.extend(nesting);
    parts.push(message.name().to_upper_camel_case());
    parts.join("::")
}

/// The message a Go literal describes; `expected` is the type the field holds when the literal
/// leaves it out.
fn build(
    pool: &DescriptorPool,
    expected: Option<&MessageDescriptor>,
    literal: &Json,
) -> Result<DynamicMessage, String> {
    let descriptor = match literal["type"].as_str() {
        Some(go_type) => go_message(pool, go_type)?,
        None => expected.cloned().ok_or("a literal without a type")?,
    };
    let mut message = DynamicMessage::new(descriptor.clone());
    let Some(fields) = literal["fields"].as_object() else {
        return Ok(message);
    };
    for (go_name, value) in fields {
        if value.is_null() {
            continue;
        }
        if let Some(field) = find_field(&descriptor, go_name) {
            let value = field_value(pool, &field, value)?;
            message.set_field(&field, value);
            continue;
        }
        // A oneof: its value names the member it sets (`O: &cases.OneOf_X{X: …}`).
        let oneof = descriptor
            .oneofs()
            .find(|o| normalized(o.name()) == normalized(go_name))
            .ok_or_else(|| format!("{} has no field {go_name}", descriptor.full_name()))?;
        for (member, inner) in value["fields"]
            .as_object()
            .ok_or("a oneof without a member")?
        {
            let field = oneof
                .fields()
                .find(|f| normalized(f.name()) == normalized(member))
                .ok_or_else(|| format!("{} has no member {member}", oneof.name()))?;
            let inner = field_value(pool, &field, inner)?;
            message.set_field(&field, inner);
        }
    }
    Ok(message)
}

fn field_value(
    pool: &DescriptorPool,
    field: &FieldDescriptor,
    json: &Json,
) -> Result<Value, String> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            unreachable!()
        };
        let (key_field, value_field) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        let mut map = std::collections::HashMap::new();
        for pair in json["map"].as_array().ok_or("a map without entries")? {
            let key = match single_value(pool, &key_field, &pair[0])? {
                Value::Bool(b) => MapKey::Bool(b),
                Value::I32(v) => MapKey::I32(v),
                Value::I64(v) => MapKey::I64(v),
                Value::U32(v) => MapKey::U32(v),
                Value::U64(v) => MapKey::U64(v),
                Value::String(v) => MapKey::String(v),
                other => return Err(format!("{other:?} is not a map key")),
            };
            let value = if pair[1].is_null() {
                Value::Message(DynamicMessage::new(
                    value_field.kind().as_message().unwrap().clone(),
                ))
            } else {
                single_value(pool, &value_field, &pair[1])?
            };
            map.insert(key, value);
        }
        return Ok(Value::Map(map));
    }
    if field.is_list() {
        let items = json.as_array().ok_or("a list expected")?;
        return items
            .iter()
            .map(|item| single_value(pool, field, item))
            .collect::<Result<_, _>>()
            .map(Value::List);
    }
    single_value(pool, field, json)
}

fn single_value(
    pool: &DescriptorPool,
    field: &FieldDescriptor,
    json: &Json,
) -> Result<Value, String> {
    let number = || -> Result<String, String> {
        if let Some(offset) = json["now"].as_i64() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            return Ok((now + offset).to_string());
        }
        json["num"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("a number expected for {}, got {json}", field.name()))
    };
    let float = |text: String| -> Result<f64, String> {
        match text.as_str() {
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            "nan" => Ok(f64::NAN),
            _ => text.parse().map_err(|e| format!("{text}: {e}")),
        }
    };
    let int = |text: String| -> Result<i128, String> {
        text.parse::<i128>()
            .or_else(|_| text.parse::<f64>().map(|f| f as i128))
            .map_err(|e| format!("{text}: {e}"))
    };
    Ok(match field.kind() {
        Kind::Double => Value::F64(float(number()?)?),
        Kind::Float => Value::F32(float(number()?)? as f32),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(int(number()?)? as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(int(number()?)? as i64),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(int(number()?)? as u32),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(int(number()?)? as u64),
        Kind::Bool => Value::Bool(json.as_bool().ok_or("a bool expected")?),
        Kind::String => Value::String(json.as_str().ok_or("a string expected")?.to_owned()),
        Kind::Bytes => {
            let bytes: Vec<u8> = match json {
                Json::String(text) => text.as_bytes().to_vec(),
                _ => json["bytes"]
                    .as_array()
                    .ok_or("bytes expected")?
                    .iter()
                    .map(|b| b.as_u64().unwrap() as u8)
                    .collect(),
            };
            Value::Bytes(bytes.into())
        }
        Kind::Enum(enum_type) => match json["enum"].as_str() {
            Some(constant) => {
                let value = enum_type
                    .values()
                    .filter(|v| constant.ends_with(&format!("_{}", v.name())))
                    .max_by_key(|v| v.name().len())
                    .ok_or_else(|| format!("{constant} is not a value of {}", enum_type.name()))?;
                Value::EnumNumber(value.number())
            }
            None => Value::EnumNumber(int(number()?)? as i32),
        },
        Kind::Message(inner) => Value::Message(build(pool, Some(&inner), json)?),
    })
}

/// The message a Go type names: `cases.MapNoSparse_Msg` is `tests.harness.cases.MapNoSparse.Msg`.
fn go_message(pool: &DescriptorPool, go_type: &str) -> Result<MessageDescriptor, String> {
    let (alias, name) = go_type.split_once('.').ok_or("an unqualified type")?;
    let package = GO_PACKAGES
        .iter()
        .find(|(a, _)| *a == alias)
        .map(|(_, p)| *p)
        .ok_or_else(|| format!("unknown Go package {alias}"))?;
    // Each `_` is either part of a name or a nesting step.
    let mut candidates = vec![String::new()];
    for (index, part) in name.split('_').enumerate() {
        candidates = candidates
            .into_iter()
            .flat_map(|prefix| {
                if index == 0 {
                    vec![part.to_owned()]
                } else {
                    vec![format!("{prefix}_{part}"), format!("{prefix}.{part}")]
                }
            })
            .collect();
    }
    candidates
        .iter()
        .find_map(|candidate| pool.get_message_by_name(&format!("{package}.{candidate}")))
        .ok_or_else(|| format!("no message for {go_type}"))
}

fn find_field(message: &MessageDescriptor, go_name: &str) -> Option<FieldDescriptor> {
    message
        .fields()
        .find(|f| normalized(f.name()) == normalized(go_name))
}

fn normalized(name: &str) -> String {
    name.replace('_', "").to_lowercase()
}
