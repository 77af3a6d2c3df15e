//! The gRPC server.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::api::helloworld::v1::greeter_server::GreeterServer;
use crate::service::GreeterService;

/// Serves gRPC on `listener` until `shutdown` completes, then waits for in-flight calls.
pub async fn serve(
    listener: TcpListener,
    greeter: Arc<GreeterService>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    Server::builder()
        .add_service(GreeterServer::from_arc(greeter))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await?;
    Ok(())
}
