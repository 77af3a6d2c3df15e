//! `micro proto breaking`: what a change to the contracts breaks for the clients built on the
//! earlier ones, on the wire (protobuf, by field and value numbers) and in JSON (by names), over
//! gRPC and over HTTP (the `google.api.http` bindings). Elements are matched by full name across
//! the packages compared, so moving a message between files of its package breaks nothing.

use std::collections::BTreeSet;

use prost_reflect::{
    Cardinality, DescriptorPool, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind,
    MessageDescriptor, MethodDescriptor,
};

use crate::lint::{Finding, http_rules, position};

/// Every kind of breaking change, with what it breaks.
pub const RULES: &[(&str, &str)] = &[
    ("SERVICE_REMOVED", "a service clients call is gone"),
    ("RPC_REMOVED", "an RPC clients call is gone"),
    ("RPC_REQUEST_CHANGED", "an RPC takes another message"),
    (
        "RPC_RESPONSE_CHANGED",
        "an RPC answers with another message",
    ),
    (
        "RPC_STREAMING_CHANGED",
        "an RPC streams where it did not, or no longer streams",
    ),
    (
        "HTTP_BINDING_CHANGED",
        "an HTTP binding (verb, path, body) clients use is gone",
    ),
    ("MESSAGE_REMOVED", "a message is gone"),
    (
        "FIELD_REMOVED",
        "a field is gone without its number and name reserved",
    ),
    (
        "FIELD_RENUMBERED",
        "a field kept its name but not its number",
    ),
    (
        "FIELD_RENAMED",
        "a field kept its number but not its name (JSON)",
    ),
    (
        "FIELD_JSON_NAME_CHANGED",
        "a field's JSON name changed (`json_name`)",
    ),
    ("FIELD_TYPE_CHANGED", "a field holds another type"),
    (
        "FIELD_CARDINALITY_CHANGED",
        "a field became repeated, a map, optional, or lost one of those",
    ),
    ("ENUM_REMOVED", "an enum is gone"),
    (
        "ENUM_VALUE_REMOVED",
        "an enum value is gone without its number reserved",
    ),
    (
        "ENUM_VALUE_RENAMED",
        "an enum value kept its number but not its name (JSON)",
    ),
];

