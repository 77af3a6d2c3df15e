//! Reads protoc-gen-validate rules (`(validate.rules)`) into the model: which messages validate,
//! and the checks on each field. Rules micro does not enforce yet are an error, never ignored.

use std::collections::BTreeSet;

use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    Value,
};

use super::model::{
    Check, FieldValidation, ItemRules, Limit, MapRules, RequiredOneof, StringFormat, Subject,
    ValidatedMessage,
};
use super::walk::ContractError;
use crate::layout::{enum_path, local_path, shape};
use crate::names;

/// The full names of every message in `pool` that validates: one with a ruled field, or holding
/// (singly or repeatedly) a message that validates. `(validate.disabled)` opts a message out.
pub fn validating(pool: &DescriptorPool) -> BTreeSet<String> {
    let Some(rules_ext) = pool.get_extension_by_name("validate.rules") else {
        return BTreeSet::new();
    };
    let all: Vec<MessageDescriptor> = pool
        .all_messages()
        .filter(|m| !m.is_map_entry() && !is_disabled(pool, m))
        .collect();
    let mut validating: BTreeSet<String> = all
        .iter()
        .filter(|m| {
            m.fields().any(|f| field_rules(&f, &rules_ext).is_some())
                || required_oneofs(pool, m).map_or(true, |oneofs| !oneofs.is_empty())
        })
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

/// `(validate.disabled)` and `(validate.ignored)` both leave a message unchecked.
fn is_disabled(pool: &DescriptorPool, message: &MessageDescriptor) -> bool {
    ["validate.disabled", "validate.ignored"]
        .iter()
        .any(|name| {
            pool.get_extension_by_name(name).is_some_and(|ext| {
                let options = message.options();
                options.has_extension(&ext) && options.get_extension(&ext).as_bool() == Some(true)
            })
        })
}

/// The oneofs of `message` marked `(validate.required)`.
fn required_oneofs(
    pool: &DescriptorPool,
    message: &MessageDescriptor,
) -> Result<Vec<RequiredOneof>, String> {
    let Some(ext) = pool.get_extension_by_name("validate.required") else {
        return Ok(Vec::new());
    };
    message
        .oneofs()
        .filter(|oneof| !oneof.is_synthetic())
        .filter(|oneof| {
            let options = oneof.options();
            options.has_extension(&ext) && options.get_extension(&ext).as_bool() == Some(true)
        })
        .map(|oneof| {
            Ok(RequiredOneof {
                name: oneof.name().to_owned(),
                rust_field: names::member(&names::snake(oneof.name()))?,
            })
        })
        .collect()
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
            let (shape, rust_field) = shape(message, &field).map_err(error)?;
            let mut validation = FieldValidation {
                name: field.name().to_owned(),
                rust_field,
                shape,
                wrapper: wrapper_type(&field.kind())
                    .map(|wrapper| names::path(&wrapper))
                    .transpose()
                    .map_err(error)?,
                map: None,
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
            // A field declared `optional` may be left unset whatever its rules say, as
            // protoc-gen-validate reads it.
            if field.containing_oneof().is_some_and(|o| o.is_synthetic()) {
                validation.required = false;
            }
            fields.push(validation);
        }
        let at_message = |why: String| {
            ContractError::at(
                &message.parent_file(),
                message.path(),
                message.full_name(),
                why,
            )
        };
        out.push(ValidatedMessage {
            full_name: message.full_name().to_owned(),
            rust_path: names::path(&local_path(message)).map_err(at_message)?,
            fields,
            required_oneofs: required_oneofs(pool, message).map_err(at_message)?,
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

/// The message type a field's values are validated as: of singular and repeated message fields,
/// and of a map's values.
fn nested_type(field: &FieldDescriptor) -> Option<MessageDescriptor> {
    let kind = match field.kind() {
        Kind::Message(entry) if field.is_map() => entry.map_entry_value_field().kind(),
        kind => kind,
    };
    match kind {
        Kind::Message(inner) if inner.package_name() != "google.protobuf" => Some(inner),
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

/// The Rust type of a `google.protobuf` wrapper, whose `value` the rules check.
fn wrapper_type(kind: &Kind) -> Option<String> {
    match kind {
        Kind::Message(m)
            if m.package_name() == "google.protobuf" && m.name().ends_with("Value") =>
        {
            let scalar = m.get_field_by_name("value")?;
            (m.fields().count() == 1 && !matches!(scalar.kind(), Kind::Message(_) | Kind::Enum(_)))
                .then(|| format!("::pbjson_types::{}", m.name()))
        }
        _ => None,
    }
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
                            let items = rule_message(value, "items")?;
                            if message_rule(items, "skip") {
                                out.nested = false;
                            }
                            let mut required = false;
                            if wrapper_type(&field.kind()).is_some() {
                                return Err("rules on the items of a list of wrappers are not supported; check them in the service".into());
                            }
                            value_rules(
                                package,
                                &field.kind(),
                                items,
                                &mut out.checks,
                                &mut required,
                            )?;
                        }
                        other => return Err(unsupported("repeated", other)),
                    }
                }
            }
            "map" => {
                let Kind::Message(entry) = field.kind().clone() else {
                    return Err("`map` rules on a field that is not a map".into());
                };
                if !field.is_map() {
                    return Err("`map` rules on a field that is not a map".into());
                }
                let mut map = MapRules {
                    min_pairs: get_u64(set, "min_pairs"),
                    max_pairs: get_u64(set, "max_pairs"),
                    ..MapRules::default()
                };
                out.ignore_empty = get_bool(set, "ignore_empty");
                let mut required = false;
                for (name, value) in set.fields() {
                    match name.name() {
                        // prost cannot hold an unset map value, so `no_sparse` always holds.
                        "min_pairs" | "max_pairs" | "ignore_empty" | "no_sparse" => {}
                        "keys" => {
                            let keys = rule_message(value, "keys")?;
                            let key = entry.map_entry_key_field().kind();
                            value_rules(package, &key, keys, &mut map.keys, &mut required)?;
                        }
                        "values" => {
                            let values = rule_message(value, "values")?;
                            if message_rule(values, "skip") {
                                out.nested = false;
                            }
                            let kind = entry.map_entry_value_field().kind();
                            if wrapper_type(&kind).is_some() {
                                return Err("rules on the values of a map of wrappers are not supported; check them in the service".into());
                            }
                            value_rules(package, &kind, values, &mut map.values, &mut required)?;
                        }
                        other => return Err(unsupported("map", other)),
                    }
                }
                out.map = Some(map);
            }
            kind => {
                if field.is_list() || field.is_map() {
                    return Err(format!(
                        "`{kind}` rules on a repeated or map field; use `repeated.items.{kind}` or `map.values.{kind}`"
                    ));
                }
                out.ignore_empty = get_bool(set, "ignore_empty");
                one_rule(
                    package,
                    &field.kind(),
                    kind,
                    set,
                    &mut out.checks,
                    &mut out.required,
                )?;
            }
        }
    }
    Ok(())
}

