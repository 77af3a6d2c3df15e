//! Users over both transports: HTTP through the router, gRPC through a real server and client.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use micro_runtime::errors::Error;
use tokio::net::TcpListener;
use tower::ServiceExt;

use user_service::api::user::v1::user_service_client::UserServiceClient;
use user_service::api::user::v1::{GetUserRequest, is_user_not_found};
use user_service::{conf, server, service};

/// The shipped configuration with its `APP_…` overrides, as the service would run, without
/// the order service's events (`tests/events.rs` consumes a stream of its own).
fn config() -> conf::Config {
    let mut config = conf::Config::load("configs/config.yaml".as_ref()).unwrap();
    config.events = None;
    config
}

async fn users() -> Arc<service::UserService> {
    user_service::users(&config()).await.unwrap()
}

async fn router() -> axum::Router {
    http_router(
        users().await,
        server::Readiness::ready(),
        &conf::Http::default(),
    )
}

/// The HTTP router over `users`, as `serve` builds it.
fn http_router(
    users: Arc<service::UserService>,
    readiness: server::Readiness,
    config: &conf::Http,
) -> axum::Router {
    server::http::router(users, readiness, config)
}

/// A gRPC request as clients send it: where metadata every call needs would go.
fn grpc_request<T>(message: T) -> tonic::Request<T> {
    tonic::Request::new(message)
}

/// Sends `request`; the status and the JSON body.
async fn send(router: axum::Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

async fn get(uri: &str) -> (StatusCode, serde_json::Value) {
    send(
        router().await,
        Request::get(uri).body(Body::empty()).unwrap(),
    )
    .await
}

#[tokio::test]
async fn http_reads_a_seeded_user() {
    let (status, body) = get("/api/v1/users/user_123").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        serde_json::json!({ "user": { "userId": "user_123", "name": "Demo user", "openOrders": 0 } })
    );
}

