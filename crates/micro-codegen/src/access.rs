//! Reads who may call each method from `micro/auth.proto`'s options, refusing a contract whose
//! rules cannot be enforced (a role its roles enum lacks, two roles enums in a package, a method
//! both public and restricted) at generation time, where the error can name the line. The runtime
//! enforces the rules from the same descriptors.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, DynamicMessage, EnumDescriptor, ExtensionDescriptor, Value};

use crate::model::Access;
use crate::walk::ContractError;

/// The access rule of every method of `package`, by the method's full name.
pub fn rules(
    pool: &DescriptorPool,
    package: &str,
) -> Result<HashMap<String, Access>, ContractError> {
    let option = |name: &str| pool.get_extension_by_name(&format!("micro.auth.{name}"));
    let mut rules = HashMap::new();
    let Some(roles_flag) = option("roles") else {
        // The contracts do not import micro/auth.proto: nothing is stated.
        return Ok(rules);
    };
    let (default_min_role, min_role, public) = (
        option("default_min_role"),
        option("min_role"),
        option("public"),
    );

    let mut roles: Option<EnumDescriptor> = None;
    for candidate in pool.all_enums().filter(|e| e.package_name() == package) {
        if candidate.options().get_extension(&roles_flag).as_bool() != Some(true) {
            continue;
        }
        let at = |message: String| {
            ContractError::at(
                &candidate.parent_file(),
                candidate.path(),
                candidate.full_name(),
                message,
            )
        };
        if let Some(first) = &roles {
            return Err(at(format!(
                "package `{package}` already has a roles enum, `{}`; keep one",
                first.full_name()
            )));
        }
        if candidate.values().all(|value| value.number() == 0) {
            return Err(at(
                "a roles enum needs at least one role besides its zero value".into(),
            ));
        }
        roles = Some(candidate);
    }

    for service in pool.services().filter(|s| s.package_name() == package) {
        let service_role = match text_option(&service.options(), &default_min_role) {
            Some(name) => Some(role(roles.as_ref(), &name, package).map_err(|why| {
                ContractError::at(
                    &service.parent_file(),
                    service.path(),
                    service.full_name(),
                    why,
                )
            })?),
            None => None,
        };
        for method in service.methods() {
            let options = method.options();
            let at = |why: String| {
                ContractError::at(
                    &method.parent_file(),
                    method.path(),
                    method.full_name(),
                    why,
                )
            };
            let is_public = public
                .as_ref()
                .is_some_and(|p| options.get_extension(p).as_bool() == Some(true));
            let own_role = text_option(&options, &min_role);
            let access = match (is_public, own_role) {
                (true, Some(_)) => {
                    return Err(at(
                        "a method cannot be `public` and have a `min_role`; keep one".into(),
                    ));
                }
                (true, None) => Access::Public,
                (false, Some(name)) => {
                    Access::MinRole(role(roles.as_ref(), &name, package).map_err(at)?)
                }
                (false, None) => match &service_role {
                    Some(name) => Access::MinRole(name.clone()),
                    None => Access::Unstated,
                },
            };
            rules.insert(method.full_name().to_owned(), access);
        }
    }
    Ok(rules)
}

fn text_option(
    options: &DynamicMessage,
    extension: &Option<ExtensionDescriptor>,
) -> Option<String> {
    let extension = extension.as_ref().filter(|e| options.has_extension(e))?;
    match options.get_extension(extension).as_ref() {
        Value::String(text) => Some(text.clone()),
        _ => None,
    }
}

/// The value of the roles enum that `name` names (as the runtime matches it: without regard to
/// case, with or without the enum's prefix), by its name in the contract.
fn role(roles: Option<&EnumDescriptor>, name: &str, package: &str) -> Result<String, String> {
    let roles = roles.ok_or_else(|| {
        format!(
            "the role `{name}` needs a roles enum in package `{package}`: an enum with \
             `option (micro.auth.roles) = true;`, its values the roles from lowest to highest"
        )
    })?;
    let prefix = format!("{}_", crate::names::upper_snake(roles.name()));
    roles
        .values()
        .filter(|value| value.number() != 0)
        .find(|value| {
            let short = value.name().strip_prefix(&prefix).unwrap_or(value.name());
            value.name().eq_ignore_ascii_case(name) || short.eq_ignore_ascii_case(name)
        })
        .map(|value| value.name().to_owned())
        .ok_or_else(|| {
            let known: Vec<String> = roles
                .values()
                .filter(|value| value.number() != 0)
                .map(|value| value.name().to_owned())
                .collect();
            format!(
                "`{name}` is not a role of `{}`; it has {}",
                roles.full_name(),
                known.join(", ")
            )
        })
}
