//! Reads compiled descriptors into the model: services, methods, and their `google.api.http`
//! bindings, with every name resolved the way prost and tonic resolve it.

use std::collections::BTreeSet;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};

use super::model::{
    Body, BoundField, Enum, ErrorEnum, ErrorValue, FieldLabel, FieldPath, FieldType, HttpBinding,
    Message, MessageField, Method, Package, PathTemplate, Segment, Service, TypeRef, ValueKind,
};
use crate::model::Access;
use crate::names;

/// A contract that compiles but cannot be turned into code, worded for a person.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}{position}: {item}: {message}")]
pub struct ContractError {
    /// The contract, by its name under its include folder (callers may replace it with the path
    /// on disk).
    pub file: String,
    /// `:line:column` of the element at fault, or nothing when the compiler kept no position.
    pub position: String,
    /// The method, field or enum value at fault.
    pub item: String,
    pub message: String,
}

impl ContractError {
    /// An error about the element at `path` in `file` (a descriptor's `path()`).
    pub fn at(
        file: &prost_reflect::FileDescriptor,
        path: &[i32],
        item: &str,
        message: impl Into<String>,
    ) -> Self {
        let position = source_location(file, path)
            .filter(|l| l.span.len() >= 2)
            .map(|l| format!(":{}:{}", l.span[0] + 1, l.span[1] + 1))
            .unwrap_or_default();
        ContractError {
            file: file.name().to_owned(),
            position,
            item: item.to_owned(),
            message: message.into(),
        }
    }
}

/// Builds the model of each package in `packages` (sorted by name).
pub fn packages(
    pool: &DescriptorPool,
    packages: &BTreeSet<String>,
) -> Result<Vec<Package>, ContractError> {
    let http = pool.get_extension_by_name("google.api.http");
    let validating = super::rules::validating(pool);
    let mut out = Vec::new();
    for name in packages {
        let mut services = Vec::new();
        let mut warnings = Vec::new();
        let mut access = super::access::rules(pool, name)?;
        for service in pool.services().filter(|s| s.package_name() == name) {
            let file = service.parent_file().name().to_owned();
            let trait_name = names::upper_camel(service.name());
            if TONIC_UNQUALIFIED.contains(&trait_name.as_str()) {
                return Err(ContractError::at(
                    &service.parent_file(),
                    service.path(),
                    service.full_name(),
                    format!(
                        "tonic's generated server names `{trait_name}` itself, so a service trait of that name breaks it; rename the service (e.g. `{trait_name}Service`)"
                    ),
                ));
            }
            let mut methods = Vec::new();
            for method in service.methods() {
                let rust_name = names::snake(method.name());
                if TONIC_CLIENT_METHODS.contains(&rust_name.as_str()) {
                    return Err(ContractError::at(
                        &method.parent_file(),
                        method.path(),
                        method.full_name(),
                        format!(
                            "tonic's generated client has a method `{rust_name}` of its own, so an RPC of that name breaks it; rename the RPC"
                        ),
                    ));
                }
                let rules = http
                    .as_ref()
                    .filter(|ext| method.options().has_extension(ext))
                    .map(|ext| method.options().get_extension(ext).as_message().cloned())
                    .unwrap_or_default();
                let at = |message| {
                    ContractError::at(
                        &method.parent_file(),
                        method.path(),
                        method.full_name(),
                        message,
                    )
                };
                let (mut built, skipped) =
                    build_method(name, &method, rules.as_ref(), &validating).map_err(at)?;
                if let Some(rule) = access.remove(method.full_name()) {
                    built.access = rule;
                }
                warnings.extend(skipped.into_iter().map(at));
                methods.push(built);
            }
            services.push(Service {
                name: service.name().to_owned(),
                full_name: service.full_name().to_owned(),
                file,
                description: comments(&service.parent_file(), service.path()),
                methods,
            });
        }
        let error_enums = error_enums(pool, name)?;
        let validated = super::rules::validated_messages(pool, name)?;
        out.push(Package {
            name: name.clone(),
            services,
            error_enums,
            validated,
            messages: messages(pool, name),
            enums: enums(pool, name),
            layouts: super::layout::layouts(pool, name)?,
            warnings,
        });
    }
    Ok(out)
}

