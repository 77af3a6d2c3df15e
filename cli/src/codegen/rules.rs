//! Reads protoc-gen-validate rules (`(validate.rules)`) into the model: which messages validate,
//! and the checks on each field. Rules micro does not enforce yet are an error, never ignored.

use std::collections::BTreeSet;

use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    Value,
};

use super::model::{Check, FieldShape, FieldValidation, ItemRules, StringFormat, ValidatedMessage};
use super::walk::ContractError;
use crate::names;

/// The full names of every message in `pool` that validates: one with a ruled field, or holding
/// (singly or repeatedly) a message that validates. `(validate.disabled)` opts a message out.
pub fn validating(pool: &DescriptorPool) -> BTreeSet<String> {
    let Some(rules_ext) = pool.get_extension_by_name("validate.rules") else {
        return BTreeSet::new();
    };
    let disabled_ext = pool.get_extension_by_name("validate.disabled");
    let is_disabled = |message: &MessageDescriptor| {
        disabled_ext.as_ref().is_some_and(|ext| {
            let options = message.options();
            options.has_extension(ext) && options.get_extension(ext).as_bool() == Some(true)
        })
    };
    let all: Vec<MessageDescriptor> = pool
        .all_messages()
        .filter(|m| !m.is_map_entry() && !is_disabled(m))
        .collect();
    let mut validating: BTreeSet<String> = all
        .iter()
        .filter(|m| m.fields().any(|f| field_rules(&f, &rules_ext).is_some()))
        .map(|m| m.full_name().to_owned())
        .collect();
    loop {
        let before = validating.len();
        for message in &all {
            let holds_validating = message.fields().any(|field| {
                nested_type(&field).is_some_and(|inner| validating.contains(inner.full_name()))
            });
            if holds_validating {
                validating.insert(message.full_name().to_owned());
            }
        }
        if validating.len() == before {
            return validating;
        }
    }
}

/// The validated messages of `package`, or an error naming the field and rule micro cannot enforce.
pub fn validated_messages(
    pool: &DescriptorPool,
    package: &str,
) -> Result<Vec<ValidatedMessage>, ContractError> {
    let Some(rules_ext) = pool.get_extension_by_name("validate.rules") else {
        return Ok(Vec::new()); // no contract imports validate.proto
    };
    let all: Vec<MessageDescriptor> = pool.all_messages().filter(|m| !m.is_map_entry()).collect();
    let validating = validating(pool);
    let mut out = Vec::new();
    for message in all
        .iter()
        .filter(|m| m.package_name() == package && validating.contains(m.full_name()))
    {
        let mut fields = Vec::new();
        for field in message.fields() {
            let rules = field_rules(&field, &rules_ext);
            let rules = rules.as_ref();
            let skip = rules.is_some_and(|r| message_rule(r, "skip"));
            let nested = !skip
                && nested_type(&field).is_some_and(|inner| validating.contains(inner.full_name()));
            if rules.is_none() && !nested {
                continue;
            }
            let error = |message: String| {
                ContractError::at(
                    &field.parent_file(),
                    field.path(),
                    field.full_name(),
                    message,
                )
            };
            if field.containing_oneof().is_some_and(|o| !o.is_synthetic()) {
                return Err(error(
                    "validation inside a `oneof` is not supported yet".to_owned(),
                ));
            }
            let mut validation = FieldValidation {
                name: field.name().to_owned(),
                rust_field: names::snake(field.name()),
                shape: shape(&field),
                checks: Vec::new(),
                ignore_empty: false,
                value_type: rule_kind(&field).unwrap_or("message"),
                required: false,
                items: None,
                nested,
            };
            if let Some(rules) = rules {
                read_rules(package, &field, rules, &mut validation).map_err(error)?;
            }
            fields.push(validation);
        }
        out.push(ValidatedMessage {
            full_name: message.full_name().to_owned(),
            rust_path: local_path(message),
            fields,
        });
    }
    Ok(out)
}

fn field_rules(field: &FieldDescriptor, ext: &ExtensionDescriptor) -> Option<DynamicMessage> {
    let options = field.options();
    if !options.has_extension(ext) {
        return None;
    }
    options.get_extension(ext).as_message().cloned()
}

/// The message type a field's values are validated as, for singular and repeated message fields.
fn nested_type(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    match field.kind() {
        Kind::Message(inner) if !field.is_map() && inner.package_name() != "google.protobuf" => {
            Some(inner)
        }
        _ => None,
    }
}

fn message_rule(rules: &DynamicMessage, name: &str) -> bool {
    rules
        .get_field_by_name("message")
        .and_then(|m| {
            m.as_message()
                .and_then(|m| m.get_field_by_name(name)?.as_bool())
        })
        .unwrap_or(false)
}

fn shape(field: &FieldDescriptor) -> FieldShape {
    if field.is_list() {
        FieldShape::Repeated
    } else if field.supports_presence() {
        FieldShape::Optional
    } else {
        FieldShape::Plain
    }
}

