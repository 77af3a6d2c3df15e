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
/// building the labels and finding the metric by them cost more than the rest of recording. The
/// operation is the inner key, so a lookup borrows it rather than allocating a key.
type Handles = (metrics::Counter, metrics::Histogram);
type HandleCache = std::sync::RwLock<
    std::collections::HashMap<(&'static str, u16), std::collections::HashMap<String, Handles>>,
>;

fn record(kind: &'static str, operation: &str, code: u16, elapsed: Duration) {
    static CACHE: OnceLock<HandleCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let cached = cache
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&(kind, code))
        .and_then(|operations| operations.get(operation))
        .cloned();
    let (counter, histogram) = cached.unwrap_or_else(|| {
        let handles = (
            metrics::counter!(REQUESTS, "kind" => kind, "operation" => operation.to_owned(), "code" => code.to_string()),
            metrics::histogram!(SECONDS, "kind" => kind, "operation" => operation.to_owned()),
        );
        // Before the recorder is installed, the handles are no-ops: those are not kept.
        if HANDLE.get().is_some() {
            cache
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .entry((kind, code))
                .or_default()
                .insert(operation.to_owned(), handles.clone());
        }
        handles
    });
    counter.increment(1);
    histogram.record(elapsed.as_secs_f64());
}

/// A tower layer counting HTTP requests under the operation their route answered for, or under
/// the route itself for routes that are not contract bindings (`/healthz`, …), as
/// [`RememberRouteLayer`] gives it.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpLayer;

impl<S> tower::Layer<S> for HttpLayer {
    type Service = Http<S>;

    fn layer(&self, inner: S) -> Http<S> {
        Http(inner)
    }
}

#[derive(Debug, Clone)]
pub struct Http<S>(S);

impl<S, B, R> tower::Service<http::Request<B>> for Http<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = HttpFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        HttpFuture {
            answer: self.0.call(request),
            start: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// An HTTP request's answer, counted once it is ready.
    pub struct HttpFuture<F> {
        #[pin]
        answer: F,
        start: Instant,
    }
}

impl<F, R, E> Future for HttpFuture<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.answer.poll(cx));
        if let Ok(response) = &answer {
            let extensions = response.extensions();
            let operation = match (
                extensions.get::<Operation>(),
                extensions.get::<MatchedPath>(),
            ) {
                (Some(Operation(operation)), _) => operation,
                (None, Some(route)) => route.as_str(),
                (None, None) => "unmatched",
            };
            let code = response.status().as_u16();
            record("http", operation, code, this.start.elapsed());
        }
        Poll::Ready(answer)
    }
}

/// A route layer that puts the pattern of the route a request matched (`/api/v1/orders/{id}`)
/// in its response, for [`HttpLayer`], which runs outside the router.
#[derive(Debug, Clone, Copy, Default)]
pub struct RememberRouteLayer;

impl<S> tower::Layer<S> for RememberRouteLayer {
    type Service = RememberRoute<S>;

    fn layer(&self, inner: S) -> RememberRoute<S> {
        RememberRoute(inner)
    }
}

#[derive(Debug, Clone)]
pub struct RememberRoute<S>(S);

impl<S, R> tower::Service<Request> for RememberRoute<S>
where
    S: tower::Service<Request, Response = http::Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RememberRouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        RememberRouteFuture {
            answer: self.0.call(request),
            route,
        }
    }
}

pin_project_lite::pin_project! {
    /// A routed request's answer, given the route's pattern once it is ready.
    pub struct RememberRouteFuture<F> {
        #[pin]
        answer: F,
        route: Option<MatchedPath>,
    }
}

impl<F, R, E> Future for RememberRouteFuture<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut answer = std::task::ready!(this.answer.poll(cx));
        if let (Ok(response), Some(route)) = (&mut answer, this.route.take()) {
            response.extensions_mut().insert(route);
        }
        Poll::Ready(answer)
    }
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
        let path = request.uri().clone();
        let call = self.0.call(request);
        Box::pin(async move {
            let response = call.await?;
            // A failed call answers trailers-only: its status is in the headers. A call whose
            // status comes in the trailers is counted as OK.
            let code = http_code(grpc_code_in_headers(response.headers()));
            record("grpc", path.path(), code, start.elapsed());
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
                "/test.v1.Counted/Get",
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