/// What the server module tonic-prost-build 0.14 generates refers to without a path (its
/// generics, `tonic::codegen`'s re-exports and the prelude): a service trait of one of these
/// names, defined in that module, would stand in for it.
const TONIC_UNQUALIFIED: &[&str] = &[
    "Arc",
    "B",
    "Body",
    "Box",
    "BoxFuture",
    "Bytes",
    "Clone",
    "CompressionEncoding",
    "Context",
    "D",
    "Data",
    "Debug",
    "Default",
    "EnabledCompressionEncodings",
    "Error",
    "F",
    "Future",
    "GrpcMethod",
    "InterceptedService",
    "Into",
    "Item",
    "Message",
    "None",
    "Ok",
    "Option",
    "Poll",
    "Response",
    "Result",
    "Service",
    "Some",
    "StdError",
    "T",
    "TryInto",
    "Uri",
];

/// The methods tonic-prost-build 0.14 gives every generated client besides its RPCs.
const TONIC_CLIENT_METHODS: &[&str] = &[
    "new",
    "connect",
    "with_origin",
    "with_interceptor",
    "send_compressed",
    "accept_compressed",
    "max_decoding_message_size",
    "max_encoding_message_size",
];

/// The options of kratos' `errors.proto`: which enums declare error reasons, and their codes.
pub(crate) struct ErrorOptions {
    default_code: Option<prost_reflect::ExtensionDescriptor>,
    code: Option<prost_reflect::ExtensionDescriptor>,
}

impl ErrorOptions {
    pub(crate) fn new(pool: &DescriptorPool) -> Self {
        ErrorOptions {
            default_code: pool.get_extension_by_name("errors.default_code"),
            code: pool.get_extension_by_name("errors.code"),
        }
    }

    /// Whether `enumeration` declares error reasons, the way kratos picks them: its name ends in
    /// `Reason`, or it sets `(errors.default_code)`.
    pub(crate) fn is_error_enum(&self, enumeration: &prost_reflect::EnumDescriptor) -> bool {
        enumeration.name().ends_with("Reason") || self.default_code(enumeration).is_some()
    }

    /// `(errors.default_code)` of an enum.
    pub(crate) fn default_code(&self, enumeration: &prost_reflect::EnumDescriptor) -> Option<i32> {
        int_option(&enumeration.options(), self.default_code.as_ref())
    }

    /// `(errors.code)` of an enum value.
    pub(crate) fn code(&self, value: &prost_reflect::EnumValueDescriptor) -> Option<i32> {
        int_option(&value.options(), self.code.as_ref())
    }
}

fn int_option(
    options: &DynamicMessage,
    extension: Option<&prost_reflect::ExtensionDescriptor>,
) -> Option<i32> {
    extension
        .filter(|ext| options.has_extension(ext))
        .and_then(|ext| options.get_extension(ext).as_i32())
}

/// The package's top-level enums that declare error reasons ([`ErrorOptions::is_error_enum`]).
fn error_enums(pool: &DescriptorPool, package: &str) -> Result<Vec<ErrorEnum>, ContractError> {
    let options = ErrorOptions::new(pool);
    let mut enums = Vec::new();
    for file in pool.files().filter(|f| f.package_name() == package) {
        for descriptor in file.enums() {
            if !options.is_error_enum(&descriptor) {
                continue;
            }
            let default = options.default_code(&descriptor);
            let mut values = Vec::new();
            for value in descriptor.values() {
                let explicit = options.code(&value);
                let code = explicit.or(default).unwrap_or(500);
                // HTTP status codes are three digits; kratos itself uses codes such as 600 for
                // errors of its own, which travel over gRPC as UNKNOWN.
                let code = u16::try_from(code)
                    .ok()
                    .filter(|c| (100..=999).contains(c))
                    .ok_or_else(|| {
                        ContractError::at(
                            &file,
                            value.path(),
                            value.full_name(),
                            format!("error code {code} is not an HTTP status code (100-999)"),
                        )
                    })?;
                let placeholder = value.number() == 0
                    && value.name().ends_with("_UNSPECIFIED")
                    && explicit.is_none();
                let rust_variant =
                    names::ident(&names::enum_variant(descriptor.name(), value.name())).map_err(
                        |why| ContractError::at(&file, value.path(), value.full_name(), why),
                    )?;
                values.push(ErrorValue {
                    name: value.name().to_owned(),
                    rust_variant,
                    code,
                    has_helpers: !placeholder,
                });
            }
            let rust_name =
                names::ident(&names::upper_camel(descriptor.name())).map_err(|why| {
                    ContractError::at(&file, descriptor.path(), descriptor.full_name(), why)
                })?;
            enums.push(ErrorEnum { rust_name, values });
        }
    }
    Ok(enums)
}

