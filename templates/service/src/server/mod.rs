//! The transports: an axum server for HTTP/JSON and a tonic server for gRPC, both serving the
//! same service implementations.

pub mod grpc;
pub mod http;
