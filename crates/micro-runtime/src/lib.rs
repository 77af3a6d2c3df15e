//! What every service made with micro runs and micro owns: the HTTP/JSON binding of its contracts
//! ([`gateway`]), the typed error both transports answer with ([`errors`]), and request
//! validation ([`validate`]). Code that `micro proto client` generates calls into it.
//!
//! A service carries a copy of this crate, vendored by `micro new` and refreshed by
//! `micro upgrade`, and depends on it by path: micro is not on crates.io, and a service must
//! build from crates.io and its own folder alone.

pub mod errors;
pub mod gateway;
pub mod validate;

pub use errors::{Error, FieldViolation};
pub use gateway::Contracts;