/// The checks of one value's `FieldRules` (a field's, a list item's, a map key's or value's).
fn value_rules(
    package: &str,
    kind: &Kind,
    rules: &DynamicMessage,
    checks: &mut Vec<Check>,
    required: &mut bool,
) -> Result<(), String> {
    for (member, value) in rules.fields() {
        if let Some(set) = value.as_message() {
            one_rule(package, kind, member.name(), set, checks, required)?;
        }
    }
    Ok(())
}

/// The checks of one member of `FieldRules` (`string`, `duration`, `message`, …) on a value of
/// `kind`.
fn one_rule(
    package: &str,
    kind: &Kind,
    rule: &str,
    set: &DynamicMessage,
    checks: &mut Vec<Check>,
    required: &mut bool,
) -> Result<(), String> {
    if rule == "message" {
        *required |= get_bool(set, "required");
        return Ok(());
    }
    let expected = value_kind(kind);
    if expected != Some(rule) {
        return Err(format!(
            "`{rule}` rules on a value of type `{}`",
            expected.unwrap_or("message")
        ));
    }
    match rule {
        "string" => string_rules(set, checks)?,
        "bytes" => bytes_rules(set, checks)?,
        "bool" => {
            for (name, value) in set.fields() {
                match name.name() {
                    "const" => checks.push(Check::BoolConst(value.as_bool().unwrap_or_default())),
                    other => return Err(unsupported("bool", other)),
                }
            }
        }
        "enum" => {
            let Kind::Enum(enum_type) = kind else {
                unreachable!("checked by value_kind")
            };
            for (name, value) in set.fields() {
                match name.name() {
                    "defined_only" if value.as_bool() == Some(true) => {
                        checks.push(Check::DefinedOnly(enum_path(enum_type, package)?));
                    }
                    "defined_only" => {}
                    "const" => checks.push(Check::NumConst(limit(value)?)),
                    "in" | "not_in" => checks.push(Check::NumIn {
                        values: limits(value)?,
                        negate: name.name() == "not_in",
                    }),
                    other => return Err(unsupported("enum", other)),
                }
            }
        }
        "duration" | "timestamp" => time_rules(rule, set, checks, required)?,
        "any" => {
            for (name, value) in set.fields() {
                match name.name() {
                    "required" => *required |= value.as_bool() == Some(true),
                    "in" | "not_in" => checks.push(Check::AnyIn {
                        values: list(value)
                            .iter()
                            .map(|v| v.as_str().unwrap_or_default().to_owned())
                            .collect(),
                        negate: name.name() == "not_in",
                    }),
                    other => return Err(unsupported("any", other)),
                }
            }
        }
        _ => number_rules(rule, set, checks)?,
    }
    Ok(())
}

