//! What every request passes through, on both transports: a request id (taken from
//! `x-request-id` or made up, and sent back), a log line per request, a deadline, and recovery
//! from panics into a typed error, and metrics. HTTP also gets a body size limit and, when
//! configured, CORS.

use std::any::Any;
use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Bytes, HttpBody};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::task::futures::TaskLocalFuture;
use tower::BoxError;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any as AnyOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::context::RequestContext;
use crate::errors::Error;
use crate::{conf, metrics, telemetry};

/// Wraps every HTTP route (the 404 fallback included) in the shared middleware, listed from the
/// outermost in.
///
/// The middleware wraps the router as a whole rather than each of its routes (`Router::layer`):
/// a layered route is a chain of boxed services, one per layer, that `from_fn` middleware clones
/// on every request, and with a dozen layers those clones cost more than the JSON mapping. Only
/// the matched route's pattern, which metrics label requests with, is known inside the router
/// alone; each route hands it on in its response.
pub fn http(router: Router, config: &conf::Http) -> Router {
    let router = router.route_layer(metrics::RememberRouteLayer);
    let stack = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(telemetry::request_span))
        .layer(metrics::HttpLayer)
        .layer(CatchPanicLayer::custom(http_panic))
        .option_layer(cors(&config.cors_origins))
        .option_layer(
            rate_limiter(&config.rate_limit)
                .map(|limiter| middleware::from_fn_with_state(limiter, http_rate_limit)),
        )
        .layer(TypedErrorsLayer)
        .layer(DeadlineLayer {
            timeout: config.timeout,
        })
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        // axum's body extractors would otherwise also apply their own 2 MiB default, capping a
        // larger `max_body_bytes`.
        .layer(DefaultBodyLimit::disable())
        .service(router);
    Router::new().fallback_service(stack)
}

/// A random (version 4) UUID for each request that comes without an `x-request-id`, from the
/// thread's random generator: tower-http's `MakeRequestUuid` asks the kernel for every one.
#[derive(Debug, Clone, Copy)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        let text = id.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// Errors that axum and tower answer in plain text (405, 413, …) become the typed JSON body
/// every other error has, with a reason named after the status.
#[derive(Debug, Clone, Copy)]
struct TypedErrorsLayer;

impl<S> tower::Layer<S> for TypedErrorsLayer {
    type Service = TypedErrors<S>;

    fn layer(&self, inner: S) -> TypedErrors<S> {
        TypedErrors(inner)
    }
}

#[derive(Debug, Clone)]
struct TypedErrors<S>(S);

impl<S, B> tower::Service<Request> for TypedErrors<S>
where
    S: tower::Service<Request, Response = axum::http::Response<B>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TypedErrorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        TypedErrorsFuture::Answering {
            answer: self.0.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer, then (for a plain-text error only) its body being read into a typed error.
    #[project = TypedErrorsState]
    enum TypedErrorsFuture<F> {
        Answering { #[pin] answer: F },
        Typing { typed: Pin<Box<dyn Future<Output = Response> + Send>> },
    }
}

impl<F, B, E> Future for TypedErrorsFuture<F>
where
    F: Future<Output = Result<axum::http::Response<B>, E>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                TypedErrorsState::Answering { answer } => {
                    let response = std::task::ready!(answer.poll(cx))?.map(axum::body::Body::new);
                    if !is_plain_error(&response) {
                        return Poll::Ready(Ok(response));
                    }
                    let typed = Box::pin(typed_error(response));
                    self.set(TypedErrorsFuture::Typing { typed });
                }
                TypedErrorsState::Typing { typed } => return typed.as_mut().poll(cx).map(Ok),
            }
        }
    }
}

/// Whether `response` is an error whose body is not micro's typed JSON.
fn is_plain_error(response: &Response) -> bool {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    (status.is_client_error() || status.is_server_error()) && !is_json
}

async fn typed_error(response: Response) -> Response {
    let status = response.status();
    let reason = status
        .canonical_reason()
        .unwrap_or("ERROR")
        .to_uppercase()
        .replace([' ', '-'], "_");
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let message = match String::from_utf8_lossy(&body).trim() {
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        text => text.to_owned(),
    };
    let mut typed = Error::new(status.as_u16(), reason, message).into_response();
    // Headers other layers set (`allow` on a 405, say) stay; the body's own are replaced.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            typed.headers_mut().insert(name, value.clone());
        }
    }
    typed
}

