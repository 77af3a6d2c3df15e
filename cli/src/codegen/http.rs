//! Renders the axum routes of a package: one `{service}_http` module per service with HTTP
//! bindings, whose handlers call the same tonic service trait the gRPC server calls.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::model::{Body, BoundField, HttpBinding, Package, Segment, Service, ValueKind};
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
    let service_trait = format_ident!("{}", names::upper_camel(&service.name));
    let supers: Vec<TokenStream> =
        std::iter::repeat_n(quote!(super::), package.depth() + 1).collect();
    let validate_import = service
        .methods
        .iter()
        .any(|m| m.validate_input && !m.bindings.is_empty())
        .then(|| quote!(use #(#supers)* validate::Validate;));
    let module_doc = format!(
        " HTTP/JSON routes of `{}`, from its `google.api.http` rules.",
        service.full_name
    );
    let router_doc = format!(
        " Routes every HTTP binding of `{}` to `service`.",
        service.name
    );

    // axum wants each path routed once, with all of its verbs.
    let mut routes: BTreeMap<String, Vec<(String, syn::Ident)>> = BTreeMap::new();
    let mut handlers = Vec::new();
    for method in &service.methods {
        for (index, binding) in method.bindings.iter().enumerate() {
            let handler = handler_name(&method.rust_name, index, method.bindings.len());
            let verbs = routes.entry(axum_path(binding)).or_default();
            if let Some((_, other)) = verbs.iter().find(|(verb, _)| *verb == binding.verb) {
                return Err(RouteError {
                    service: service.full_name.clone(),
                    message: format!(
                        "`{} {}` is bound twice (by `{}` and `{}`); give one of them another path",
                        binding.verb,
                        template_text(binding),
                        other,
                        handler
                    ),
                });
            }
            if !matches!(
                binding.verb.as_str(),
                "GET" | "POST" | "PUT" | "DELETE" | "PATCH"
            ) {
                return Err(RouteError {
                    service: service.full_name.clone(),
                    message: format!("custom verb `{}` is not supported yet", binding.verb),
                });
            }
            verbs.push((binding.verb.clone(), handler.clone()));

            let rust_method = syn::parse_str::<syn::Ident>(&method.rust_name)
                .expect("prost names are identifiers");
            // Handlers live one module below the package's, so relative paths gain a `super`.
            let input = match method.input.rust_path.as_str() {
                absolute if absolute.starts_with("::") => absolute.to_owned(),
                relative => format!("super::{relative}"),
            };
            let input: syn::Path = syn::parse_str(&input).expect("type paths parse");
            let binding_const = format_ident!(
                "{}",
                handler.to_string().trim_start_matches("r#").to_uppercase()
            );
            let binding_value = render_binding(binding);
            let validate = method
                .validate_input
                .then(|| quote!(request.get_ref().validate()?;));
            let doc = format!(
                " `{} {}` → `{}`.",
                binding.verb,
                template_text(binding),
                method.name
            );
            handlers.push(quote! {
                const #binding_const: gateway::Binding = #binding_value;

                #[doc = #doc]
                async fn #handler<S: #service_trait>(
                    State(service): State<Arc<S>>,
                    call: Call,
                    body: Bytes,
                ) -> Result<Response, Error> {
                    let request = call.decode::<#input>(&#binding_const, &body)?;
                    #validate
                    gateway::reply(service.#rust_method(request).await?)
                }
            });
        }
    }

    let route_calls = routes.iter().map(|(path, verbs)| {
        let mut chain = verbs.iter().map(|(verb, handler)| {
            let verb = format_ident!("{}", verb.to_lowercase());
            quote!(#verb(#handler::<S>))
        });
        let first = chain.next().expect("a route has a verb");
        quote!(.route(#path, routing::#first #(.#chain)*))
    });

    Ok(quote! {
        #[doc = #module_doc]
        pub mod #module {
            use std::sync::Arc;

            use axum::Router;
            use axum::body::Bytes;
            use axum::extract::State;
            use axum::response::Response;
            use axum::routing;

            use #(#supers)* gateway::{self, Call, Error};
            use super::#server_module::#service_trait;
            #validate_import

            #[doc = #router_doc]
            pub fn router<S: #service_trait>(service: Arc<S>) -> Router {
                Router::new()
                    #(#route_calls)*
                    .with_state(service)
            }

            #(#handlers)*
        }
    })
}

/// The handler of binding `index` of a method: the method's name, numbered when it has several
/// bindings, and kept clear of the names the routes module itself uses.
fn handler_name(rust_method: &str, index: usize, bindings: usize) -> syn::Ident {
    let base = rust_method.trim_start_matches("r#");
    let base = match base {
        "router" | "routing" | "gateway" => format!("{base}_rpc"),
        // Keep keywords raw (`r#match`), exactly as prost named the method.
        _ => rust_method.to_owned(),
    };
    if bindings == 1 {
        format_ident!("{base}")
    } else {
        format_ident!("{}_{index}", base.trim_start_matches("r#"))
    }
}

/// The axum route of a binding. Variables are named by position so that bindings which name the
/// same segment differently (`/v1/{id}` and `/v1/{name}`) still share one route.
fn axum_path(binding: &HttpBinding) -> String {
    let mut variable = 0;
    let mut path = String::new();
    for segment in &binding.template.segments {
        path.push('/');
        match segment {
            Segment::Literal(text) => path.push_str(text),
            Segment::Variable(_) => {
                path.push_str(&format!("{{p{variable}}}"));
                variable += 1;
            }
        }
    }
    path
}

fn template_text(binding: &HttpBinding) -> String {
    binding
        .template
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Literal(text) => format!("/{text}"),
            Segment::Variable(field) => format!("/{{{}}}", field.dotted()),
        })
        .collect()
}

fn render_binding(binding: &HttpBinding) -> TokenStream {
    let path = binding.path_fields.iter().map(render_field);
    let query = binding.query_fields.iter().map(render_field);
    let body = match &binding.body {
        Body::None => quote!(gateway::Body::None),
        Body::Whole => quote!(gateway::Body::Whole),
        Body::Field(field) => {
            let field = render_field(&BoundField {
                path: field.clone(),
                kind: ValueKind::Text,
                repeated: false,
            });
            quote!(gateway::Body::Field(#field))
        }
    };
    quote! {
        gateway::Binding {
            path: &[#(#path),*],
            query: &[#(#query),*],
            body: #body,
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
            ValueKind::Number => "Number",
            ValueKind::Bool => "Bool",
            ValueKind::Enum => "Enum",
        }
    );
    let repeated = field.repeated;
    quote! {
        gateway::Field { proto: &[#(#proto),*], json: &[#(#json),*], kind: gateway::Kind::#kind, repeated: #repeated }
    }
}
