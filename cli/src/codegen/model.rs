//! The small model between descriptors and rendered code: what a contract says, already resolved to
//! the Rust names prost and tonic give it. Renderers see only this, never a descriptor.

/// One proto package: everything generated into one module.
#[derive(Debug, Clone)]
pub struct Package {
    /// The proto package, e.g. `helloworld.v1`.
    pub name: String,
    pub services: Vec<Service>,
    /// Top-level enums that define typed errors (`…Reason`, or with `(errors.default_code)`).
    pub error_enums: Vec<ErrorEnum>,
}

impl Package {
    /// How deep its module sits below the `api` module.
    pub fn depth(&self) -> usize {
        self.name.split('.').count()
    }
}

#[derive(Debug, Clone)]
pub struct Service {
    /// The proto name, e.g. `Greeter`.
    pub name: String,
    /// The fully qualified name, e.g. `helloworld.v1.Greeter`.
    pub full_name: String,
    /// The contract file that declares it.
    pub file: String,
    pub methods: Vec<Method>,
}

#[derive(Debug, Clone)]
pub struct Method {
    /// The proto name, e.g. `SayHello`.
    pub name: String,
    /// The method name in tonic's service trait, e.g. `say_hello`.
    pub rust_name: String,
    pub input: TypeRef,
    pub output: TypeRef,
    pub client_streaming: bool,
    pub server_streaming: bool,
    /// The HTTP bindings from `google.api.http`: the rule itself, then its additional bindings.
    pub bindings: Vec<HttpBinding>,
}

/// A message type as seen from inside the module of the package that refers to it.
#[derive(Debug, Clone)]
pub struct TypeRef {
    /// A Rust path valid in the referring package's module, e.g. `HelloRequest` or
    /// `super::super::common::v1::Money` or `::pbjson_types::Empty`.
    pub rust_path: String,
}

#[derive(Debug, Clone)]
pub struct HttpBinding {
    /// `GET`, `POST`, … or the `kind` of a custom pattern.
    pub verb: String,
    pub template: PathTemplate,
    pub body: Body,
    /// Path variables, in the order they appear in the template.
    pub path_fields: Vec<BoundField>,
    /// The request fields a query string may set: every scalar not bound by the path or the body.
    pub query_fields: Vec<BoundField>,
}

/// Which part of the request the HTTP body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    None,
    /// `body: "*"`: every field the path does not bind.
    Whole,
    /// `body: "field"`: that one field.
    Field(FieldPath),
}

/// A URL path template from an HTTP rule, e.g. `/v1/{name}/items`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `{field.path}`: one path segment bound to a request field.
    Variable(FieldPath),
}

/// A dotted path to a request field, in both of the names proto3 JSON accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    /// Proto field names, e.g. `["book", "shelf_id"]`.
    pub proto: Vec<String>,
    /// lowerCamelCase JSON names, e.g. `["book", "shelfId"]`.
    pub json: Vec<String>,
}

impl FieldPath {
    pub fn dotted(&self) -> String {
        self.proto.join(".")
    }
}

/// A request field reachable from the URL, with how to turn its text into JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundField {
    pub path: FieldPath,
    pub kind: ValueKind,
    pub repeated: bool,
}

/// How a URL string becomes the proto3 JSON value of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Strings, bytes (base64), 64-bit integers, timestamps, durations, field masks: JSON strings.
    Text,
    /// 32-bit integers and floating point: JSON numbers.
    Number,
    Bool,
    /// A name, or a number.
    Enum,
}

/// An enum whose values are error reasons, e.g. `ErrorReason`.
#[derive(Debug, Clone)]
pub struct ErrorEnum {
    /// The Rust type prost generates for it.
    pub rust_name: String,
    pub values: Vec<ErrorValue>,
}

#[derive(Debug, Clone)]
pub struct ErrorValue {
    /// The proto value name, which is also the error's `reason`, e.g. `ORDER_NOT_FOUND`.
    pub name: String,
    /// The variant prost generates, e.g. `OrderNotFound`.
    pub rust_variant: String,
    /// The HTTP status code: the value's `(errors.code)`, else the enum's `(errors.default_code)`,
    /// else 500.
    pub code: u16,
    /// Whether helpers are generated for it (not for a zero `…_UNSPECIFIED` placeholder).
    pub has_helpers: bool,
}