/// The Rust path of a message inside its package module (`Outer` or `outer::Inner`).
fn local_path(message: &MessageDescriptor) -> String {
    let mut parts = vec![names::upper_camel(message.name())];
    let mut parent = message.parent_message();
    while let Some(p) = parent {
        parts.push(names::snake(p.name()));
        parent = p.parent_message();
    }
    parts.reverse();
    parts.join("::")
}

fn read_rules(
    package: &str,
    field: &FieldDescriptor,
    rules: &DynamicMessage,
    out: &mut FieldValidation,
) -> Result<(), String> {
    for (member, value) in rules.fields() {
        let Some(set) = value.as_message() else {
            continue;
        };
        match member.name() {
            "message" => out.required = get_bool(set, "required"),
            "repeated" => {
                if !field.is_list() {
                    return Err("`repeated` rules on a field that is not repeated".into());
                }
                out.items = Some(ItemRules {
                    min_items: get_u64(set, "min_items"),
                    max_items: get_u64(set, "max_items"),
                    unique: get_bool(set, "unique"),
                });
                out.ignore_empty = get_bool(set, "ignore_empty");
                for (name, value) in set.fields() {
                    match name.name() {
                        "min_items" | "max_items" | "unique" | "ignore_empty" => {}
                        "items" => {
                            let items = value.as_message().expect("items is a message");
                            let mut item_checks = Vec::new();
                            for (kind, rules) in items.fields() {
                                if let Some(rules) = rules.as_message() {
                                    scalar_rules(
                                        package,
                                        field,
                                        kind.name(),
                                        rules,
                                        &mut item_checks,
                                    )?;
                                }
                            }
                            out.checks = item_checks;
                        }
                        other => return Err(unsupported("repeated", other)),
                    }
                }
            }
            kind => {
                if field.is_list() {
                    return Err(format!(
                        "`{kind}` rules on a repeated field; use `repeated.items.{kind}`"
                    ));
                }
                out.ignore_empty = get_bool(set, "ignore_empty");
                scalar_rules(package, field, kind, set, &mut out.checks)?;
            }
        }
    }
    Ok(())
}

/// The checks of one value's rules (`string`, `int32`, `enum`, …).
fn scalar_rules(
    package: &str,
    field: &FieldDescriptor,
    kind: &str,
    rules: &DynamicMessage,
    checks: &mut Vec<Check>,
) -> Result<(), String> {
    let expected = rule_kind(field);
    if expected != Some(kind) {
        return Err(format!(
            "`{kind}` rules on a field of type `{}`",
            expected.unwrap_or("message")
        ));
    }
    match kind {
        "string" => string_rules(rules, checks),
        "bytes" => bytes_rules(rules, checks),
        "bool" => {
            for (name, value) in rules.fields() {
                match name.name() {
                    "const" => checks.push(Check::BoolConst(value.as_bool().unwrap_or_default())),
                    other => return Err(unsupported("bool", other)),
                }
            }
            Ok(())
        }
        "enum" => {
            let Kind::Enum(enum_type) = field.kind() else {
                unreachable!("checked by rule_kind")
            };
            for (name, value) in rules.fields() {
                match name.name() {
                    "defined_only" if value.as_bool() == Some(true) => {
                        checks.push(Check::DefinedOnly(enum_path(&enum_type, package)));
                    }
                    "defined_only" => {}
                    "const" => checks.push(Check::NumConst(literal(value))),
                    "in" | "not_in" => checks.push(Check::NumIn {
                        values: list(value).iter().map(literal).collect(),
                        negate: name.name() == "not_in",
                    }),
                    other => return Err(unsupported("enum", other)),
                }
            }
            Ok(())
        }
        _ => number_rules(kind, rules, checks),
    }
}

fn string_rules(rules: &DynamicMessage, checks: &mut Vec<Check>) -> Result<(), String> {
    if let Some((min, max, exact)) = lengths(rules, ["min_len", "max_len", "len"]) {
        checks.push(Check::Chars { min, max, exact });
    }
    if let Some((min, max, exact)) = lengths(rules, ["min_bytes", "max_bytes", "len_bytes"]) {
        checks.push(Check::Bytes { min, max, exact });
    }
    for (name, value) in rules.fields() {
        let text = || value.as_str().unwrap_or_default().to_owned();
        let format = |format| Check::Format(format);
        match name.name() {
            "len" | "min_len" | "max_len" | "len_bytes" | "min_bytes" | "max_bytes"
            | "ignore_empty" => {}
            "pattern" => {
                let pattern = text();
                regex_syntax::Parser::new()
                    .parse(&pattern)
                    .map_err(|e| format!("`pattern` is not a valid regular expression: {e}"))?;
                checks.push(Check::Pattern(pattern));
            }
            "prefix" => checks.push(Check::Prefix(text())),
            "suffix" => checks.push(Check::Suffix(text())),
            "contains" => checks.push(Check::Contains(text())),
            "not_contains" => checks.push(Check::NotContains(text())),
            "const" => checks.push(Check::StrConst(text())),
            "in" | "not_in" => checks.push(Check::StrIn {
                values: list(value)
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_owned())
                    .collect(),
                negate: name.name() == "not_in",
            }),
            flag @ ("email" | "hostname" | "ip" | "ipv4" | "ipv6" | "uri" | "uri_ref"
            | "address" | "uuid") => {
                if value.as_bool() == Some(true) {
                    checks.push(format(match flag {
                        "email" => StringFormat::Email,
                        "hostname" => StringFormat::Hostname,
                        "ip" => StringFormat::Ip,
                        "ipv4" => StringFormat::Ipv4,
                        "ipv6" => StringFormat::Ipv6,
                        "uri" => StringFormat::Uri,
                        "uri_ref" => StringFormat::UriRef,
                        "address" => StringFormat::Address,
                        _ => StringFormat::Uuid,
                    }));
                }
            }
            other => return Err(unsupported("string", other)),
        }
    }
    Ok(())
}