/// A request that outlives its deadline is answered `504 TIMEOUT` (and its work dropped). The
/// handler runs in the request's context, so the calls it makes get what is left of the deadline.
#[derive(Debug, Clone, Copy)]
struct DeadlineLayer {
    timeout: Duration,
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Clone)]
struct Deadline<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> tower::Service<Request> for Deadline<S>
where
    S: tower::Service<Request, Response = axum::http::Response<B>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let context = RequestContext::from_headers(request.headers(), self.timeout);
        let until = context.deadline;
        let answer = context.scope(self.inner.call(request));
        DeadlineFuture {
            answer: tokio::time::timeout_at(until, answer),
            timeout: self.timeout,
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer, run in the request's context, unless its deadline comes first.
    struct DeadlineFuture<F> {
        #[pin]
        answer: tokio::time::Timeout<TaskLocalFuture<RequestContext, F>>,
        timeout: Duration,
    }
}

impl<F, B, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<axum::http::Response<B>, E>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(match std::task::ready!(this.answer.poll(cx)) {
            Ok(answer) => answer.map(|response| response.map(axum::body::Body::new)),
            Err(_) => {
                let message = format!("no answer within {:?}", this.timeout);
                Ok(Error::new(504, "TIMEOUT", message).into_response())
            }
        })
    }
}

/// The gRPC services behind the shared middleware, as one cloneable service: what the gRPC server
/// runs, and what NATS hands its requests to, so that every transport carrying gRPC calls applies
/// the same request ids, traces, metrics, rate limit, panic recovery and deadlines.
pub type GrpcStack = tower::util::BoxCloneSyncService<
    axum::http::Request<tonic::body::Body>,
    axum::http::Response<tonic::body::Body>,
    tower::BoxError,
>;

/// Wraps `services` (the contracts' gRPC services, with whatever the service puts around them,
/// such as its access checks) in the shared middleware, listed from the outermost in.
pub fn grpc<S, B>(services: S, config: &conf::Grpc) -> GrpcStack
where
    S: tower::Service<axum::http::Request<tonic::body::Body>, Response = axum::http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tower::BoxError> + std::fmt::Display + 'static,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
{
    // A span per call; only the service's own faults are logged as failures.
    let trace = TraceLayer::new(telemetry::grpc_failures()).make_span_with(telemetry::request_span);
    let stack = tower::ServiceBuilder::new()
        .map_err(Into::into)
        .map_response(|response: axum::http::Response<_>| response.map(tonic::body::Body::new))
        .layer(SetRequestIdLayer::x_request_id(RandomRequestId))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(metrics::GrpcLayer)
        .layer(tonic::service::InterceptorLayer::new(grpc_rate_limit(
            rate_limiter(&config.rate_limit),
        )))
        .layer(CatchPanicLayer::custom(grpc_panic))
        // Calls made while serving get what is left of the deadline, and kratos' global metadata.
        .layer(crate::context::GrpcContextLayer {
            timeout: config.timeout,
        })
        .service(services);
    tower::util::BoxCloneSyncService::new(stack)
}

/// The token bucket of a rate limit, or `None` when it is off.
pub fn rate_limiter(config: &conf::RateLimit) -> Option<Arc<DefaultDirectRateLimiter>> {
    let per_second = NonZeroU32::new(config.per_second)?;
    let burst = NonZeroU32::new(config.burst).unwrap_or(per_second);
    Some(Arc::new(RateLimiter::direct(
        Quota::per_second(per_second).allow_burst(burst),
    )))
}

async fn http_rate_limit(
    State(limiter): State<Arc<DefaultDirectRateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    match limiter.check() {
        Ok(()) => next.run(request).await,
        Err(_) => Error::new(429, "RATE_LIMITED", "too many requests; retry later").into_response(),
    }
}

/// Refuses gRPC calls beyond the bucket with `RESOURCE_EXHAUSTED`.
pub fn grpc_rate_limit(
    limiter: Option<Arc<DefaultDirectRateLimiter>>,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |request| match &limiter {
        Some(limiter) if limiter.check().is_err() => Err(tonic::Status::resource_exhausted(
            "too many requests; retry later",
        )),
        _ => Ok(request),
    }
}

fn http_panic(panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!(panic = panic_message(&*panic), "a request handler panicked");
    Error::new(500, "INTERNAL", "the service failed unexpectedly").into_response()
}

/// A panicking gRPC call ends with status `INTERNAL`, as a trailers-only response.
pub fn grpc_panic(panic: Box<dyn Any + Send + 'static>) -> axum::http::Response<String> {
    tracing::error!(panic = panic_message(&*panic), "a gRPC handler panicked");
    let mut response = axum::http::Response::new(String::new());
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/grpc"));
    headers.insert(
        "grpc-status",
        HeaderValue::from(tonic::Code::Internal as i32),
    );
    headers.insert(
        "grpc-message",
        HeaderValue::from_static("the service failed unexpectedly"),
    );
    response
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

/// CORS for the configured origins (`*` for any), or none when the list is empty.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(AnyOrigin);
    Some(if origins.iter().any(|o| o == "*") {
        layer.allow_origin(AnyOrigin)
    } else {
        let origins = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok());
        layer.allow_origin(AllowOrigin::list(origins))
    })
}
