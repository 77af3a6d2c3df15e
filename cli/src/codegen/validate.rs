//! Renders `Validate` impls for the messages of a package that have rules: each check becomes a
//! plain comparison on the field prost generates, with a violation recorded when it fails.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::model::{Check, FieldShape, FieldValidation, Package, Service, StringFormat};
use crate::names;

/// The validation code of `package`, or `None` if none of its messages has rules: `Validate`
/// impls, and for each service taking validated requests a `Validated…` wrapper for tonic.
pub fn render(package: &Package) -> Option<TokenStream> {
    if package.validated.is_empty() {
        return None;
    }
    let supers: Vec<TokenStream> = std::iter::repeat_n(quote!(super::), package.depth()).collect();
    let runtime = quote!(#(#supers)* validate);
    let wrappers = package
        .services
        .iter()
        .filter(|s| {
            s.methods
                .iter()
                .any(|m| m.validate_input && !m.client_streaming)
        })
        .map(|service| render_wrapper(service, &runtime));
    let impls = package.validated.iter().map(|message| {
        let ty: syn::Path = syn::parse_str(&message.rust_path).expect("message paths parse");
        let fields = message
            .fields
            .iter()
            .map(|field| render_field(field, &runtime));
        let unused = message
            .fields
            .is_empty()
            .then(|| quote!(let _ = (prefix, violations);));
        quote! {
            impl #runtime::Validate for #ty {
                fn validate_at(&self, prefix: &str, violations: &mut #runtime::Violations) {
                    #unused
                    #(#fields)*
                }
            }
        }
    });
    Some(quote!(#(#impls)* #(#wrappers)*))
}

/// A service wrapper that checks each request (of unary and server-streaming calls) before the
/// inner service sees it, so gRPC rejects what HTTP rejects. Client-streaming requests arrive
/// one by one inside the call and pass through unchecked.
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
    let methods = service.methods.iter().map(|method| {
        let name: syn::Ident = syn::parse_str(&method.rust_name).expect("prost names are identifiers");
        let input: syn::Path = syn::parse_str(&method.input.rust_path).expect("type paths parse");
        let output: syn::Path = syn::parse_str(&method.output.rust_path).expect("type paths parse");
        let request = if method.client_streaming {
            quote!(tonic::Request<tonic::Streaming<#input>>)
        } else {
            quote!(tonic::Request<#input>)
        };
        let check = (method.validate_input && !method.client_streaming)
            .then(|| quote!(#runtime::Validate::validate(request.get_ref())?;));
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

        #[tonic::async_trait]
        impl<S: #server_module::#service_trait> #server_module::#service_trait for #wrapper<S> {
            #(#methods)*
        }

    }
}

fn render_field(field: &FieldValidation, runtime: &TokenStream) -> TokenStream {
    let member: syn::Member = syn::parse_str(&field.rust_field).expect("prost field names parse");
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
    let optional_guard = quote!(let Some(value) = &self.#member && #guard);
    let optional_checks = render_checks(&field.checks, &path, runtime, Some(&optional_guard));
    let mut out = Vec::new();
    match field.shape {
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
                let (test, what): (TokenStream, &str) = match format {
                    StringFormat::Email => (quote!(#runtime::is_email(value)), "an email address"),
                    StringFormat::Hostname => (quote!(#runtime::is_hostname(value)), "a hostname"),
                    StringFormat::Ip => (quote!(value.parse::<std::net::IpAddr>().is_ok()), "an IP address"),
                    StringFormat::Ipv4 => (quote!(value.parse::<std::net::Ipv4Addr>().is_ok()), "an IPv4 address"),
                    StringFormat::Ipv6 => (quote!(value.parse::<std::net::Ipv6Addr>().is_ok()), "an IPv6 address"),
                    StringFormat::Uri => (quote!(#runtime::is_uri(value)), "an absolute URI"),
                    StringFormat::UriRef => (quote!(#runtime::is_uri_ref(value)), "a URI reference"),
                    StringFormat::Address => (quote!(#runtime::is_address(value)), "a hostname or IP address"),
                    StringFormat::Uuid => (quote!(#runtime::is_uuid(value)), "a UUID"),
                };
                (quote!(!#test), format!("must be {what}"))
            }
            Check::Range { gt, gte, lt, lte, float } => {
                // Each bound is written as the comparison that breaks it; NaN breaks them all.

                let bound = |breaking_op: &str, limit: &Option<String>, words: &str| {
                    limit.as_ref().map(|limit| {
                        let literal: TokenStream = limit.parse().expect("numeric literal");
                        let op: TokenStream = breaking_op.parse().expect("operator");
                        let message = format!("must be {words} {limit}");
                        let broken = if *float && guard.is_some() {
                            quote!((value.is_nan() || *value #op #literal))
                        } else if *float {
                            quote!(value.is_nan() || *value #op #literal)
                        } else {
                            quote!(*value #op #literal)
                        };
                        quote!(if #guard #broken { violations.add(#path, #message); })
                    })
                };
                let checks = [
                    bound("<=", gt, "greater than"),
                    bound("<", gte, "at least"),
                    bound(">=", lt, "less than"),
                    bound(">", lte, "at most"),
                ];
                let checks = checks.into_iter().flatten();
                return quote!(#(#checks)*);
            }
            Check::NumIn { values, negate } => {
                let literals: Vec<TokenStream> = values.iter().map(|v| v.parse().expect("numeric literal")).collect();
                let list = values.join(", ");
                if *negate {
                    (quote!([#(#literals),*].contains(value)), format!("must not be one of {list}"))
                } else {
                    (quote!(![#(#literals),*].contains(value)), format!("must be one of {list}"))
                }
            }
            Check::NumConst(value_text) => {
                let literal: TokenStream = value_text.parse().expect("numeric literal");
                (quote!(*value != #literal), format!("must be {value_text}"))
            }
            Check::BoolConst(expected) => (quote!(*value != #expected), format!("must be {expected}")),
            Check::DefinedOnly(enum_path) => {
                let ty: syn::Path = syn::parse_str(enum_path).expect("enum paths parse");
                let name = enum_path.rsplit("::").next().unwrap_or(enum_path);
                (quote!(#ty::try_from(*value).is_err()), format!("must be a value `{name}` defines"))
            }
        };
        quote!(if #guard #broken { violations.add(#path, #message); })
    });
    quote!(#(#rendered)*)
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
        min.map(|n| (quote!(<), n, at_least(n))),
        max.map(|n| (quote!(>), n, format!("must be at most {} long", amount(n)))),
    ];
    let checks = checks.into_iter().flatten().map(|(op, n, message)| {
        let n = proc_macro2::Literal::usize_unsuffixed(n as usize);
        quote!(if #guard #length #op #n { violations.add(#path, #message); })
    });
    quote!(#(#checks)*)
}