/// `duration` and `timestamp` rules: bounds and sets of `(seconds, nanos)`, and for timestamps
/// bounds relative to the time of the check.
fn time_rules(
    kind: &str,
    rules: &DynamicMessage,
    checks: &mut Vec<Check>,
    required: &mut bool,
) -> Result<(), String> {
    let time = |value: &Value| {
        let message = value.as_message()?;
        let seconds = message.get_field_by_name("seconds")?.as_i64()?;
        let nanos = message.get_field_by_name("nanos")?.as_i32()?;
        Some(Limit::Time { seconds, nanos })
    };
    let bound = |name: &str| {
        rules
            .has_field_by_name(name)
            .then(|| time(rules.get_field_by_name(name)?.as_ref()))
            .flatten()
    };
    let (gt, gte, lt, lte) = (bound("gt"), bound("gte"), bound("lt"), bound("lte"));
    if gt.is_some() || gte.is_some() || lt.is_some() || lte.is_some() {
        checks.push(Check::Range {
            gt,
            gte,
            lt,
            lte,
            float: false,
            outside: is_outside(gt.or(gte), lt.or(lte)),
            subject: Subject::Time,
        });
    }
    let (before, after) = (get_bool(rules, "lt_now"), get_bool(rules, "gt_now"));
    let within = bound("within");
    if before || after || within.is_some() {
        checks.push(Check::Now {
            before,
            after,
            within,
        });
    }
    for (name, value) in rules.fields() {
        match name.name() {
            "gt" | "gte" | "lt" | "lte" => {}
            "lt_now" | "gt_now" | "within" if kind == "timestamp" => {}
            "required" => *required |= value.as_bool() == Some(true),
            "const" => checks.push(Check::TimeIn {
                values: time(value).into_iter().collect(),
                negate: false,
            }),
            "in" | "not_in" => checks.push(Check::TimeIn {
                values: list(value).iter().filter_map(time).collect(),
                negate: name.name() == "not_in",
            }),
            other => return Err(unsupported(kind, other)),
        }
    }
    Ok(())
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
            | "ignore_empty" | "strict" => {}
            "well_known_regex" => {
                // protoc-gen-validate's header patterns; `strict: false` only refuses the
                // characters that would end a header (NUL, CR, LF).
                let strict = !rules.has_field_by_name("strict") || get_bool(rules, "strict");
                let pattern = match (value.as_enum_number(), strict) {
                    (Some(0), _) => continue,
                    (Some(1), true) => r"^:?[0-9a-zA-Z!#$%&'*+\-.\^_|~`]+$",
                    (Some(2), true) => r"^[^\x00-\x08\x0A-\x1F\x7F]*$",
                    (Some(1 | 2), false) => r"^[^\x00\x0A\x0D]*$",
                    _ => return Err(unsupported("string", "well_known_regex")),
                };
                checks.push(Check::Pattern(pattern.to_owned()));
            }
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
    for (name, value) in rules.fields() {
        let bytes = || value.as_bytes().map(|b| b.to_vec()).unwrap_or_default();
        match name.name() {
            "len" | "min_len" | "max_len" | "ignore_empty" => {}
            "const" => checks.push(Check::BytesConst(bytes())),
            "pattern" => {
                let pattern = value.as_str().unwrap_or_default().to_owned();
                regex_syntax::Parser::new()
                    .parse(&pattern)
                    .map_err(|e| format!("`pattern` is not a valid regular expression: {e}"))?;
                checks.push(Check::BytesPattern(pattern));
            }
            "prefix" => checks.push(Check::BytesPrefix(bytes())),
            "suffix" => checks.push(Check::BytesSuffix(bytes())),
            "contains" => checks.push(Check::BytesContains(bytes())),
            "in" | "not_in" => checks.push(Check::BytesIn {
                values: list(value)
                    .iter()
                    .map(|v| v.as_bytes().map(|b| b.to_vec()).unwrap_or_default())
                    .collect(),
                negate: name.name() == "not_in",
            }),
            flag @ ("ip" | "ipv4" | "ipv6") => {
                if value.as_bool() == Some(true) {
                    checks.push(Check::BytesIp {
                        v4: flag != "ipv6",
                        v6: flag != "ipv4",
                    });
                }
            }
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
            .map(|v| limit(&v))
            .transpose()
    };
    let (gt, gte, lt, lte) = (bound("gt")?, bound("gte")?, bound("lt")?, bound("lte")?);
    // A bound at the type's own limit holds for every value (and comparing with it is what
    // clippy calls absurd).
    let (type_min, type_max) = type_limits(kind);
    let gte = gte.filter(|v| Some(*v) != type_min);
    let lte = lte.filter(|v| Some(*v) != type_max);
    // Above the smallest value, or below the largest, is "not that value".
    let mut gt = gt;
    let mut lt = lt;
    for (bound, type_limit) in [(&mut gt, type_min), (&mut lt, type_max)] {
        if bound.is_some() && *bound == type_limit {
            checks.push(Check::NumIn {
                values: bound.take().into_iter().collect(),
                negate: true,
            });
        }
    }
    if gt.is_some() || gte.is_some() || lt.is_some() || lte.is_some() {
        checks.push(Check::Range {
            gt,
            gte,
            lt,
            lte,
            float: matches!(kind, "float" | "double"),
            outside: is_outside(gt.or(gte), lt.or(lte)),
            subject: Subject::Value,
        });
    }
    for (name, value) in rules.fields() {
        match name.name() {
            "gt" | "gte" | "lt" | "lte" | "ignore_empty" => {}
            "const" => checks.push(Check::NumConst(limit(value)?)),
            "in" | "not_in" => checks.push(Check::NumIn {
                values: limits(value)?,
                negate: name.name() == "not_in",
            }),
            other => return Err(unsupported(kind, other)),
        }
    }
    Ok(())
}

/// Whether a range's lower bound lies above its upper one: the value must then fall outside.
fn is_outside(low: Option<Limit>, high: Option<Limit>) -> bool {
    matches!((low, high), (Some(low), Some(high)) if high.is_below(low))
}

/// The smallest and largest values of an integer rule kind.
fn type_limits(kind: &str) -> (Option<Limit>, Option<Limit>) {
    let (min, max) = match kind {
        "int32" | "sint32" | "sfixed32" => (Limit::I32(i32::MIN), Limit::I32(i32::MAX)),
        "int64" | "sint64" | "sfixed64" => (Limit::I64(i64::MIN), Limit::I64(i64::MAX)),
        "uint32" | "fixed32" => (Limit::U32(0), Limit::U32(u32::MAX)),
        "uint64" | "fixed64" => (Limit::U64(0), Limit::U64(u64::MAX)),
        _ => return (None, None),
    };
    (Some(min), Some(max))
}

/// The `FieldRules` member that fits a field's type, or `None` for messages.
fn rule_kind(field: &FieldDescriptor) -> Option<&'static str> {
    value_kind(&field.kind())
}