/// The model of one method, with the bindings it cannot serve over HTTP, each explained (the
/// method stays on gRPC, and the rest of the contract is generated).
fn build_method(
    package: &str,
    method: &MethodDescriptor,
    rule: Option<&DynamicMessage>,
    validating: &BTreeSet<String>,
) -> Result<(Method, Vec<String>), String> {
    let input = method.input();
    let output = method.output();
    let mut bindings = Vec::new();
    let mut skipped = Vec::new();
    if let Some(rule) = rule {
        let mut rules = vec![rule.clone()];
        if let Some(Value::List(more)) = rule.get_field_by_name("additional_bindings").as_deref() {
            rules.extend(more.iter().filter_map(Value::as_message).cloned());
        }
        for rule in &rules {
            match build_binding(&input, &output, rule)? {
                // A client stream's messages always come in the body, as grpc-gateway reads
                // them, whatever the rule's `body` says.
                Routable::Yes(mut binding) if method.is_client_streaming() => {
                    if binding.body == Body::None {
                        binding.body = Body::Whole;
                        binding.query_fields.clear();
                    }
                    bindings.push(*binding);
                }
                Routable::Yes(binding) => bindings.push(*binding),
                Routable::No(why) => skipped.push(why),
            }
        }
    }
    let built = Method {
        name: method.name().to_owned(),
        rust_name: names::ident(&names::snake(method.name()))?,
        description: comments(&method.parent_file(), method.path()),
        input: type_ref(package, &input)?,
        validate_input: validating.contains(input.full_name()),
        output: type_ref(package, &output)?,
        client_streaming: method.is_client_streaming(),
        server_streaming: method.is_server_streaming(),
        idempotent: is_idempotent(method),
        bindings,
        access: Access::Unstated,
    };
    Ok((built, skipped))
}

/// Whether the method's `idempotency_level` says repeating a call has no second effect.
fn is_idempotent(method: &MethodDescriptor) -> bool {
    use prost_types::method_options::IdempotencyLevel;
    let level = method
        .method_descriptor_proto()
        .options
        .as_ref()
        .map(|options| options.idempotency_level());
    matches!(
        level,
        Some(IdempotencyLevel::Idempotent | IdempotencyLevel::NoSideEffects)
    )
}

/// A rule micro can route, or why not (a warning, never an error: the method stays on gRPC).
enum Routable {
    Yes(Box<HttpBinding>),
    No(String),
}

/// The HTTP methods a rule may use: the standard ones, which axum routes by name.
const ROUTABLE_METHODS: &[&str] = &[
    "GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT",
];

