//! The etcd registry against real etcd: kratos' record format both ways, leases that die with a
//! service, deregistration, and a registration that survives etcd losing everything. Needs etcd on
//! 127.0.0.1:2379 (`scripts/test` starts it) and the `etcd` binary for the restart test.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use micro_runtime::conf;
use micro_runtime::registry::{Registry, ServiceInstance};
use tokio::sync::watch;

const ETCD: &str = "http://127.0.0.1:2379";

/// A namespace of the test's own, so tests running together never see each other's records.
fn namespace(test: &str) -> String {
    format!("/micro-test/{test}-{}", std::process::id())
}

fn etcd_config(endpoint: &str, namespace: &str, ttl: Duration) -> conf::Registry {
    conf::Registry {
        kind: conf::RegistryKind::Etcd,
        etcd: conf::Etcd {
            endpoints: vec![endpoint.to_owned()],
            namespace: namespace.to_owned(),
            ttl,
        },
        ..conf::Registry::default()
    }
}

/// One call to etcd's JSON gateway, as any client (etcdctl, kratos' Go client) would make it.
async fn gateway(endpoint: &str, method: &str, body: serde_json::Value) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/v3/{method}"))
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|err| {
            panic!("etcd is not answering at {endpoint} ({err}); scripts/test starts it")
        });
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Every key and value under `prefix`, decoded, the values as written.
async fn records(endpoint: &str, prefix: &str) -> BTreeMap<String, String> {
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().unwrap() += 1;
    let range = gateway(
        endpoint,
        "kv/range",
        serde_json::json!({ "key": BASE64.encode(prefix), "range_end": BASE64.encode(end) }),
    )
    .await;
    let decode = |v: &serde_json::Value| BASE64.decode(v.as_str().unwrap()).unwrap();
    range["kvs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|kv| {
            let key = String::from_utf8(decode(&kv["key"])).unwrap();
            (key, String::from_utf8(decode(&kv["value"])).unwrap())
        })
        .collect()
}

/// Waits until the watched instances satisfy `done`, for at most `limit`.
async fn until(
    watch: &mut watch::Receiver<Vec<ServiceInstance>>,
    limit: Duration,
    done: impl Fn(&[ServiceInstance]) -> bool,
) -> Vec<ServiceInstance> {
    let seen = tokio::time::timeout(limit, watch.wait_for(|instances| done(instances)))
        .await
        .map(|seen| seen.unwrap().clone());
    seen.unwrap_or_else(|_| panic!("not seen within {limit:?}; last: {:?}", *watch.borrow()))
}

#[tokio::test]
async fn kratos_and_micro_read_each_others_records() {
    let namespace = namespace("interop");
    let registry = Registry::new(&etcd_config(ETCD, &namespace, Duration::from_secs(10))).unwrap();

    // A record exactly as kratos' etcd registry writes one (Go's encoding/json of
    // `registry.ServiceInstance`, nil metadata as `null`) under `{namespace}/{name}/{id}`.
    let go_record = r#"{"id":"4f1b2c3d-go","name":"user-service","version":"v1.2.0","metadata":null,"endpoints":["http://10.0.0.9:8000?isSecure=false","grpc://10.0.0.9:9000?isSecure=false"]}"#;
    let key = format!("{namespace}/user-service/4f1b2c3d-go");
    gateway(
        ETCD,
        "kv/put",
        serde_json::json!({ "key": BASE64.encode(&key), "value": BASE64.encode(go_record) }),
    )
    .await;
    let mut users = registry.watch("user-service");
    let found = until(&mut users, Duration::from_secs(5), |i| !i.is_empty()).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "4f1b2c3d-go");
    assert_eq!(found[0].version, "v1.2.0");
    assert_eq!(found[0].endpoint("grpc"), Some("10.0.0.9:9000"));
    assert_eq!(found[0].endpoint("http"), Some("10.0.0.9:8000"));

    // micro's own record, where and as kratos reads it.
    let instance = ServiceInstance::new("order-service", "v0.1.0")
        .with_endpoint("http", "0.0.0.0:8000".parse().unwrap(), Some("10.0.0.7"))
        .with_endpoint("grpc", "0.0.0.0:9000".parse().unwrap(), Some("10.0.0.7"));
    let id = instance.id.clone();
    let registration = registry.register(instance);
    let mut orders = registry.watch("order-service");
    until(&mut orders, Duration::from_secs(5), |i| i.len() == 1).await;
    let stored = records(ETCD, &format!("{namespace}/order-service/")).await;
    // Byte for byte what Go's encoding/json writes for the same instance (fields in the order
    // kratos' struct declares them).
    assert_eq!(
        stored[&format!("{namespace}/order-service/{id}")],
        format!(
            r#"{{"id":"{id}","name":"order-service","version":"v0.1.0","metadata":{{}},"endpoints":["http://10.0.0.7:8000?isSecure=false","grpc://10.0.0.7:9000?isSecure=false"]}}"#
        )
    );

    // Deregistering removes the record at once (not at the lease's end), and watchers see it.
    registration.deregister().await;
    assert!(
        records(ETCD, &format!("{namespace}/order-service/"))
            .await
            .is_empty()
    );
    until(&mut orders, Duration::from_secs(5), <[_]>::is_empty).await;
    gateway(
        ETCD,
        "kv/deleterange",
        serde_json::json!({ "key": BASE64.encode(&key) }),
    )
    .await;
    until(&mut users, Duration::from_secs(5), <[_]>::is_empty).await;
}

