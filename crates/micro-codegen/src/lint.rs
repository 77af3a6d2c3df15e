//! `micro proto lint`: rules run on compiled contracts. Naming and layout rules follow buf's
//! defaults; the rest check what only micro reads: HTTP bindings, error reasons and validation
//! rules. Each finding names where it is, the rule, and how to fix it.

use std::collections::{BTreeMap, BTreeSet};

use heck::{ToShoutySnakeCase, ToUpperCamelCase};
use prost_reflect::{
    DescriptorPool, DynamicMessage, EnumDescriptor, FileDescriptor, MessageDescriptor,
    MethodDescriptor, Value,
};

use crate::model::Segment;
use crate::walk::{ErrorOptions, parse_template, source_location};

/// One rule: its id (what `lint-except` names) and what it asks for.
pub struct Rule {
    pub id: &'static str,
    pub summary: &'static str,
}

/// Every rule, in the order findings are reported within an element.
pub const RULES: &[Rule] = &[
    Rule {
        id: "PACKAGE_DEFINED",
        summary: "every file declares a package",
    },
    Rule {
        id: "PACKAGE_DIRECTORY_MATCH",
        summary: "a file's folder is its package (`shop.v1` in `shop/v1/`)",
    },
    Rule {
        id: "PACKAGE_VERSION_SUFFIX",
        summary: "a package ends in a version (`v1`, `v2beta1`)",
    },
    Rule {
        id: "MESSAGE_PASCAL_CASE",
        summary: "message names are PascalCase",
    },
    Rule {
        id: "FIELD_LOWER_SNAKE_CASE",
        summary: "field names are lower_snake_case",
    },
    Rule {
        id: "ENUM_PASCAL_CASE",
        summary: "enum names are PascalCase",
    },
    Rule {
        id: "ENUM_VALUE_UPPER_SNAKE_CASE",
        summary: "enum values are UPPER_SNAKE_CASE",
    },
    Rule {
        id: "ENUM_VALUE_PREFIX",
        summary: "enum values start with their enum's name (`COLOR_` in `Color`)",
    },
    Rule {
        id: "ENUM_ZERO_VALUE_SUFFIX",
        summary: "an enum's zero value ends in `_UNSPECIFIED`",
    },
    Rule {
        id: "SERVICE_PASCAL_CASE",
        summary: "service names are PascalCase",
    },
    Rule {
        id: "RPC_PASCAL_CASE",
        summary: "RPC names are PascalCase",
    },
    Rule {
        id: "RPC_REQUEST_RESPONSE_UNIQUE",
        summary: "each RPC has request and response messages of its own",
    },
    Rule {
        id: "HTTP_PATH_VARIABLE_SINGULAR",
        summary: "a path variable names a singular field of the request",
    },
    Rule {
        id: "HTTP_NO_BODY_ON_GET_DELETE",
        summary: "GET and DELETE bindings carry no body",
    },
    Rule {
        id: "HTTP_BINDING_UNIQUE",
        summary: "no two bindings answer the same method and path",
    },
    Rule {
        id: "ERROR_REASON_HTTP_CODE",
        summary: "error reasons map to HTTP status codes (100-599)",
    },
    Rule {
        id: "VALIDATE_LENGTH_RANGE",
        summary: "validation minimums are not above their maximums",
    },
];

/// Whether `id` names a rule.
pub fn is_rule(id: &str) -> bool {
    RULES.iter().any(|rule| rule.id == id)
}

/// A place where a contract breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The contract, by its name under its include folder (callers may replace it with the path
    /// on disk).
    pub file: String,
    /// 1-based; 0 when the compiler kept no position.
    pub line: u32,
    pub column: u32,
    pub rule: &'static str,
    /// The element at fault, by its full name.
    pub item: String,
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// The position is in the earlier contracts (`micro proto breaking`, for what is gone).
    pub earlier: bool,
}

impl Finding {
    /// The finding for tools (`micro proto lint --format json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "rule": self.rule,
            "item": self.item,
            "message": self.message,
            "fix": self.fix,
        })
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(
            f,
            ": {}: `{}`: {}\n  fix: {}",
            self.rule, self.item, self.message, self.fix
        )
    }
}

