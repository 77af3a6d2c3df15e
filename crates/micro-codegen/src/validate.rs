//! Renders `Validate` impls for the messages of a package that have rules: each check becomes a
//! plain comparison on the field prost generates, with a violation recorded when it fails.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::model::{
    Check, FieldShape, FieldValidation, Limit, Package, RequiredOneof, Service, StringFormat,
    Subject,
};
use crate::names;

/// The validation code of `package`, or `None` if none of its messages has rules: `Validate`
/// impls, and for each service taking validated requests a `Validated…` wrapper for tonic.
pub fn render(package: &Package) -> Option<TokenStream> {
    if package.validated.is_empty() {
        return None;
    }
    let runtime = quote!(::micro_runtime::validate);
    let wrappers = package
        .services
        .iter()
        .filter(|s| s.methods.iter().any(|m| m.validate_input))
        .map(|service| render_wrapper(service, &runtime));
    let impls = package.validated.iter().map(|message| {
        let ty = &message.rust_path;
        let fields: Vec<TokenStream> = message
            .fields
            .iter()
            .map(|field| render_field(field, &runtime))
            .collect();
        let oneofs: Vec<TokenStream> = message
            .required_oneofs
            .iter()
            .map(render_required_oneof)
            .collect();
        // Rules that check nothing (`string: {}`, say) leave a message with an empty body.
        let unused = fields
            .iter()
            .chain(&oneofs)
            .all(TokenStream::is_empty)
            .then(|| quote!(let _ = (prefix, violations);));
        quote! {
            impl #runtime::Validate for #ty {
                // A deprecated field is still part of the contract, and its rules still hold.
                #[allow(deprecated)]
                fn validate_at(&self, prefix: &str, violations: &mut #runtime::Violations) {
                    #unused
                    #(#oneofs)*
                    #(#fields)*
                }
            }
        }
    });
    Some(quote!(#(#impls)* #(#wrappers)*))
}

/// A service wrapper that checks each request before the inner service sees it, so gRPC rejects
/// what HTTP rejects: the request of a unary or server-streaming call up front, each message of a
/// client stream as it arrives.
fn render_wrapper(service: &Service, runtime: &TokenStream) -> TokenStream {
    let server_module = format_ident!("{}_server", names::snake(&service.name));
    let service_trait = format_ident!("{}", names::upper_camel(&service.name));
    let wrapper = format_ident!("Validated{}", names::upper_camel(&service.name));
    let doc = format!(
        " `{}` with every request checked against its rules before the wrapped service sees it.",
        service.full_name
    );
    let serve_doc = " Serve this with tonic, e.g. `GreeterServer::new(ValidatedGreeter(service))`, so gRPC rejects \
         what the HTTP routes reject.".replace("Greeter", &names::upper_camel(&service.name));
    // The impl lives in a module of its own, below the package's: the code `async_trait` expands
    // to names `Box` and `Result` unqualified, which a message of that name would shadow.
    let impl_module = format_ident!(
        "validated_{}_impl",
        names::snake(&service.name).trim_start_matches("r#")
    );
    let methods = service.methods.iter().map(|method| {
        let name = &method.rust_name;
        let input = super::path_below(&method.input.rust_path);
        let output = super::path_below(&method.output.rust_path);
        let request = if method.client_streaming {
            quote!(tonic::Request<tonic::Streaming<#input>>)
        } else {
            quote!(tonic::Request<#input>)
        };
        let check = match (method.validate_input, method.client_streaming) {
            (false, _) => None,
            (true, false) => Some(quote!(#runtime::Validate::validate(request.get_ref())?;)),
            (true, true) => Some(quote!(let request = #runtime::checked_stream(request);)),
        };
        if method.server_streaming {
            let stream = format_ident!("{}Stream", method.name);
            quote! {
                type #stream = S::#stream;

                async fn #name(&self, request: #request) -> Result<tonic::Response<Self::#stream>, tonic::Status> {
                    #check
                    self.0.#name(request).await
                }
            }
        } else {
            quote! {
                async fn #name(&self, request: #request) -> Result<tonic::Response<#output>, tonic::Status> {
                    #check
                    self.0.#name(request).await
                }
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[doc = ""]
        #[doc = #serve_doc]
        #[derive(Debug)]
        pub struct #wrapper<S>(pub std::sync::Arc<S>);

        mod #impl_module {
            #[tonic::async_trait]
            impl<S: super::#server_module::#service_trait> super::#server_module::#service_trait for super::#wrapper<S> {
                #(#methods)*
            }
        }
    }
}

fn render_required_oneof(oneof: &RequiredOneof) -> TokenStream {
    let member = &oneof.rust_field;
    let path_format = format!("{{prefix}}{}", oneof.name);
    quote! {
        if self.#member.is_none() {
            violations.add(format!(#path_format), "is required: set one of its fields");
        }
    }
}

fn render_field(field: &FieldValidation, runtime: &TokenStream) -> TokenStream {
    let member = &field.rust_field;
    let name = &field.name;
    let path_format = format!("{{prefix}}{name}");
    let path = quote!(format!(#path_format));
    // `ignore_empty` joins every check as a first condition.
    let guard = field.ignore_empty.then(|| match field.value_type {
        "string" | "bytes" => quote!(!value.is_empty() &&),
        "float" | "double" => quote!(*value != 0.0 &&),
        "bool" => quote!(*value &&),
        _ => quote!(*value != 0 &&),
    });
    let checks = render_checks(&field.checks, &path, runtime, guard.as_ref());
    // An optional value is unwrapped in each check's own condition (a let chain): one `if let`
    // around a single `if` is what clippy asks to collapse.
    let optional_guard = match &field.wrapper {
        // A wrapper's checks are on its `value`.
        Some(wrapper) => quote!(let Some(#wrapper { value }) = &self.#member && #guard),
        None => quote!(let Some(value) = &self.#member && #guard),
    };
    let optional_checks = render_checks(&field.checks, &path, runtime, Some(&optional_guard));
    let mut out = Vec::new();
    match &field.shape {
        FieldShape::Plain => {
            if !field.checks.is_empty() {
                out.push(quote!({ let value = &self.#member; #checks }));
            }
        }
        FieldShape::Optional => {
            if field.required {
                out.push(quote! {
                    if self.#member.is_none() {
                        violations.add(#path, "is required");
                    }
                });
            }
            let nested = field.nested.then(|| {
                let nested_prefix = format!("{{prefix}}{name}.");
                quote!(#runtime::Validate::validate_at(value, &format!(#nested_prefix), violations);)
            });
            if field.checks.iter().any(|c| matches!(c, Check::Pattern(_))) {
                // A pattern declares a `static`, which needs a scope of its own.
                out.push(quote!({ #optional_checks }));
            } else if !field.checks.is_empty() {
                out.push(optional_checks);
            }
            if let Some(nested) = nested {
                out.push(quote!(if let Some(value) = &self.#member { #nested }));
            }
        }
        FieldShape::OneofMember { enum_path, variant } => {
            let member_guard =
                quote!(let Some(#enum_path::#variant(value)) = &self.#member && #guard);
            let checks = render_checks(&field.checks, &path, runtime, Some(&member_guard));
            if !field.checks.is_empty() {
                out.push(quote!({ #checks }));
            }
            if field.nested {
                let nested_prefix = format!("{{prefix}}{name}.");
                out.push(quote! {
                    if let Some(#enum_path::#variant(value)) = &self.#member {
                        #runtime::Validate::validate_at(value, &format!(#nested_prefix), violations);
                    }
                });
            }
        }
        FieldShape::Map => {
            let map = field.map.clone().unwrap_or_default();
            let size_guard = field
                .ignore_empty
                .then(|| quote!(!self.#member.is_empty() &&));
            if let Some(min) = map.min_pairs.filter(|min| *min > 0) {
                let message = format!("must have at least {min} entries");
                let min = proc_macro2::Literal::usize_unsuffixed(min as usize);
                out.push(quote!(if #size_guard self.#member.len() < #min { violations.add(#path, #message); }));
            }
            if let Some(max) = map.max_pairs {
                let message = format!("must have at most {max} entries");
                let max = proc_macro2::Literal::usize_unsuffixed(max as usize);
                out.push(quote!(if self.#member.len() > #max { violations.add(#path, #message); }));
            }
            if !map.keys.is_empty() || !map.values.is_empty() || field.nested {
                let entry_format = format!("{{prefix}}{name}[{{key}}]");
                let entry_path = quote!(format!(#entry_format));
                let keys = render_checks(&map.keys, &entry_path, runtime, None);
                let values = render_checks(&map.values, &entry_path, runtime, None);
                let key_checks = (!map.keys.is_empty()).then(|| quote!({ let value = key; #keys }));
                let value_checks = (!map.values.is_empty()).then(|| quote!({ #values }));
                let nested = field.nested.then(|| {
                    let nested_prefix = format!("{{prefix}}{name}[{{key}}].");
                    quote!(#runtime::Validate::validate_at(value, &format!(#nested_prefix), violations);)
                });
                if value_checks.is_none() && nested.is_none() {
                    out.push(quote! {
                        for key in self.#member.keys() {
                            #key_checks
                        }
                    });
                } else {
                    out.push(quote! {
                        for (key, value) in &self.#member {
                            #key_checks
                            #value_checks
                            #nested
                        }
                    });
                }
            }
        }
        FieldShape::Repeated => {
            if let Some(items) = &field.items {
                let empty_ok = field.ignore_empty;
                if let Some(min) = items.min_items.filter(|min| *min > 0) {
                    let message = if min == 1 {
                        "must not be empty".to_owned()
                    } else {
                        format!("must have at least {min} items")
                    };
                    let too_few = if min == 1 {
                        quote!(self.#member.is_empty())
                    } else {
                        let min = proc_macro2::Literal::usize_unsuffixed(min as usize);
                        quote!(self.#member.len() < #min)
                    };
                    let guard = (empty_ok && min > 1).then(|| quote!(!self.#member.is_empty() &&));
                    out.push(quote!(if #guard #too_few { violations.add(#path, #message); }));
                }
                if let Some(max) = items.max_items {
                    let message = format!("must have at most {max} items");
                    let max = proc_macro2::Literal::usize_unsuffixed(max as usize);
                    out.push(
                        quote!(if self.#member.len() > #max { violations.add(#path, #message); }),
                    );
                }
                if items.unique {
                    out.push(quote! {
                        let items = &self.#member;
                        if items.iter().enumerate().any(|(i, item)| items[..i].contains(item)) {
                            violations.add(#path, "must not repeat an item");
                        }
                    });
                }
            }
            if !field.checks.is_empty() || field.nested {
                let item_format = format!("{{prefix}}{name}[{{index}}]");
                let item_path = quote!(format!(#item_format));
                let checks = render_checks(&field.checks, &item_path, runtime, None);
                let nested = field.nested.then(|| {
                    let nested_prefix = format!("{{prefix}}{name}[{{index}}].");
                    quote!(#runtime::Validate::validate_at(value, &format!(#nested_prefix), violations);)
                });
                out.push(quote! {
                    for (index, value) in self.#member.iter().enumerate() {
                        #checks
                        #nested
                    }
                });
            }
        }
    }
    quote!(#(#out)*)
}

/// The checks on `value` (a reference to the field's value), each recording a violation at `path`,
/// each first testing `guard` when given.
fn render_checks(
    checks: &[Check],
    path: &TokenStream,
    runtime: &TokenStream,
    guard: Option<&TokenStream>,
) -> TokenStream {
    let rendered = checks.iter().map(|check| {
        let (broken, message): (TokenStream, String) = match check {
            Check::Chars { min, max, exact } => {
                return length_checks(quote!(value.chars().count()), (*min, *max, *exact), "characters", path, guard);
            }
            Check::Bytes { min, max, exact } => {
                return length_checks(quote!(value.len()), (*min, *max, *exact), "bytes", path, guard);
            }
            Check::Pattern(pattern) => {
                let message = format!("must match the pattern `{pattern}`");
                return quote! {
                    static PATTERN: std::sync::LazyLock<regex::Regex> =
                        std::sync::LazyLock::new(|| regex::Regex::new(#pattern).expect("micro checked the pattern"));
                    if #guard !PATTERN.is_match(value) { violations.add(#path, #message); }
                };
            }
            Check::Prefix(text) => (quote!(!value.starts_with(#text)), format!("must start with `{text}`")),
            Check::Suffix(text) => (quote!(!value.ends_with(#text)), format!("must end with `{text}`")),
            Check::Contains(text) => (quote!(!value.contains(#text)), format!("must contain `{text}`")),
            Check::NotContains(text) => (quote!(value.contains(#text)), format!("must not contain `{text}`")),
            Check::StrConst(text) if text.is_empty() => (quote!(!value.is_empty()), "must be empty".to_owned()),
            Check::StrConst(text) => (quote!(value != #text), format!("must be `{text}`")),
            Check::StrIn { values, negate } => {
                let list = values.join("`, `");
                if *negate {
                    (quote!([#(#values),*].contains(&value.as_str())), format!("must not be one of `{list}`"))
                } else {
                    (quote!(![#(#values),*].contains(&value.as_str())), format!("must be one of `{list}`"))
                }
            }
            Check::Format(format) => {
                let (broken, what): (TokenStream, &str) = match format {
                    StringFormat::Email => (quote!(!#runtime::is_email(value)), "an email address"),
                    StringFormat::Hostname => (quote!(!#runtime::is_hostname(value)), "a hostname"),
                    StringFormat::Ip => (quote!(value.parse::<std::net::IpAddr>().is_err()), "an IP address"),
                    StringFormat::Ipv4 => (quote!(value.parse::<std::net::Ipv4Addr>().is_err()), "an IPv4 address"),
                    StringFormat::Ipv6 => (quote!(value.parse::<std::net::Ipv6Addr>().is_err()), "an IPv6 address"),
                    StringFormat::Uri => (quote!(!#runtime::is_uri(value)), "an absolute URI"),
                    StringFormat::UriRef => (quote!(!#runtime::is_uri_ref(value)), "a URI reference"),
                    StringFormat::Address => (quote!(!#runtime::is_address(value)), "a hostname or IP address"),
                    StringFormat::Uuid => (quote!(!#runtime::is_uuid(value)), "a UUID"),
                };
                (broken, format!("must be {what}"))
            }
            Check::Range { gt, gte, lt, lte, float, outside, subject } => {
                let subject_tokens = match subject {
                    Subject::Value => quote!(*value),
                    Subject::Time => quote!((value.seconds, value.nanos)),
                };
                if *outside {
                    // Exclusive ranges: the value must fall below the upper bound or above the
                    // lower one.
                    let (low_op, low, low_words) = match (gt, gte) {
                        (Some(gt), _) => (quote!(>), gt, "greater than"),
                        (_, Some(gte)) => (quote!(>=), gte, "at least"),
                        _ => unreachable!("an outside range has both bounds"),
                    };
                    let (high_op, high, high_words) = match (lt, lte) {
                        (Some(lt), _) => (quote!(<), lt, "less than"),
                        (_, Some(lte)) => (quote!(<=), lte, "at most"),
                        _ => unreachable!("an outside range has both bounds"),
                    };
                    let message = format!("must be {high_words} {high} or {low_words} {low}");
                    let broken = quote!(!(#subject_tokens #high_op #high || #subject_tokens #low_op #low));
                    return quote!(if #guard #broken { violations.add(#path, #message); });
                }
                // Each bound is written as the comparison that breaks it; NaN breaks them all.
                let bound = |op: TokenStream, limit: &Option<Limit>, words: &str| {
                    limit.as_ref().map(|limit| {
                        let message = format!("must be {words} {limit}");
                        let broken = if *float && guard.is_some() {
                            quote!((value.is_nan() || *value #op #limit))
                        } else if *float {
                            quote!(value.is_nan() || *value #op #limit)
                        } else {
                            quote!(#subject_tokens #op #limit)
                        };
                        quote!(if #guard #broken { violations.add(#path, #message); })
                    })
                };
                let checks = [
                    bound(quote!(<=), gt, "greater than"),
                    bound(quote!(<), gte, "at least"),
                    bound(quote!(>=), lt, "less than"),
                    bound(quote!(>), lte, "at most"),
                ];
                let checks = checks.into_iter().flatten();
                return quote!(#(#checks)*);
            }
            Check::TimeIn { values, negate } => {
                let list = values.iter().map(Limit::to_string).collect::<Vec<_>>().join(", ");
                let contained = quote!([#(#values),*].contains(&(value.seconds, value.nanos)));
                if *negate {
                    (contained, format!("must not be one of {list}"))
                } else if values.len() == 1 {
                    (quote!(!#contained), format!("must be {list}"))
                } else {
                    (quote!(!#contained), format!("must be one of {list}"))
                }
            }
            Check::Now { before, after, within } => {
                let within_tokens = match within {
                    Some(within) => quote!(Some(#within)),
                    None => quote!(None),
                };
                let mut words = Vec::new();
                if *before { words.push("before now".to_owned()); }
                if *after { words.push("after now".to_owned()); }
                if let Some(within) = within { words.push(format!("within {within} of now")); }
                (
                    quote!(#runtime::outside_now((value.seconds, value.nanos), #before, #after, #within_tokens)),
                    format!("must be {}", words.join(" and ")),
                )
            }
            Check::BytesConst(bytes) => {
                let literal = proc_macro2::Literal::byte_string(bytes);
                (quote!(value.as_slice() != #literal), format!("must be {}", bytes_text(bytes)))
            }
            Check::BytesPattern(pattern) => {
                let message = format!("must match the pattern `{pattern}`");
                return quote! {
                    static PATTERN: std::sync::LazyLock<regex::bytes::Regex> =
                        std::sync::LazyLock::new(|| regex::bytes::Regex::new(#pattern).expect("micro checked the pattern"));
                    if #guard !PATTERN.is_match(value) { violations.add(#path, #message); }
                };
            }
            Check::BytesPrefix(bytes) => {
                let literal = proc_macro2::Literal::byte_string(bytes);
                (quote!(!value.starts_with(#literal)), format!("must start with {}", bytes_text(bytes)))
            }
            Check::BytesSuffix(bytes) => {
                let literal = proc_macro2::Literal::byte_string(bytes);
                (quote!(!value.ends_with(#literal)), format!("must end with {}", bytes_text(bytes)))
            }
            Check::BytesContains(bytes) => {
                let literal = proc_macro2::Literal::byte_string(bytes);
                (quote!(!#runtime::bytes_contain(value, #literal)), format!("must contain {}", bytes_text(bytes)))
            }
            Check::BytesIn { values, negate } => {
                let literals = values.iter().map(|v| proc_macro2::Literal::byte_string(v));
                let list = values.iter().map(|v| bytes_text(v)).collect::<Vec<_>>().join(", ");
                let contained = quote!([#(&#literals[..]),*].contains(&value.as_slice()));
                if *negate {
                    (contained, format!("must not be one of {list}"))
                } else {
                    (quote!(!#contained), format!("must be one of {list}"))
                }
            }
            Check::BytesIp { v4, v6 } => {
                let (broken, what) = match (v4, v6) {
                    (true, false) => (quote!(value.len() != 4), "an IPv4 address (4 bytes)"),
                    (false, true) => (quote!(value.len() != 16), "an IPv6 address (16 bytes)"),
                    _ => (quote!(!matches!(value.len(), 4 | 16)), "an IP address (4 or 16 bytes)"),
                };
                (broken, format!("must be {what}"))
            }
            Check::AnyIn { values, negate } => {
                let list = values.join("`, `");
                let contained = quote!([#(#values),*].contains(&value.type_url.as_str()));
                if *negate {
                    (contained, format!("must not be of type `{list}`"))
                } else {
                    (quote!(!#contained), format!("must be of type `{list}`"))
                }
            }
            Check::NumIn { values, negate } => {
                let list = values.iter().map(Limit::to_string).collect::<Vec<_>>().join(", ");
                match values.as_slice() {
                    [only] if *negate => (quote!(*value == #only), format!("must not be {list}")),
                    _ if *negate => (quote!([#(#values),*].contains(value)), format!("must not be one of {list}")),
                    _ => (quote!(![#(#values),*].contains(value)), format!("must be one of {list}")),
                }
            }
            Check::NumConst(limit) => (quote!(*value != #limit), format!("must be {limit}")),
            Check::BoolConst(true) => (quote!(!*value), "must be true".to_owned()),
            Check::BoolConst(false) => (quote!(*value), "must be false".to_owned()),
            Check::DefinedOnly(ty) => {
                let name = ty.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
                (quote!(#ty::try_from(*value).is_err()), format!("must be a value `{name}` defines"))
            }
        };
        quote!(if #guard #broken { violations.add(#path, #message); })
    });
    quote!(#(#rendered)*)
}

/// Bytes as a person reads them: text when they are printable, hex otherwise.
fn bytes_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => format!("`{text}`"),
        _ => format!(
            "0x{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

fn length_checks(
    length: TokenStream,
    (min, max, exact): (Option<u64>, Option<u64>, Option<u64>),
    unit: &str,
    path: &TokenStream,
    guard: Option<&TokenStream>,
) -> TokenStream {
    // "1 character", not "1 characters"; and a minimum of one reads as what it means.
    let amount = |n: u64| match n {
        1 => format!("1 {}", unit.trim_end_matches('s')),
        n => format!("{n} {unit}"),
    };
    let at_least = |n: u64| match n {
        1 => "must not be empty".to_owned(),
        n => format!("must be at least {} long", amount(n)),
    };
    let checks = [
        exact.map(|n| (quote!(!=), n, format!("must be exactly {} long", amount(n)))),
        // A minimum of zero holds for every value.
        min.filter(|n| *n > 0).map(|n| (quote!(<), n, at_least(n))),
        max.map(|n| (quote!(>), n, format!("must be at most {} long", amount(n)))),
    ];
    let checks = checks.into_iter().flatten().map(|(op, n, message)| {
        let broken = if n == 1 && op.to_string() == "<" {
            quote!(value.is_empty())
        } else {
            let n = proc_macro2::Literal::usize_unsuffixed(n as usize);
            quote!(#length #op #n)
        };
        quote!(if #guard #broken { violations.add(#path, #message); })
    });
    quote!(#(#checks)*)
}