fn build_binding(
    input: &MessageDescriptor,
    output: &MessageDescriptor,
    rule: &DynamicMessage,
) -> Result<Routable, String> {
    let string = |name: &str| {
        rule.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let (verb, path) = ["get", "put", "post", "delete", "patch"]
        .iter()
        .find(|verb| rule.has_field_by_name(verb))
        .map(|verb| (verb.to_uppercase(), string(verb)))
        .or_else(|| {
            let custom = rule.get_field_by_name("custom")?;
            let custom = custom.as_message()?;
            let get = |f: &str| custom.get_field_by_name(f)?.as_str().map(str::to_owned);
            Some((get("kind")?.to_uppercase(), get("path")?))
        })
        .ok_or("the `google.api.http` rule names no verb and path")?;
    if !ROUTABLE_METHODS.contains(&verb.as_str()) {
        return Ok(Routable::No(format!(
            "`{verb} {path}` is not served over HTTP: axum routes only {} (the method stays on gRPC)",
            ROUTABLE_METHODS.join(", ")
        )));
    }

    let template = parse_template(&path)?;
    let mut path_fields = Vec::new();
    for segment in &template.segments {
        if let Segment::Variable {
            field: var,
            pattern,
        } = segment
        {
            let field = resolve(input, &var.proto)
                .map_err(|e| format!("path variable `{{{}}}` in `{path}`: {e}", var.dotted()))?;
            // A repeated scalar binds from comma-separated values, as grpc-gateway binds it.
            let (kind, repeated) = value_kind(&field).ok_or_else(|| {
                format!(
                    "path variable `{{{}}}` must be a scalar field (or a well-known type written as one)",
                    var.dotted()
                )
            })?;
            if pattern != &[Segment::Any] && (field.kind() != Kind::String || repeated) {
                return Err(format!(
                    "path variable `{{{}}}` has a pattern, so it must be a singular `string` field",
                    var.dotted()
                ));
            }
            if path_fields
                .iter()
                .any(|f: &BoundField| f.path.proto == var.proto)
            {
                return Err(format!("path `{path}` binds `{}` twice", var.dotted()));
            }
            path_fields.push(BoundField {
                path: json_path(input, &var.proto),
                kind,
                repeated,
                map: false,
            });
        }
    }

    let body = match string("body").as_str() {
        "" => Body::None,
        "*" => Body::Whole,
        field => {
            let proto: Vec<String> = field.split('.').map(str::to_owned).collect();
            resolve(input, &proto).map_err(|e| format!("body `{field}`: {e}"))?;
            Body::Field(json_path(input, &proto))
        }
    };
    let response_body = match string("response_body").as_str() {
        "" => None,
        field => {
            let resolved = output.get_field_by_name(field).ok_or_else(|| {
                format!(
                    "response_body `{field}`: `{}` has no field `{field}` (it names a field of the response itself)",
                    output.full_name()
                )
            })?;
            Some(FieldPath {
                proto: vec![resolved.name().to_owned()],
                json: vec![resolved.json_name().to_owned()],
            })
        }
    };

    let query_fields = if body == Body::Whole {
        Vec::new()
    } else {
        let mut fields = Vec::new();
        let taken: Vec<&FieldPath> = path_fields
            .iter()
            .map(|f| &f.path)
            .chain(match &body {
                Body::Field(f) => Some(f),
                _ => None,
            })
            .collect();
        collect_query_fields(input, &mut Vec::new(), &taken, &mut fields);
        fields
    };

    Ok(Routable::Yes(Box::new(HttpBinding {
        verb,
        template,
        body,
        path_fields,
        query_fields,
        response_body,
    })))
}

/// Parses a path template by the grammar of `google/api/http.proto`:
/// `"/" Segments [":" Verb]`, a segment being `*`, `**`, a literal or `{field.path[=Segments]}`.
pub(crate) fn parse_template(path: &str) -> Result<PathTemplate, String> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("path `{path}` must start with `/`"))?;
    let (rest, verb) = split_verb(rest);
    if let Some(verb) = verb
        && (verb.is_empty() || verb.contains(['{', '}', '*', '/']))
    {
        return Err(format!(
            "path `{path}`: `:{verb}` is not a custom verb (text after the last segment's `:`)"
        ));
    }

    let mut segments = Vec::new();
    for part in split_segments(rest) {
        if let Some(var) = part.strip_prefix('{') {
            let var = var
                .strip_suffix('}')
                .ok_or_else(|| format!("path `{path}`: unclosed `{{` in `{part}`"))?;
            let (field, pattern) = var.split_once('=').unwrap_or((var, "*"));
            if field.is_empty() || field.split('.').any(str::is_empty) {
                return Err(format!("path `{path}`: `{{{var}}}` names no field"));
            }
            let pattern = pattern
                .split('/')
                .map(|p| plain_segment(path, p))
                .collect::<Result<Vec<_>, _>>()?;
            segments.push(Segment::Variable {
                field: FieldPath {
                    proto: field.split('.').map(str::to_owned).collect(),
                    json: Vec::new(),
                },
                pattern,
            });
        } else {
            segments.push(plain_segment(path, part)?);
        }
    }
    let template = PathTemplate {
        text: path.to_owned(),
        segments,
        verb: verb.map(str::to_owned),
    };
    let flat = template.flattened();
    if flat[..flat.len() - 1].contains(&&Segment::AnyDeep) {
        return Err(format!(
            "path `{path}`: `**` matches the rest of the path, so it must come last"
        ));
    }
    Ok(template)
}