/// Lints the files named `files` (as compiled, e.g. `shop/v1/cart.proto`) of `pool`, leaving out
/// the rules in `except`. Findings are sorted by file and position.
pub fn lint(pool: &DescriptorPool, files: &[String], except: &BTreeSet<String>) -> Vec<Finding> {
    let mut linter = Linter {
        pool,
        except,
        findings: Vec::new(),
    };
    let mut files: Vec<FileDescriptor> = files
        .iter()
        .filter_map(|name| pool.get_file_by_name(name))
        .collect();
    files.sort_by(|a, b| a.name().cmp(b.name()));
    for file in &files {
        linter.file(file);
    }
    linter.rpc_messages(&files);
    linter.http_bindings(&files);
    linter.findings.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.rule).cmp(&(&b.file, b.line, b.column, b.rule))
    });
    linter.findings
}

struct Linter<'a> {
    pool: &'a DescriptorPool,
    except: &'a BTreeSet<String>,
    findings: Vec<Finding>,
}

impl Linter<'_> {
    fn report(
        &mut self,
        rule: &'static str,
        file: &FileDescriptor,
        path: &[i32],
        item: &str,
        message: String,
        fix: String,
    ) {
        debug_assert!(is_rule(rule), "{rule}");
        if self.except.contains(rule) {
            return;
        }
        let (line, column) = position(file, path);
        self.findings.push(Finding {
            file: file.name().to_owned(),
            line,
            column,
            rule,
            item: item.to_owned(),
            message,
            fix,
            earlier: false,
        });
    }

    fn file(&mut self, file: &FileDescriptor) {
        let package = file.package_name();
        // The `package` statement's own position (field 2 of FileDescriptorProto).
        let package_path = [2];
        if package.is_empty() {
            self.report(
                "PACKAGE_DEFINED",
                file,
                &[],
                file.name(),
                "the file declares no package".into(),
                "add one after `syntax`, e.g. `package shop.v1;`, matching its folder".into(),
            );
        } else {
            let folder = file.name().rsplit_once('/').map_or("", |(dir, _)| dir);
            let expected = package.replace('.', "/");
            if folder != expected {
                self.report(
                    "PACKAGE_DIRECTORY_MATCH",
                    file,
                    &package_path,
                    package,
                    format!(
                        "package `{package}` is in `{}`",
                        if folder.is_empty() { "." } else { folder }
                    ),
                    format!(
                        "move the file to `{expected}/`, or rename the package to match its folder"
                    ),
                );
            }
            let last = package.rsplit('.').next().unwrap_or(package);
            if !is_version(last) {
                self.report(
                    "PACKAGE_VERSION_SUFFIX",
                    file,
                    &package_path,
                    package,
                    format!("package `{package}` does not end in a version"),
                    format!("add one, e.g. `{package}.v1`, so a breaking change can go to `v2` beside it"),
                );
            }
        }
        for message in file.messages() {
            self.message(file, &message);
        }
        for enumeration in file.enums() {
            self.enumeration(file, &enumeration);
        }
        for service in file.services() {
            if !is_pascal(service.name()) {
                self.report(
                    "SERVICE_PASCAL_CASE",
                    file,
                    service.path(),
                    service.full_name(),
                    format!("service `{}` is not PascalCase", service.name()),
                    format!("rename it `{}`", service.name().to_upper_camel_case()),
                );
            }
            for method in service.methods() {
                if !is_pascal(method.name()) {
                    self.report(
                        "RPC_PASCAL_CASE",
                        file,
                        method.path(),
                        method.full_name(),
                        format!("RPC `{}` is not PascalCase", method.name()),
                        format!("rename it `{}`", method.name().to_upper_camel_case()),
                    );
                }
            }
        }
    }

    fn message(&mut self, file: &FileDescriptor, message: &MessageDescriptor) {
        if message.is_map_entry() {
            return;
        }
        if !is_pascal(message.name()) {
            self.report(
                "MESSAGE_PASCAL_CASE",
                file,
                message.path(),
                message.full_name(),
                format!("message `{}` is not PascalCase", message.name()),
                format!("rename it `{}`", message.name().to_upper_camel_case()),
            );
        }
        for field in message.fields() {
            if !is_lower_snake(field.name()) {
                self.report(
                    "FIELD_LOWER_SNAKE_CASE",
                    file,
                    field.path(),
                    field.full_name(),
                    format!("field `{}` is not lower_snake_case", field.name()),
                    format!(
                        "rename it `{}` (its JSON name stays lowerCamelCase)",
                        lower_snake(field.name())
                    ),
                );
            }
            self.length_rules(file, &field);
        }
        for nested in message.child_messages() {
            self.message(file, &nested);
        }
        for enumeration in message.child_enums() {
            self.enumeration(file, &enumeration);
        }
    }

    fn enumeration(&mut self, file: &FileDescriptor, enumeration: &EnumDescriptor) {
        let name = enumeration.name();
        if !is_pascal(name) {
            self.report(
                "ENUM_PASCAL_CASE",
                file,
                enumeration.path(),
                enumeration.full_name(),
                format!("enum `{name}` is not PascalCase"),
                format!("rename it `{}`", name.to_upper_camel_case()),
            );
        }
        let prefix = format!("{}_", name.to_shouty_snake_case());
        // An error reason's value name is the `reason` callers match on (kratos' convention:
        // `USER_NOT_FOUND`), so it is not prefixed.
        let is_reason = ErrorOptions::new(self.pool).is_error_enum(enumeration);
        for value in enumeration.values() {
            let value_name = value.name();
            if !is_upper_snake(value_name) {
                self.report(
                    "ENUM_VALUE_UPPER_SNAKE_CASE",
                    file,
                    value.path(),
                    value.full_name(),
                    format!("enum value `{value_name}` is not UPPER_SNAKE_CASE"),
                    format!("rename it `{}`", value_name.to_shouty_snake_case()),
                );
            }
            if !is_reason && !value_name.starts_with(&prefix) {
                self.report(
                    "ENUM_VALUE_PREFIX",
                    file,
                    value.path(),
                    value.full_name(),
                    format!("enum value `{value_name}` does not start with `{prefix}`"),
                    format!(
                        "rename it `{prefix}{}`: enum values share their package's namespace",
                        value_name.to_shouty_snake_case()
                    ),
                );
            }
            if value.number() == 0 && !value_name.ends_with("_UNSPECIFIED") {
                self.report(
                    "ENUM_ZERO_VALUE_SUFFIX",
                    file,
                    value.path(),
                    value.full_name(),
                    format!("the zero value `{value_name}` does not end in `_UNSPECIFIED`"),
                    format!(
                        "add `{prefix}UNSPECIFIED = 0;` and renumber `{value_name}`: an unset field reads as the zero value"
                    ),
                );
            }
        }
        self.error_codes(file, enumeration);
    }

    /// An error-reason enum maps each value to an HTTP status code.
    fn error_codes(&mut self, file: &FileDescriptor, enumeration: &EnumDescriptor) {
        let options = ErrorOptions::new(self.pool);
        if !options.is_error_enum(enumeration) {
            return;
        }
        if let Some(code) = options
            .default_code(enumeration)
            .filter(|code| !is_http_status(*code))
        {
            self.report(
                "ERROR_REASON_HTTP_CODE",
                file,
                enumeration.path(),
                enumeration.full_name(),
                format!("`errors.default_code` {code} is not an HTTP status code"),
                "use one from 100 to 599, e.g. 500".into(),
            );
        }
        for value in enumeration.values() {
            if let Some(code) = options.code(&value).filter(|code| !is_http_status(*code)) {
                self.report(
                    "ERROR_REASON_HTTP_CODE",
                    file,
                    value.path(),
                    value.full_name(),
                    format!("`errors.code` {code} is not an HTTP status code"),
                    "use one from 100 to 599 (e.g. 404 for a missing resource)".into(),
                );
            }
        }
    }

    /// protoc-gen-validate length rules whose minimum exceeds their maximum: no value passes.
    fn length_rules(&mut self, file: &FileDescriptor, field: &prost_reflect::FieldDescriptor) {
        let Some(ext) = self.pool.get_extension_by_name("validate.rules") else {
            return;
        };
        let options = field.options();
        if !options.has_extension(&ext) {
            return;
        }
        let rules = options.get_extension(&ext);
        let Some(rules) = rules.as_message() else {
            return;
        };
        let pairs = [
            ("string", "min_len", "max_len"),
            ("string", "min_bytes", "max_bytes"),
            ("bytes", "min_len", "max_len"),
            ("repeated", "min_items", "max_items"),
            ("map", "min_pairs", "max_pairs"),
        ];
        for (kind, min_name, max_name) in pairs {
            let Some(Value::Message(kind_rules)) = rules
                .has_field_by_name(kind)
                .then(|| rules.get_field_by_name(kind))
                .flatten()
                .map(|value| value.into_owned())
            else {
                continue;
            };
            let get = |name: &str| {
                kind_rules
                    .has_field_by_name(name)
                    .then(|| kind_rules.get_field_by_name(name)?.as_u64())
                    .flatten()
            };
            if let (Some(min), Some(max)) = (get(min_name), get(max_name))
                && min > max
            {
                self.report(
                    "VALIDATE_LENGTH_RANGE",
                    file,
                    field.path(),
                    field.full_name(),
                    format!("`{kind}.{min_name}` ({min}) is above `{kind}.{max_name}` ({max}), so no value passes"),
                    format!("lower `{min_name}` or raise `{max_name}`"),
                );
            }
        }
    }

    /// Messages that serve as the request or response of more than one RPC: a change for one
    /// RPC would change the others.
    fn rpc_messages(&mut self, files: &[FileDescriptor]) {
        let mut users: BTreeMap<String, Vec<MethodDescriptor>> = BTreeMap::new();
        for file in files {
            for service in file.services() {
                for method in service.methods() {
                    users
                        .entry(method.input().full_name().to_owned())
                        .or_default()
                        .push(method.clone());
                    if method.output().full_name() != method.input().full_name() {
                        users
                            .entry(method.output().full_name().to_owned())
                            .or_default()
                            .push(method.clone());
                    }
                }
            }
        }
        for (message, methods) in users {
            let [first, later @ ..] = methods.as_slice() else {
                continue;
            };
            for method in later {
                self.report(
                    "RPC_REQUEST_RESPONSE_UNIQUE",
                    &method.parent_file(),
                    method.path(),
                    method.full_name(),
                    format!("`{message}` is also a message of `{}`", first.full_name()),
                    format!(
                        "give it messages of its own (`{name}Request`, `{name}Response`), wrapping `{message}` if it is shared data",
                        name = method.name()
                    ),
                );
            }
        }
    }

    fn http_bindings(&mut self, files: &[FileDescriptor]) {
        // Every binding's verb and path shape, with the RPC that claimed it first.
        let mut claimed: BTreeMap<String, String> = BTreeMap::new();
        for file in files {
            for service in file.services() {
                for method in service.methods() {
                    for rule in http_rules(self.pool, &method) {
                        self.binding(file, &method, &rule, &mut claimed);
                    }
                }
            }
        }
    }

    fn binding(
        &mut self,
        file: &FileDescriptor,
        method: &MethodDescriptor,
        rule: &HttpRule,
        claimed: &mut BTreeMap<String, String>,
    ) {
        let HttpRule {
            verb, path, body, ..
        } = rule;
        if (verb == "GET" || verb == "DELETE") && !body.is_empty() {
            self.report(
                "HTTP_NO_BODY_ON_GET_DELETE",
                file,
                method.path(),
                method.full_name(),
                format!("`{verb} {path}` has `body: \"{body}\"`"),
                "remove `body` (the fields travel in the path and query), or use POST/PUT/PATCH"
                    .into(),
            );
        }
        // An unparsable template is `micro proto client`'s error to report.
        let Ok(template) = parse_template(path) else {
            return;
        };
        for segment in &template.segments {
            let Segment::Variable { field, .. } = segment else {
                continue;
            };
            if let Err(why) = singular_field(&method.input(), &field.proto) {
                self.report(
                    "HTTP_PATH_VARIABLE_SINGULAR",
                    file,
                    method.path(),
                    method.full_name(),
                    format!("path variable `{{{}}}` in `{path}`: {why}", field.dotted()),
                    format!(
                        "bind a singular scalar field of `{}`",
                        method.input().full_name()
                    ),
                );
            }
        }
        // Two bindings collide when every URL one matches, the other matches too.
        let shape: Vec<String> = template
            .flattened()
            .iter()
            .map(|segment| match segment {
                Segment::Literal(literal) => literal.clone(),
                Segment::Any => "*".into(),
                Segment::AnyDeep => "**".into(),
                Segment::Variable { .. } => unreachable!("flattened"),
            })
            .collect();
        let key = format!(
            "{verb} /{}{}",
            shape.join("/"),
            template
                .verb
                .as_ref()
                .map(|v| format!(":{v}"))
                .unwrap_or_default()
        );
        match claimed.get(&key) {
            Some(first) => {
                let first = first.clone();
                self.report(
                    "HTTP_BINDING_UNIQUE",
                    file,
                    method.path(),
                    method.full_name(),
                    format!("`{verb} {path}` answers the same requests as a binding of `{first}`"),
                    "change one of the paths (a literal segment or a custom verb such as `:search`)"
                        .into(),
                );
            }
            None => {
                claimed.insert(key, method.full_name().to_owned());
            }
        }
    }
}