/// The `FieldRules` member that fits a value of `kind`: a scalar's, or that of a well-known type
/// with rules of its own (a wrapper takes its scalar's rules).
fn value_kind(kind: &Kind) -> Option<&'static str> {
    Some(match kind {
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
        Kind::Message(message) => match message.full_name() {
            "google.protobuf.Duration" => "duration",
            "google.protobuf.Timestamp" => "timestamp",
            "google.protobuf.Any" => "any",
            _ if wrapper_type(kind).is_some() => {
                return value_kind(&message.get_field_by_name("value")?.kind());
            }
            _ => return None,
        },
    })
}

/// A rule whose value is a message of rules (`items`, `keys`, `values`): a contract that brings a
/// `validate.proto` of its own could declare it otherwise.
fn rule_message<'v>(value: &'v Value, rule: &str) -> Result<&'v DynamicMessage, String> {
    value.as_message().ok_or_else(|| {
        format!("the rule `{rule}` is not a message of rules: is this protoc-gen-validate's `validate.proto`?")
    })
}

/// A numeric rule value, typed as the rule declares it (enum rules take numbers).
fn limit(value: &Value) -> Result<Limit, String> {
    Ok(match *value {
        Value::I32(v) | Value::EnumNumber(v) => Limit::I32(v),
        Value::I64(v) => Limit::I64(v),
        Value::U32(v) => Limit::U32(v),
        Value::U64(v) => Limit::U64(v),
        Value::F32(v) => Limit::F32(v),
        Value::F64(v) => Limit::F64(v),
        ref other => {
            return Err(format!(
                "the rule value `{other:?}` is not a number (a micro bug)"
            ));
        }
    })
}

/// A repeated numeric rule value (`in`, `not_in`).
fn limits(value: &Value) -> Result<Vec<Limit>, String> {
    list(value).iter().map(limit).collect()
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
