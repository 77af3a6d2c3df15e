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
    /// Every message of the package that has validation rules, or fields whose types do.
    pub validated: Vec<ValidatedMessage>,
    /// Every message of the package, nested ones included (map entries excluded), as JSON sees it.
    pub messages: Vec<Message>,
    /// Every enum of the package, nested ones included.
    pub enums: Vec<Enum>,
    /// Every message of the package (map entries excluded) as prost lays it out, for the code
    /// that writes its proto3 JSON.
    pub layouts: Vec<MessageLayout>,
    /// What the contract asks for that cannot be generated and was left out (an HTTP binding
    /// axum cannot route, say), each naming where.
    pub warnings: Vec<super::walk::ContractError>,
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
    /// Its leading comment in the contract.
    pub description: String,
    pub methods: Vec<Method>,
}

#[derive(Debug, Clone)]
pub struct Method {
    /// The proto name, e.g. `SayHello`.
    pub name: String,
    /// The method name in tonic's service trait, e.g. `say_hello`.
    pub rust_name: syn::Ident,
    /// Its leading comment in the contract.
    pub description: String,
    pub input: TypeRef,
    /// The request has validation rules to run before the service sees it.
    pub validate_input: bool,
    pub output: TypeRef,
    pub client_streaming: bool,
    pub server_streaming: bool,
    /// The contract says a call can be repeated without a second effect
    /// (`option idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS`).
    pub idempotent: bool,
    /// The HTTP bindings from `google.api.http`: the rule itself, then its additional bindings.
    pub bindings: Vec<HttpBinding>,
    /// Who may call it, as `micro/auth.proto`'s options say.
    pub access: Access,
}

/// Who may call a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The contract says nothing: whatever the service's authentication asks.
    Unstated,
    /// `option (micro.auth.public) = true`: anyone, with no credential.
    Public,
    /// A caller with this role (a value of the package's roles enum, by its name) or a higher one.
    MinRole(String),
}

/// A message type as seen from inside the module of the package that refers to it.
#[derive(Debug, Clone)]
pub struct TypeRef {
    /// The fully qualified proto name, e.g. `helloworld.v1.HelloRequest`.
    pub full_name: String,
    /// A Rust path valid in the referring package's module, e.g. `HelloRequest` or
    /// `super::super::common::v1::Money` or `::pbjson_types::Empty`.
    pub rust_path: syn::Path,
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
    /// The response field sent as the whole HTTP body (`response_body`), if not the response.
    pub response_body: Option<FieldPath>,
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

/// A URL path template from an HTTP rule, e.g. `/v1/{name=shelves/*}/books:search`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    /// The template as the contract wrote it.
    pub text: String,
    pub segments: Vec<Segment>,
    /// The custom verb ending the path (`search` in `…/books:search`).
    pub verb: Option<String>,
}