fn bytes_rules(rules: &DynamicMessage, checks: &mut Vec<Check>) -> Result<(), String> {
    if let Some((min, max, exact)) = lengths(rules, ["min_len", "max_len", "len"]) {
        checks.push(Check::Bytes { min, max, exact });
    }
    for (name, _) in rules.fields() {
        match name.name() {
            "len" | "min_len" | "max_len" | "ignore_empty" => {}
            other => return Err(unsupported("bytes", other)),
        }
    }
    Ok(())
}

fn number_rules(kind: &str, rules: &DynamicMessage, checks: &mut Vec<Check>) -> Result<(), String> {
    let bound = |name: &str| {
        rules
            .get_field_by_name(name)
            .filter(|_| rules.has_field_by_name(name))
            .map(|v| literal(&v))
    };
    let (gt, gte, lt, lte) = (bound("gt"), bound("gte"), bound("lt"), bound("lte"));
    if gt.is_some() || gte.is_some() || lt.is_some() || lte.is_some() {
        let float = matches!(kind, "float" | "double");
        checks.push(Check::Range {
            gt,
            gte,
            lt,
            lte,
            float,
        });
    }
    for (name, value) in rules.fields() {
        match name.name() {
            "gt" | "gte" | "lt" | "lte" | "ignore_empty" => {}
            "const" => checks.push(Check::NumConst(literal(value))),
            "in" | "not_in" => checks.push(Check::NumIn {
                values: list(value).iter().map(literal).collect(),
                negate: name.name() == "not_in",
            }),
            other => return Err(unsupported(kind, other)),
        }
    }
    Ok(())
}

/// The `FieldRules` member that fits a field's type, or `None` for messages.
fn rule_kind(field: &FieldDescriptor) -> Option<&'static str> {
    Some(match field.kind() {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Enum(_) => "enum",
        Kind::Message(_) => return None,
    })
}

/// The Rust path of an enum type from inside the module of `package`.
fn enum_path(enum_type: &prost_reflect::EnumDescriptor, package: &str) -> String {
    let mut parts = vec![names::upper_camel(enum_type.name())];
    let mut parent = enum_type.parent_message();
    while let Some(p) = parent {
        parts.push(names::snake(p.name()));
        parent = p.parent_message();
    }
    if enum_type.package_name() != package {
        parts.extend(
            names::package_modules(enum_type.package_name())
                .into_iter()
                .rev(),
        );
        parts.extend(std::iter::repeat_n(
            "super".to_owned(),
            package.split('.').count(),
        ));
    }
    parts.reverse();
    parts.join("::")
}

/// A rule value as a Rust literal (floats always with a decimal point).
fn literal(value: &Value) -> String {
    match value {
        Value::I32(v) => v.to_string(),
        Value::I64(v) => v.to_string(),
        Value::U32(v) => v.to_string(),
        Value::U64(v) => v.to_string(),
        Value::F32(v) => format!("{v:?}"),
        Value::F64(v) => format!("{v:?}"),
        Value::EnumNumber(v) => v.to_string(),
        other => format!("{other:?}"),
    }
}

fn list(value: &Value) -> Vec<Value> {
    value.as_list().map(<[Value]>::to_vec).unwrap_or_default()
}

/// The (minimum, maximum, exact) length rules named `names`, if any is set.
fn lengths(
    rules: &DynamicMessage,
    names: [&str; 3],
) -> Option<(Option<u64>, Option<u64>, Option<u64>)> {
    let [min, max, exact] = names.map(|name| get_u64(rules, name));
    (min.is_some() || max.is_some() || exact.is_some()).then_some((min, max, exact))
}

fn get_u64(message: &DynamicMessage, name: &str) -> Option<u64> {
    message
        .has_field_by_name(name)
        .then(|| message.get_field_by_name(name)?.as_u64())
        .flatten()
}

fn get_bool(message: &DynamicMessage, name: &str) -> bool {
    message
        .get_field_by_name(name)
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

fn unsupported(kind: &str, rule: &str) -> String {
    format!("the rule `{kind}.{rule}` is not supported yet; remove it or check it in the service")
}
