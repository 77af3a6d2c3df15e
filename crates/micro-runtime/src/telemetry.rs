//! Logs and traces. Logs go to stderr, pretty or as JSON lines. Each request on either transport
//! gets a span that continues the caller's trace when it sends a W3C `traceparent` header; when
//! `tracing.otlp_endpoint` is set, spans are exported to that OpenTelemetry collector (OTLP over
//! gRPC), batched in the background.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tower_http::classify::{GrpcCode, GrpcErrorsAsFailures, SharedClassifier};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::conf;

/// What [`init`] set up; [`Telemetry::shutdown`] sends the spans still buffered.
#[must_use = "dropping it loses the spans not yet exported; call `shutdown` at exit"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

/// Installs the process-wide logger and, when configured, the trace exporter, naming the
/// service `service` in its spans (`env!("CARGO_PKG_NAME")`). Must run inside the Tokio runtime,
/// which exports the spans.
pub fn init(
    service: &'static str,
    log: &conf::Log,
    tracing: &conf::Tracing,
) -> anyhow::Result<Telemetry> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.level))
        .with_context(|| format!("`log.level` = `{}` is not a tracing filter", log.level))?;
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match log.format {
        conf::LogFormat::Json => logs.json().boxed(),
        conf::LogFormat::Pretty => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none();
            logs.with_ansi(ansi).boxed()
        }
    };
    let traces = match &tracing.otlp_endpoint {
        Some(endpoint) => Some(tracer_provider(service, endpoint, tracing.sample_ratio)?),
        None => None,
    };
    let export = traces
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(service)));
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(export)
        .try_init()
        .context("installing the logger")?;
    Ok(Telemetry { traces })
}

fn tracer_provider(
    service: &'static str,
    endpoint: &str,
    sample_ratio: f64,
) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("`tracing.otlp_endpoint` = `{endpoint}`"))?;
    // Spans are batched and sent from a Tokio task: the SDK's default batching thread has no
    // runtime for tonic to run on.
    let batches = BatchSpanProcessor::builder(exporter, Tokio).build();
    let resource = Resource::builder().with_service_name(service).build();
    // New traces are kept at the configured ratio; a request inside a trace follows its parent.
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(sample_ratio)));
    Ok(SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(batches)
        .with_resource(resource)
        .build())
}

impl Telemetry {
    /// Exports the spans still buffered, then stops exporting.
    pub async fn shutdown(self) {
        let Some(provider) = self.traces else {
            return;
        };
        // Shutting down waits on the export task, so it runs off the runtime's worker threads.
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(err)) = done {
            tracing::warn!("exporting the last spans failed: {err}");
        }
    }
}

/// How the gRPC server's trace layer tells failures apart: as HTTP counts only 5xx, a call fails
/// only when the service is at fault (`UNKNOWN`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS`,
/// `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`). A caller's mistake (`NOT_FOUND`, `INVALID_ARGUMENT`,
/// `UNAUTHENTICATED`…) is an answer, not an error of this service, and is not logged as one.
/// Use it as `TraceLayer::new(telemetry::grpc_failures())`.
pub fn grpc_failures() -> SharedClassifier<GrpcErrorsAsFailures> {
    let answers = [
        GrpcCode::Cancelled,
        GrpcCode::InvalidArgument,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::PermissionDenied,
        GrpcCode::ResourceExhausted,
        GrpcCode::FailedPrecondition,
        GrpcCode::Aborted,
        GrpcCode::OutOfRange,
        GrpcCode::Unauthenticated,
    ];
    let classifier = answers.into_iter().fold(
        GrpcErrorsAsFailures::new(),
        GrpcErrorsAsFailures::with_success,
    );
    SharedClassifier::new(classifier)
}

/// The span of one request, HTTP or gRPC: a child of the caller's trace when the request carries
/// a `traceparent` header.
pub fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    );
    // The propagator reads W3C trace context only: without a `traceparent` header there is no
    // caller's trace to join, and the global propagator is not consulted.
    if request.headers().contains_key("traceparent") {
        let caller = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        });
        // Only fails when no trace exporter is installed, and then there is no trace to join.
        let _ = span.set_parent(caller);
    }
    span
}

#[cfg(test)]
mod tests {
    use tower_http::classify::{ClassifiedResponse, ClassifyResponse as _, MakeClassifier as _};

    use super::*;

    /// Whether the trace layer would count a trailers-only answer with `status` as a failure.
    fn fails(status: tonic::Code) -> bool {
        let request = axum::http::Request::new(());
        let classifier = grpc_failures().make_classifier(&request);
        let response = tonic::Status::new(status, "x").into_http::<()>();
        match classifier.classify_response(&response) {
            ClassifiedResponse::Ready(result) => result.is_err(),
            ClassifiedResponse::RequiresEos(_) => {
                panic!("a trailers-only answer is classified at once")
            }
        }
    }

    #[test]
    fn only_the_services_own_faults_are_failures() {
        for answer in [
            tonic::Code::NotFound,
            tonic::Code::InvalidArgument,
            tonic::Code::Unauthenticated,
            tonic::Code::FailedPrecondition,
        ] {
            assert!(!fails(answer), "{answer:?}");
        }
        for fault in [
            tonic::Code::Internal,
            tonic::Code::Unavailable,
            tonic::Code::Unknown,
            tonic::Code::DeadlineExceeded,
        ] {
            assert!(fails(fault), "{fault:?}");
        }
    }
}
