//! The yardstick the service is measured against: GetOrder as a bare axum handler and a bare
//! tonic service over the same store, with none of the service's layers (no logging, metrics,
//! timeouts, rate limit, validation, auth or cache). The benchmark runs it as a process of its
//! own, like the service, so the two differ only in what micro's layers cost.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use order_service::api::order::v1 as api;
use order_service::api::order::v1::order_service_server::{OrderService, OrderServiceServer};
use order_service::biz::OrderRepo as _;
use order_service::conf::Config;
use order_service::data::{self, OrderStore};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Status};

/// The environment variable that turns the benchmark binary into the bare server.
pub const SERVE_BARE: &str = "LOAD_BENCH_SERVE_BARE";

/// Serves until killed, on the addresses and database of the config file after `--conf`.
pub async fn serve() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .iter()
        .position(|arg| arg == "--conf")
        .and_then(|i| args.get(i + 1))
        .expect("--conf FILE");
    let mut config = Config::load(path.as_ref()).expect("loading the config");
    // The service's outbox relay is its own work, not a store read's.
    config.nats = None;
    let store = Arc::new(data::open(&config).await.expect("opening the store"));

    let router = axum::Router::new()
        .route("/readyz", axum::routing::get(|| async { "ready" }))
        .route("/api/v1/orders/{order_id}", axum::routing::get(http_get))
        .with_state(store.clone());
    let http = tokio::net::TcpListener::bind(&config.server.http.addr)
        .await
        .unwrap();
    let grpc = tokio::net::TcpListener::bind(&config.server.grpc.addr)
        .await
        .unwrap();
    let grpc = tonic::transport::Server::builder()
        .add_service(OrderServiceServer::from_arc(Arc::new(Bare(store))))
        .serve_with_incoming(TcpIncoming::from(grpc));
    let (http, grpc) = tokio::join!(axum::serve(http, router), grpc);
    http.unwrap();
    grpc.unwrap();
}

async fn http_get(State(store): State<Arc<OrderStore>>, Path(id): Path<String>) -> Response {
    match store.get(&id).await {
        Ok(Some(order)) => Json(api::GetOrderResponse {
            order: Some(order.into()),
        })
        .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

struct Bare(Arc<OrderStore>);

#[tonic::async_trait]
impl OrderService for Bare {
    async fn get_order(
        &self,
        request: Request<api::GetOrderRequest>,
    ) -> Result<tonic::Response<api::GetOrderResponse>, Status> {
        match self.0.get(&request.get_ref().order_id).await {
            Ok(Some(order)) => Ok(tonic::Response::new(api::GetOrderResponse {
                order: Some(order.into()),
            })),
            Ok(None) => Err(Status::not_found("no such order")),
            Err(_) => Err(Status::internal("storage failed")),
        }
    }

    async fn create_order(
        &self,
        _: Request<api::CreateOrderRequest>,
    ) -> Result<tonic::Response<api::CreateOrderResponse>, Status> {
        Err(Status::unimplemented("the baseline only reads"))
    }

    async fn list_orders(
        &self,
        _: Request<api::ListOrdersRequest>,
    ) -> Result<tonic::Response<api::ListOrdersResponse>, Status> {
        Err(Status::unimplemented("the baseline only reads"))
    }

    async fn cancel_order(
        &self,
        _: Request<api::CancelOrderRequest>,
    ) -> Result<tonic::Response<api::CancelOrderResponse>, Status> {
        Err(Status::unimplemented("the baseline only reads"))
    }
}
