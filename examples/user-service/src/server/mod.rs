//! The transports: an axum server for HTTP/JSON and a tonic server for gRPC, both serving the
//! same service implementations, and the order service's events.

pub mod events;
pub mod grpc;
pub mod http;

// The middleware both transports share, the metrics they record and the readiness `/readyz`
// reports are micro's (the vendored `micro-runtime`).
pub use micro_runtime::app::Readiness;
pub use micro_runtime::{metrics, middleware};
