//! Renders a service implementation skeleton (`micro proto server`): a struct implementing tonic's
//! service trait with one method per RPC that answers `UNIMPLEMENTED` until the user fills it in.
//! The file is the user's from then on; micro never writes it again.

use quote::{format_ident, quote};

use super::model::{Method, Package, Service};
use crate::names;

/// The skeleton of `service`, as formatted Rust, assuming the generated contracts are mounted at
/// `crate::api` (as `micro new` lays a project out).
pub fn render(package: &Package, service: &Service) -> anyhow::Result<String> {
    let package_path = package_path(package)?;
    let server_module = format_ident!("{}_server", names::snake(&service.name));
    let camel = names::upper_camel(&service.name);
    let service_trait = format_ident!("{camel}");
    let doc = format!(
        " Implements `{}`; tonic serves it over gRPC and the generated axum routes call it for HTTP.",
        service.full_name
    );
    let methods = service
        .methods
        .iter()
        .map(|method| render_method(&package_path, method));
    // The package's own message types (one-segment paths) are imported; others keep their full
    // path.
    let mut local_types: Vec<&syn::Ident> = service
        .methods
        .iter()
        .flat_map(|m| [&m.input.rust_path, &m.output.rust_path])
        .filter_map(|path| path.get_ident())
        .collect();
    local_types.sort();
    local_types.dedup();
    // `Greeter` is implemented by `GreeterService`; a service already named `UserService` keeps
    // its name and imports its trait as `UserApi` (no `UserServiceService`), unless a message
    // of the package already takes one of those names.
    let taken = |name: &str| local_types.iter().any(|ident| *ident == name);
    let (implementor, trait_alias) = match camel.strip_suffix("Service") {
        Some(stem) if !stem.is_empty() && !taken(&camel) && !taken(&format!("{stem}Api")) => {
            (format_ident!("{camel}"), Some(format_ident!("{stem}Api")))
        }
        _ => (format_ident!("{camel}Service"), None),
    };
    let (trait_import, implemented) = match &trait_alias {
        Some(alias) => (quote!(#service_trait as #alias), alias.clone()),
        None => (quote!(#service_trait), service_trait.clone()),
    };
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

        use #package_path::#server_module::#trait_import;
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
        impl #implemented for #implementor {
            #(#methods)*
        }
    };
    super::format(file)
}

/// `crate::api::…` down to the package's module, as `micro new` mounts the contracts.
fn package_path(package: &Package) -> anyhow::Result<syn::Path> {
    let mut path: syn::Path = syn::parse_quote!(crate::api);
    for module in names::package_modules(&package.name) {
        path.segments
            .push(names::ident(&module).map_err(anyhow::Error::msg)?.into());
    }
    Ok(path)
}

fn render_method(package_path: &syn::Path, method: &Method) -> proc_macro2::TokenStream {
    let name = &method.rust_name;
    let input = absolute(package_path, &method.input.rust_path);
    let output = absolute(package_path, &method.output.rust_path);
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
fn absolute(package_path: &syn::Path, relative: &syn::Path) -> syn::Path {
    if relative.leading_colon.is_some() || relative.get_ident().is_some() {
        // `::pbjson_types::…`, or a type the file's `use` imports from the package.
        return relative.clone();
    }
    let mut path = if relative
        .segments
        .first()
        .is_some_and(|s| s.ident == "super")
    {
        // `super::super::common::v1::Money`: from the root of the contracts.
        syn::parse_quote!(crate::api)
    } else {
        package_path.clone()
    };
    let rest = relative.segments.iter().filter(|s| s.ident != "super");
    path.segments.extend(rest.cloned());
    path
}
