//! Traces reach an OpenTelemetry collector: here a real OTLP/gRPC trace service on a free port.
//! A test binary of its own, because it installs the process-wide logger.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tonic::transport::server::TcpIncoming;

use user_service::{conf, telemetry};

/// Hands every export it receives to the test.
struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn request_spans_continue_the_callers_trace_and_reach_the_collector() {
    let collector = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", collector.local_addr().unwrap());
    let (exports, mut received) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(exports)))
            .serve_with_incoming(TcpIncoming::from(collector)),
    );

    let mut config = conf::Config::load("configs/config.yaml".as_ref()).unwrap();
    config.tracing.otlp_endpoint = Some(endpoint);
    config.events = None;
    let telemetry = telemetry::init(env!("CARGO_PKG_NAME"), &config.log, &config.tracing).unwrap();
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = tokio::spawn(user_service::serve(http, grpc, config, async {
        let _ = stopped.await;
    }));

    // A caller that is itself traced: trace 4bf9…4736, calling from span 00f0…02b7.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = reqwest::Client::new()
        .get(format!("http://{http_addr}/healthz"))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    telemetry.shutdown().await;

    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let (resource, span) = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let export = received.recv().await.expect("the collector runs");
            for spans in export.resource_spans {
                let found = spans
                    .scope_spans
                    .iter()
                    .flat_map(|scope| &scope.spans)
                    .find(|span| hex(&span.trace_id) == trace_id)
                    .cloned();
                if let Some(span) = found {
                    return (spans.resource.unwrap_or_default(), span);
                }
            }
        }
    })
    .await
    .expect("the request's span within 10 s");
    assert_eq!(span.name, "request");
    assert_eq!(hex(&span.parent_span_id), caller_span);
    let service_name = resource
        .attributes
        .iter()
        .find(|attribute| attribute.key == "service.name")
        .and_then(|attribute| attribute.value.as_ref()?.value.clone());
    assert_eq!(
        service_name,
        Some(Value::StringValue(env!("CARGO_PKG_NAME").into()))
    );
}
