//! The HTTP middleware as a service's router gets it: wrapped once around the whole router, it
//! still labels each request's metrics with the route the router matched, makes request ids,
//! types the framework's plain-text errors and answers late requests with a typed 504.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use micro_runtime::context::RequestContext;
use micro_runtime::{conf, metrics, middleware};
use tower::ServiceExt as _;

#[tokio::test]
async fn metrics_name_requests_after_the_route_they_matched() {
    let page = metrics::handle();
    let routes = Router::new().route("/things/{id}", get(|| async { "a thing" }));
    let app = middleware::http(routes, &conf::Http::default());
    for path in ["/things/1", "/things/2", "/nowhere"] {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let expected = if path == "/nowhere" {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(response.status(), expected, "{path}");
    }
    let text = page.render();
    let count = |operation: &str, code: &str| {
        text.lines()
            .find(|line| {
                line.starts_with(metrics::REQUESTS)
                    && line.contains(r#"kind="http""#)
                    && line.contains(&format!(r#"operation="{operation}""#))
                    && line.contains(&format!(r#"code="{code}""#))
            })
            .and_then(|line| line.rsplit(' ').next())
            .map(str::to_owned)
    };
    // Both requests to the route are counted under its pattern; a request no route matched
    // is counted as "unmatched".
    assert_eq!(count("/things/{id}", "200").as_deref(), Some("2"), "{text}");
    assert_eq!(count("unmatched", "404").as_deref(), Some("1"), "{text}");
}

async fn answer(app: &Router, request: Request<Body>) -> (StatusCode, String, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    (status, id, json)
}

#[tokio::test]
async fn requests_get_ids_typed_errors_and_deadlines() {
    let routes = Router::new()
        .route(
            // The handler sees the deadline the middleware set, as the calls it makes do.
            "/deadline",
            get(|| async {
                let context = RequestContext::current().expect("a request context");
                let left = context.deadline - tokio::time::Instant::now();
                assert!(left <= std::time::Duration::from_millis(300), "{left:?}");
                "in time"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                "too late"
            }),
        );
    let config = conf::Http {
        timeout: std::time::Duration::from_millis(300),
        ..conf::Http::default()
    };
    let app = middleware::http(routes, &config);

    let (status, id, _) =
        answer(&app, Request::get("/deadline").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let made = uuid::Uuid::parse_str(&id).expect("a UUID");
    assert_eq!(made.get_version_num(), 4, "{id}");
    let (_, other, _) = answer(&app, Request::get("/deadline").body(Body::empty()).unwrap()).await;
    assert_ne!(id, other, "each request gets its own id");
    let given = Request::get("/deadline")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(answer(&app, given).await.1, "abc-123");

    // axum's own plain-text 405 becomes a typed error, with its `allow` header kept.
    let post = Request::post("/deadline").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(post).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers().contains_key("allow"));
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["reason"], "METHOD_NOT_ALLOWED", "{body}");

    let (status, _, body) = answer(&app, Request::get("/slow").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(body["reason"], "TIMEOUT", "{body}");
    assert_eq!(body["message"], "no answer within 300ms", "{body}");
}

#[tokio::test]
async fn the_configured_body_limit_is_the_one_applied() {
    // A handler that reads the body as axum's `Bytes`, as the generated routes do.
    let routes = Router::new().route(
        "/upload",
        axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }),
    );
    let config = conf::Http {
        max_body_bytes: 3 << 20,
        ..conf::Http::default()
    };
    let app = middleware::http(routes, &config);
    let post = |bytes: usize| {
        Request::post("/upload")
            .body(Body::from(vec![b'x'; bytes]))
            .unwrap()
    };
    // Above axum's own default (2 MiB) but within the configured limit: read whole.
    let (status, _, _) = answer(&app, post((2 << 20) + 1)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = answer(&app, post((3 << 20) + 1)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["reason"], "PAYLOAD_TOO_LARGE", "{body}");
}
