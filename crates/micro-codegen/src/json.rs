//! `json.rs` of a package: each message's proto3 JSON writer (`micro_runtime::json::ProtoJson`),
//! field by field from prost's layout, which the HTTP routes reply with. Keys, presence and enum
//! names are settled here, from the descriptors, so the service writes JSON without looking
//! anything up.
//!
//! Written as text, formatted as rustfmt would: a package's writers run to thousands of lines,
//! and formatting them through a syntax tree would cost more than generating them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use quote::ToTokens as _;

use crate::model::{FieldLayout, FieldShape, LaidOutValue, MessageLayout, Package};
use crate::names;

/// The writers of every message of `package`, or nothing for a package without messages.
pub fn render(package: &Package, proto_field_names: bool) -> Option<String> {
    if package.layouts.is_empty() {
        return None;
    }
    let mut enums = EnumNames::default();
    let mut impls = String::new();
    for message in &package.layouts {
        write_impl(&mut impls, message, proto_field_names, &mut enums);
    }

    let mut imports = vec!["JsonWriter", "ProtoJson", "Result"];
    let uses = |wanted: fn(&LaidOutValue) -> bool| {
        package
            .layouts
            .iter()
            .flat_map(|m| &m.fields)
            .any(|f| wanted(&f.value))
    };
    if uses(|v| {
        matches!(
            v,
            LaidOutValue::Enum(_) | LaidOutValue::WellKnownEnum { .. }
        )
    }) {
        imports.push("Enum");
    }
    if uses(|v| *v == LaidOutValue::NullValue) {
        imports.push("Null");
    }
    if uses(|v| matches!(v, LaidOutValue::Reflected(_))) {
        imports.push("Reflected");
    }
    imports.sort_unstable();

    let mut out = String::from(
        "/// The proto3 JSON of this package's messages, written field by field from the contract\n\
         /// (`micro_runtime::json`): what the HTTP routes reply with.\n\
         mod proto_json {\n",
    );
    let _ = writeln!(
        out,
        "    use ::micro_runtime::json::{{{}}};",
        imports.join(", ")
    );
    out.push_str(&impls);
    for (function, body) in enums.functions.values() {
        let _ = write!(
            out,
            "\n    fn {function}(number: i32) -> Option<&'static str> {{\n{body}    }}\n"
        );
    }
    out.push_str("}\n");
    Some(out)
}

fn write_impl(
    out: &mut String,
    message: &MessageLayout,
    proto_field_names: bool,
    enums: &mut EnumNames,
) {
    let rust_path = message
        .rust_path
        .to_token_stream()
        .to_string()
        .replace(' ', "");
    let _ = writeln!(out, "\n    impl ProtoJson for super::{rust_path} {{");
    if message.fields.iter().any(|f| f.deprecated) {
        out.push_str("        #[allow(deprecated)]\n");
    }
    out.push_str("        fn write_json(&self, json: &mut JsonWriter<'_>) -> Result {\n");
    if message.fields.is_empty() {
        out.push_str("            json.object().end()\n");
    } else {
        out.push_str("            let mut object = json.object();\n");
        for field in &message.fields {
            let key = if proto_field_names {
                &field.name
            } else {
                &field.json_name
            };
            write_field(out, field, &format!("{key:?}"), enums);
        }
        out.push_str("            object.end()\n");
    }
    out.push_str("        }\n    }\n");
}

