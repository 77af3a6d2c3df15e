//! What client governance costs a call: the same unary gRPC call (the standard health check, so
//! the callee does next to nothing) over a plain tonic channel to the instance, and over a
//! governed channel that discovers it (`discovery:///health` in a static registry: balancer,
//! deadline, breaker, context, client metrics). Both run in one process, one after the other,
//! from the same clients, so the ratio holds on a noisy machine.
//!
//! `cargo run --release -p micro-runtime --example governed -- --seconds 5 --clients 16`; prints a `RESULT`
//! line per figure for `bench/run`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use micro_runtime::conf;
use micro_runtime::registry::Registry;
use micro_runtime::registry::client::governed_channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[tokio::main]
async fn main() {
    let (mut seconds, mut clients) = (3u64, 16usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<u64>().ok());
        match arg.as_str() {
            "--seconds" => seconds = value().expect("--seconds N"),
            "--clients" => clients = value().expect("--clients N") as usize,
            other => panic!("unknown argument {other}; expected --seconds N, --clients N"),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let length = Duration::from_secs(seconds);
    let direct = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let direct = run(HealthClient::new(direct), clients, length).await;

    let registry = Registry::new(&conf::Registry {
        kind: conf::RegistryKind::Static,
        services: BTreeMap::from([("health".to_owned(), vec![format!("grpc://{addr}")])]),
        ..conf::Registry::default()
    })
    .unwrap();
    let governed = governed_channel(&registry, "discovery:///health").unwrap();
    let governed = run(HealthClient::new(governed), clients, length).await;

    println!("governed call overhead: {seconds} s each, {clients} concurrent clients");
    for (name, figures) in [("direct", &direct), ("governed", &governed)] {
        println!(
            "  {name:<9} {:>8.0} calls/s  p50 {:>7.3} ms  p99 {:>7.3} ms",
            figures.rate, figures.p50_ms, figures.p99_ms
        );
    }
    let result = |measure: &str, figure: String| println!("RESULT\t{measure}\t{figure}");
    result(
        "gRPC call, governed / direct throughput",
        format!("{:.2}", governed.rate / direct.rate),
    );
    result(
        "gRPC call p50, direct → governed",
        format!("{:.3} → {:.3} ms", direct.p50_ms, governed.p50_ms),
    );
    result(
        "gRPC call p99, direct → governed",
        format!("{:.3} → {:.3} ms", direct.p99_ms, governed.p99_ms),
    );
}

struct Figures {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `clients` loops of health checks through `client` for `length`; every call must succeed.
async fn run<T>(client: HealthClient<T>, clients: usize, length: Duration) -> Figures
where
    T: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
    T::Future: Send,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let until = Instant::now() + length;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let started = Instant::now();
                    client
                        .check(HealthCheckRequest::default())
                        .await
                        .expect("every call succeeds");
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    Figures {
        rate: latencies.len() as f64 / length.as_secs_f64(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    }
}
