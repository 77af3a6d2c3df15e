//! One-port mode (`server.mode: single`): HTTP/JSON and gRPC on one listener, told apart by the
//! request's content type (`application/grpc…` goes to gRPC, everything else to HTTP). Each
//! transport keeps its own middleware, probes and metrics; the listener speaks HTTP/1.1 and
//! HTTP/2 (h2c, which gRPC needs), so one port serves curl, browsers and gRPC clients.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, header};
use tower::ServiceExt as _;

use crate::context::RequestContext;
use crate::middleware::GrpcStack;

/// Whether a request is a gRPC call: its content type is `application/grpc` or one of its
/// `+proto`/`+json` forms (gRPC-Web, `application/grpc-web…`, is not served).
pub fn is_grpc<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("application/grpc"))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['+', ';']))
}

/// One router for both transports: gRPC calls go to `grpc` (answered `DEADLINE_EXCEEDED` past the
/// caller's `grpc-timeout` or `timeout`, whichever is sooner, as the gRPC server does), the rest
/// to `http`, whose own fallback answers unknown paths.
pub fn router(http: Router, grpc: GrpcStack, timeout: Duration) -> Router {
    let dispatch = tower::service_fn(move |request: Request<Body>| {
        let http = http.clone();
        let grpc = grpc.clone();
        async move {
            if !is_grpc(&request) {
                return http.oneshot(request).await;
            }
            let deadline = RequestContext::from_headers(request.headers(), timeout).deadline;
            let call = grpc.oneshot(request.map(tonic::body::Body::new));
            let response = match tokio::time::timeout_at(deadline, call).await {
                Ok(Ok(response)) => response.map(Body::new),
                Ok(Err(err)) => grpc_error(tonic::Code::Internal, &err.to_string()),
                Err(_) => grpc_error(tonic::Code::DeadlineExceeded, "the deadline passed"),
            };
            Ok::<_, Infallible>(response)
        }
    });
    Router::new().fallback_service(dispatch)
}

/// A gRPC error with no message body: the status travels in the headers ("trailers-only").
fn grpc_error(code: tonic::Code, message: &str) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", HeaderValue::from(code as i32));
    if let Ok(message) = HeaderValue::from_str(message) {
        headers.insert("grpc-message", message);
    }
    response
}

/// Serves `router` (from [`router`]) on `listener` over HTTP/1.1 and h2c until `shutdown`
/// completes, then waits for in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_content_type(value: &str) -> Request<()> {
        Request::builder()
            .header(header::CONTENT_TYPE, value)
            .body(())
            .unwrap()
    }

    #[test]
    fn grpc_is_told_apart_by_its_content_type() {
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
        ] {
            assert!(is_grpc(&with_content_type(grpc)), "{grpc}");
        }
        for other in [
            "application/json",
            "application/grpc-web",
            "application/grpc-web-text+proto",
            "application/grpcfoo",
            "text/plain",
        ] {
            assert!(!is_grpc(&with_content_type(other)), "{other}");
        }
        assert!(!is_grpc(&Request::new(())));
    }

    /// A gRPC stack that answers `200 OK` after `delay`.
    fn slow_grpc(delay: Duration) -> GrpcStack {
        GrpcStack::new(tower::service_fn(
            move |_: Request<tonic::body::Body>| async move {
                tokio::time::sleep(delay).await;
                Ok::<_, tower::BoxError>(Response::new(tonic::body::Body::empty()))
            },
        ))
    }

    #[tokio::test]
    async fn requests_go_to_their_transport_and_grpc_keeps_its_deadline() {
        let http = Router::new().route("/x", axum::routing::get(|| async { "http" }));
        let both = router(
            http,
            slow_grpc(Duration::from_millis(300)),
            Duration::from_secs(5),
        );

        let plain = Request::get("/x").body(Body::empty()).unwrap();
        let answer = both.clone().oneshot(plain).await.unwrap();
        assert_eq!(answer.status(), 200);
        assert!(answer.headers().get("grpc-status").is_none());

        let call = |timeout: &str| {
            Request::post("/pkg.Service/Method")
                .header(header::CONTENT_TYPE, "application/grpc")
                .header("grpc-timeout", timeout)
                .body(Body::empty())
                .unwrap()
        };
        let answered = both.clone().oneshot(call("2S")).await.unwrap();
        assert_eq!(answered.status(), 200);
        assert!(answered.headers().get("grpc-status").is_none());
        let late = both.oneshot(call("20m")).await.unwrap();
        assert_eq!(
            late.headers()["grpc-status"],
            (tonic::Code::DeadlineExceeded as i32).to_string()
        );
    }
}