impl PathTemplate {
    /// The segments with every variable replaced by its pattern: what a URL must match.
    pub fn flattened(&self) -> Vec<&Segment> {
        let mut out = Vec::new();
        for segment in &self.segments {
            match segment {
                Segment::Variable { pattern, .. } => out.extend(pattern),
                other => out.push(other),
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `*`: exactly one segment.
    Any,
    /// `**`: one or more segments; only ever last.
    AnyDeep,
    /// `{field.path=pattern}`: the segments matching `pattern` (`*` when the contract gives
    /// none), bound to a request field. A pattern holds no variables.
    Variable {
        field: FieldPath,
        pattern: Vec<Segment>,
    },
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
    /// A map whose entries the query string sets as `name[key]=value`; `kind` is its values'.
    pub map: bool,
}

/// How a URL string becomes the proto3 JSON value of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Strings, bytes (base64), timestamps, durations, field masks: JSON strings.
    Text,
    /// Integers of any width (and their wrappers).
    Integer,
    /// Floating point (and its wrappers).
    Float,
    Bool,
    /// A name, or a number.
    Enum,
}

/// An enum whose values are error reasons, e.g. `ErrorReason`.
#[derive(Debug, Clone)]
pub struct ErrorEnum {
    /// The Rust type prost generates for it.
    pub rust_name: syn::Ident,
    pub values: Vec<ErrorValue>,
}

#[derive(Debug, Clone)]
pub struct ErrorValue {
    /// The proto value name, which is also the error's `reason`, e.g. `ORDER_NOT_FOUND`.
    pub name: String,
    /// The variant prost generates, e.g. `OrderNotFound`.
    pub rust_variant: syn::Ident,
    /// The HTTP status code: the value's `(errors.code)`, else the enum's `(errors.default_code)`,
    /// else 500.
    pub code: u16,
    /// Whether helpers are generated for it (not for a zero `…_UNSPECIFIED` placeholder).
    pub has_helpers: bool,
}

/// A message with validation rules (protoc-gen-validate's `validate.rules`), as prost lays it out.
#[derive(Debug, Clone)]
pub struct ValidatedMessage {
    /// The fully qualified proto name, e.g. `order.v1.OrderItem`.
    pub full_name: String,
    /// The Rust path of the type inside its package module, e.g. `Order` or `order::Item`.
    pub rust_path: syn::Path,
    pub fields: Vec<FieldValidation>,
    pub required_oneofs: Vec<RequiredOneof>,
}

#[derive(Debug, Clone)]
pub struct FieldValidation {
    /// The proto field name, used in violation paths (`items[0].quantity`).
    pub name: String,
    /// The Rust field prost generates (for a `oneof` member, the oneof's field).
    pub rust_field: syn::Member,
    pub shape: FieldShape,
    /// A `google.protobuf` wrapper (`StringValue`, …): the checks apply to its `value`.
    pub wrapper: Option<syn::Path>,
    /// Rules on a map's entries.
    pub map: Option<MapRules>,
    /// Checks on the value (each item, for a repeated field).
    pub checks: Vec<Check>,
    /// Skip the checks when the value is its type's default (`ignore_empty`).
    pub ignore_empty: bool,
    /// The proto type of the value (`string`, `int32`, …), which decides what "empty" means.
    pub value_type: &'static str,
    /// A message field that must be set.
    pub required: bool,
    /// Rules on the list itself.
    pub items: Option<ItemRules>,
    /// The field's message type has rules of its own to run.
    pub nested: bool,
}

/// How prost represents a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldShape {
    /// `T` (proto3 singular scalar, or enum as `i32`).
    Plain,
    /// `Option<T>` (a message, or an `optional` scalar).
    Optional,
    /// `Vec<T>`.
    Repeated,
    /// `HashMap<K, V>`.
    Map,
    /// A member of a `oneof`: the variant `variant` of the enum at `enum_path` (a Rust path in
    /// the package module), held in the oneof's `Option` field.
    OneofMember {
        enum_path: syn::Path,
        variant: syn::Ident,
    },
}

/// A message as prost lays it out: the Rust field behind each proto field, in field-number order.
#[derive(Debug, Clone)]
pub struct MessageLayout {
    /// The Rust path of the type inside its package module, e.g. `Order` or `order::Item`.
    pub rust_path: syn::Path,
    pub fields: Vec<FieldLayout>,
}

#[derive(Debug, Clone)]
pub struct FieldLayout {
    /// The proto name, e.g. `user_id`.
    pub name: String,
    /// The JSON name, e.g. `userId`.
    pub json_name: String,
    /// The Rust field prost generates (for a `oneof` member, the oneof's field).
    pub rust_field: syn::Member,
    pub shape: FieldShape,
    /// What each value (each item, each map value) is.
    pub value: LaidOutValue,
    /// Marked `deprecated`: prost marks the Rust field so too.
    pub deprecated: bool,
}

/// A field's values as Rust holds them, for the code that writes them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaidOutValue {
    /// A scalar, or a message with code of its own (a contract's, or a well-known type the
    /// runtime writes).
    Plain,
    /// An enum's number (`i32`), named by the enum at this Rust path (in the package module).
    Enum(syn::Path),
    /// An enum of `google.protobuf`'s (pbjson-types): its name inside the package (`Field.Kind`),
    /// and its values' numbers and names.
    WellKnownEnum {
        name: String,
        values: Vec<(i32, String)>,
    },
    /// `google.protobuf.NullValue`, which JSON writes as `null`.
    NullValue,
    /// A `google.protobuf` message the runtime writes through the descriptors, by full name.
    Reflected(String),
}