#[tokio::test]
async fn a_record_whose_lease_was_lost_is_written_again() {
    let namespace = namespace("lease");
    let registry = Registry::new(&etcd_config(ETCD, &namespace, Duration::from_secs(3))).unwrap();
    let instance = ServiceInstance::new("billing", "v1").with_endpoint(
        "grpc",
        "127.0.0.1:9100".parse().unwrap(),
        None,
    );
    let registration = registry.register(instance);
    let mut billing = registry.watch("billing");
    until(&mut billing, Duration::from_secs(5), |i| i.len() == 1).await;

    // Revoking the lease (as an expired one would) deletes the record; the service notices at
    // its next renewal and registers again.
    let prefix = format!("{namespace}/billing/");
    let range = gateway(
        ETCD,
        "kv/range",
        serde_json::json!({ "key": BASE64.encode(&prefix), "range_end": BASE64.encode(format!("{namespace}/billing0")) }),
    )
    .await;
    let lease = range["kvs"][0]["lease"].as_str().unwrap().to_owned();
    gateway(ETCD, "lease/revoke", serde_json::json!({ "ID": lease })).await;
    until(&mut billing, Duration::from_secs(5), <[_]>::is_empty).await;
    until(&mut billing, Duration::from_secs(5), |i| i.len() == 1).await;
    registration.deregister().await;
}

/// An etcd of the test's own, on ports of its own, that can be killed and started again.
struct OwnEtcd {
    child: Child,
    client: String,
}

impl OwnEtcd {
    fn start(data: &Path, client_port: u16, peer_port: u16) -> OwnEtcd {
        let client = format!("http://127.0.0.1:{client_port}");
        let child = Command::new("etcd")
            .args(["--name", "own", "--data-dir"])
            .arg(data)
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{peer_port}"),
            ])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer_port}"),
            ])
            .args([
                "--initial-cluster",
                &format!("own=http://127.0.0.1:{peer_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the `etcd` binary (Debian's etcd-server; scripts/test installs it)");
        OwnEtcd { child, client }
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let health = reqwest::get(format!("{}/health", self.client)).await;
            if let Ok(response) = health
                && response.text().await.unwrap_or_default().contains("true")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("etcd at {} did not become healthy", self.client);
    }
}

impl Drop for OwnEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A static registry that lists `endpoints` as the instances of `name`.
fn static_registry(name: &str, endpoints: Vec<String>) -> Registry {
    let services = BTreeMap::from([(name.to_owned(), endpoints)]);
    Registry::new(&conf::Registry {
        kind: conf::RegistryKind::Static,
        services,
        ..conf::Registry::default()
    })
    .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn discovery_outlives_an_etcd_outage_and_registration_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let (client_port, peer_port) = (free_port(), free_port());
    let etcd = OwnEtcd::start(&dir.path().join("one"), client_port, peer_port);
    etcd.wait_ready().await;
    let endpoint = etcd.client.clone();
    let registry = Registry::new(&etcd_config(
        &endpoint,
        "/microservices",
        Duration::from_secs(3),
    ))
    .unwrap();
    let instance = ServiceInstance::new("catalog", "v1").with_endpoint(
        "grpc",
        "127.0.0.1:9200".parse().unwrap(),
        None,
    );
    let registration = registry.register(instance);
    let mut catalog = registry.watch("catalog");
    until(&mut catalog, Duration::from_secs(5), |i| i.len() == 1).await;

    // etcd goes away for longer than the lease: callers keep the instance they knew.
    drop(etcd);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        catalog.borrow().len(),
        1,
        "the last known instances are kept"
    );

    // It comes back empty (a new data dir: every record and lease lost); the service writes its
    // record again by itself and callers see it.
    let etcd = OwnEtcd::start(&dir.path().join("two"), client_port, peer_port);
    etcd.wait_ready().await;
    let back = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if !records(&endpoint, "/microservices/catalog/")
                .await
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(back.is_ok(), "the registration was not restored");
    // Callers follow: the watch reconnects, reads what etcd now holds (empty until the record
    // is back, which is the truth), and then sees the record.
    until(&mut catalog, Duration::from_secs(10), |i| i.len() == 1).await;
    registration.deregister().await;
    until(&mut catalog, Duration::from_secs(10), <[_]>::is_empty).await;
}

