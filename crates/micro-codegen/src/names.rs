//! Every naming rule micro applies, in one place: crate names a user types, and the Rust identifiers
//! that prost and tonic derive from proto names (which our own generated code must match exactly).

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};

/// Words Rust reserves, in any edition micro targets.
const RUST_KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Crate names that would shadow a crate every Rust program sees.
const RESERVED_CRATE_NAMES: &[&str] = &["std", "core", "alloc", "proc_macro", "test"];

/// Why a service name cannot be used, with what to do about it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidName {
    #[error("the name is empty")]
    Empty,
    #[error(
        "`{name}` contains `{ch}`; a crate name may only hold ASCII letters, digits, `-` and `_`"
    )]
    BadCharacter { name: String, ch: char },
    #[error("`{0}` starts with a digit, which a crate name may not")]
    LeadingDigit(String),
    #[error("`{0}` is a Rust keyword")]
    Keyword(String),
    #[error("`{0}` is the name of a crate every Rust program links")]
    Reserved(String),
}

/// Checks `name` against Cargo's crate-name rules and the names that would break the generated code.
pub fn validate_crate_name(name: &str) -> Result<(), InvalidName> {
    if name.is_empty() {
        return Err(InvalidName::Empty);
    }
    if let Some(ch) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(InvalidName::BadCharacter {
            name: name.to_owned(),
            ch,
        });
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(InvalidName::LeadingDigit(name.to_owned()));
    }
    let as_ident = name.replace('-', "_");
    if RUST_KEYWORDS.contains(&as_ident.as_str()) {
        return Err(InvalidName::Keyword(name.to_owned()));
    }
    if RESERVED_CRATE_NAMES.contains(&as_ident.as_str()) {
        return Err(InvalidName::Reserved(name.to_owned()));
    }
    Ok(())
}

/// The name `use` statements see for a crate called `name`.
pub fn crate_ident(name: &str) -> String {
    name.replace('-', "_")
}

/// An identifier as prost writes it: keywords become raw identifiers, or take a trailing `_` where
/// Rust has no raw form for them.
pub fn sanitize(ident: &str) -> String {
    match ident {
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{ident}_"),
        s if s.starts_with(|c: char| c.is_ascii_digit()) => format!("_{ident}"),
        s if RUST_KEYWORDS.contains(&s) => format!("r#{ident}"),
        _ => ident.to_owned(),
    }
}

/// A module, field or method name, as prost and tonic derive it from a proto name.
pub fn snake(name: &str) -> String {
    sanitize(&name.to_snake_case())
}

/// A type name, as prost and tonic derive it from a proto name.
pub fn upper_camel(name: &str) -> String {
    sanitize(&name.to_upper_camel_case())
}

/// The prefix protobuf style gives an enum's values, without its `_`: `CourseRole` → `COURSE_ROLE`.
pub fn upper_snake(name: &str) -> String {
    name.to_shouty_snake_case()
}

/// An enum variant as prost names it: the value in UpperCamelCase, without the enum's name when
/// the value starts with it (`ERROR_REASON_UNSPECIFIED` of `ErrorReason` → `Unspecified`).
pub fn enum_variant(enum_name: &str, value: &str) -> String {
    let prefix = enum_name.to_upper_camel_case();
    let name = value.to_upper_camel_case();
    let stripped = name.strip_prefix(&prefix).unwrap_or(&name);
    if stripped.starts_with(|c: char| c.is_ascii_uppercase()) {
        sanitize(stripped)
    } else {
        sanitize(&name)
    }
}

/// The module path (relative to the `api` module) that holds the code of a proto package.
pub fn package_modules(package: &str) -> Vec<String> {
    package
        .split('.')
        .filter(|p| !p.is_empty())
        .map(snake)
        .collect()
}

/// Where the generated files of `package` live, relative to the contracts folder.
pub fn package_dir(package: &str) -> std::path::PathBuf {
    package.split('.').filter(|p| !p.is_empty()).collect()
}

/// The proto package a contract at `relative_path` (e.g. `order/v1/order.proto`) belongs in.
pub fn package_for_path(relative_path: &std::path::Path) -> Option<String> {
    let parent = relative_path.parent()?;
    let parts: Vec<String> = parent
        .iter()
        .map(|p| p.to_string_lossy().to_snake_case())
        .collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

/// A name micro derived from a contract, as the Rust identifier it must be. The derivations
/// above (prost's rules) always give one; an error, not a panic, says so if one ever does not.
pub fn ident(name: &str) -> Result<syn::Ident, String> {
    syn::parse_str(name).map_err(|_| format!("`{name}` is not a Rust identifier (a micro bug)"))
}

/// A Rust path (`super::common::v1::Money`, `::pbjson_types::Empty`), as [`ident`].
pub fn path(text: &str) -> Result<syn::Path, String> {
    syn::parse_str(text).map_err(|_| format!("`{text}` is not a Rust path (a micro bug)"))
}

/// A struct field of prost's (`name`, `r#type`), as [`ident`].
pub fn member(name: &str) -> Result<syn::Member, String> {
    syn::parse_str(name).map_err(|_| format!("`{name}` is not a Rust field name (a micro bug)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_follow_cargo_rules() {
        assert_eq!(validate_crate_name("order-service"), Ok(()));
        assert_eq!(validate_crate_name("hello_2"), Ok(()));
        assert_eq!(validate_crate_name(""), Err(InvalidName::Empty));
        assert!(matches!(
            validate_crate_name("a b"),
            Err(InvalidName::BadCharacter { ch: ' ', .. })
        ));
        assert!(matches!(
            validate_crate_name("2fast"),
            Err(InvalidName::LeadingDigit(_))
        ));
        assert!(matches!(
            validate_crate_name("async"),
            Err(InvalidName::Keyword(_))
        ));
        assert!(matches!(
            validate_crate_name("self"),
            Err(InvalidName::Keyword(_))
        ));
        assert!(matches!(
            validate_crate_name("std"),
            Err(InvalidName::Reserved(_))
        ));
        assert!(matches!(
            validate_crate_name("proc-macro"),
            Err(InvalidName::Reserved(_))
        ));
    }

    #[test]
    fn identifiers_match_prost() {
        assert_eq!(snake("SayHello"), "say_hello");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("self"), "self_");
        assert_eq!(upper_camel("hello_request"), "HelloRequest");
        assert_eq!(upper_camel("Self"), "Self_");
        assert_eq!(package_modules("helloworld.v1"), ["helloworld", "v1"]);
        assert_eq!(
            enum_variant("ErrorReason", "ERROR_REASON_UNSPECIFIED"),
            "Unspecified"
        );
        assert_eq!(
            enum_variant("ErrorReason", "ORDER_NOT_FOUND"),
            "OrderNotFound"
        );
        assert_eq!(enum_variant("Kind", "KINDNESS"), "Kindness");
    }

    #[test]
    fn package_follows_the_folder() {
        assert_eq!(
            package_for_path("order/v1/order.proto".as_ref()).as_deref(),
            Some("order.v1")
        );
        assert_eq!(
            package_for_path("Order-Api/v1/x.proto".as_ref()).as_deref(),
            Some("order_api.v1")
        );
        assert_eq!(package_for_path("x.proto".as_ref()), None);
    }
}
