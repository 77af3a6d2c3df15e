//! Renders a service implementation skeleton (`micro proto server`): a struct implementing tonic's
//! service trait with one method per RPC that answers `UNIMPLEMENTED` until the user fills it in.
//! The file is the user's from then on; micro never writes it again.

use quote::{format_ident, quote};

use super::model::{Method, Package, Service};
use crate::names;

/// The skeleton of `service`, as formatted Rust, assuming the generated contracts are mounted at
/// `crate::api` (as `micro new` lays a project out).
pub fn render(package: &Package, service: &Service) -> String {
    let package_path: syn::Path = syn::parse_str(
        &std::iter::once("crate::api".to_owned())
            .chain(names::package_modules(&package.name))
            .collect::<Vec<_>>()
            .join("::"),
    )
    .expect("package modules form a path");
    let server_module = format_ident!("{}_server", names::snake(&service.name));
    let service_trait = format_ident!("{}", names::upper_camel(&service.name));
    let implementor = format_ident!("{}Service", names::upper_camel(&service.name));
    let doc = format!(
        " Implements `{}`; tonic serves it over gRPC and the generated axum routes call it for HTTP.",
        service.full_name
    );
    let methods = service
        .methods
        .iter()
        .map(|method| render_method(package, method));
    // The package's own message types are imported; others keep their full path.
    let mut local_types: Vec<String> = service
        .methods
        .iter()
        .flat_map(|m| [&m.input.rust_path, &m.output.rust_path])
        .filter(|path| {
            !path.starts_with("super::") && !path.starts_with("::") && !path.contains("::")
        })
        .cloned()
        .collect();
    local_types.sort();
    local_types.dedup();
    let local_types = local_types.iter().map(|t| format_ident!("{}", t));
    let needs_stream = service.methods.iter().any(|m| m.server_streaming);
    let stream_import = needs_stream.then(|| {
        quote!(
            use tonic::codegen::BoxStream;
        )
    });
    let streaming_import = service.methods.iter().any(|m| m.client_streaming).then(|| {
        quote!(
            use tonic::Streaming;
        )
    });

    let file = quote! {
        #stream_import
        #streaming_import
        use tonic::{Request, Response, Status};

        use #package_path::#server_module::#service_trait;
        use #package_path::{#(#local_types),*};

        #[doc = #doc]
        #[derive(Debug, Default)]
        pub struct #implementor {}

        impl #implementor {
            pub fn new() -> Self {
                Self::default()
            }
        }

        #[tonic::async_trait]
        impl #service_trait for #implementor {
            #(#methods)*
        }
    };
    super::format(file).expect("stub tokens form a file")
}

fn render_method(package: &Package, method: &Method) -> proc_macro2::TokenStream {
    let name: syn::Ident = syn::parse_str(&method.rust_name).expect("prost names are identifiers");
    let input = absolute(package, &method.input.rust_path);
    let output = absolute(package, &method.output.rust_path);
    let request = if method.client_streaming {
        quote!(Request<Streaming<#input>>)
    } else {
        quote!(Request<#input>)
    };
    let unimplemented = format!("`{}` is not implemented yet", method.name);
    let body = quote!(Err(Status::unimplemented(#unimplemented)));
    if method.server_streaming {
        // tonic names the associated type after the proto method name, verbatim.
        let stream = format_ident!("{}Stream", method.name);
        quote! {
            type #stream = BoxStream<#output>;

            async fn #name(&self, _request: #request) -> Result<Response<Self::#stream>, Status> {
                #body
            }
        }
    } else {
        quote! {
            async fn #name(&self, _request: #request) -> Result<Response<#output>, Status> {
                #body
            }
        }
    }
}

/// Turns a type path relative to the package module into one that works from anywhere in the crate.
fn absolute(package: &Package, relative: &str) -> syn::Path {
    let mut parts: Vec<&str> = relative.split("::").collect();
    let path = if relative.starts_with("::") {
        relative.to_owned()
    } else if parts.first() == Some(&"super") {
        parts.retain(|p| *p != "super");
        format!("crate::api::{}", parts.join("::"))
    } else if !relative.contains("::") {
        relative.to_owned() // imported from the package by the file's `use`
    } else {
        let mut modules = names::package_modules(&package.name);
        modules.push(relative.to_owned());
        format!("crate::api::{}", modules.join("::"))
    };
    syn::parse_str(&path).expect("type paths parse")
}
