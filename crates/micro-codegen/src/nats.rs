//! Renders the typed NATS clients of a package: one `{service}_nats` module per service with
//! unary RPCs, whose `Client` sends each request to the subject the service's NATS transport
//! serves it on (`{prefix}.{package}.{Service}.{Method}`), through the runtime's `nats::call`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::model::{Package, Service};
use crate::names;

/// The NATS clients of every service of `package` with a unary RPC, or `None` if none has one.
pub fn render(package: &Package) -> Option<TokenStream> {
    let modules: Vec<TokenStream> = package.services.iter().filter_map(render_service).collect();
    (!modules.is_empty()).then(|| quote!(#(#modules)*))
}

fn render_service(service: &Service) -> Option<TokenStream> {
    let full_name = &service.full_name;
    let methods: Vec<TokenStream> = service
        .methods
        .iter()
        // Streams have no request-reply form; the service's NATS transport leaves them out too.
        .filter(|method| !method.client_streaming && !method.server_streaming)
        .map(|method| {
            let name = &method.rust_name;
            let proto_name = &method.name;
            let input = super::path_below(&method.input.rust_path);
            let output = super::path_below(&method.output.rust_path);
            let doc = format!(" `{}` over NATS.", method.name);
            quote! {
                #[doc = #doc]
                pub async fn #name(&self, request: &#input) -> Result<#output, Error> {
                    let subject = nats::subject(&self.prefix, SERVICE, #proto_name);
                    let headers = nats::outgoing(&self.headers, self.forward_bearer);
                    nats::call(&self.nats, &subject, request, headers, self.timeout).await
                }
            }
        })
        .collect();
    if methods.is_empty() {
        return None;
    }
    let module = format_ident!("{}_nats", names::snake(&service.name));
    let module_doc = format!(
        " A typed NATS request-reply client of `{full_name}`, for services that serve it over NATS."
    );
    let client_doc = format!(" Calls `{full_name}` over NATS request-reply, on the subjects");
    let subjects_doc = format!(
        " `{{prefix}}.{full_name}.{{Method}}`: the reply, or the typed error the service answered."
    );
    Some(quote! {
        #[doc = #module_doc]
        pub mod #module {
            use std::time::Duration;

            use ::micro_runtime::errors::Error;
            use ::micro_runtime::nats::{self, HeaderMap};

            /// The service's full name, the middle of its subjects.
            const SERVICE: &str = #full_name;

            #[doc = #client_doc]
            #[doc = #subjects_doc]
            #[doc = " Called while serving a request, a call gets no more than what is left of its deadline."]
            #[derive(Debug, Clone)]
            pub struct Client {
                nats: nats::Client,
                prefix: String,
                timeout: Duration,
                headers: HeaderMap,
                forward_bearer: bool,
            }

            impl Client {
                #[doc = " A client over `nats` of the service serving on subjects under `prefix` (`micro` by"]
                #[doc = " default, the service's `server.nats.prefix`); calls time out after 1 s."]
                pub fn new(nats: nats::Client, prefix: impl Into<String>) -> Self {
                    Client {
                        nats,
                        prefix: prefix.into(),
                        timeout: Duration::from_secs(1),
                        headers: HeaderMap::new(),
                        forward_bearer: false,
                    }
                }

                #[doc = " How long a call may wait for its reply."]
                pub fn with_timeout(mut self, timeout: Duration) -> Self {
                    self.timeout = timeout;
                    self
                }

                #[doc = " A header sent with every call, e.g. the service's own `x-api-key`."]
                pub fn with_header(mut self, name: &str, value: &str) -> Self {
                    self.headers.insert(name, value);
                    self
                }

                #[doc = " Calls made while serving a request carry its bearer token, so that the callee sees"]
                #[doc = " the user the call is made for."]
                pub fn forwarding_bearer(mut self) -> Self {
                    self.forward_bearer = true;
                    self
                }

                #(#methods)*

            }
        }
    })
}