/// Splits a template (without its leading `/`) into its segments and its custom verb, as
/// grpc-gateway reads them: after a final variable the verb is everything past the first `:`
/// (`{uuid}:custom:custom` has the verb `custom:custom`); after a final literal, the text past its
/// last `:` (`a:b:c` is the literal `a:b` with the verb `c`).
fn split_verb(rest: &str) -> (&str, Option<&str>) {
    let last_start = split_segments(rest)
        .last()
        .map_or(0, |last| rest.len() - last.len());
    let last = &rest[last_start..];
    let colon = if last.starts_with('{') {
        last.find('}')
            .and_then(|end| last[end + 1..].starts_with(':').then_some(end + 1))
    } else {
        last.rfind(':')
    };
    match colon {
        Some(at) => (&rest[..last_start + at], Some(&rest[last_start + at + 1..])),
        None => (rest, None),
    }
}

/// Splits at the `/`s that are not inside a variable.
fn split_segments(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            '/' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A segment that is not a variable: `*`, `**` or a literal.
fn plain_segment(path: &str, part: &str) -> Result<Segment, String> {
    match part {
        "*" => Ok(Segment::Any),
        "**" => Ok(Segment::AnyDeep),
        _ if part.is_empty() || part.contains(['{', '}', '*', '=']) => Err(format!(
            "path `{path}`: segment `{part}` is not a literal, `*`, `**` or a `{{variable}}`"
        )),
        _ => Ok(Segment::Literal(part.to_owned())),
    }
}

/// Follows a dotted field path through nested messages.
fn resolve(message: &MessageDescriptor, path: &[String]) -> Result<FieldDescriptor, String> {
    let mut message = message.clone();
    let mut found = None;
    for (i, name) in path.iter().enumerate() {
        let field = message
            .get_field_by_name(name)
            .ok_or_else(|| format!("`{}` has no field `{name}`", message.full_name()))?;
        if i + 1 < path.len() {
            match field.kind() {
                Kind::Message(inner) if !field.is_list() && !field.is_map() => message = inner,
                _ => return Err(format!("`{name}` is not a singular message field")),
            }
        }
        found = Some(field);
    }
    found.ok_or_else(|| "empty field path".to_owned())
}

fn json_path(message: &MessageDescriptor, proto: &[String]) -> FieldPath {
    let mut json = Vec::with_capacity(proto.len());
    let mut current = Some(message.clone());
    for name in proto {
        let field = current.as_ref().and_then(|m| m.get_field_by_name(name));
        json.push(
            field
                .as_ref()
                .map_or_else(|| name.clone(), |f| f.json_name().to_owned()),
        );
        current = field.and_then(|f| f.kind().as_message().cloned());
    }
    FieldPath {
        proto: proto.to_vec(),
        json,
    }
}

/// Every scalar under `message` that the query string may set, skipping fields the path or body
/// already binds and message types already on the way down (recursive messages end there).
fn collect_query_fields(
    message: &MessageDescriptor,
    prefix: &mut Vec<FieldDescriptor>,
    taken: &[&FieldPath],
    out: &mut Vec<BoundField>,
) {
    for field in message.fields() {
        let proto: Vec<String> = prefix
            .iter()
            .chain([&field])
            .map(|f| f.name().to_owned())
            .collect();
        if taken.iter().any(|t| t.proto == proto) {
            continue;
        }
        let path = FieldPath {
            json: prefix
                .iter()
                .chain([&field])
                .map(|f| f.json_name().to_owned())
                .collect(),
            proto,
        };
        if field.is_map() {
            // Entries by `name[key]=value`, when the values have a string form.
            let Kind::Message(entry) = field.kind() else {
                continue;
            };
            if let Some(kind) = kind_of(&entry.map_entry_value_field().kind()) {
                out.push(BoundField {
                    path,
                    kind,
                    repeated: false,
                    map: true,
                });
            }
        } else if let Some((kind, repeated)) = value_kind(&field) {
            out.push(BoundField {
                path,
                kind,
                repeated,
                map: false,
            });
        } else if let Kind::Message(inner) = field.kind() {
            let seen =
                prefix.iter().any(|f| f.kind().as_message() == Some(&inner)) || &inner == message;
            if !field.is_list() && !seen {
                prefix.push(field.clone());
                collect_query_fields(&inner, prefix, taken, out);
                prefix.pop();
            }
        }
    }
}

/// How a field's URL text maps to JSON, or `None` for a message that has no string form.
fn value_kind(field: &FieldDescriptor) -> Option<(ValueKind, bool)> {
    Some((kind_of(&field.kind())?, field.is_list()))
}

/// How URL text of a value of `kind` maps to JSON, or `None` for a message with no string form.
fn kind_of(kind: &Kind) -> Option<ValueKind> {
    Some(match kind {
        Kind::Bool => ValueKind::Bool,
        Kind::Int32
        | Kind::Sint32
        | Kind::Sfixed32
        | Kind::Uint32
        | Kind::Fixed32
        | Kind::Int64
        | Kind::Sint64
        | Kind::Sfixed64
        | Kind::Uint64
        | Kind::Fixed64 => ValueKind::Integer,
        Kind::Float | Kind::Double => ValueKind::Float,
        Kind::String | Kind::Bytes => ValueKind::Text,
        Kind::Enum(_) => ValueKind::Enum,
        Kind::Message(message) => match message.full_name() {
            "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue" => ValueKind::Text,
            "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value" => ValueKind::Integer,
            "google.protobuf.FloatValue" | "google.protobuf.DoubleValue" => ValueKind::Float,
            "google.protobuf.BoolValue" => ValueKind::Bool,
            _ => return None,
        },
    })
}

/// The Rust path of `message` from inside the module of `package`.
fn type_ref(package: &str, message: &MessageDescriptor) -> Result<TypeRef, String> {
    let mut nesting = Vec::new();
    let mut parent = message.parent_message();
    while let Some(p) = parent {
        nesting.push(names::snake(p.name()));
        parent = p.parent_message();
    }
    nesting.reverse();
    let type_name = names::upper_camel(message.name());
    let target = message.package_name();

    let mut parts: Vec<String> = Vec::new();
    let rust_path = if target == "google.protobuf" {
        parts.push("::pbjson_types".into());
        parts.extend(nesting);
        parts.push(type_name);
        parts.join("::")
    } else {
        if target != package {
            parts.extend(std::iter::repeat_n(
                "super".to_owned(),
                package.split('.').count(),
            ));
            parts.extend(names::package_modules(target));
        }
        parts.extend(nesting);
        parts.push(type_name);
        parts.join("::")
    };
    Ok(TypeRef {
        full_name: message.full_name().to_owned(),
        rust_path: names::path(&rust_path)?,
    })
}

/// Every message of `package` with its fields as the JSON mapping names and types them.
fn messages(pool: &DescriptorPool, package: &str) -> Vec<Message> {
    pool.all_messages()
        .filter(|m| m.package_name() == package && !m.is_map_entry())
        .map(|message| Message {
            full_name: message.full_name().to_owned(),
            description: comments(&message.parent_file(), message.path()),
            fields: message
                .fields()
                .map(|field| MessageField {
                    name: field.name().to_owned(),
                    json_name: field.json_name().to_owned(),
                    description: comments(&field.parent_file(), field.path()),
                    value: field_type(&field),
                    label: field_label(&field),
                    oneof: field
                        .containing_oneof()
                        .filter(|oneof| !oneof.is_synthetic())
                        .map(|oneof| oneof.name().to_owned()),
                })
                .collect(),
        })
        .collect()
}

fn field_label(field: &FieldDescriptor) -> FieldLabel {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            unreachable!("map fields are messages")
        };
        FieldLabel::Map {
            key: field_type(&entry.map_entry_key_field()),
        }
    } else if field.is_list() {
        FieldLabel::Repeated
    } else if field.supports_presence() && field.kind().as_message().is_none() {
        FieldLabel::Optional
    } else {
        FieldLabel::Singular
    }
}

