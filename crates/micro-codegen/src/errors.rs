//! Renders the typed errors of a package: for each error-reason enum, its HTTP codes and a pair of
//! helpers per reason, `error_<reason>(message)` to build one and `is_<reason>(&err)` to recognise
//! one, both over the runtime's `micro_runtime::Error`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::model::Package;
use crate::names;

/// The error helpers of `package`, or `None` if it declares no error reasons.
pub fn render(package: &Package) -> Option<TokenStream> {
    if package.error_enums.is_empty() {
        return None;
    }
    let error_type = quote!(::micro_runtime::Error);
    let enums = package.error_enums.iter().map(|error_enum| {
        let enum_type = format_ident!("{}", error_enum.rust_name);
        let arms = error_enum.values.iter().map(|value| {
            let variant = format_ident!("{}", value.rust_variant);
            let code = proc_macro2::Literal::u16_unsuffixed(value.code);
            quote!(Self::#variant => #code,)
        });
        let helpers = error_enum
            .values
            .iter()
            .filter(|v| v.has_helpers)
            .map(|value| {
                let variant = format_ident!("{}", value.rust_variant);
                let snake = names::snake(&value.name.to_lowercase());
                let snake = snake.trim_start_matches("r#");
                let build = format_ident!("error_{}", snake);
                let check = format_ident!("is_{}", snake);
                let reason = &value.name;
                let build_doc = format!(" A `{reason}` error (HTTP {}).", value.code);
                let check_doc = format!(" Whether `err` has the reason `{reason}`.");
                quote! {
                    #[doc = #build_doc]
                    pub fn #build(message: impl Into<String>) -> #error_type {
                        #enum_type::#variant.error(message)
                    }

                    #[doc = #check_doc]
                    pub fn #check(err: &#error_type) -> bool {
                        err.reason == #reason
                    }
                }
            });
        quote! {
            impl #enum_type {
                /// The HTTP status code of each reason: its `(errors.code)`, else the enum's
                /// `(errors.default_code)`, else 500.
                pub fn http_code(self) -> u16 {
                    match self {
                        #(#arms)*
                    }
                }

                /// An error with this reason, its code, and `message`.
                pub fn error(self, message: impl Into<String>) -> #error_type {
                    #error_type::new(self.http_code(), self.as_str_name(), message)
                }
            }

            #(#helpers)*
        }
    });
    Some(quote!(#(#enums)*))
}
