//! Renders a service implementation skeleton (`micro proto server`): a struct implementing tonic's
//! service trait with one method per RPC that answers `UNIMPLEMENTED` until the user fills it in.
//! The file is the user's from then on: when the contract gains RPCs, micro only adds their stubs
//! to its `impl` block ([`append_missing`]), every byte already there kept.

use std::collections::BTreeMap;

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
        .map(|method| render_method(&package_path, method, Naming::Imported));
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

/// How a stub names the types it uses.
#[derive(Clone, Copy)]
enum Naming<'a> {
    /// As the skeleton's own imports allow: the package's messages and tonic's stream types by
    /// their names.
    Imported,
    /// In a file whose imports are the user's: by name what it imports (name → full path), by
    /// full path the rest. tonic's `Request`, `Response` and `Status` are assumed imported, as
    /// every implementation uses them.
    AsFileImports(&'a BTreeMap<String, String>),
}

impl Naming<'_> {
    /// `name` (whose full path is `full`) by name, or by its full path when not imported.
    fn name(self, name: &syn::Ident, full: &str) -> proc_macro2::TokenStream {
        match self {
            Naming::Imported => quote!(#name),
            Naming::AsFileImports(imports)
                if imports
                    .get(&name.to_string())
                    .is_some_and(|path| path == full) =>
            {
                quote!(#name)
            }
            Naming::AsFileImports(_) => full.parse().expect("a path is tokens"),
        }
    }
}

fn render_method(
    package_path: &syn::Path,
    method: &Method,
    naming: Naming<'_>,
) -> proc_macro2::TokenStream {
    let name = &method.rust_name;
    let package = quote!(#package_path).to_string().replace(' ', "");
    let type_path = |path: &syn::Path| match path.get_ident() {
        Some(ident) => naming.name(ident, &format!("{package}::{ident}")),
        None => {
            let path = absolute(package_path, path);
            quote!(#path)
        }
    };
    let input = type_path(&method.input.rust_path);
    let output = type_path(&method.output.rust_path);
    let streaming = naming.name(&format_ident!("Streaming"), "tonic::Streaming");
    let box_stream = naming.name(&format_ident!("BoxStream"), "tonic::codegen::BoxStream");
    let request = if method.client_streaming {
        quote!(Request<#streaming<#input>>)
    } else {
        quote!(Request<#input>)
    };
    let unimplemented = format!("`{}` is not implemented yet", method.name);
    let body = quote!(Err(Status::unimplemented(#unimplemented)));
    if method.server_streaming {
        // tonic names the associated type after the proto method name, verbatim.
        let stream = format_ident!("{}Stream", method.name);
        quote! {
            type #stream = #box_stream<#output>;

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

/// What [`append_missing`] made of a user's implementation file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The file with the new stubs in its `impl` block.
    pub contents: String,
    /// The RPCs stubbed, by their proto names.
    pub added: Vec<String>,
}

/// Why stubs could not be added to a user's file; it is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(
        "{line}:{column}: the file does not parse ({message}); fix it, then run `micro proto server` again"
    )]
    Unparsable {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "no `impl {0} for …` block; add the stubs for {1} yourself, or move the file aside to get a new skeleton"
    )]
    NoImpl(String, String),
}

/// Adds to `existing` (a file implementing `service`, as [`render`] once wrote it and its user
/// has changed it since) a stub for each RPC its `impl` of the service trait lacks, before that
/// block's closing brace; every other byte stays as it was. `None` when nothing is missing.
pub fn append_missing(
    package: &Package,
    service: &Service,
    existing: &str,
) -> Result<Option<Appended>, AppendError> {
    let file = syn::parse_file(existing).map_err(|err| {
        let start = err.span().start();
        AppendError::Unparsable {
            line: start.line,
            column: start.column + 1,
            message: err.to_string(),
        }
    })?;
    let camel = names::upper_camel(&service.name);
    // The trait by its name, or by the name a `use … as` gave it (`UserApi`).
    let mut trait_names = vec![camel.clone()];
    let mut imports = BTreeMap::new();
    for item in &file.items {
        if let syn::Item::Use(item) = item {
            renames(&item.tree, &camel, &mut trait_names);
            imported(&item.tree, String::new(), &mut imports);
        }
    }
    let implementation = file.items.iter().find_map(|item| match item {
        syn::Item::Impl(block)
            if block.trait_.as_ref().is_some_and(|(_, path, _)| {
                path.segments
                    .last()
                    .is_some_and(|last| trait_names.iter().any(|name| last.ident == name))
            }) =>
        {
            Some(block)
        }
        _ => None,
    });
    let missing: Vec<&Method> = match implementation {
        None => {
            let all: Vec<String> = service.methods.iter().map(|m| format!("`{}`", m.name)).collect();
            return Err(AppendError::NoImpl(camel, all.join(", ")));
        }
        Some(block) => service
            .methods
            .iter()
            .filter(|method| {
                !block.items.iter().any(|item| {
                    matches!(item, syn::ImplItem::Fn(function) if function.sig.ident == method.rust_name)
                })
            })
            .collect(),
    };
    let Some(block) = implementation.filter(|_| !missing.is_empty()) else {
        return Ok(None);
    };

    // The stubs, formatted as the block's body: rendered inside a stand-in block, then taken out.
    let package_path =
        package_path(package).map_err(|err| AppendError::NoImpl(camel.clone(), err.to_string()))?;
    let methods = missing
        .iter()
        .map(|method| render_method(&package_path, method, Naming::AsFileImports(&imports)));
    let formatted = super::format(quote! {
        impl Stand for In {
            #(#methods)*
        }
    })
    .expect("stubs render to valid Rust");
    let body: Vec<&str> = formatted.lines().collect();
    let stubs: String = body[1..body.len() - 1]
        .iter()
        .map(|line| format!("{line}\n"))
        .collect();

    let close = block.brace_token.span.close().start();
    let brace = byte_offset(existing, close.line, close.column);
    let line_start = existing[..brace].rfind('\n').map_or(0, |i| i + 1);
    let empty_body = existing[..brace].trim_end().ends_with('{');
    let mut contents = String::with_capacity(existing.len() + stubs.len() + 2);
    if existing[line_start..brace].trim().is_empty() {
        // The closing brace on a line of its own: the stubs go on the lines before it, after a
        // blank line unless the block was empty.
        contents.push_str(&existing[..line_start]);
        if !empty_body {
            contents.push('\n');
        }
        contents.push_str(&stubs);
        contents.push_str(&existing[line_start..]);
    } else {
        // `impl … {}` on one line.
        contents.push_str(&existing[..brace]);
        contents.push('\n');
        contents.push_str(&stubs);
        contents.push_str(&existing[brace..]);
    }
    Ok(Some(Appended {
        contents,
        added: missing.iter().map(|method| method.name.clone()).collect(),
    }))
}

/// The names `use` trees give `name` by renaming it (`use …::Greeter as Hello`).
fn renames(tree: &syn::UseTree, name: &str, out: &mut Vec<String>) {
    match tree {
        syn::UseTree::Path(path) => renames(&path.tree, name, out),
        syn::UseTree::Rename(rename) if rename.ident == name => out.push(rename.rename.to_string()),
        syn::UseTree::Group(group) => group.items.iter().for_each(|tree| renames(tree, name, out)),
        _ => {}
    }
}

/// The names `use` trees import as they are, each with its full path (`HelloReply` →
/// `crate::api::helloworld::v1::HelloReply`).
fn imported(tree: &syn::UseTree, prefix: String, out: &mut BTreeMap<String, String>) {
    let join = |name: &syn::Ident| match prefix.as_str() {
        "" => name.to_string(),
        prefix => format!("{prefix}::{name}"),
    };
    match tree {
        syn::UseTree::Path(path) => imported(&path.tree, join(&path.ident), out),
        syn::UseTree::Name(name) => {
            out.insert(name.ident.to_string(), join(&name.ident));
        }
        syn::UseTree::Group(group) => group
            .items
            .iter()
            .for_each(|tree| imported(tree, prefix.clone(), out)),
        _ => {}
    }
}

/// The byte offset of a line (from 1) and column (in characters, from 0) of `text`.
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &text[line_start..];
    line_start
        + rest
            .char_indices()
            .nth(column)
            .map_or(rest.len(), |(offset, _)| offset)
}
