//! The gRPC server, with the shared middleware, the standard health service, and server
//! reflection (so `grpcurl` and friends can list and call the services without the contracts).

use std::future::Future;
use std::sync::Arc;

use micro_runtime::context::GrpcContextLayer;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::api::user::v1::user_service_server::UserServiceServer;
use crate::conf;
use crate::server::{metrics, middleware};
use crate::service::UserService;
use crate::telemetry;

/// Serves gRPC on `listener` until `shutdown` completes, then waits for in-flight calls. The
/// `grpc.health.v1.Health` service reports SERVING until shutdown begins.
pub async fn serve(
    listener: TcpListener,
    users: Arc<UserService>,
    config: &conf::Grpc,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    metrics::handle();
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<UserServiceServer<UserService>>().await;
    let shutdown = async move {
        shutdown.await;
        health
            .set_not_serving::<UserServiceServer<UserService>>()
            .await;
    };
    // Reflection in both versions: v1, and v1alpha for the clients that speak only that (Python's
    // grpcio-reflection, older grpcurl, several GUI clients).
    let descriptors = crate::api::descriptors::file_descriptor_set();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(&descriptors)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(&descriptors)
        .build_v1alpha()?;
    // A span per call; only the service's own faults are logged as failures.
    let trace = TraceLayer::new(telemetry::grpc_failures()).make_span_with(telemetry::request_span);
    Server::builder()
        .timeout(config.timeout)
        .layer(SetRequestIdLayer::x_request_id(middleware::RandomRequestId))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(metrics::GrpcLayer)
        .layer(tonic::service::InterceptorLayer::new(
            middleware::grpc_rate_limit(middleware::rate_limiter(&config.rate_limit)),
        ))
        .layer(CatchPanicLayer::custom(middleware::grpc_panic))
        // Calls made while serving get what is left of the deadline, and kratos' global metadata.
        .layer(GrpcContextLayer {
            timeout: config.timeout,
        })
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(UserServiceServer::from_arc(users))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
    Ok(())
}
