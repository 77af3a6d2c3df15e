//! The HTTP middleware as a service's router gets it: wrapped once around the whole router, it
//! still labels each request's metrics with the route the router matched.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
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
