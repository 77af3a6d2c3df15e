//! What a request being served hands on to the calls made while serving it: its deadline (an
//! outbound call gets what is left of it, never more), kratos' global metadata (`x-md-global-*`
//! headers travel on every hop; `x-md-local-*` only one, so they are not handed on), and the
//! caller's bearer token, for clients told to forward it. The server middleware of both
//! transports sets it; governed clients read it.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tonic::codegen::http::{HeaderMap, HeaderName, HeaderValue};

/// The prefix of metadata that travels with a request across every service it reaches.
pub const GLOBAL_METADATA_PREFIX: &str = "x-md-global-";

/// The context of the request being served.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// When the request must be answered by.
    pub deadline: Instant,
    /// The caller's `x-md-global-*` headers.
    pub global_metadata: Vec<(HeaderName, HeaderValue)>,
    /// The caller's `authorization: Bearer …` header, passed on only by clients set to forward
    /// it (an API key, the caller's own secret, never is).
    pub bearer: Option<HeaderValue>,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

impl RequestContext {
    /// The context of a request with these headers, answered within `timeout` (or less when
    /// the caller's own `grpc-timeout` says so).
    pub fn from_headers(headers: &HeaderMap, timeout: Duration) -> RequestContext {
        let timeout = headers
            .get("grpc-timeout")
            .and_then(|value| parse_grpc_timeout(value.to_str().ok()?))
            .map_or(timeout, |asked| asked.min(timeout));
        let global_metadata = headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with(GLOBAL_METADATA_PREFIX))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let bearer = headers
            .get(tonic::codegen::http::header::AUTHORIZATION)
            .filter(|value| value.as_bytes().starts_with(b"Bearer "))
            .cloned();
        RequestContext {
            deadline: Instant::now() + timeout,
            global_metadata,
            bearer,
        }
    }

    /// Runs `work` as the handling of this request.
    pub fn scope<F: Future>(
        self,
        work: F,
    ) -> tokio::task::futures::TaskLocalFuture<RequestContext, F> {
        CURRENT.scope(self, work)
    }

    /// The context of the request the current task is serving, if any.
    pub fn current() -> Option<RequestContext> {
        CURRENT.try_with(Clone::clone).ok()
    }
}

/// gRPC's `grpc-timeout`: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
pub fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// `duration` as a `grpc-timeout` value, in the finest unit that fits eight digits.
pub fn grpc_timeout_text(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    for (unit, per) in [
        ("n", 1),
        ("u", 1_000),
        ("m", 1_000_000),
        ("S", 1_000_000_000),
    ] {
        let value = nanos.div_ceil(per);
        if value < 100_000_000 {
            return format!("{value}{unit}");
        }
    }
    format!("{}M", duration.as_secs().div_ceil(60).min(99_999_999))
}

/// A tower layer for a gRPC server: each call runs in its [`RequestContext`], with the server's
/// `timeout` as the longest deadline.
#[derive(Debug, Clone, Copy)]
pub struct GrpcContextLayer {
    pub timeout: Duration,
}

impl<S> tower::Layer<S> for GrpcContextLayer {
    type Service = GrpcContext<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcContext {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcContext<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> tower::Service<tonic::codegen::http::Request<B>> for GrpcContext<S>
where
    S: tower::Service<tonic::codegen::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tokio::task::futures::TaskLocalFuture<RequestContext, S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: tonic::codegen::http::Request<B>) -> Self::Future {
        let context = RequestContext::from_headers(request.headers(), self.timeout);
        CURRENT.scope(context, self.inner.call(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_read_and_write_as_the_spec_says() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("123456789m"), None);
        assert_eq!(parse_grpc_timeout("5x"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(grpc_timeout_text(Duration::from_millis(250)), "250000u");
        assert_eq!(grpc_timeout_text(Duration::from_secs(2)), "2000000u");
        assert_eq!(grpc_timeout_text(Duration::from_secs(500)), "500000m");
        let round_trip = parse_grpc_timeout(&grpc_timeout_text(Duration::from_nanos(1_234_567)));
        assert_eq!(round_trip, Some(Duration::from_nanos(1_234_567)));
    }

    #[test]
    fn a_caller_can_shorten_the_deadline_but_not_lengthen_it() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", HeaderValue::from_static("50m"));
        headers.insert("x-md-global-tenant", HeaderValue::from_static("acme"));
        headers.insert("x-md-local-hop", HeaderValue::from_static("1"));
        let context = RequestContext::from_headers(&headers, Duration::from_secs(1));
        assert!(context.deadline <= Instant::now() + Duration::from_millis(50));
        assert_eq!(context.global_metadata.len(), 1);
        headers.insert("grpc-timeout", HeaderValue::from_static("10S"));
        let context = RequestContext::from_headers(&headers, Duration::from_secs(1));
        assert!(context.deadline <= Instant::now() + Duration::from_secs(1));
    }
}