/// The type of a field's values (for a map, of its values).
fn field_type(field: &FieldDescriptor) -> FieldType {
    let kind = match field.kind() {
        Kind::Message(entry) if field.is_map() => entry.map_entry_value_field().kind(),
        kind => kind,
    };
    match kind {
        Kind::Message(message) => FieldType::Message(message.full_name().to_owned()),
        Kind::Enum(en) => FieldType::Enum(en.full_name().to_owned()),
        Kind::Double => FieldType::Scalar("double"),
        Kind::Float => FieldType::Scalar("float"),
        Kind::Int32 => FieldType::Scalar("int32"),
        Kind::Int64 => FieldType::Scalar("int64"),
        Kind::Uint32 => FieldType::Scalar("uint32"),
        Kind::Uint64 => FieldType::Scalar("uint64"),
        Kind::Sint32 => FieldType::Scalar("sint32"),
        Kind::Sint64 => FieldType::Scalar("sint64"),
        Kind::Fixed32 => FieldType::Scalar("fixed32"),
        Kind::Fixed64 => FieldType::Scalar("fixed64"),
        Kind::Sfixed32 => FieldType::Scalar("sfixed32"),
        Kind::Sfixed64 => FieldType::Scalar("sfixed64"),
        Kind::Bool => FieldType::Scalar("bool"),
        Kind::String => FieldType::Scalar("string"),
        Kind::Bytes => FieldType::Scalar("bytes"),
    }
}

