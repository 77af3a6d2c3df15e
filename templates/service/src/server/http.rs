//! The HTTP/JSON server: the routes generated from the contracts' `google.api.http` rules, plus
//! operational endpoints.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::Uri;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::api::errors::Error;
use crate::api::helloworld::v1::greeter_http;
use crate::service::GreeterService;

/// Every HTTP route of the service. Unknown paths get the same typed JSON error as every route.
pub fn router(greeter: Arc<GreeterService>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(greeter_http::router(greeter))
        .fallback(|uri: Uri| async move {
            Error::new(404, "NOT_FOUND", format!("no route for `{}`", uri.path()))
        })
}

/// Serves `router` until `shutdown` completes, then waits for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
    Ok(())
}
