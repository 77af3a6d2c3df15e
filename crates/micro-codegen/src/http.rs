//! Renders the axum routes of a package: one `{service}_http` module per service with HTTP
//! bindings, whose handlers call the same tonic service trait the gRPC server calls.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::model::{
    Body, BoundField, FieldPath, HttpBinding, Method, Package, PathTemplate, Segment, Service,
    ValueKind,
};
use crate::names;

/// A binding that cannot be routed, e.g. two rules claiming the same verb and path.
#[derive(Debug, thiserror::Error)]
#[error("{service}: {message}")]
pub struct RouteError {
    pub service: String,
    pub message: String,
}

/// The routes of every service of `package` that has HTTP bindings, or `None` if none has.
pub fn render(package: &Package) -> Result<Option<TokenStream>, RouteError> {
    let mut modules = Vec::new();
    for service in &package.services {
        if service.methods.iter().any(|m| !m.bindings.is_empty()) {
            modules.push(render_service(package, service)?);
        }
    }
    Ok((!modules.is_empty()).then(|| quote!(#(#modules)*)))
}

fn render_service(package: &Package, service: &Service) -> Result<TokenStream, RouteError> {
    let module = format_ident!("{}_http", names::snake(&service.name));
    let server_module = format_ident!("{}_server", names::snake(&service.name));
    // The trait is imported under one name, so a service called `Router`, `Client` or `Error`
    // does not collide with what the routes module itself names so.
    let trait_name = format_ident!("{}", names::upper_camel(&service.name));
    let service_trait = format_ident!("Service");
    // `CONTRACTS`, declared by `api/mod.rs`, seen from the routes module.
    let supers = std::iter::repeat_n(quote!(super::), package.depth() + 1);
    let contracts = quote!(#(#supers)* CONTRACTS);
    let validate_import = service
        .methods
        .iter()
        .any(|m| m.validate_input && !m.bindings.is_empty())
        .then(|| {
            quote!(
                use ::micro_runtime::validate::Validate;
            )
        });
    let module_doc = format!(
        " HTTP/JSON routes of `{}`, from its `google.api.http` rules.",
        service.full_name
    );
    let router_doc = format!(
        " Routes every HTTP binding of `{}` to `service`.",
        service.name
    );

    // axum wants each path routed once, with all of its methods; bindings that differ only by a
    // custom verb after a path variable share one handler that picks by the verb.
    let mut routes: BTreeMap<String, Vec<MethodRoute>> = BTreeMap::new();
    let mut empty_segment_routes = Vec::new();
    let mut handlers = Vec::new();
    for method in &service.methods {
        for (index, binding) in method.bindings.iter().enumerate() {
            let handler = handler_name(&method.rust_name.to_string(), index, method.bindings.len());
            let (path, verb) = axum_route(&binding.template);
            let methods = routes.entry(path).or_default();
            let route = match methods.iter_mut().find(|r| r.method == binding.verb) {
                Some(route) => route,
                None => {
                    methods.push(MethodRoute {
                        method: binding.verb.clone(),
                        bindings: Vec::new(),
                    });
                    methods.last_mut().expect("just pushed")
                }
            };
            if let Some((_, other)) = route.bindings.iter().find(|(v, _)| v.as_deref() == verb) {
                return Err(RouteError {
                    service: service.full_name.clone(),
                    message: format!(
                        "`{} {}` is bound twice (by `{}` and `{}`); give one of them another path",
                        binding.verb, binding.template.text, other, handler
                    ),
                });
            }
            route
                .bindings
                .push((verb.map(str::to_owned), handler.clone()));
            if let Some(alias) = empty_last_segment_route(&binding.template) {
                empty_segment_routes.push((alias, binding.verb.clone(), handler.clone()));
            }
            handlers.push(render_handler(
                service, method, binding, &handler, &contracts,
            ));
        }
    }
    // `/v1/shelves/` binds an empty value to a last `{variable}`, as grpc-gateway binds it,
    // unless a binding routes that path itself.
    for (path, verb, handler) in empty_segment_routes {
        let methods = routes.entry(path).or_default();
        if !methods.iter().any(|r| r.method == verb) {
            methods.push(MethodRoute {
                method: verb,
                bindings: vec![(None, handler)],
            });
        }
    }

    let mut dispatchers = Vec::new();
    let mut route_calls = Vec::new();
    for (path, methods) in &routes {
        let mut chain = Vec::new();
        for route in methods {
            let target = match route.bindings.as_slice() {
                [(None, handler)] => handler.clone(),
                bindings => {
                    let dispatcher = format_ident!("dispatch_{}", dispatchers.len());
                    dispatchers.push(render_dispatcher(
                        &service_trait,
                        &dispatcher,
                        &route.method,
                        path,
                        bindings,
                    ));
                    dispatcher
                }
            };
            let target = quote!(#target::<S>);
            // The walk admits only methods axum routes by name (`get`, …, `trace`).
            let method = format_ident!("{}", route.method.to_lowercase());
            chain.push(quote!(#method(#target)));
        }
        let (first, rest) = chain.split_first().expect("a route has a method");
        route_calls.push(quote!(.route(#path, routing::#first #(.#rest)*)));
    }

    let client = render_client(service);
    // Handlers answer `Response`s; only the client names the error type.
    let error_import = client.is_some().then(|| {
        quote!(
            use ::micro_runtime::Error;
        )
    });

    Ok(quote! {
        #[doc = #module_doc]
        pub mod #module {
            use std::sync::Arc;

            use axum::Router;
            use axum::extract::State;
            use axum::response::Response;
            use axum::routing;

            use ::micro_runtime::gateway::{self, Call};
            #error_import
            use super::#server_module::#trait_name as Service;
            #validate_import

            #[doc = #router_doc]
            pub fn router<S: #service_trait>(service: Arc<S>) -> Router {
                Router::new()
                    #(#route_calls)*
                    .with_state(service)
            }

            #client

            #(#dispatchers)*

            #(#handlers)*
        }
    })
}

/// A typed client with one method per RPC that has an HTTP binding (its first), as the service
/// trait names them. Streaming methods, either way, are left to gRPC clients.
fn render_client(service: &Service) -> Option<TokenStream> {
    let methods: Vec<TokenStream> = service
        .methods
        .iter()
        .filter(|m| !m.bindings.is_empty() && !m.server_streaming && !m.client_streaming)
        .map(|method| {
            let binding = &method.bindings[0];
            let name = match method.rust_name.to_string().as_str() {
                clash @ ("new" | "with_http") => format_ident!("{clash}_rpc"),
                _ => method.rust_name.clone(),
            };
            let binding_const = binding_const(&handler_name(
                &method.rust_name.to_string(),
                0,
                method.bindings.len(),
            ));
            let input = super::path_below(&method.input.rust_path);
            let output = super::path_below(&method.output.rust_path);
            let doc = format!(
                " `{}` by `{} {}`.",
                method.name, binding.verb, binding.template.text
            );
            quote! {
                #[doc = #doc]
                pub async fn #name(&self, request: &#input) -> Result<#output, Error> {
                    gateway::send(&self.http, &self.target, &#binding_const, request).await
                }
            }
        })
        .collect();
    if methods.is_empty() {
        return None;
    }
    let doc = format!(
        " A typed HTTP/JSON client of `{}`: each method calls its RPC's first HTTP binding.",
        service.full_name
    );
    Some(quote! {
        #[doc = #doc]
        #[derive(Debug, Clone)]
        pub struct Client {
            http: reqwest::Client,
            target: gateway::Target,
        }

        impl Client {
            #[doc = " A client of the service at `target`: a base URL such as `http://127.0.0.1:8000`, or"]
            #[doc = " instances of a registry (`micro_runtime::registry::client::http_target`)."]
            pub fn new(target: impl Into<gateway::Target>) -> Self {
                Client::with_http(reqwest::Client::new(), target)
            }

            #[doc = " A client that shares `http` (its connection pool, timeouts and TLS settings)."]
            pub fn with_http(http: reqwest::Client, target: impl Into<gateway::Target>) -> Self {
                Client { http, target: target.into() }
            }

            #(#methods)*
        }
    })
}

/// The bindings one HTTP method of one axum route serves, keyed by the custom verb that ends the
/// path, if any.
struct MethodRoute {
    method: String,
    bindings: Vec<(Option<String>, syn::Ident)>,
}

fn render_handler(
    service: &Service,
    method: &Method,
    binding: &HttpBinding,
    handler: &syn::Ident,
    contracts: &TokenStream,
) -> TokenStream {
    let service_trait = format_ident!("Service");
    let rust_method = &method.rust_name;
    // Handlers live one module below the package's, so relative paths gain a `super`.
    let input = super::path_below(&method.input.rust_path);
    let binding_const = binding_const(handler);
    let operation = format!("/{}/{}", service.full_name, method.name);
    let binding_value = render_binding(method, binding, &operation, contracts);
    // A server stream goes out as Server-Sent Events, one message per event.
    let respond = if method.server_streaming {
        quote!(gateway::stream)
    } else {
        quote!(gateway::reply)
    };
    let doc = format!(
        " `{} {}` → `{}`.",
        binding.verb, binding.template.text, method.name
    );
    // A client stream comes in as a sequence of JSON values, each checked as it arrives.
    let (body_type, decode) = if method.client_streaming {
        let check = if method.validate_input {
            quote!(<#input as Validate>::validate)
        } else {
            quote!(gateway::accept_all)
        };
        (
            quote!(axum::body::Body),
            quote!(let request = call.decode_stream::<#input>(&#binding_const, body, #check)?;),
        )
    } else {
        let validate = method
            .validate_input
            .then(|| quote!(request.get_ref().validate()?;));
        (
            quote!(axum::body::Bytes),
            quote!(let request = call.decode::<#input>(&#binding_const, &body)?; #validate),
        )
    };
    quote! {
        static #binding_const: gateway::Binding = #binding_value;

        #[doc = #doc]
        async fn #handler<S: #service_trait>(
            State(service): State<Arc<S>>,
            call: Call,
            body: #body_type,
        ) -> Response {
            let reply = async {
                #decode
                #respond(&#binding_const, service.#rust_method(request).await?)
            };
            gateway::answer(&#binding_const, reply.await)
        }
    }
}

/// A handler for the bindings of one route and method that a custom verb tells apart
/// (`/v1/{name}:cancel`, `/v1/{name}:archive`), falling back on the binding without one.
fn render_dispatcher(
    service_trait: &syn::Ident,
    dispatcher: &syn::Ident,
    method: &str,
    path: &str,
    bindings: &[(Option<String>, syn::Ident)],
) -> TokenStream {
    // Longer verbs first: `{id}:a:b` also ends with `:b`.
    let mut verbs: Vec<(&str, &syn::Ident)> = bindings
        .iter()
        .filter_map(|(verb, handler)| Some((verb.as_deref()?, handler)))
        .collect();
    verbs.sort_by_key(|(verb, _)| std::cmp::Reverse(verb.len()));
    // Each handler extracts what it needs from the whole request (streaming ones keep the body
    // as a stream).
    let arms = verbs.iter().map(|(verb, handler)| {
        quote!(if gateway::has_verb(&path, #verb) { return #handler::<S>.call(request, state).await; })
    });
    let fallback = match bindings.iter().find(|(verb, _)| verb.is_none()) {
        Some((_, handler)) => quote!(#handler::<S>.call(request, state).await),
        None => quote!(gateway::no_route(&path)),
    };
    let doc = format!(" `{method} {path}`, told apart by the custom verb that ends the path.");
    quote! {
        #[doc = #doc]
        async fn #dispatcher<S: #service_trait>(
            State(state): State<Arc<S>>,
            request: axum::extract::Request,
        ) -> Response {
            use axum::handler::Handler as _;

            let path = request.uri().path().to_owned();
            #(#arms)*
            #fallback
        }
    }
}

/// The constant holding a handler's binding, which the typed client uses too: `SAY_HELLO`.
fn binding_const(handler: &syn::Ident) -> syn::Ident {
    format_ident!(
        "{}",
        handler.to_string().trim_start_matches("r#").to_uppercase()
    )
}

/// The handler of binding `index` of a method: the method's name, numbered when it has several
/// bindings, and kept clear of the names the routes module itself uses.
fn handler_name(rust_method: &str, index: usize, bindings: usize) -> syn::Ident {
    let base = rust_method.trim_start_matches("r#");
    let base = match base {
        "router" | "routing" | "gateway" => format!("{base}_rpc"),
        _ if base.starts_with("dispatch_") => format!("{base}_rpc"),
        // Keep keywords raw (`r#match`), exactly as prost named the method.
        _ => rust_method.to_owned(),
    };
    if bindings == 1 {
        format_ident!("{base}")
    } else {
        format_ident!("{}_{index}", base.trim_start_matches("r#"))
    }
}

/// The axum route of a template, and the custom verb its handler must check, if any. Each `*`
/// becomes a capture and `**` a catch-all; captures are named by position so that bindings which
/// name the same segment differently (`/v1/{id}` and `/v1/{name}`) still share one route. A verb
/// after a literal is part of the route; after a capture, axum cannot match it, so it is checked
/// by the handler.
fn axum_route(template: &PathTemplate) -> (String, Option<&str>) {
    let mut path = String::new();
    let flat = template.flattened();
    let mut captures = 0;
    for segment in &flat {
        path.push('/');
        match segment {
            Segment::Literal(text) => path.push_str(text),
            Segment::Any => path.push_str(&format!("{{p{captures}}}")),
            Segment::AnyDeep => path.push_str(&format!("{{*p{captures}}}")),
            Segment::Variable { .. } => unreachable!("flattened templates hold no variables"),
        }
        if matches!(segment, Segment::Any | Segment::AnyDeep) {
            captures += 1;
        }
    }
    match (template.verb.as_deref(), flat.last()) {
        (Some(verb), Some(Segment::Literal(_))) => {
            path.push(':');
            path.push_str(verb);
            (path, None)
        }
        (verb, _) => (path, verb),
    }
}

/// The route of a template with its last segment empty (`/v1/shelves/` for `/v1/shelves/{id}`),
/// when that segment is a plain one-segment `{variable}` and no custom verb follows it.
fn empty_last_segment_route(template: &PathTemplate) -> Option<String> {
    if template.verb.is_some() {
        return None;
    }
    match template.segments.last()? {
        Segment::Variable { pattern, .. } if pattern == &[Segment::Any] => {}
        _ => return None,
    }
    let (path, _) = axum_route(template);
    let cut = path.rfind('/')?;
    // Not the root: other routers (probes, documents) are merged beside these routes.
    (cut > 0).then(|| path[..=cut].to_owned())
}

fn render_binding(
    method: &Method,
    binding: &HttpBinding,
    operation: &str,
    contracts: &TokenStream,
) -> TokenStream {
    let mut captures = 0;
    let mut path = Vec::new();
    for segment in &binding.template.segments {
        let Segment::Variable { field, pattern } = segment else {
            captures += usize::from(!matches!(segment, Segment::Literal(_)));
            continue;
        };
        let parts = pattern.iter().map(|part| match part {
            Segment::Literal(text) => quote!(gateway::Part::Literal(#text)),
            _ => {
                let name = format!("p{captures}");
                captures += 1;
                quote!(gateway::Part::Capture(#name))
            }
        });
        let field = binding
            .path_fields
            .iter()
            .find(|f| f.path.proto == field.proto)
            .map(render_field)
            .expect("every path variable is a bound field");
        path.push(quote!(gateway::Variable { field: #field, parts: &[#(#parts),*] }));
    }
    let query = binding.query_fields.iter().map(render_field);
    let text_field = |path: &FieldPath| {
        render_field(&BoundField {
            path: path.clone(),
            kind: ValueKind::Text,
            repeated: false,
            map: false,
        })
    };
    let body = match &binding.body {
        Body::None => quote!(gateway::Body::None),
        Body::Whole => quote!(gateway::Body::Whole),
        Body::Field(field) => {
            let field = text_field(field);
            quote!(gateway::Body::Field(#field))
        }
    };
    let verb = match &binding.template.verb {
        Some(verb) if axum_route(&binding.template).1.is_some() => quote!(Some(#verb)),
        _ => quote!(None),
    };
    let response_body = match &binding.response_body {
        Some(field) => {
            let field = text_field(field);
            quote!(Some(#field))
        }
        None => quote!(None),
    };
    let (request, reply) = (&method.input.full_name, &method.output.full_name);
    let http_method = &binding.verb;
    // Unary calls only: a stream cannot be sent twice.
    let safe_to_retry = (binding.verb == "GET" || method.idempotent)
        && !method.client_streaming
        && !method.server_streaming;
    let template = &binding.template.text;
    quote! {
        gateway::Binding {
            contracts: &#contracts,
            operation: #operation,
            request: #request,
            reply: #reply,
            method: #http_method,
            template: #template,
            path: &[#(#path),*],
            verb: #verb,
            query: &[#(#query),*],
            body: #body,
            response_body: #response_body,
            safe_to_retry: #safe_to_retry,
        }
    }
}

fn render_field(field: &BoundField) -> TokenStream {
    let proto = &field.path.proto;
    let json = &field.path.json;
    let kind = format_ident!(
        "{}",
        match field.kind {
            ValueKind::Text => "Text",
            ValueKind::Integer => "Integer",
            ValueKind::Float => "Float",
            ValueKind::Bool => "Bool",
            ValueKind::Enum => "Enum",
        }
    );
    let (repeated, map) = (field.repeated, field.map);
    quote! {
        gateway::Field { proto: &[#(#proto),*], json: &[#(#json),*], kind: gateway::Kind::#kind, repeated: #repeated, map: #map }
    }
}
