//! Who may call each RPC, as the contracts declare it with `micro/auth.proto`'s options: a
//! package's roles enum (lowest first), a service's `default_min_role`, a method's `min_role` or
//! `public`. Read once from the descriptors and checked on every transport the same way, against
//! the [`Identity`] that authentication attached to the request.
//!
//! A method that names no role needs an authenticated caller whenever the service authenticates
//! (its authentication middleware marked the request with [`Authenticated`]); a method that names
//! one needs a caller with that role or a higher one, and is refused when the service
//! authenticates nobody: a contract's rule is never silently dropped.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http;
use prost_reflect::{DescriptorPool, EnumDescriptor, Value};

use crate::errors::Error;

/// Who is calling, as a credential proved it: attached to the request's extensions by the
/// service's authentication, read by services with `request.extensions().get::<Identity>()`.
#[derive(Clone, PartialEq)]
pub struct Identity {
    /// Who: a token's `sub`, or the name an API key was issued under.
    pub subject: String,
    /// What it may do, as the credential names it (role names of the contract's roles enum).
    pub roles: Vec<String>,
    /// What proved it.
    pub credential: Credential,
    /// The service that passed the call on for the subject: the name of the API key presented
    /// next to a forwarded token. `None` when the subject called directly.
    pub via: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token's claims can hold personal data; logs get who and what only.
        f.debug_struct("Identity")
            .field("subject", &self.subject)
            .field("roles", &self.roles)
            .field("credential", &self.credential.kind())
            .field("via", &self.via)
            .finish()
    }
}

impl Identity {
    /// Whether one of the caller's roles is `role`, spelled as the credential spells it (case
    /// aside): `has_role("ROLE_ADMIN")` does not match a token that says `ADMIN`. The contract's
    /// rules, which know the roles enum, match both spellings.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }
}

/// The credential an [`Identity`] was proved by.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// A bearer JWT, with every claim it carried.
    Token {
        claims: serde_json::Map<String, serde_json::Value>,
    },
    /// An API key, by the name it was issued under.
    ApiKey { name: String },
}

impl Credential {
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Token { .. } => "token",
            Credential::ApiKey { .. } => "api key",
        }
    }
}

/// Marks a request whose credentials the service's authentication has checked (whether or not it
/// carried any): with it, a method that names no role still needs an [`Identity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated;