/// A gRPC server on 127.0.0.1 whose health service names it: asked about the service `who`, it
/// answers `SERVING` (instance A) or `NOT_SERVING` (instance B), so a caller can count where its
/// calls went.
async fn tagged_server(serving: bool) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, service) = tonic_health::server::health_reporter();
    let status = if serving {
        tonic_health::ServingStatus::Serving
    } else {
        tonic_health::ServingStatus::NotServing
    };
    reporter.set_service_status("who", status).await;
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    addr
}

/// Makes `calls` calls on `channel`; how many reached instance A.
async fn calls_to_a(channel: &micro_runtime::registry::client::GrpcChannel, calls: usize) -> usize {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let mut client = HealthClient::new(channel.clone());
    let mut to_a = 0;
    for _ in 0..calls {
        let request = HealthCheckRequest {
            service: "who".into(),
        };
        let status = client
            .check(request)
            .await
            .expect("a call through discovery")
            .into_inner()
            .status;
        if status == ServingStatus::Serving as i32 {
            to_a += 1;
        }
    }
    to_a
}

#[tokio::test]
async fn grpc_calls_follow_the_registry_and_spread_over_instances() {
    let namespace = namespace("balance");
    let registry = Registry::new(&etcd_config(ETCD, &namespace, Duration::from_secs(5))).unwrap();
    let (a, b) = (tagged_server(true).await, tagged_server(false).await);
    let register = |addr| {
        registry.register(ServiceInstance::new("tagged", "v1").with_endpoint("grpc", addr, None))
    };
    let first = register(a);
    let channel =
        micro_runtime::registry::client::grpc_channel(&registry, "discovery:///tagged").unwrap();
    let mut watch = registry.watch("tagged");
    until(&mut watch, Duration::from_secs(5), |i| i.len() == 1).await;
    assert_eq!(
        calls_to_a(&channel, 20).await,
        20,
        "one instance takes every call"
    );

    // A second instance registers: it gets a fair share, without the caller being rebuilt.
    let second = register(b);
    until(&mut watch, Duration::from_secs(5), |i| i.len() == 2).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while calls_to_a(&channel, 10).await == 10 {
        assert!(
            Instant::now() < deadline,
            "the new instance never got a call"
        );
    }
    let to_a = calls_to_a(&channel, 400).await;
    assert!((100..=300).contains(&to_a), "A took {to_a} of 400 calls");

    // The first leaves the registry: calls stop reaching it.
    first.deregister().await;
    until(&mut watch, Duration::from_secs(5), |i| i.len() == 1).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while calls_to_a(&channel, 10).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the departed instance still gets calls"
        );
    }
    assert_eq!(calls_to_a(&channel, 50).await, 0);
    second.deregister().await;
}