/// One field's `object.…(key, value)?;`, inside a test of presence where the field has one.
fn write_field(out: &mut String, field: &FieldLayout, key: &str, enums: &mut EnumNames) {
    let this = format!("self.{}", field.rust_field.to_token_stream());
    let names = enums.function(&field.value);
    // `object.method(key, value)?;`, broken over lines as rustfmt breaks a call past 100 columns.
    let call = |method: &str, value: String| {
        let line = format!("            object.{method}({key}, {value})?;\n");
        if line.trim_end().len() <= 100 {
            return line;
        }
        format!(
            "            object.{method}(\n                {key},\n                {value},\n            )?;\n"
        )
    };
    let code = match (&field.shape, &field.value) {
        (FieldShape::Plain, LaidOutValue::Plain) => call("field", format!("&{this}")),
        (FieldShape::Plain, LaidOutValue::NullValue) => call("field", "&Null".to_owned()),
        (FieldShape::Plain, LaidOutValue::Reflected(name)) => {
            call("field", format!("&Reflected(&{this}, {name:?})"))
        }
        (FieldShape::Plain, _) => call("field", format!("&Enum({this}, {names})")),

        (FieldShape::Optional, LaidOutValue::NullValue) => format!(
            "            if {this}.is_some() {{\n                object.field({key}, &Null)?;\n            }}\n"
        ),
        (FieldShape::Optional, value) => {
            let (binding, written) = match value {
                LaidOutValue::Plain => ("value", "value".to_owned()),
                LaidOutValue::Reflected(name) => ("value", format!("&Reflected(value, {name:?})")),
                _ => ("number", format!("&Enum(number, {names})")),
            };
            let borrow = if binding == "value" { "&" } else { "" };
            format!(
                "            if let Some({binding}) = {borrow}{this} {{\n                object.field({key}, {written})?;\n            }}\n"
            )
        }

        (FieldShape::Repeated, LaidOutValue::Plain) => call("list", format!("&{this}")),
        (FieldShape::Repeated, LaidOutValue::NullValue) => {
            call("list", format!("{this}.iter().map(|_| Null)"))
        }
        (FieldShape::Repeated, LaidOutValue::Reflected(name)) => call(
            "list",
            format!("{this}.iter().map(|value| Reflected(value, {name:?}))"),
        ),
        (FieldShape::Repeated, _) => call(
            "list",
            format!("{this}.iter().map(|&number| Enum(number, {names}))"),
        ),

        (FieldShape::Map, LaidOutValue::Plain) => call("map", format!("&{this}")),
        (FieldShape::Map, LaidOutValue::NullValue) => {
            call("map", format!("{this}.keys().map(|key| (key, Null))"))
        }
        (FieldShape::Map, LaidOutValue::Reflected(name)) => call(
            "map",
            format!("{this}.iter().map(|(key, value)| (key, Reflected(value, {name:?})))"),
        ),
        (FieldShape::Map, _) => call(
            "map",
            format!("{this}.iter().map(|(key, &number)| (key, Enum(number, {names})))"),
        ),

        (FieldShape::OneofMember { enum_path, variant }, value) => {
            let enum_path = enum_path.to_token_stream().to_string().replace(' ', "");
            let (binding, written) = match value {
                LaidOutValue::Plain => ("value", "value".to_owned()),
                LaidOutValue::NullValue => ("_", "&Null".to_owned()),
                LaidOutValue::Reflected(name) => ("value", format!("&Reflected(value, {name:?})")),
                _ => ("number", format!("&Enum(*number, {names})")),
            };
            format!(
                "            if let Some(super::{enum_path}::{variant}({binding})) = &{this} {{\n                object.field({key}, {written})?;\n            }}\n"
            )
        }
    };
    out.push_str(&code);
}

/// The functions that name enum numbers, one per enum the writers use, by a name made from the
/// enum's own.
#[derive(Default)]
struct EnumNames {
    /// Keyed by what the function does (the enum's Rust path, or its table of names).
    functions: BTreeMap<String, (String, String)>,
}

impl EnumNames {
    /// The function naming the values of the enum `value` holds (empty for other values).
    fn function(&mut self, value: &LaidOutValue) -> String {
        let (identity, stem, body) = match value {
            LaidOutValue::Enum(path) => {
                let path = path.to_token_stream().to_string().replace(' ', "");
                let stem = path
                    .split("::")
                    .filter(|part| *part != "super")
                    .map(|part| part.trim_start_matches("r#"))
                    .collect::<Vec<_>>()
                    .join("_");
                let body = format!(
                    "        super::{path}::try_from(number)\n            .ok()\n            .map(|value| value.as_str_name())\n"
                );
                (path, stem, body)
            }
            LaidOutValue::WellKnownEnum { name, values } => {
                let mut body = String::from("        match number {\n");
                for (number, name) in values {
                    let _ = writeln!(body, "            {number} => Some({name:?}),");
                }
                body.push_str("            _ => None,\n        }\n");
                (body.clone(), name.replace('.', "_"), body)
            }
            _ => return String::new(),
        };
        if let Some((function, _)) = self.functions.get(&identity) {
            return function.clone();
        }
        let stem = names::snake(&stem);
        let mut function = stem.clone();
        let mut n = 2;
        while self.functions.values().any(|(f, _)| *f == function) {
            function = format!("{stem}_{n}");
            n += 1;
        }
        self.functions.insert(identity, (function.clone(), body));
        function
    }
}
