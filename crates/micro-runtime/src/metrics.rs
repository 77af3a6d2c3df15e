//! Prometheus metrics, served at `/metrics`: per operation, named as gRPC names it
//! (`/helloworld.v1.Greeter/SayHello`) on both transports, a request count by status code and a
//! latency histogram. gRPC status codes are counted as the HTTP codes they map to, so one query
//! covers both transports.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::errors::{grpc_code_in_headers, http_code};
use crate::gateway::Operation;

/// Requests answered, by `kind` (`http` or `grpc`), `operation` and `code`.
pub const REQUESTS: &str = "server_requests_code_total";
/// Seconds to answer, by `kind` and `operation`.
pub const SECONDS: &str = "server_requests_seconds";

/// Calls made to other services, by `kind`, the callee's `operation` and `code`.
pub const CLIENT_REQUESTS: &str = "client_requests_code_total";
/// Seconds a call to another service took, by `kind` and the callee's `operation`.
pub const CLIENT_SECONDS: &str = "client_requests_seconds";

/// Counts one outbound call, as kratos' client metrics do (codes as HTTP codes).
pub fn record_client(kind: &'static str, operation: String, code: u16, elapsed: Duration) {
    metrics::counter!(CLIENT_REQUESTS, "kind" => kind, "operation" => operation.clone(), "code" => code.to_string())
        .increment(1);
    metrics::histogram!(CLIENT_SECONDS, "kind" => kind, "operation" => operation)
        .record(elapsed.as_secs_f64());
}

/// What renders the `/metrics` page, once [`handle`] has installed the recorder.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use; renders the `/metrics` page.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(SECONDS.into()),
                    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
                )
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full(CLIENT_SECONDS.into()),
                        &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5],
                    )
                })
                .expect("the buckets are not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            handle
        })
        .clone()
}

/// The counter and histogram of one (kind, operation, code), looked up by their labels once:
/// building the labels and finding the metric by them cost more than the rest of recording.
type Handles = (metrics::Counter, metrics::Histogram);
type HandleCache =
    std::sync::RwLock<std::collections::HashMap<(&'static str, String, u16), Handles>>;

fn record(kind: &'static str, operation: String, code: u16, elapsed: Duration) {
    static CACHE: OnceLock<HandleCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (kind, operation, code);
    let cached = cache
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&key)
        .cloned();
    let (counter, histogram) = cached.unwrap_or_else(|| {
        let (kind, operation, code) = &key;
        let handles = (
            metrics::counter!(REQUESTS, "kind" => *kind, "operation" => operation.clone(), "code" => code.to_string()),
            metrics::histogram!(SECONDS, "kind" => *kind, "operation" => operation.clone()),
        );
        // Before the recorder is installed, the handles are no-ops: those are not kept.
        if HANDLE.get().is_some() {
            cache
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(key.clone(), handles.clone());
        }
        handles
    });
    counter.increment(1);
    histogram.record(elapsed.as_secs_f64());
}

/// Counts an HTTP request under the operation its route answered for, or under the route itself
/// for routes that are not contract bindings (`/healthz`, …), as [`remember_route`] gives it.
pub async fn http(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let response = next.run(request).await;
    let extensions = response.extensions();
    let operation = match (
        extensions.get::<Operation>(),
        extensions.get::<MatchedPath>(),
    ) {
        (Some(Operation(operation)), _) => (*operation).to_owned(),
        (None, Some(route)) => route.as_str().to_owned(),
        (None, None) => "unmatched".to_owned(),
    };
    record(
        "http",
        operation,
        response.status().as_u16(),
        start.elapsed(),
    );
    response
}

/// Puts the pattern of the route a request matched (`/api/v1/orders/{id}`) in its response, for
/// [`http`], which runs outside the router.
pub async fn remember_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// A tower layer counting gRPC calls by their path (which is their operation name).
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcLayer;

impl<S> tower::Layer<S> for GrpcLayer {
    type Service = Grpc<S>;

    fn layer(&self, inner: S) -> Grpc<S> {
        Grpc(inner)
    }
}

#[derive(Debug, Clone)]
pub struct Grpc<S>(S);

impl<S, B, R> tower::Service<http::Request<B>> for Grpc<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let start = Instant::now();
        let operation = request.uri().path().to_owned();
        let call = self.0.call(request);
        Box::pin(async move {
            let response = call.await?;
            // A failed call answers trailers-only: its status is in the headers. A call whose
            // status comes in the trailers is counted as OK.
            let code = http_code(grpc_code_in_headers(response.headers()));
            record("grpc", operation, code, start.elapsed());
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_requests_count_on_the_same_series() {
        let page = handle();
        for code in [200, 200, 404, 200] {
            record(
                "http",
                "/test.v1.Counted/Get".into(),
                code,
                Duration::from_millis(3),
            );
        }
        let text = page.render();
        let count = |code: &str| {
            text.lines()
                .find(|line| {
                    line.starts_with(REQUESTS)
                        && line.contains("operation=\"/test.v1.Counted/Get\"")
                        && line.contains(&format!("code=\"{code}\""))
                })
                .and_then(|line| line.rsplit(' ').next())
                .map(str::to_owned)
        };
        assert_eq!(count("200").as_deref(), Some("3"), "{text}");
        assert_eq!(count("404").as_deref(), Some("1"), "{text}");
        assert!(
            text.contains(&format!(
                "{SECONDS}_count{{kind=\"http\",operation=\"/test.v1.Counted/Get\"}} 4"
            )),
            "{text}"
        );
    }
}