/// One `google.api.http` binding of an RPC (its rule, or one of its `additional_bindings`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HttpRule {
    /// `GET`, `POST`, … or a custom pattern's kind, upper-cased.
    pub verb: String,
    pub path: String,
    pub body: String,
    pub response_body: String,
}

impl std::fmt::Display for HttpRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.path)?;
        if !self.body.is_empty() {
            write!(f, " (body `{}`)", self.body)?;
        }
        if !self.response_body.is_empty() {
            write!(f, " (response_body `{}`)", self.response_body)?;
        }
        Ok(())
    }
}

/// The HTTP bindings of `method`, its rule first.
pub(crate) fn http_rules(pool: &DescriptorPool, method: &MethodDescriptor) -> Vec<HttpRule> {
    let Some(http) = pool.get_extension_by_name("google.api.http") else {
        return Vec::new();
    };
    let options = method.options();
    if !options.has_extension(&http) {
        return Vec::new();
    }
    let rule = options.get_extension(&http);
    let Some(rule) = rule.as_message() else {
        return Vec::new();
    };
    let mut rules = vec![rule.clone()];
    if let Some(Value::List(more)) = rule
        .get_field_by_name("additional_bindings")
        .map(|v| v.into_owned())
    {
        rules.extend(more.iter().filter_map(|v| v.as_message().cloned()));
    }
    let text = |message: &DynamicMessage, name: &str| {
        message
            .get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    rules
        .iter()
        .filter_map(|rule| {
            let (verb, path) = ["get", "put", "post", "delete", "patch"]
                .iter()
                .find(|verb| rule.has_field_by_name(verb))
                .map(|verb| (verb.to_uppercase(), text(rule, verb)))
                .or_else(|| {
                    let custom = rule.get_field_by_name("custom")?.as_message()?.clone();
                    Some((text(&custom, "kind").to_uppercase(), text(&custom, "path")))
                })?;
            Some(HttpRule {
                verb,
                path,
                body: text(rule, "body"),
                response_body: text(rule, "response_body"),
            })
        })
        .collect()
}

/// The 1-based line and column of the element at `path` in `file`; `(0, 0)` when the compiler
/// kept no position.
pub(crate) fn position(file: &FileDescriptor, path: &[i32]) -> (u32, u32) {
    source_location(file, path)
        .filter(|location| location.span.len() >= 2)
        .map_or((0, 0), |location| {
            (location.span[0] as u32 + 1, location.span[1] as u32 + 1)
        })
}

/// Why the field at `path` of `message` cannot take a path variable, if it cannot.
fn singular_field(message: &MessageDescriptor, path: &[String]) -> Result<(), String> {
    let mut message = message.clone();
    for (i, name) in path.iter().enumerate() {
        let field = message
            .get_field_by_name(name)
            .ok_or_else(|| format!("`{}` has no field `{name}`", message.full_name()))?;
        if field.is_list() || field.is_map() {
            return Err(format!(
                "`{name}` is {}",
                if field.is_map() { "a map" } else { "repeated" }
            ));
        }
        match field.kind() {
            prost_reflect::Kind::Message(inner) if i + 1 < path.len() => message = inner,
            prost_reflect::Kind::Message(inner)
                if !inner.full_name().starts_with("google.protobuf.") =>
            {
                return Err(format!("`{name}` is a message (`{}`)", inner.full_name()));
            }
            _ if i + 1 < path.len() => return Err(format!("`{name}` is not a message")),
            _ => {}
        }
    }
    Ok(())
}

/// `v1`, `v2beta1`, `v1alpha`, `v1test`: what buf accepts as a version.
fn is_version(component: &str) -> bool {
    let Some(rest) = component.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || rest.starts_with('0') {
        return false;
    }
    let rest = &rest[digits..];
    let stability = ["alpha", "beta", "test"]
        .iter()
        .find_map(|word| rest.strip_prefix(word));
    match stability {
        None => rest.is_empty(),
        Some(number) => number.chars().all(|c| c.is_ascii_digit()),
    }
}

fn is_pascal(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase()) && !name.contains('_')
}

fn is_lower_snake(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

fn is_upper_snake(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

fn lower_snake(name: &str) -> String {
    heck::ToSnakeCase::to_snake_case(name)
}

fn is_http_status(code: i32) -> bool {
    (100..=599).contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_what_buf_accepts() {
        for good in ["v1", "v2", "v1beta1", "v1alpha", "v10test", "v2beta"] {
            assert!(is_version(good), "{good}");
        }
        for bad in ["v", "v0", "version1", "v1x", "v1beta1x", "api", "V1"] {
            assert!(!is_version(bad), "{bad}");
        }
    }

    #[test]
    fn cases() {
        assert!(
            is_pascal("HelloRequest") && !is_pascal("helloRequest") && !is_pascal("Hello_Request")
        );
        assert!(
            is_lower_snake("user_id2") && !is_lower_snake("userId") && !is_lower_snake("user__id")
        );
        assert!(is_upper_snake("COLOR_RED") && !is_upper_snake("Color_RED"));
    }
}
