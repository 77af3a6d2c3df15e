//! Traces reach an OpenTelemetry collector: here a real OTLP/gRPC trace service on a free port.
//! A test binary of its own, because it installs the process-wide logger.

mod common;

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

use order_service::{conf, telemetry};

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

    let config = conf::Config::load("configs/config.yaml".as_ref()).unwrap();
    let mut tracing = config.tracing.clone();
    tracing.otlp_endpoint = Some(endpoint);
    let telemetry = telemetry::init(env!("CARGO_PKG_NAME"), &config.log, &tracing).unwrap();
    // The user service creates ask, in this process: its spans go to the same collector.
    let fixture = common::fixture().await;
    let mut config = fixture.config.clone();
    config.tracing = tracing;
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = tokio::spawn(order_service::serve(http, grpc, config, async {
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
    // A create, in another trace: the user check it makes continues that trace in the user service.
    let create_trace = "0af7651916cd43dd8448eb211c80319c";
    let response = reqwest::Client::new()
        .post(format!("http://{http_addr}/api/v1/orders"))
        .header("content-type", "application/json")
        .header(
            "traceparent",
            format!("00-{create_trace}-b7ad6b7169203331-01"),
        )
        .body(serde_json::to_string(&common::iphone_request_for("user_123")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    telemetry.shutdown().await;

    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut spans = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(export) = received.recv().await {
            for resource_spans in export.resource_spans {
                let resource = resource_spans.resource.unwrap_or_default();
                for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                    spans.push((resource.clone(), span));
                }
            }
            let traces: Vec<String> = spans.iter().map(|(_, s)| hex(&s.trace_id)).collect();
            if traces.iter().any(|t| t == trace_id)
                && traces.iter().filter(|t| *t == create_trace).count() >= 2
            {
                return;
            }
        }
    })
    .await;
    let (resource, span) = spans
        .iter()
        .find(|(_, span)| hex(&span.trace_id) == trace_id)
        .cloned()
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

    // The create's trace holds both services' request spans: the order service's, and the user
    // service's below it (its parent is a span of the create's trace, not a root).
    let path_of = |span: &opentelemetry_proto::tonic::trace::v1::Span| {
        span.attributes
            .iter()
            .find(|attribute| attribute.key == "path")
            .and_then(
                |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(path) => Some(path.clone()),
                    _ => None,
                },
            )
            .unwrap_or_default()
    };
    let create: Vec<_> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| hex(&span.trace_id) == create_trace)
        .collect();
    let order = create
        .iter()
        .find(|span| path_of(span) == "/api/v1/orders")
        .unwrap_or_else(|| panic!("no create span in {create:?}"));
    let user = create
        .iter()
        .find(|span| path_of(span) == "/user.v1.UserService/GetUser")
        .unwrap_or_else(|| panic!("no GetUser span in the create's trace: {create:?}"));
    assert_eq!(hex(&order.parent_span_id), "b7ad6b7169203331");
    assert!(
        create
            .iter()
            .any(|span| span.span_id == user.parent_span_id),
        "the user service's span hangs off the create's trace"
    );
}
