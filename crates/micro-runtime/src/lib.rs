//! What every service made with micro runs and micro owns: the HTTP/JSON binding of its contracts
//! ([`gateway`]), the typed error both transports answer with ([`errors`]), request validation
//! ([`validate`]), and, with the default `server` feature, the lifecycle of its servers ([`app`]),
//! the configuration sections micro owns ([`conf`]), the middleware both transports share ([`middleware`]), Prometheus [`metrics`],
//! logs and traces ([`telemetry`]), and the registry services find each other through
//! ([`registry`]; with the `discovery` feature alone, only the configuration and the registry).
//! Code that `micro proto client` generates calls into it.
//!
//! A service carries a copy of this crate, vendored by `micro new` and refreshed by
//! `micro upgrade`, and depends on it by path: micro is not on crates.io, and a service must
//! build from crates.io and its own folder alone.

pub mod access;
pub mod errors;
pub mod gateway;
pub mod json;
pub mod validate;

#[cfg(feature = "server")]
pub mod app;
#[cfg(feature = "auth")]
pub mod auth;
#[cfg(feature = "server")]
pub mod breaker;
#[cfg(feature = "discovery")]
pub mod conf;
#[cfg(feature = "server")]
pub mod context;
#[cfg(feature = "nats")]
pub mod events;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod middleware;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "server")]
pub mod one_port;
#[cfg(feature = "discovery")]
pub mod registry;
#[cfg(feature = "server")]
pub mod telemetry;

#[cfg(feature = "server")]
pub use app::App;
pub use errors::{Error, FieldViolation};
pub use gateway::Contracts;
