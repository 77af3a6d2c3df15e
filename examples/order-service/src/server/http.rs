//! The HTTP/JSON server: the routes generated from the contracts' `google.api.http` rules, plus
//! operational endpoints.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::http::{Uri, header};
use axum::routing::get;
use micro_runtime::auth::{self, Authenticator};
use micro_runtime::errors::Error;
use swagger_ui_dist::{ApiDefinition, OpenApiSource};
use tokio::net::TcpListener;

use crate::api::order::v1::order_service_http;
use crate::api::{OPENAPI_JSON, OPENAPI_YAML};
use crate::conf;
use crate::server::{Readiness, metrics, middleware};
use crate::service::OrderService;

/// Every HTTP route of the service, in the shared middleware. `/readyz` answers 503 once
/// shutdown begins or while storage does not answer. Unknown paths get the same typed
/// JSON error as every route. With an `authenticator`, the contract's routes need a credential.
pub fn router(
    orders: Arc<OrderService>,
    readiness: Readiness,
    config: &conf::Http,
    authenticator: Option<Arc<Authenticator>>,
) -> Router {
    let api = order_service_http::router(orders.clone());
    let api = match authenticator {
        Some(authenticator) => api.layer(axum::middleware::from_fn_with_state(
            authenticator,
            auth::http,
        )),
        None => api,
    };
    let recorder = metrics::handle();
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get({
                let orders = orders.clone();
                move || async move {
                    if !readiness.is_ready() {
                        return Err(Error::new(503, "NOT_READY", "shutting down"));
                    }
                    match orders.ready().await {
                        Ok(()) => Ok("ready"),
                        Err(err) => Err(Error::new(503, "NOT_READY", format!("{err:#}"))),
                    }
                }
            }),
        )
        .route("/metrics", get(move || async move { recorder.render() }))
        .merge(api)
        .merge(api_docs())
        .fallback(|uri: Uri| async move {
            Error::new(404, "NOT_FOUND", format!("no route for `{}`", uri.path()))
        });
    middleware::http(routes, config)
}

/// The OpenAPI document generated from the contracts, and Swagger UI to try it; both are
/// compiled into the binary, so they work offline.
fn api_docs() -> Router {
    Router::new()
        .route(
            "/q/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON) }),
        )
        .route(
            "/q/openapi.yaml",
            get(|| async { ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML) }),
        )
        .merge(swagger_ui_dist::generate_routes(ApiDefinition {
            uri_prefix: "/q/swagger-ui",
            api_definition: OpenApiSource::Uri("/q/openapi.json"),
            title: Some(env!("CARGO_PKG_NAME")),
        }))
}

/// Serves `router` until `shutdown` completes, then waits for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