fn enums(pool: &DescriptorPool, package: &str) -> Vec<Enum> {
    pool.all_enums()
        .filter(|e| e.package_name() == package)
        .map(|en| Enum {
            full_name: en.full_name().to_owned(),
            description: comments(&en.parent_file(), en.path()),
            values: en.values().map(|v| v.name().to_owned()).collect(),
            numbers: en
                .values()
                .map(|v| v.number())
                .fold(Vec::new(), |mut seen, n| {
                    if !seen.contains(&n) {
                        seen.push(n);
                    }
                    seen
                }),
        })
        .collect()
}

/// What the compiler recorded about the element at `path` in `file` (its span and comments).
pub(crate) fn source_location<'a>(
    file: &'a prost_reflect::FileDescriptor,
    path: &[i32],
) -> Option<&'a prost_types::source_code_info::Location> {
    file.file_descriptor_proto()
        .source_code_info
        .as_ref()?
        .location
        .iter()
        .find(|l| l.path == path)
}

/// The leading comment of the element at `path` in `file`, with the comment markers' spacing
/// removed.
fn comments(file: &prost_reflect::FileDescriptor, path: &[i32]) -> String {
    let Some(location) = source_location(file, path) else {
        return String::new();
    };
    let text = location.leading_comments.as_deref().unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect();
    lines.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_into_literals_and_variables() {
        let t = parse_template("/v1/shelves/{shelf.id}/books").unwrap();
        assert_eq!(t.segments.len(), 4);
        assert_eq!(t.segments[0], Segment::Literal("v1".into()));
        assert!(
            matches!(&t.segments[2], Segment::Variable { field, pattern } if field.proto == ["shelf", "id"] && pattern == &[Segment::Any])
        );
        assert_eq!(t.verb, None);
        assert!(parse_template("v1/x").is_err());
        assert!(parse_template("/v1/{name").is_err());
        assert!(parse_template("/v1//x").is_err());
    }

    #[test]
    fn templates_take_patterns_wildcards_and_verbs() {
        let t = parse_template("/v1/{name=shelves/*/books/*}:archive").unwrap();
        assert_eq!(t.verb.as_deref(), Some("archive"));
        let flat: Vec<&Segment> = t.flattened();
        assert_eq!(
            flat,
            [
                &Segment::Literal("v1".into()),
                &Segment::Literal("shelves".into()),
                &Segment::Any,
                &Segment::Literal("books".into()),
                &Segment::Any
            ]
        );
        let t = parse_template("/v1/books:batchGet").unwrap();
        assert_eq!(t.verb.as_deref(), Some("batchGet"));
        assert_eq!(t.segments[1], Segment::Literal("books".into()));
        let t = parse_template("/v1/*/files/{path=**}").unwrap();
        assert_eq!(t.segments[1], Segment::Any);
        assert_eq!(t.flattened().last(), Some(&&Segment::AnyDeep));

        assert!(
            parse_template("/v1/{name=**}/x").is_err(),
            "`**` must be last"
        );
        assert!(parse_template("/v1/{name}:").is_err(), "empty verb");
        // As grpc-gateway reads them: a verb after a variable runs from its first colon, one
        // after a literal from the last.
        let t = parse_template("/v1/example/{uuid}:custom:custom").unwrap();
        assert_eq!(t.verb.as_deref(), Some("custom:custom"));
        assert!(
            matches!(&t.segments[2], Segment::Variable { field, .. } if field.proto == ["uuid"])
        );
        let t = parse_template("/v1/a:b:c").unwrap();
        assert_eq!(t.verb.as_deref(), Some("c"));
        assert_eq!(t.segments[1], Segment::Literal("a:b".into()));
        let t = parse_template("/v1/{name=projects/*}/x:y").unwrap();
        assert_eq!(t.verb.as_deref(), Some("y"));
        assert!(parse_template("/v1/{=x}").is_err(), "no field");
        assert!(parse_template("/v1/a*b").is_err());
    }
}
