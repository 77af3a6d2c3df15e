//! How prost lays out a message: which Rust field holds each proto field, and in what shape
//! (`T`, `Option<T>`, `Vec<T>`, a map, a `oneof` enum's variant). Code that reads a message's
//! fields (validation, the proto3 JSON writers) is generated from this, so it follows prost's
//! rules exactly, proto2 included.

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use crate::model::{FieldLayout, FieldShape, LaidOutValue, MessageLayout};
use crate::names;
use crate::walk::ContractError;

/// The well-known types the runtime writes itself; other `google.protobuf` messages (`Type`,
/// the descriptors) it writes through their descriptors.
const RUNTIME_WRITES: &[&str] = &[
    "Any",
    "BoolValue",
    "BytesValue",
    "DoubleValue",
    "Duration",
    "Empty",
    "FieldMask",
    "FloatValue",
    "Int32Value",
    "Int64Value",
    "ListValue",
    "StringValue",
    "Struct",
    "Timestamp",
    "UInt32Value",
    "UInt64Value",
    "Value",
];

/// Every message of `package` (map entries excluded), as prost lays it out.
pub fn layouts(pool: &DescriptorPool, package: &str) -> Result<Vec<MessageLayout>, ContractError> {
    let mut out = Vec::new();
    for message in pool
        .all_messages()
        .filter(|m| m.package_name() == package && !m.is_map_entry())
    {
        let mut fields = Vec::new();
        for field in message.fields() {
            let at = |problem: String| {
                ContractError::at(
                    &field.parent_file(),
                    field.path(),
                    field.full_name(),
                    problem,
                )
            };
            let (shape, rust_field) = shape(&message, &field).map_err(at)?;
            let value_kind = match field.kind() {
                Kind::Message(entry) if field.is_map() => entry.map_entry_value_field().kind(),
                kind => kind,
            };
            fields.push(FieldLayout {
                name: field.name().to_owned(),
                json_name: field.json_name().to_owned(),
                rust_field,
                shape,
                value: laid_out_value(&value_kind, package).map_err(at)?,
                deprecated: field
                    .field_descriptor_proto()
                    .options
                    .as_ref()
                    .is_some_and(|options| options.deprecated()),
            });
        }
        out.push(MessageLayout {
            rust_path: names::path(&local_path(&message)).map_err(|problem| {
                ContractError::at(
                    &message.parent_file(),
                    message.path(),
                    message.full_name(),
                    problem,
                )
            })?,
            fields,
        });
    }
    Ok(out)
}

fn laid_out_value(kind: &Kind, package: &str) -> Result<LaidOutValue, String> {
    Ok(match kind {
        Kind::Enum(enumeration) if enumeration.full_name() == "google.protobuf.NullValue" => {
            LaidOutValue::NullValue
        }
        Kind::Enum(enumeration) if enumeration.package_name() == "google.protobuf" => {
            let mut values: Vec<(i32, String)> = Vec::new();
            for value in enumeration.values() {
                // An alias names a number already named: the first name is the one written.
                if !values.iter().any(|(number, _)| *number == value.number()) {
                    values.push((value.number(), value.name().to_owned()));
                }
            }
            let name = enumeration.full_name()["google.protobuf.".len()..].to_owned();
            LaidOutValue::WellKnownEnum { name, values }
        }
        Kind::Enum(enumeration) => LaidOutValue::Enum(enum_path(enumeration, package)?),
        Kind::Message(message)
            if message.package_name() == "google.protobuf"
                && !RUNTIME_WRITES.contains(&message.name()) =>
        {
            LaidOutValue::Reflected(message.full_name().to_owned())
        }
        _ => LaidOutValue::Plain,
    })
}

/// The name of the enum prost makes for `oneof` in the module named after `message`: the oneof's
/// name, with `OneOf` added when a type nested in the message has that name already.
pub fn oneof_enum_name(
    message: &MessageDescriptor,
    oneof: &prost_reflect::OneofDescriptor,
) -> String {
    let mut enum_name = names::upper_camel(oneof.name());
    let taken = message
        .child_messages()
        .map(|m| names::upper_camel(m.name()))
        .chain(message.child_enums().map(|e| names::upper_camel(e.name())))
        .any(|name| name == enum_name);
    if taken {
        enum_name.push_str("OneOf");
    }
    enum_name
}

/// The path, from the package's module, of the item `name` in the module prost makes for what
/// `message` nests (a oneof's enum, a nested type).
pub fn nested_path(message: &MessageDescriptor, name: &str) -> String {
    let module = names::snake(message.name());
    match local_path(message).rsplit_once("::") {
        Some((parents, _)) => format!("{parents}::{module}::{name}"),
        None => format!("{module}::{name}"),
    }
}

/// How prost lays the field out, and the Rust field that holds it.
pub fn shape(
    message: &MessageDescriptor,
    field: &FieldDescriptor,
) -> Result<(FieldShape, syn::Member), String> {
    if let Some(oneof) = field.containing_oneof().filter(|o| !o.is_synthetic()) {
        let enum_name = oneof_enum_name(message, &oneof);
        let shape = FieldShape::OneofMember {
            enum_path: names::path(&nested_path(message, &enum_name))?,
            variant: names::ident(&names::upper_camel(field.name()))?,
        };
        return Ok((shape, names::member(&names::snake(oneof.name()))?));
    }
    let shape = if field.is_map() {
        FieldShape::Map
    } else if field.is_list() {
        FieldShape::Repeated
    } else if is_option(field) {
        FieldShape::Optional
    } else {
        FieldShape::Plain
    };
    Ok((shape, names::member(&names::snake(field.name()))?))
}

/// Whether prost holds a singular field in an `Option`: a message, a proto3 `optional`, or any
/// proto2 `optional` (a proto2 `required` scalar is a plain value).
fn is_option(field: &FieldDescriptor) -> bool {
    use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};

    let proto = field.field_descriptor_proto();
    if proto.proto3_optional() {
        return true;
    }
    if proto.label() != Label::Optional {
        return false;
    }
    proto.r#type() == Type::Message
        || field.parent_file().file_descriptor_proto().syntax() != "proto3"
}

/// The Rust path of a message inside its package module (`Outer` or `outer::Inner`).
pub fn local_path(message: &MessageDescriptor) -> String {
    let mut parts = vec![names::upper_camel(message.name())];
    let mut parent = message.parent_message();
    while let Some(p) = parent {
        parts.push(names::snake(p.name()));
        parent = p.parent_message();
    }
    parts.reverse();
    parts.join("::")
}

/// The Rust path of an enum type from inside the module of `package`.
pub fn enum_path(
    enum_type: &prost_reflect::EnumDescriptor,
    package: &str,
) -> Result<syn::Path, String> {
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
    names::path(&parts.join("::"))
}