#[tokio::test]
async fn http_errors_are_typed_json() {
    let (status, body) = get("/api/v1/users/user_999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], 404);
    assert_eq!(body["reason"], "USER_NOT_FOUND");
    assert_eq!(body["message"], "user `user_999` does not exist");

    let long = "u".repeat(65);
    let (status, body) = get(&format!("/api/v1/users/{long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["reason"], "VALIDATOR", "{body}");
}

#[tokio::test]
async fn http_unknown_paths_are_typed_404s() {
    let request = Request::get("/no/such/route").body(Body::empty()).unwrap();
    let (status, body) = send(router().await, request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["reason"], "NOT_FOUND");
}

#[tokio::test]
async fn grpc_reads_users_and_shuts_down_cleanly() {
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = grpc.local_addr().unwrap();
    let config = config();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(user_service::serve(http, grpc, config, async {
        let _ = stopped.await;
    }));

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let check = tonic_health::pb::HealthCheckRequest {
        service: "user.v1.UserService".into(),
    };
    let serving = health.check(check).await.unwrap().into_inner().status;
    assert_eq!(
        serving,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // Reflection lists the contract's service, as grpcurl would ask for it.
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let list = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = ServerReflectionClient::new(channel.clone())
        .server_reflection_info(futures_util::stream::iter([list]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(listed)) =
        replies.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a service list");
    };
    assert!(
        listed
            .service
            .iter()
            .any(|s| s.name == "user.v1.UserService"),
        "{listed:?}"
    );

    let mut client = UserServiceClient::new(channel);
    let reply = client
        .get_user(grpc_request(GetUserRequest {
            user_id: "user_456".into(),
        }))
        .await
        .unwrap();
    assert_eq!(reply.into_inner().user.unwrap().name, "Another demo user");

    let status = client
        .get_user(grpc_request(GetUserRequest {
            user_id: "user_999".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let err = Error::from(status);
    assert!(is_user_not_found(&err), "{err}");
    assert_eq!(err.code, 404);

    let page = server::metrics::handle().render();
    assert!(
        page.lines()
            .any(|l| l.starts_with("server_requests_code_total")
                && l.contains(r#"kind="grpc""#)
                && l.contains(r#"operation="/user.v1.UserService/GetUser""#)
                && l.contains(r#"code="404""#)),
        "no failed GetUser call counted in:\n{page}"
    );

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn readiness_follows_the_service_state() {
    let readiness = server::Readiness::ready();
    let router = http_router(users().await, readiness.clone(), &conf::Http::default());
    let (status, _) = send(
        router.clone(),
        Request::get("/readyz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    readiness.set(false);
    let (status, body) = send(router, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reason"], "NOT_READY");
}

#[tokio::test]
async fn request_ids_are_kept_or_made() {
    let request = Request::get("/healthz")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let response = router().await.oneshot(request).await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = router()
        .await
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"].len(), 36, "a UUID");
}

#[tokio::test]
async fn framework_rejections_are_typed_too() {
    let request = Request::post("/healthz").body(Body::empty()).unwrap();
    let (status, body) = send(router().await, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["reason"], "METHOD_NOT_ALLOWED");
}

/// Routes that misbehave, in the same middleware the service uses.
fn misbehaving(config: &conf::Http) -> axum::Router {
    let routes = axum::Router::new()
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/boom",
            axum::routing::get(|| async {
                if std::hint::black_box(true) {
                    panic!("boom");
                }
                "unreachable"
            }),
        )
        .route(
            "/upload",
            axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        );
    server::middleware::http(routes, config)
}

#[tokio::test]
async fn slow_requests_time_out_with_a_typed_504() {
    let config = conf::Http {
        timeout: std::time::Duration::from_millis(50),
        ..conf::Http::default()
    };
    let (status, body) = send(
        misbehaving(&config),
        Request::get("/slow").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["reason"], "TIMEOUT");
}

#[tokio::test]
async fn panics_become_a_typed_500() {
    let (status, body) = send(
        misbehaving(&conf::Http::default()),
        Request::get("/boom").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["reason"], "INTERNAL");
}

#[tokio::test]
async fn oversized_bodies_are_a_typed_413() {
    let config = conf::Http {
        max_body_bytes: 8,
        ..conf::Http::default()
    };
    let request = Request::post("/upload")
        .body(Body::from("more than eight bytes"))
        .unwrap();
    let (status, body) = send(misbehaving(&config), request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["reason"], "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn cors_answers_configured_origins() {
    let config = conf::Http {
        cors_origins: vec!["https://app.example.com".into()],
        ..conf::Http::default()
    };
    let request = Request::get("/healthz")
        .header("origin", "https://app.example.com")
        .body(Body::empty())
        .unwrap();
    let response = misbehaving(&config).oneshot(request).await.unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

#[tokio::test]
async fn http_metrics_are_labelled_by_operation() {
    let (status, _) = get("/api/v1/users/user_123").await;
    assert_eq!(status, StatusCode::OK);
    let response = router()
        .await
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let page = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        page.lines()
            .any(|l| l.starts_with("server_requests_code_total")
                && l.contains(r#"kind="http""#)
                && l.contains(r#"operation="/user.v1.UserService/GetUser""#)
                && l.contains(r#"code="200""#)),
        "no GetUser count in:\n{page}"
    );
}

#[tokio::test]
async fn requests_beyond_the_rate_limit_are_a_typed_429() {
    let config = conf::Http {
        rate_limit: conf::RateLimit {
            per_second: 1,
            burst: 2,
        },
        ..conf::Http::default()
    };
    let router = http_router(users().await, server::Readiness::ready(), &config);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            send(
                router.clone(),
                Request::get("/healthz").body(Body::empty()).unwrap(),
            )
            .await,
        );
    }
    assert_eq!(statuses[0].0, StatusCode::OK);
    assert_eq!(statuses[1].0, StatusCode::OK);
    assert_eq!(statuses[2].0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(statuses[2].1["reason"], "RATE_LIMITED");
}

#[tokio::test]
async fn grpc_calls_beyond_the_rate_limit_are_resource_exhausted() {
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = grpc.local_addr().unwrap();
    let mut config = config();
    config.server.grpc.rate_limit = conf::RateLimit {
        per_second: 1,
        burst: 1,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(user_service::serve(http, grpc, config, async {
        let _ = stopped.await;
    }));

    let mut client = UserServiceClient::connect(format!("http://{grpc_addr}"))
        .await
        .unwrap();
    let request = || {
        grpc_request(GetUserRequest {
            user_id: "user_123".into(),
        })
    };
    client.get_user(request()).await.unwrap();
    let status = client.get_user(request()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}