/// Rules on a map field: its size, and checks on each key and each value.
#[derive(Debug, Clone, Default)]
pub struct MapRules {
    pub min_pairs: Option<u64>,
    pub max_pairs: Option<u64>,
    pub keys: Vec<Check>,
    pub values: Vec<Check>,
}

/// A `oneof` that must have a member set (`(validate.required)`).
#[derive(Debug, Clone)]
pub struct RequiredOneof {
    /// The proto name, used in violation paths.
    pub name: String,
    /// The Rust field prost generates for it.
    pub rust_field: syn::Member,
}

#[derive(Debug, Clone, Default)]
pub struct ItemRules {
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique: bool,
}

/// One constraint on a value.
#[derive(Debug, Clone)]
pub enum Check {
    /// Length in Unicode code points.
    Chars {
        min: Option<u64>,
        max: Option<u64>,
        exact: Option<u64>,
    },
    /// Length in bytes (strings and bytes).
    Bytes {
        min: Option<u64>,
        max: Option<u64>,
        exact: Option<u64>,
    },
    Pattern(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    NotContains(String),
    /// One of these strings (or, with `negate`, none of them).
    StrIn {
        values: Vec<String>,
        negate: bool,
    },
    StrConst(String),
    Format(StringFormat),
    /// Numeric bounds, of the field's type (for durations and timestamps, `Limit::Time`).
    Range {
        gt: Option<Limit>,
        gte: Option<Limit>,
        lt: Option<Limit>,
        lte: Option<Limit>,
        /// Floating point: NaN breaks every bound.
        float: bool,
        /// The lower bound is above the upper one, so the value must lie outside the range
        /// (protoc-gen-validate's exclusive ranges, e.g. `gt: 10, lt: 5`).
        outside: bool,
        /// What is compared.
        subject: Subject,
    },
    /// One of these numbers (or, with `negate`, none of them), of the field's type.
    NumIn {
        values: Vec<Limit>,
        negate: bool,
    },
    NumConst(Limit),
    BoolConst(bool),
    /// An enum value the enum declares; the Rust path of the enum type.
    DefinedOnly(syn::Path),
    /// Durations or timestamps: one of these `(seconds, nanos)` tuples, or none of them.
    TimeIn {
        values: Vec<Limit>,
        negate: bool,
    },
    /// A timestamp relative to the time of the check: before it, after it, and/or within a
    /// `(seconds, nanos)` distance of it.
    Now {
        before: bool,
        after: bool,
        within: Option<Limit>,
    },
    /// `bytes` rules: the same as their string twins, on bytes.
    BytesConst(Vec<u8>),
    BytesPattern(String),
    BytesPrefix(Vec<u8>),
    BytesSuffix(Vec<u8>),
    BytesContains(Vec<u8>),
    BytesIn {
        values: Vec<Vec<u8>>,
        negate: bool,
    },
    /// An IP address in its binary form: 4 bytes (v4), 16 (v6), or either.
    BytesIp {
        v4: bool,
        v6: bool,
    },
    /// A `google.protobuf.Any` whose `type_url` is (or is not) one of these.
    AnyIn {
        values: Vec<String>,
        negate: bool,
    },
}

/// What a range or set check compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The value itself.
    Value,
    /// A `google.protobuf.Duration` or `Timestamp`, as `(seconds, nanos)`.
    Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringFormat {
    Email,
    Hostname,
    Ip,
    Ipv4,
    Ipv6,
    Uri,
    UriRef,
    Address,
    Uuid,
}

/// A message as its proto3 JSON form sees it: named fields of scalar, enum or message values.
#[derive(Debug, Clone)]
pub struct Message {
    /// The fully qualified proto name, e.g. `order.v1.Order.Item`.
    pub full_name: String,
    pub description: String,
    pub fields: Vec<MessageField>,
}

#[derive(Debug, Clone)]
pub struct MessageField {
    /// The proto name, e.g. `user_id`.
    pub name: String,
    /// The lowerCamelCase JSON name, e.g. `userId`.
    pub json_name: String,
    pub description: String,
    pub value: FieldType,
    pub label: FieldLabel,
    /// The oneof it belongs to (a real one, not the synthetic oneof of an `optional` field).
    pub oneof: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldLabel {
    Singular,
    /// Declared `optional`: presence is tracked.
    Optional,
    Repeated,
    /// `map<key, value>`; the field's value type is the map's value type.
    Map {
        key: FieldType,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// A scalar by its proto name: `string`, `int64`, `bool`, …
    Scalar(&'static str),
    /// An enum by fully qualified name.
    Enum(String),
    /// A message by fully qualified name (well-known types included).
    Message(String),
}

#[derive(Debug, Clone)]
pub struct Enum {
    pub full_name: String,
    pub description: String,
    /// The value names, in declaration order.
    pub values: Vec<String>,
    /// The value numbers, in declaration order, once each (aliases share one).
    pub numbers: Vec<i32>,
}

/// A value a rule compares with, typed like what it checks: a number of the field's type, or a
/// duration or timestamp as `(seconds, nanos)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    I32(i32),
    I64(i64),
    U32(u32),
    U64(u64),
    F32(f32),
    F64(f64),
    Time { seconds: i64, nanos: i32 },
}

impl Limit {
    /// Whether `self` lies below `other` (limits of one rule share a type).
    pub fn is_below(self, other: Limit) -> bool {
        match (self, other) {
            (
                Limit::Time { seconds, nanos },
                Limit::Time {
                    seconds: s,
                    nanos: n,
                },
            ) => (seconds, nanos) < (s, n),
            (a, b) => match (a.as_integer(), b.as_integer()) {
                (Some(a), Some(b)) => a < b,
                _ => a.as_f64() < b.as_f64(),
            },
        }
    }

    /// An integer limit, exactly.
    pub fn as_integer(self) -> Option<i128> {
        match self {
            Limit::I32(v) => Some(v.into()),
            Limit::I64(v) => Some(v.into()),
            Limit::U32(v) => Some(v.into()),
            Limit::U64(v) => Some(v.into()),
            Limit::F32(_) | Limit::F64(_) | Limit::Time { .. } => None,
        }
    }

    /// The limit as a float, for comparisons with zero and JSON Schema bounds.
    pub fn as_f64(self) -> f64 {
        match self {
            Limit::I32(v) => v.into(),
            Limit::I64(v) => v as f64,
            Limit::U32(v) => v.into(),
            Limit::U64(v) => v as f64,
            Limit::F32(v) => v.into(),
            Limit::F64(v) => v,
            Limit::Time { seconds, nanos } => seconds as f64 + f64::from(nanos) / 1e9,
        }
    }
}

/// As an error message shows it: numbers as written, durations as `1.5s`.
impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Limit::I32(v) => write!(f, "{v}"),
            Limit::I64(v) => write!(f, "{v}"),
            Limit::U32(v) => write!(f, "{v}"),
            Limit::U64(v) => write!(f, "{v}"),
            Limit::F32(v) => write!(f, "{v:?}"),
            Limit::F64(v) => write!(f, "{v:?}"),
            Limit::Time { seconds, nanos: 0 } => write!(f, "{seconds}s"),
            Limit::Time { seconds, nanos } => {
                let fraction = format!("{:09}", nanos.unsigned_abs());
                let sign = if seconds == 0 && nanos < 0 { "-" } else { "" };
                write!(f, "{sign}{seconds}.{}s", fraction.trim_end_matches('0'))
            }
        }
    }
}

