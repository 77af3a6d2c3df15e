//! The gRPC server, with the shared middleware, the standard health service, and server
//! reflection (so `grpcurl` and friends can list and call the services without the contracts).

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::api::helloworld::v1::greeter_server::GreeterServer;
use crate::conf;
use crate::server::{metrics, middleware};
use crate::service::GreeterService;

/// Serves gRPC on `listener` until `shutdown` completes, then waits for in-flight calls. The
/// `grpc.health.v1.Health` service reports SERVING until shutdown begins.
pub async fn serve(
    listener: TcpListener,
    greeter: Arc<GreeterService>,
    config: &conf::Grpc,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    metrics::handle();
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<GreeterServer<GreeterService>>().await;
    let shutdown = async move {
        shutdown.await;
        health
            .set_not_serving::<GreeterServer<GreeterService>>()
            .await;
    };
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(&crate::api::descriptors::file_descriptor_set())
        .build_v1()?;
    Server::builder()
        .timeout(config.timeout)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_grpc())
        .layer(metrics::GrpcLayer)
        .layer(tonic::service::InterceptorLayer::new(
            middleware::grpc_rate_limit(middleware::rate_limiter(&config.rate_limit)),
        ))
        .layer(CatchPanicLayer::custom(middleware::grpc_panic))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(GreeterServer::from_arc(greeter))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
    Ok(())
}
