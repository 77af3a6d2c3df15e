//! Implementations of the contracts' services. Each one serves both transports: tonic calls it
//! for gRPC, and the generated axum routes call the same trait for HTTP.

mod user;

pub use user::UserService;