/// The breaking changes from the contracts of `packages` in `before` to those in `after`.
/// Findings point into `after` where the element still exists, into `before` otherwise
/// (`earlier`).
pub fn compare(
    before: &DescriptorPool,
    after: &DescriptorPool,
    packages: &BTreeSet<String>,
) -> Vec<Finding> {
    let in_scope = |package: &str| packages.contains(package);
    let mut found = Vec::new();
    for service in before.services().filter(|s| in_scope(s.package_name())) {
        let Some(now) = after.get_service_by_name(service.full_name()) else {
            found.push(finding(
                "SERVICE_REMOVED",
                Side::Before(&service.parent_file(), service.path()),
                service.full_name(),
                "the service is gone".into(),
            ));
            continue;
        };
        for method in service.methods() {
            match now.methods().find(|m| m.name() == method.name()) {
                Some(kept) => methods(before, after, &method, &kept, &mut found),
                None => found.push(finding(
                    "RPC_REMOVED",
                    Side::After(&now.parent_file(), now.path()),
                    method.full_name(),
                    "the RPC is gone".into(),
                )),
            }
        }
    }
    for message in before
        .all_messages()
        .filter(|m| in_scope(m.package_name()) && !m.is_map_entry())
    {
        match after.get_message_by_name(message.full_name()) {
            Some(now) => fields(&message, &now, &mut found),
            None => found.push(finding(
                "MESSAGE_REMOVED",
                Side::Before(&message.parent_file(), message.path()),
                message.full_name(),
                "the message is gone".into(),
            )),
        }
    }
    for enumeration in before.all_enums().filter(|e| in_scope(e.package_name())) {
        match after.get_enum_by_name(enumeration.full_name()) {
            Some(now) => values(&enumeration, &now, &mut found),
            None => found.push(finding(
                "ENUM_REMOVED",
                Side::Before(&enumeration.parent_file(), enumeration.path()),
                enumeration.full_name(),
                "the enum is gone".into(),
            )),
        }
    }
    // What is there now first, then what is gone (positions in the earlier contracts).
    found.sort_by(|a, b| {
        let key = |f: &Finding| {
            (
                f.earlier,
                f.file.clone(),
                f.line,
                f.column,
                f.rule,
                f.item.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    found
}

/// Where a finding points: the element as it is now, or as it was.
enum Side<'a> {
    After(&'a FileDescriptor, &'a [i32]),
    Before(&'a FileDescriptor, &'a [i32]),
}

fn finding(rule: &'static str, side: Side<'_>, item: &str, message: String) -> Finding {
    let (file, path, was) = match side {
        Side::After(file, path) => (file, path, false),
        Side::Before(file, path) => (file, path, true),
    };
    let (line, column) = position(file, path);
    let fix = if was {
        "restore it, or publish the change as a new package version (`v2`) beside the old one"
    } else {
        "undo the change, or publish it as a new package version (`v2`) beside the old one"
    };
    Finding {
        file: file.name().to_owned(),
        line,
        column,
        rule,
        item: item.to_owned(),
        message,
        fix: fix.to_owned(),
        earlier: was,
    }
}

fn methods(
    before: &DescriptorPool,
    after: &DescriptorPool,
    old: &MethodDescriptor,
    new: &MethodDescriptor,
    found: &mut Vec<Finding>,
) {
    let file = new.parent_file();
    if old.input().full_name() != new.input().full_name() {
        found.push(finding(
            "RPC_REQUEST_CHANGED",
            Side::After(&file, new.path()),
            new.full_name(),
            format!(
                "it takes `{}`, not `{}`",
                new.input().full_name(),
                old.input().full_name()
            ),
        ));
    }
    if old.output().full_name() != new.output().full_name() {
        found.push(finding(
            "RPC_RESPONSE_CHANGED",
            Side::After(&file, new.path()),
            new.full_name(),
            format!(
                "it answers `{}`, not `{}`",
                new.output().full_name(),
                old.output().full_name()
            ),
        ));
    }
    let streaming = |m: &MethodDescriptor| (m.is_client_streaming(), m.is_server_streaming());
    if streaming(old) != streaming(new) {
        let shape = |(client, server): (bool, bool)| match (client, server) {
            (false, false) => "unary",
            (true, false) => "client streaming",
            (false, true) => "server streaming",
            (true, true) => "bidirectional",
        };
        found.push(finding(
            "RPC_STREAMING_CHANGED",
            Side::After(&file, new.path()),
            new.full_name(),
            format!(
                "it is {}, not {}",
                shape(streaming(new)),
                shape(streaming(old))
            ),
        ));
    }
    let now = http_rules(after, new);
    for rule in http_rules(before, old) {
        if !now.contains(&rule) {
            found.push(finding(
                "HTTP_BINDING_CHANGED",
                Side::After(&file, new.path()),
                new.full_name(),
                format!("`{rule}` is no longer served"),
            ));
        }
    }
}

fn fields(old: &MessageDescriptor, new: &MessageDescriptor, found: &mut Vec<Finding>) {
    let file = new.parent_file();
    for field in old.fields() {
        let by_number = new.get_field(field.number());
        let by_name = new.get_field_by_name(field.name());
        match (by_number, by_name) {
            (None, None) => {
                let number_reserved = new
                    .reserved_ranges()
                    .any(|range| range.contains(&field.number()));
                let name_reserved = new.reserved_names().any(|name| name == field.name());
                if !(number_reserved && name_reserved) {
                    found.push(finding(
                        "FIELD_REMOVED",
                        Side::After(&file, new.path()),
                        field.full_name(),
                        format!(
                            "field {} `{}` is gone; reserve both (`reserved {};` and `reserved \"{}\";`) so neither is reused",
                            field.number(),
                            field.name(),
                            field.number(),
                            field.name()
                        ),
                    ));
                }
            }
            (None, Some(renumbered)) => found.push(finding(
                "FIELD_RENUMBERED",
                Side::After(&file, renumbered.path()),
                renumbered.full_name(),
                format!(
                    "field `{}` is number {}, not {}",
                    field.name(),
                    renumbered.number(),
                    field.number()
                ),
            )),
            (Some(kept), _) => field_changes(&field, &kept, found),
        }
    }
}

fn field_changes(old: &FieldDescriptor, new: &FieldDescriptor, found: &mut Vec<Finding>) {
    let file = new.parent_message().parent_file();
    let mut push = |rule, message| {
        found.push(finding(
            rule,
            Side::After(&file, new.path()),
            new.full_name(),
            message,
        ));
    };
    if old.name() != new.name() {
        push(
            "FIELD_RENAMED",
            format!(
                "field {} is `{}`, not `{}`: JSON clients send and read the old name",
                new.number(),
                new.name(),
                old.name()
            ),
        );
    } else if old.json_name() != new.json_name() {
        push(
            "FIELD_JSON_NAME_CHANGED",
            format!(
                "its JSON name is `{}`, not `{}`",
                new.json_name(),
                old.json_name()
            ),
        );
    }
    let (old_kind, new_kind) = (kind_name(old), kind_name(new));
    if old_kind != new_kind {
        push(
            "FIELD_TYPE_CHANGED",
            format!("it holds `{new_kind}`, not `{old_kind}`"),
        );
    }
    let (old_shape, new_shape) = (shape(old), shape(new));
    if old_shape != new_shape {
        push(
            "FIELD_CARDINALITY_CHANGED",
            format!("it is {new_shape}, not {old_shape}"),
        );
    }
}

/// A field's type as the contract names it: `int64`, or the message or enum's full name (a map
/// by its value's).
fn kind_name(field: &FieldDescriptor) -> String {
    let kind = match field.kind() {
        Kind::Message(entry) if field.is_map() => entry.map_entry_value_field().kind(),
        kind => kind,
    };
    match kind {
        Kind::Message(message) => message.full_name().to_owned(),
        Kind::Enum(enumeration) => enumeration.full_name().to_owned(),
        scalar => format!("{scalar:?}").to_lowercase(),
    }
}

/// `repeated`, `a map`, `optional` (with presence) or `singular`.
fn shape(field: &FieldDescriptor) -> &'static str {
    if field.is_map() {
        "a map"
    } else if field.is_list() {
        "repeated"
    } else if field.cardinality() == Cardinality::Required {
        "required"
    } else if field.supports_presence() && !matches!(field.kind(), Kind::Message(_)) {
        "optional"
    } else {
        "singular"
    }
}

fn values(old: &EnumDescriptor, new: &EnumDescriptor, found: &mut Vec<Finding>) {
    let file = new.parent_file();
    for value in old.values() {
        match new.get_value(value.number()) {
            Some(kept) if kept.name() != value.name() => found.push(finding(
                "ENUM_VALUE_RENAMED",
                Side::After(&file, kept.path()),
                kept.full_name(),
                format!(
                    "value {} is `{}`, not `{}`: JSON clients send and read the old name",
                    value.number(),
                    kept.name(),
                    value.name()
                ),
            )),
            Some(_) => {}
            None => {
                let reserved = new
                    .reserved_ranges()
                    .any(|range| range.contains(&value.number()));
                if !reserved {
                    found.push(finding(
                        "ENUM_VALUE_REMOVED",
                        Side::After(&file, new.path()),
                        value.full_name(),
                        format!(
                            "value {} `{}` is gone; reserve its number (`reserved {};`)",
                            value.number(),
                            value.name(),
                            value.number()
                        ),
                    ));
                }
            }
        }
    }
}
