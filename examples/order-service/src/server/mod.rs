//! The transports: an axum server for HTTP/JSON and a tonic server for gRPC, both serving the
//! same service implementations.

pub mod auth;
pub mod grpc;
pub mod http;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

// The middleware both transports share and the metrics they record are micro's (the vendored
// `micro-runtime`); named here so the servers read `middleware::http(…)`, `metrics::handle()`.
pub use micro_runtime::{metrics, middleware};

/// Whether the service takes traffic: ready while serving, not once shutdown begins, so load
/// balancers stop sending requests while the in-flight ones drain.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// A readiness that starts out ready.
    pub fn ready() -> Self {
        let readiness = Readiness::default();
        readiness.set(true);
        readiness
    }

    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