#[tokio::test]
async fn http_requests_go_to_the_less_loaded_of_two_instances() {
    let registry = static_registry(
        "pair",
        vec![
            "http://127.0.0.1:8101?isSecure=false".to_owned(),
            "http://127.0.0.1:8102".to_owned(),
        ],
    );
    let target =
        micro_runtime::registry::client::http_target(&registry, "discovery:///pair").unwrap();
    let micro_runtime::gateway::Target::Balanced(balancer) = target else {
        panic!("a discovery target is balanced");
    };
    // With one request in flight on an instance, the next goes to the other.
    let pick = |balancer: &std::sync::Arc<dyn micro_runtime::gateway::Balancer>| {
        let Ok(pick) = balancer.pick("/pair.v1.Pair/Get", &[]) else {
            panic!("no instance picked");
        };
        pick
    };
    let held = pick(&balancer);
    for _ in 0..20 {
        assert_ne!(pick(&balancer).base_url, held.base_url);
    }
    (held.done)(200, true);
    // Idle, both are chosen.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..100 {
        seen.insert(pick(&balancer).base_url);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["http://127.0.0.1:8101", "http://127.0.0.1:8102"]
    );

    // No instance: a typed 503, not a panic or a hang.
    let none =
        micro_runtime::registry::client::http_target(&registry, "discovery:///nobody").unwrap();
    let micro_runtime::gateway::Target::Balanced(balancer) = none else {
        panic!("a discovery target is balanced");
    };
    let Err(err) = balancer.pick("/nobody.v1.Nobody/Get", &[]) else {
        panic!("an instance was picked for a service with none");
    };
    assert_eq!((err.code, err.reason.as_str()), (503, "NO_INSTANCE"));
}

/// A typed HTTP client given credentials presents them as governed gRPC clients do: the served
/// request's bearer token when told to forward it, and the service's own key.
#[tokio::test]
async fn http_requests_carry_the_credentials_they_are_given() {
    use micro_runtime::context::RequestContext;
    use micro_runtime::registry::client::{Credentials, http_target_with_credentials};

    let registry = static_registry("solo", vec!["http://127.0.0.1:8103".to_owned()]);
    let balancer = |credentials| {
        let target = http_target_with_credentials(&registry, "discovery:///solo", credentials);
        let Ok(micro_runtime::gateway::Target::Balanced(balancer)) = target else {
            panic!("a discovery target is balanced");
        };
        balancer
    };
    let mut served = axum::http::HeaderMap::new();
    served.insert("authorization", "Bearer user-token".parse().unwrap());
    let context = RequestContext::from_headers(&served, Duration::from_secs(5));
    let headers_of = |balancer: std::sync::Arc<dyn micro_runtime::gateway::Balancer>| {
        let context = context.clone();
        async move {
            context
                .scope(async move {
                    let Ok(pick) = balancer.pick("/solo.v1.Solo/Get", &[]) else {
                        panic!("no instance picked");
                    };
                    let headers = pick.headers.clone();
                    (pick.done)(200, true);
                    headers
                })
                .await
        }
    };

    let both = headers_of(balancer(Credentials::new(true, Some("svc-key")).unwrap())).await;
    assert_eq!(both["authorization"], "Bearer user-token");
    assert_eq!(both["x-api-key"], "svc-key");
    let own = headers_of(balancer(Credentials::new(false, Some("svc-key")).unwrap())).await;
    assert!(own.get("authorization").is_none(), "{own:?}");
    assert_eq!(own["x-api-key"], "svc-key");
    let none = headers_of(balancer(Credentials::default())).await;
    assert!(none.get("authorization").is_none() && none.get("x-api-key").is_none());
}