/// As Rust code: an unsuffixed literal that takes its type from what it is compared with (a
/// negative one as `-` and the literal, as written in source), the float constants for
/// infinities and NaN, and `(seconds, nanos)` tuples.
impl quote::ToTokens for Limit {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        use proc_macro2::{Literal, TokenStream};
        use quote::quote;
        fn signed(negative: bool, magnitude: Literal) -> TokenStream {
            if negative {
                quote!(-#magnitude)
            } else {
                quote!(#magnitude)
            }
        }
        fn special(v: f64, ty: TokenStream) -> Option<TokenStream> {
            if v.is_nan() {
                Some(quote!(#ty::NAN))
            } else if v == f64::INFINITY {
                Some(quote!(#ty::INFINITY))
            } else if v == f64::NEG_INFINITY {
                Some(quote!(#ty::NEG_INFINITY))
            } else {
                None
            }
        }
        let code = match *self {
            Limit::I32(v) => signed(v < 0, Literal::u32_unsuffixed(v.unsigned_abs())),
            Limit::I64(v) => signed(v < 0, Literal::u64_unsuffixed(v.unsigned_abs())),
            Limit::U32(v) => signed(false, Literal::u32_unsuffixed(v)),
            Limit::U64(v) => signed(false, Literal::u64_unsuffixed(v)),
            Limit::F32(v) => special(v.into(), quote!(f32))
                .unwrap_or_else(|| signed(v < 0.0, Literal::f32_unsuffixed(v.abs()))),
            Limit::F64(v) => special(v, quote!(f64))
                .unwrap_or_else(|| signed(v < 0.0, Literal::f64_unsuffixed(v.abs()))),
            Limit::Time { seconds, nanos } => {
                let seconds = signed(seconds < 0, Literal::u64_unsuffixed(seconds.unsigned_abs()));
                let nanos = signed(nanos < 0, Literal::u32_unsuffixed(nanos.unsigned_abs()));
                quote!((#seconds, #nanos))
            }
        };
        tokens.extend(code);
    }
}

#[cfg(test)]
mod tests {
    use super::Limit;
    use quote::quote;

    fn code(limit: Limit) -> String {
        quote!(#limit).to_string()
    }

    #[test]
    fn limits_are_written_as_source_would_write_them() {
        assert_eq!(code(Limit::I32(-5)), "- 5");
        assert_eq!(code(Limit::I64(i64::MIN)), "- 9223372036854775808");
        assert_eq!(code(Limit::U64(u64::MAX)), "18446744073709551615");
        assert_eq!(code(Limit::F32(0.1)), "0.1");
        assert_eq!(code(Limit::F64(-2.5)), "- 2.5");
        assert_eq!(code(Limit::F64(1.0)), "1.0");
        assert_eq!(code(Limit::F64(f64::INFINITY)), "f64 :: INFINITY");
        assert_eq!(code(Limit::F32(f32::NEG_INFINITY)), "f32 :: NEG_INFINITY");
        assert_eq!(code(Limit::F64(f64::NAN)), "f64 :: NAN");
        let time = Limit::Time {
            seconds: -1,
            nanos: -500_000_000,
        };
        assert_eq!(code(time), "(- 1 , - 500000000)");
    }

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(Limit::F32(0.1).to_string(), "0.1");
        assert_eq!(Limit::I64(-3).to_string(), "-3");
        let time = |seconds, nanos| Limit::Time { seconds, nanos }.to_string();
        assert_eq!(time(5, 0), "5s");
        assert_eq!(time(1, 500_000_000), "1.5s");
        assert_eq!(time(0, -250_000_000), "-0.25s");
    }

    #[test]
    fn ranges_compare_within_their_type() {
        assert!(Limit::I64(-1).is_below(Limit::I64(0)));
        assert!(Limit::U64(u64::MAX - 1).is_below(Limit::U64(u64::MAX)));
        assert!(Limit::F32(0.5).is_below(Limit::F32(1.0)));
        let time = |seconds, nanos| Limit::Time { seconds, nanos };
        assert!(time(1, 0).is_below(time(1, 1)));
        assert!(!time(2, 0).is_below(time(1, 999_999_999)));
    }
}
