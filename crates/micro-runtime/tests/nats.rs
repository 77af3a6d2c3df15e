//! NATS request-reply against a real NATS server (127.0.0.1:4222, or `MICRO_TEST_NATS_URL`): a
//! gRPC service (the standard health service, through tonic's own routing) answered over NATS as
//! over gRPC, in protobuf and in JSON, with typed errors, discoverable with `$SRV.INFO`, and
//! shared by the instances of a queue group.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use micro_runtime::Contracts;
use micro_runtime::nats::{self, Served};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

fn nats_url() -> String {
    std::env::var("MICRO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The health service's contract, as a service's generated `CONTRACTS` would hold it.
fn contracts() -> &'static Contracts {
    use base64::Engine as _;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(tonic_health::pb::FILE_DESCRIPTOR_SET);
    Box::leak(Box::new(Contracts::new(
        Box::leak(encoded.into_boxed_str()),
        false,
    )))
}

/// A name no other test (or run) uses, for the service and its subjects.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// One instance serving the health service over NATS, counting the calls it answers; stopped
/// by sending on the returned channel.
async fn instance(
    name: &str,
    prefix: &str,
) -> (
    Arc<AtomicUsize>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let (_reporter, health) = tonic_health::server::health_reporter();
    let answered = Arc::new(AtomicUsize::new(0));
    let counted = answered.clone();
    let grpc = tower::ServiceBuilder::new()
        .map_request(move |request| {
            counted.fetch_add(1, Ordering::SeqCst);
            request
        })
        .service(tonic::service::Routes::new(health));
    let client = async_nats::connect(nats_url()).await.unwrap();
    let served = Served {
        name: name.into(),
        version: "0.1.0".into(),
        description: "health over NATS".into(),
        prefix: prefix.into(),
        services: vec!["grpc.health.v1.Health".into()],
        timeout: Duration::from_secs(1),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(nats::serve(client, contracts(), served, grpc, async {
        let _ = stopped.await;
    }));
    // Serving once the service answers discovery.
    let probe = async_nats::connect(nats_url()).await.unwrap();
    let ping = format!("$SRV.PING.{name}");
    for _ in 0..100 {
        if probe.request(ping.clone(), "".into()).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (answered, stop, running)
}

async fn check(
    client: &async_nats::Client,
    subject: &str,
    service: &str,
) -> Result<HealthCheckResponse, micro_runtime::Error> {
    let request = HealthCheckRequest {
        service: service.into(),
    };
    nats::call(
        client,
        subject,
        &request,
        async_nats::HeaderMap::new(),
        Duration::from_secs(2),
    )
    .await
}

#[tokio::test]
async fn a_call_over_nats_answers_as_grpc_does_in_protobuf_and_json() {
    let (name, prefix) = (unique("health"), unique("t"));
    let (_, stop, running) = instance(&name, &prefix).await;
    let client = async_nats::connect(nats_url()).await.unwrap();
    let subject = nats::subject(&prefix, "grpc.health.v1.Health", "Check");

    let reply = check(&client, &subject, "").await.unwrap();
    assert_eq!(reply.status, ServingStatus::Serving as i32);

    // The same call in JSON.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/json");
    let reply = client
        .request_with_headers(subject.clone(), headers, r#"{"service": ""}"#.into())
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(json, serde_json::json!({"status": "SERVING"}));

    // An error is the typed error a gRPC caller gets (NOT_FOUND → 404), in NATS micro's headers.
    let err = check(&client, &subject, "no.such.Service")
        .await
        .unwrap_err();
    assert_eq!(err.code, 404, "{err}");
    let request = HealthCheckRequest {
        service: "no.such.Service".into(),
    };
    let raw = client
        .request(
            subject.clone(),
            prost::Message::encode_to_vec(&request).into(),
        )
        .await
        .unwrap();
    let headers = raw.headers.unwrap();
    assert_eq!(
        headers.get("Nats-Service-Error-Code").unwrap().as_str(),
        "404"
    );
    let typed: serde_json::Value =
        serde_json::from_str(headers.get(nats::ERROR_HEADER).unwrap().as_str()).unwrap();
    assert_eq!(typed["code"], 404);

    // A malformed JSON request is a typed 400, before the service sees it.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Content-Type", "application/json");
    let raw = client
        .request_with_headers(subject.clone(), headers, "{not json".into())
        .await
        .unwrap();
    assert_eq!(
        raw.headers
            .unwrap()
            .get("Nats-Service-Error-Code")
            .unwrap()
            .as_str(),
        "400"
    );

    // The standard discovery lists the unary endpoint (a stream has no request-reply form).
    let info = client
        .request(format!("$SRV.INFO.{name}"), "".into())
        .await
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.payload).unwrap();
    let subjects: Vec<&str> = info["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|endpoint| endpoint["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, [subject.as_str()], "{info}");
    assert_eq!(info["endpoints"][0]["queue_group"], nats::QUEUE_GROUP);

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    // Stopped: nobody answers.
    let err = check(&client, &subject, "").await.unwrap_err();
    assert_eq!(err.code, 503, "{err}");
}

#[tokio::test]
async fn instances_share_a_queue_group_and_a_stopped_ones_share_moves_to_the_others() {
    let (name, prefix) = (unique("shared"), unique("t"));
    let (first, stop_first, first_running) = instance(&name, &prefix).await;
    let (second, stop_second, second_running) = instance(&name, &prefix).await;
    let client = async_nats::connect(nats_url()).await.unwrap();
    let subject = nats::subject(&prefix, "grpc.health.v1.Health", "Check");

    for _ in 0..60 {
        check(&client, &subject, "").await.unwrap();
    }
    let (a, b) = (first.load(Ordering::SeqCst), second.load(Ordering::SeqCst));
    assert_eq!(a + b, 60);
    assert!(
        a >= 10 && b >= 10,
        "one instance took almost everything: {a} and {b}"
    );

    stop_first.send(()).unwrap();
    first_running.await.unwrap().unwrap();
    for _ in 0..20 {
        check(&client, &subject, "").await.unwrap();
    }
    assert_eq!(
        first.load(Ordering::SeqCst),
        a,
        "a stopped instance answered"
    );
    assert_eq!(second.load(Ordering::SeqCst), b + 20);

    stop_second.send(()).unwrap();
    second_running.await.unwrap().unwrap();
}

/// Authentication and the contract's access rules run on NATS calls too, as the gRPC server's
/// stack runs them: a call without a credential is the typed `401`, one with a key answers.
#[tokio::test]
async fn nats_calls_pass_through_authentication() {
    use micro_runtime::auth::{Authenticator, GrpcLayer};
    use sha2::Digest as _;

    let hash: String = sha2::Sha256::digest(b"the-callers-key")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let config = micro_runtime::conf::Auth {
        jwt: None,
        api_keys: vec![micro_runtime::conf::ApiKey {
            name: "caller".into(),
            sha256: hash,
            roles: vec![],
        }],
    };
    let authenticator = Authenticator::new(&config, false).await.unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let contracts = contracts();
    let grpc = tower::ServiceBuilder::new()
        .layer(GrpcLayer::new(authenticator, contracts))
        .service(tonic::service::Routes::new(health));
    let (name, prefix) = (unique("secured"), unique("t"));
    let served = Served {
        name: name.clone(),
        version: "0.1.0".into(),
        description: String::new(),
        prefix: prefix.clone(),
        services: vec!["grpc.health.v1.Health".into()],
        timeout: Duration::from_secs(1),
    };
    let client = async_nats::connect(nats_url()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(nats::serve(
        client.clone(),
        contracts,
        served,
        grpc,
        async {
            let _ = stopped.await;
        },
    ));
    let subject = nats::subject(&prefix, "grpc.health.v1.Health", "Check");
    let mut anonymous = Err(micro_runtime::Error::new(0, "", ""));
    for _ in 0..100 {
        anonymous = check(&client, &subject, "").await;
        if !matches!(&anonymous, Err(err) if err.code == 503) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = anonymous.unwrap_err();
    assert_eq!((err.code, err.reason.as_str()), (401, "UNAUTHENTICATED"));

    let mut headers = async_nats::HeaderMap::new();
    headers.insert("x-api-key", "the-callers-key");
    let request = HealthCheckRequest::default();
    let reply: HealthCheckResponse =
        nats::call(&client, &subject, &request, headers, Duration::from_secs(2))
            .await
            .unwrap();
    assert_eq!(reply.status, ServingStatus::Serving as i32);

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
}

/// A call made while serving a request carries its bearer token only when told to.
#[tokio::test]
async fn calls_forward_the_served_bearer_token_when_told_to() {
    use micro_runtime::context::RequestContext;

    let mut served = axum::http::HeaderMap::new();
    served.insert("authorization", "Bearer user-token".parse().unwrap());
    let mut own = nats::HeaderMap::new();
    own.insert("x-api-key", "svc-key");
    let context = RequestContext::from_headers(&served, Duration::from_secs(5));
    let (forwarded, kept) = context
        .scope(async { (nats::outgoing(&own, true), nats::outgoing(&own, false)) })
        .await;
    assert_eq!(
        forwarded.get("authorization").map(|v| v.as_str()),
        Some("Bearer user-token")
    );
    assert_eq!(
        forwarded.get("x-api-key").map(|v| v.as_str()),
        Some("svc-key")
    );
    assert!(kept.get("authorization").is_none());
    // Outside a served request there is nothing to forward.
    assert!(nats::outgoing(&own, true).get("authorization").is_none());
}