/// A health server on `addr`, answering `SERVING` for `who`.
async fn serve_health_at(addr: std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("who", tonic_health::ServingStatus::Serving)
        .await;
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_callee_is_shed_fast_and_calls_resume_when_it_returns() {
    use micro_runtime::breaker::BreakerConfig;
    use micro_runtime::registry::client::{Governed, grpc_channel};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    // The only instance of `flaky` is registered but not running.
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let registry = static_registry("flaky", vec![format!("grpc://{addr}")]);
    let channel = grpc_channel(&registry, "discovery:///flaky").unwrap();
    let governed = Governed::new(
        channel,
        Duration::from_millis(300),
        BreakerConfig::default(),
    );
    let call = |client: HealthClient<Governed<micro_runtime::registry::client::GrpcChannel>>| async move {
        let mut client = client;
        let started = Instant::now();
        let request = HealthCheckRequest {
            service: "who".into(),
        };
        (client.check(request).await, started.elapsed())
    };
    let client = HealthClient::new(governed);

    // Every call fails (a typed error within its deadline, never a hang) until the breaker has
    // seen enough of them.
    let first: Vec<_> =
        futures_util::future::join_all((0..120).map(|_| call(client.clone()))).await;
    for (result, took) in &first {
        let status = result.as_ref().expect_err("nothing is serving");
        assert!(
            matches!(
                status.code(),
                tonic::Code::DeadlineExceeded | tonic::Code::Unavailable
            ),
            "{status:?}"
        );
        assert!(*took < Duration::from_secs(2), "a call took {took:?}");
    }

    // Then most calls are refused locally, fast, with the breaker's typed error.
    let mut refused = Vec::new();
    for _ in 0..200 {
        let (result, took) = call(client.clone()).await;
        if let Err(status) = result
            && status.message().contains("circuit breaker")
        {
            assert_eq!(status.code(), tonic::Code::Unavailable);
            refused.push(took);
        }
    }
    assert!(
        refused.len() > 150,
        "only {} of 200 refused locally",
        refused.len()
    );
    refused.sort();
    let p99 = refused[refused.len() * 99 / 100];
    assert!(p99 < Duration::from_millis(10), "refusals p99 {p99:?}");

    // The callee comes back: calls succeed again within seconds, with no new channel.
    serve_health_at(addr).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (result, _) = call(client.clone()).await;
        if result.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "calls did not resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_call_made_while_serving_carries_the_deadline_left_the_trace_and_global_metadata() {
    use micro_runtime::context::{RequestContext, parse_grpc_timeout};
    use micro_runtime::registry::client::{Credentials, governed_channel};
    use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
    use tonic::codegen::http::{HeaderMap, HeaderName, HeaderValue};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    use tracing::Instrument as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    let metrics = micro_runtime::metrics::handle();
    // A callee that records the headers of every call it gets.
    let seen: std::sync::Arc<std::sync::Mutex<Vec<HeaderMap>>> = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let record = std::sync::Arc::clone(&seen);
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(tower::util::MapRequestLayer::new(
                move |request: tonic::codegen::http::Request<tonic::body::Body>| {
                    record.lock().unwrap().push(request.headers().clone());
                    request
                },
            ))
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let registry = static_registry("callee", vec![format!("grpc://{addr}")]);
    // Calls made for the served request's user, by a service that presents its own key too.
    let credentials = Credentials::new(true, Some("order-service-key")).unwrap();
    let governed = governed_channel(&registry, "discovery:///callee")
        .unwrap()
        .with_credentials(credentials);
    let mut client = HealthClient::new(governed);

    // Traces as a service's telemetry sets them up (no exporter needed to have ids).
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _installed = tracing::subscriber::set_default(subscriber);

    // Serving a request with 300 ms left, a tenant in kratos' global metadata, and a user's token.
    let served = RequestContext {
        deadline: tokio::time::Instant::now() + Duration::from_millis(300),
        global_metadata: vec![(
            HeaderName::from_static("x-md-global-tenant"),
            HeaderValue::from_static("acme"),
        )],
        bearer: Some(HeaderValue::from_static("Bearer the-users-token")),
    };
    let span = tracing::info_span!("serving");
    let trace_id = span.context().span().span_context().trace_id();
    served
        .scope(
            async {
                let request = HealthCheckRequest {
                    service: String::new(),
                };
                client.check(request).await.unwrap();
                // A call that sets its own credential keeps it.
                let mut explicit = tonic::Request::new(HealthCheckRequest {
                    service: String::new(),
                });
                explicit
                    .metadata_mut()
                    .insert("authorization", "Bearer its-own".parse().unwrap());
                client.check(explicit).await.unwrap();
            }
            .instrument(span),
        )
        .await;

    let explicit = seen.lock().unwrap().pop().expect("the callee was called");
    assert_eq!(explicit["authorization"], "Bearer its-own");
    assert_eq!(explicit["x-api-key"], "order-service-key");
    let headers = seen.lock().unwrap().pop().expect("the callee was called");
    let timeout = parse_grpc_timeout(headers["grpc-timeout"].to_str().unwrap()).unwrap();
    assert!(
        timeout <= Duration::from_millis(300) && timeout > Duration::from_millis(100),
        "grpc-timeout {timeout:?}"
    );
    assert_eq!(headers["x-md-global-tenant"], "acme");
    assert_eq!(headers["authorization"], "Bearer the-users-token");
    assert_eq!(headers["x-api-key"], "order-service-key");
    let traceparent = headers["traceparent"].to_str().unwrap();
    assert!(
        traceparent.contains(&trace_id.to_string()),
        "{traceparent} is not in trace {trace_id}"
    );

    // Counted as kratos counts client calls: by the callee's operation and the code.
    let page = metrics.render();
    assert!(
        page.lines()
            .any(|line| line.starts_with("client_requests_code_total")
                && line.contains(r#"operation="/grpc.health.v1.Health/Check""#)
                && line.contains(r#"code="200""#)),
        "{page}"
    );
    assert!(page.contains("client_requests_seconds_bucket"), "{page}");
}

#[tokio::test]
async fn http_calls_carry_the_served_request_and_shed_a_failing_callee() {
    use micro_runtime::context::RequestContext;
    use tonic::codegen::http::{HeaderName, HeaderValue};

    let registry = static_registry("solo", vec!["http://127.0.0.1:8103".to_owned()]);
    let micro_runtime::gateway::Target::Balanced(balancer) =
        micro_runtime::registry::client::http_target(&registry, "discovery:///solo").unwrap()
    else {
        panic!("a discovery target is balanced");
    };
    let operation = "/solo.v1.Solo/Get";

    // While serving a request with 250 ms left, a call gets at most that, and the metadata.
    let served = RequestContext {
        deadline: tokio::time::Instant::now() + Duration::from_millis(250),
        global_metadata: vec![(
            HeaderName::from_static("x-md-global-tenant"),
            HeaderValue::from_static("acme"),
        )],
        bearer: None,
    };
    let picked = served.scope(async { balancer.pick(operation, &[]) }).await;
    let Ok(pick) = picked else {
        panic!("the instance was not picked");
    };
    assert!(pick.timeout.unwrap() <= Duration::from_millis(250));
    assert_eq!(pick.headers["x-md-global-tenant"], "acme");
    (pick.done)(200, true);

    // A callee answering 503 is shed once the breaker has seen enough of it.
    for _ in 0..150 {
        if let Ok(pick) = balancer.pick(operation, &[]) {
            (pick.done)(503, true);
        }
    }
    let refused = (0..100)
        .filter(
            |_| matches!(balancer.pick(operation, &[]), Err(err) if err.reason == "CIRCUITBREAKER"),
        )
        .count();
    assert!(refused > 80, "refused {refused} of 100");
}

#[tokio::test]
async fn a_safe_http_call_goes_to_another_instance_when_one_cannot_be_reached() {
    use micro_runtime::gateway::{self, Binding, Body, Contracts};
    use prost_reflect::prost_types;

    // Contracts of one empty message, as generated code carries them.
    let file = prost_types::FileDescriptorProto {
        name: Some("t.proto".into()),
        package: Some("t".into()),
        message_type: vec![prost_types::DescriptorProto {
            name: Some("Empty".into()),
            ..Default::default()
        }],
        syntax: Some("proto3".into()),
        ..Default::default()
    };
    let set = prost::Message::encode_to_vec(&prost_types::FileDescriptorSet { file: vec![file] });
    let encoded: &'static str = Box::leak(BASE64.encode(set).into_boxed_str());
    let contracts: &'static Contracts = Box::leak(Box::new(Contracts::new(encoded, false)));
    let binding = |safe_to_retry| -> &'static Binding {
        Box::leak(Box::new(Binding {
            contracts,
            operation: "/t.T/Get",
            request: "t.Empty",
            reply: "t.Empty",
            method: "GET",
            template: "/x",
            path: &[],
            verb: None,
            query: &[],
            body: Body::None,
            response_body: None,
            safe_to_retry,
        }))
    };

    // One instance answers; the other is registered but nothing listens on its port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/x", axum::routing::get(|| async { "{}" }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let registry = static_registry(
        "pair",
        vec![
            format!("http://127.0.0.1:{}", free_port()),
            format!("http://{live}"),
        ],
    );
    let target =
        micro_runtime::registry::client::http_target(&registry, "discovery:///pair").unwrap();
    let http = reqwest::Client::new();

    // A GET is safe to send again: every call succeeds, on the live instance.
    for _ in 0..30 {
        let reply: Result<(), _> = gateway::send(&http, &target, binding(true), &()).await;
        reply.expect("retried on the live instance");
    }
    // A call that is not safe to repeat is not sent again: the call that finds the instance
    // unreachable fails with a typed 503, and the instance then sits out, so the next ones go
    // to the live one (a fresh target, which has not met the unreachable instance yet).
    let target =
        micro_runtime::registry::client::http_target(&registry, "discovery:///pair").unwrap();
    let mut failed = 0;
    for _ in 0..40 {
        let reply: Result<(), _> = gateway::send(&http, &target, binding(false), &()).await;
        if let Err(err) = reply {
            assert_eq!((err.code, err.reason.as_str()), (503, "UNAVAILABLE"));
            failed += 1;
        }
    }
    assert!(
        (1..=3).contains(&failed),
        "{failed} calls went to the unreachable instance"
    );
}