/// What one RPC asks of its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// `option (micro.auth.public) = true`: anyone.
    Public,
    /// A caller the service authenticated, of any role.
    Authenticated,
    /// A caller with this role or a higher one.
    MinRole(MinRole),
    /// The contract names a role its roles enum does not have (generation refuses such a
    /// contract; descriptors from elsewhere could still carry one): nobody may call.
    Broken(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinRole {
    /// The role as the contract names it, e.g. `EDITOR`.
    pub name: String,
    rank: i32,
    roles: Arc<Roles>,
}

/// A roles enum: its values, lowest first by number.
#[derive(Debug, PartialEq, Eq)]
struct Roles {
    /// The enum's full name, e.g. `course.v1.Role`.
    name: String,
    /// The prefix its values may carry (`ROLE_` for `enum Role`), which role names may omit.
    prefix: String,
    values: Vec<(String, i32)>,
}

impl Roles {
    fn from_enum(roles: &EnumDescriptor) -> Roles {
        Roles {
            name: roles.full_name().to_owned(),
            prefix: format!("{}_", upper_snake(roles.name())),
            values: roles
                .values()
                .filter(|value| value.number() != 0)
                .map(|value| (value.name().to_owned(), value.number()))
                .collect(),
        }
    }

    /// The rank of a role named `name`: a value's name, with or without the enum's prefix, in
    /// any case.
    fn rank(&self, name: &str) -> Option<i32> {
        self.values.iter().find_map(|(value, number)| {
            let short = value.strip_prefix(&self.prefix).unwrap_or(value);
            (value.eq_ignore_ascii_case(name) || short.eq_ignore_ascii_case(name))
                .then_some(*number)
        })
    }
}

/// `CourseRole` → `COURSE_ROLE`, `HTTPRole` → `HTTP_ROLE`: the prefix protobuf style gives an
/// enum's values (as micro's generator computes it).
fn upper_snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        let starts_word = i > 0
            && c.is_ascii_uppercase()
            && (chars[i - 1].is_ascii_lowercase()
                || chars[i - 1].is_ascii_digit()
                || chars.get(i + 1).is_some_and(char::is_ascii_lowercase));
        if starts_word && !out.ends_with('_') {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Every contract RPC's rule, by its gRPC path (`/course.v1.Courses/Publish`).
#[derive(Debug, Default)]
pub struct Rules(HashMap<String, Rule>);

impl Rules {
    /// The rules the contracts in `pool` declare (every RPC has one).
    pub fn from_pool(pool: &DescriptorPool) -> Rules {
        let option = |name: &str| pool.get_extension_by_name(&format!("micro.auth.{name}"));
        let (roles_flag, default_min_role, min_role, public) = (
            option("roles"),
            option("default_min_role"),
            option("min_role"),
            option("public"),
        );
        // The roles enum of each package.
        let mut roles_of: HashMap<String, Arc<Roles>> = HashMap::new();
        if let Some(flag) = &roles_flag {
            for roles in pool.all_enums() {
                if roles.options().get_extension(flag).as_bool() == Some(true) {
                    roles_of
                        .entry(roles.package_name().to_owned())
                        .or_insert_with(|| Arc::new(Roles::from_enum(&roles)));
                }
            }
        }
        let string_option = |options: &prost_reflect::DynamicMessage,
                             extension: &Option<prost_reflect::ExtensionDescriptor>|
         -> Option<String> {
            let extension = extension.as_ref()?;
            if !options.has_extension(extension) {
                return None;
            }
            match options.get_extension(extension).as_ref() {
                Value::String(role) if !role.is_empty() => Some(role.clone()),
                _ => None,
            }
        };

        let mut rules = HashMap::new();
        for service in pool.services() {
            let service_role = string_option(&service.options(), &default_min_role);
            for method in service.methods() {
                let options = method.options();
                let is_public = public
                    .as_ref()
                    .is_some_and(|p| options.get_extension(p).as_bool() == Some(true));
                let role = string_option(&options, &min_role).or_else(|| service_role.clone());
                let rule = match (is_public, role) {
                    (true, _) => Rule::Public,
                    (false, None) => Rule::Authenticated,
                    (false, Some(name)) => match roles_of.get(service.package_name()) {
                        Some(roles) => match roles.rank(&name) {
                            Some(rank) => Rule::MinRole(MinRole {
                                name,
                                rank,
                                roles: roles.clone(),
                            }),
                            None => Rule::Broken(format!(
                                "its minimum role `{name}` is not a value of `{}`",
                                roles.name
                            )),
                        },
                        None => Rule::Broken(format!(
                            "its minimum role `{name}` needs an enum marked \
                             `option (micro.auth.roles) = true` in package `{}`",
                            service.package_name()
                        )),
                    },
                };
                let path = format!("/{}/{}", service.full_name(), method.name());
                rules.insert(path, rule);
            }
        }
        Rules(rules)
    }

    /// The rule of the RPC at `path`, if it is one of the contracts'.
    pub fn get(&self, path: &str) -> Option<&Rule> {
        self.0.get(path)
    }
}

/// Whether the caller of a request with these extensions may call an RPC whose rule is `rule`:
/// `401 UNAUTHENTICATED` when it needs a caller and has none, `403 FORBIDDEN` when the caller's
/// role is too low or not one of the contract's.
pub fn check(rule: &Rule, extensions: &http::Extensions) -> Result<(), Error> {
    let identity = extensions.get::<Identity>();
    let authenticates = extensions.get::<Authenticated>().is_some();
    match rule {
        Rule::Public => Ok(()),
        Rule::Authenticated if !authenticates || identity.is_some() => Ok(()),
        Rule::Authenticated => Err(unauthenticated()),
        Rule::Broken(why) => Err(Error::new(
            403,
            "FORBIDDEN",
            format!("nobody may call this method: {why}"),
        )),
        Rule::MinRole(min) => {
            let identity = identity.ok_or_else(unauthenticated)?;
            let mut highest = None;
            for role in &identity.roles {
                let rank = min.roles.rank(role).ok_or_else(|| {
                    Error::new(
                        403,
                        "FORBIDDEN",
                        format!(
                            "the caller's role `{role}` is not one of `{}`'s values",
                            min.roles.name
                        ),
                    )
                })?;
                highest = highest.max(Some(rank));
            }
            match highest {
                Some(rank) if rank >= min.rank => Ok(()),
                _ => Err(Error::new(
                    403,
                    "FORBIDDEN",
                    format!("this method needs the role `{}` or a higher one", min.name),
                )
                .with_metadata("min_role", min.name.clone())),
            }
        }
    }
}

fn unauthenticated() -> Error {
    Error::new(
        401,
        "UNAUTHENTICATED",
        "a credential is required: a bearer token or an API key",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Arc<Roles> {
        Arc::new(Roles {
            name: "course.v1.CourseRole".into(),
            prefix: format!("{}_", upper_snake("CourseRole")),
            values: vec![
                ("COURSE_ROLE_LEARNER".into(), 1),
                ("COURSE_ROLE_AUTHOR".into(), 2),
                ("EDITOR".into(), 3),
            ],
        })
    }

    fn caller(roles: &[&str]) -> http::Extensions {
        let mut extensions = http::Extensions::new();
        extensions.insert(Authenticated);
        extensions.insert(Identity {
            subject: "u1".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            credential: Credential::ApiKey { name: "k".into() },
            via: None,
        });
        extensions
    }

    #[test]
    fn enum_prefixes_are_what_protobuf_style_writes() {
        assert_eq!(upper_snake("Role"), "ROLE");
        assert_eq!(upper_snake("CourseRole"), "COURSE_ROLE");
        assert_eq!(upper_snake("HTTPRole"), "HTTP_ROLE");
        assert_eq!(upper_snake("Role_Kind"), "ROLE_KIND");
    }

    #[test]
    fn role_names_match_with_or_without_the_prefix_in_any_case() {
        let roles = roles();
        assert_eq!(roles.rank("COURSE_ROLE_AUTHOR"), Some(2));
        assert_eq!(roles.rank("author"), Some(2));
        assert_eq!(roles.rank("editor"), Some(3));
        assert_eq!(roles.rank("ROLE_AUTHOR"), None);
        assert_eq!(roles.rank("COURSE_ROLE_UNSPECIFIED"), None);
    }

    #[test]
    fn a_role_just_below_the_minimum_is_refused_and_the_minimum_and_above_pass() {
        let rule = Rule::MinRole(MinRole {
            name: "COURSE_ROLE_AUTHOR".into(),
            rank: 2,
            roles: roles(),
        });
        assert_eq!(check(&rule, &caller(&["learner"])).unwrap_err().code, 403);
        assert!(check(&rule, &caller(&["author"])).is_ok());
        assert!(check(&rule, &caller(&["EDITOR"])).is_ok());
        assert!(check(&rule, &caller(&["learner", "editor"])).is_ok());
        // No role at all, or one the contract does not know, is not the lowest: it is refused.
        assert_eq!(check(&rule, &caller(&[])).unwrap_err().code, 403);
        let unknown = check(&rule, &caller(&["superuser", "editor"])).unwrap_err();
        assert_eq!(unknown.code, 403);
        assert!(unknown.message.contains("superuser"), "{unknown}");
        // Nobody authenticated: 401, even when the service authenticates nobody.
        assert_eq!(
            check(&rule, &http::Extensions::new()).unwrap_err().code,
            401
        );
    }

    #[test]
    fn methods_without_a_role_need_a_caller_only_where_the_service_authenticates() {
        let mut anonymous = http::Extensions::new();
        assert!(check(&Rule::Authenticated, &anonymous).is_ok());
        anonymous.insert(Authenticated);
        assert_eq!(
            check(&Rule::Authenticated, &anonymous).unwrap_err().code,
            401
        );
        assert!(check(&Rule::Authenticated, &caller(&[])).is_ok());
        assert!(check(&Rule::Public, &anonymous).is_ok());
    }
}
