//! A load benchmark of the real service binary: CreateOrder and GetOrder over HTTP/JSON and gRPC,
//! each for a fixed time from a number of concurrent clients, reporting requests per second,
//! p50/p99 latency, errors, and the service's CPU use and peak memory.
//!
//! GetOrder is also measured against a bare axum handler and a bare tonic service reading the same
//! store (`bare.rs`), and the ratio printed: what micro's layers cost.
//!
//! `cargo bench --bench load [-- --seconds 10 --clients 32 --creates]`; `--creates` measures only
//! the writes (no bare baseline), to compare databases and client counts. The service runs with
//! the shipped config (logs at info, to /dev/null) on a fresh SQLite file, or on the database
//! named by `BENCH_DATABASE_URL`; events go to the NATS at `BENCH_NATS_URL` (default
//! 127.0.0.1:4222) on a stream of the run's own, deleted at the end. Client and service share this
//! machine's cores.

use std::sync::Arc;
use std::time::{Duration, Instant};

use order_service::api::order::v1::order_service_client::OrderServiceClient;
use order_service::api::order::v1::{CreateOrderRequest, GetOrderRequest, OrderItem};
use sqlx::Connection as _;
use tonic::transport::Channel;

mod bare;
#[path = "../../tests/common/process.rs"]
mod process;
#[path = "../../tests/common/users.rs"]
mod users;

use process::ServiceProcess;

const ORDER_JSON: &str = r#"{"user_id": "user_123", "items": [{"product_id": "prod_001", "product_name": "iPhone 15", "quantity": 1, "unit_price": 599900}], "address": "Beijing Chaoyang District xxx", "remark": "Please ship ASAP"}"#;

/// Orders GetOrder reads, round robin.
const READ_SET: usize = 1000;

/// How many stretches a read scenario's time is cut into, alternating service and bare.
const ROUNDS: u32 = 6;

struct Options {
    seconds: u64,
    clients: usize,
    creates_only: bool,
}

fn options() -> Options {
    let mut options = Options {
        seconds: 10,
        clients: 32,
        creates_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok());
        match arg.as_str() {
            "--seconds" => options.seconds = value().expect("--seconds N"),
            "--clients" => options.clients = value().expect("--clients N") as usize,
            "--creates" => options.creates_only = true,
            // cargo bench passes `--bench`; anything else is a mistake worth hearing about.
            "--bench" => {}
            other => {
                panic!("unknown argument {other}; expected --seconds N, --clients N, --creates")
            }
        }
    }
    options
}

async fn start(database_url: &str, nats_url: &str, stream: &str, users: &str) -> ServiceProcess {
    let env = [
        ("APP_DATABASE__URL", database_url.to_owned()),
        ("APP_USERS__TARGET", users.to_owned()),
        ("APP_NATS__URL", nats_url.to_owned()),
        ("APP_NATS__STREAM", stream.to_owned()),
        ("APP_NATS__SUBJECT_PREFIX", stream.to_lowercase()),
    ];
    ServiceProcess::start(env!("CARGO_BIN_EXE_order-service"), &env).await
}

/// What one client saw: each request's latency, how many failed, and the first failure.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

/// Runs `clients` copies of `request` back to back until `duration` is up.
async fn drive<F, Fut>(clients: usize, duration: Duration, request: F) -> Tally
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let request = Arc::new(request);
    let deadline = Instant::now() + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let outcome = request(client, n).await;
                    tally.latencies.push(started.elapsed());
                    if let Err(err) = outcome {
                        tally.errors += 1;
                        tally.first_error.get_or_insert(err);
                    }
                    n += 1;
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.unwrap();
        total.latencies.extend(tally.latencies);
        total.errors += tally.errors;
        total.first_error = total.first_error.or(tally.first_error);
    }
    total
}

fn grpc_order() -> CreateOrderRequest {
    CreateOrderRequest {
        user_id: "user_123".into(),
        items: vec![OrderItem {
            product_id: "prod_001".into(),
            product_name: "iPhone 15".into(),
            quantity: 1,
            unit_price: 599_900,
        }],
        address: "Beijing Chaoyang District xxx".into(),
        remark: "Please ship ASAP".into(),
    }
}

/// A whole HTTP exchange: a success status and a body read to the end.
async fn http_outcome(response: reqwest::Result<reqwest::Response>) -> Result<(), String> {
    let response = response.map_err(|err| format!("{err:?}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|err| format!("{err:?}"))?;
    match status.is_success() {
        true => Ok(()),
        false => Err(format!("{status}: {body}")),
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One scenario's figures against one server.
struct Measurement {
    requests: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    first_error: Option<String>,
    /// The server's CPU use over the scenario, in cores.
    cpu: f64,
}

/// What the scenarios need to reach a server.
struct Target {
    http: reqwest::Client,
    http_base: String,
    channels: Arc<Vec<Channel>>,
    read_set: Arc<Vec<String>>,
}

impl Target {
    async fn new(server: &ServiceProcess, clients: usize, read_set: Arc<Vec<String>>) -> Self {
        // One HTTP/2 connection per eight clients, as a pool of channels would give.
        let mut channels = Vec::new();
        for _ in 0..clients.div_ceil(8) {
            let channel = Channel::from_shared(server.grpc.clone()).unwrap();
            channels.push(channel.connect().await.unwrap());
        }
        Target {
            http: reqwest::Client::new(),
            http_base: server.http.clone(),
            channels: Arc::new(channels),
            read_set,
        }
    }
}

/// What one server did over a stretch of a scenario.
#[derive(Default)]
struct Stretch {
    tally: Tally,
    wall: Duration,
    cpu_seconds: f64,
}

impl Stretch {
    fn per_second(&self) -> f64 {
        self.tally.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    /// This stretch and `other` as one.
    fn add(&mut self, other: Stretch) {
        self.tally.latencies.extend(other.tally.latencies);
        self.tally.errors += other.tally.errors;
        self.tally.first_error = self.tally.first_error.take().or(other.tally.first_error);
        self.wall += other.wall;
        self.cpu_seconds += other.cpu_seconds;
    }

    fn measurement(mut self) -> Measurement {
        let latencies = &mut self.tally.latencies;
        latencies.sort_unstable();
        let percentile = |p: f64| {
            let index = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
            millis(latencies[index])
        };
        Measurement {
            requests: latencies.len(),
            per_second: latencies.len() as f64 / self.wall.as_secs_f64(),
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            errors: self.tally.errors,
            first_error: self.tally.first_error,
            cpu: self.cpu_seconds / self.wall.as_secs_f64(),
        }
    }
}

/// `scenario` against `server` for `duration`, from `clients` concurrent clients.
async fn measure(
    scenario: &str,
    server: &ServiceProcess,
    target: &Target,
    clients: usize,
    duration: Duration,
) -> Stretch {
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    let tally = match scenario {
        "http create" => {
            let (http, url) = (
                target.http.clone(),
                format!("{}/api/v1/orders", target.http_base),
            );
            drive(clients, duration, move |_, _| {
                let request = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(ORDER_JSON)
                    .send();
                async move { http_outcome(request.await).await }
            })
            .await
        }
        "http get" => {
            let (http, base, ids) = (
                target.http.clone(),
                target.http_base.clone(),
                target.read_set.clone(),
            );
            drive(clients, duration, move |client, n| {
                let id = &ids[(client * 31 + n as usize) % ids.len()];
                let request = http.get(format!("{base}/api/v1/orders/{id}")).send();
                async move { http_outcome(request.await).await }
            })
            .await
        }
        "grpc create" => {
            let channels = target.channels.clone();
            drive(clients, duration, move |client, _| {
                let mut grpc = OrderServiceClient::new(channels[client % channels.len()].clone());
                async move {
                    let reply = grpc.create_order(grpc_order()).await;
                    reply.map(drop).map_err(|status| format!("{status:?}"))
                }
            })
            .await
        }
        "grpc get" => {
            let (channels, ids) = (target.channels.clone(), target.read_set.clone());
            drive(clients, duration, move |client, n| {
                let mut grpc = OrderServiceClient::new(channels[client % channels.len()].clone());
                let order_id = ids[(client * 31 + n as usize) % ids.len()].clone();
                async move {
                    let reply = grpc.get_order(GetOrderRequest { order_id }).await;
                    reply.map(drop).map_err(|status| format!("{status:?}"))
                }
            })
            .await
        }
        other => unreachable!("no scenario {other}"),
    };
    Stretch {
        tally,
        wall: started.elapsed(),
        cpu_seconds: server.cpu_seconds() - cpu_before,
    }
}

fn print_row(scenario: &str, server: &str, m: &Measurement) {
    println!(
        "{:<12} {:<8} {:>9} {:>9.0} {:>8.2} {:>8.2} {:>7} {:>8.0}%",
        scenario,
        server,
        m.requests,
        m.per_second,
        m.p50_ms,
        m.p99_ms,
        m.errors,
        m.cpu * 100.0
    );
    if let Some(err) = &m.first_error {
        println!("  first error: {err}");
    }
    // One line per figure for bench/run's summary table.
    println!(
        "RESULT\t{scenario} ({server})\treq/s {:.0}, p50 {:.2} ms, p99 {:.2} ms, CPU {:.0}%, errors {}",
        m.per_second,
        m.p50_ms,
        m.p99_ms,
        m.cpu * 100.0,
        m.errors
    );
}

/// The environment variable that turns the benchmark binary into a gRPC client making calls one
/// after another: `URL ORDER_ID COUNT` (for `bench/instructions.py`, which counts what they cost
/// the server).
const CALL_GRPC: &str = "LOAD_BENCH_CALL_GRPC";

/// `count` GetOrders of `order_id`, one after another on one connection to `url`.
async fn call_grpc(spec: &str) {
    let [url, order_id, count] = spec.split(' ').collect::<Vec<_>>()[..] else {
        panic!("{CALL_GRPC}=URL ORDER_ID COUNT, not {spec:?}");
    };
    let channel = Channel::from_shared(url.to_owned()).unwrap();
    let mut grpc = OrderServiceClient::new(channel.connect().await.unwrap());
    for _ in 0..count.parse::<u32>().expect("a count") {
        let request = GetOrderRequest {
            order_id: order_id.to_owned(),
        };
        grpc.get_order(request).await.unwrap();
    }
}

#[tokio::main]
async fn main() {
    if std::env::var_os(bare::SERVE_BARE).is_some() {
        return bare::serve().await;
    }
    if let Ok(spec) = std::env::var(CALL_GRPC) {
        return call_grpc(&spec).await;
    }
    let options = options();
    let folder = tempfile::tempdir().unwrap();
    let database = std::env::var("BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", folder.path().join("bench.db").display()));
    let nats = std::env::var("BENCH_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let stream = format!("ORDERS_BENCH_{}", std::process::id());
    let users = users::user_service(folder.path()).await;
    let mut service = start(&database, &nats, &stream, &users).await;

    // Enough stock for every create the run can make.
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&database).await.unwrap();
    sqlx::query("UPDATE products SET stock = 1000000000 WHERE id = 'prod_001'")
        .execute(&mut db)
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let mut read_set = Vec::with_capacity(READ_SET);
    for _ in 0..READ_SET {
        let response = http
            .post(format!("{}/api/v1/orders", service.http))
            .header("content-type", "application/json")
            .body(ORDER_JSON)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_str(&response.text().await.unwrap()).unwrap();
        read_set.push(body["orderId"].as_str().unwrap().to_owned());
    }
    let read_set = Arc::new(read_set);

    println!(
        "order-service under load: {} s per scenario, {} concurrent clients, database {}",
        options.seconds,
        options.clients,
        database.split(':').next().unwrap_or_default()
    );
    println!(
        "{:<12} {:<8} {:>9} {:>9} {:>8} {:>8} {:>7} {:>9}",
        "scenario", "server", "requests", "req/s", "p50 ms", "p99 ms", "errors", "CPU"
    );
    let (clients, duration) = (options.clients, Duration::from_secs(options.seconds));
    let target = Target::new(&service, clients, read_set.clone()).await;
    let server = match options.creates_only {
        true => format!(
            "service, {}, {clients} clients",
            database.split(':').next().unwrap_or_default()
        ),
        false => "service".to_owned(),
    };
    for scenario in ["http create", "grpc create"] {
        let measurement = measure(scenario, &service, &target, clients, duration).await;
        print_row(scenario, &server, &measurement.measurement());
    }
    if options.creates_only {
        assert!(service.terminate(), "the service did not shut down cleanly");
        delete_stream(&nats, &stream).await;
        return;
    }
    // The relay is still publishing the creates' events; reads are measured once it is done, as
    // the bare baseline has no relay writing beside it.
    let (events, took) = drain_outbox(&mut db).await;
    println!(
        "RESULT\tgets: outbox relayed before them\t{events} events in {:.2} s",
        took.as_secs_f64()
    );

    // The bare baseline on the same orders, started beside the service. Reads are measured in
    // rounds that alternate between the two, each alone at work while the other idles: what
    // else the machine does in a minute weighs on both alike, and the ratio holds where figures
    // taken minutes apart moved by a quarter.
    let env = [
        ("APP_DATABASE__URL", database.clone()),
        (bare::SERVE_BARE, "1".to_owned()),
    ];
    let exe = std::env::current_exe().unwrap();
    let baseline = ServiceProcess::start(exe.to_str().unwrap(), &env).await;
    let bare_target = Target::new(&baseline, clients, read_set).await;
    let round = duration / ROUNDS;
    for scenario in ["http get", "grpc get"] {
        let (mut with_layers, mut bare) = (Stretch::default(), Stretch::default());
        let mut ratios = Vec::new();
        for index in 0..ROUNDS {
            // Each goes first in every other round, so neither always follows the other.
            let (ours, theirs) = if index % 2 == 0 {
                let ours = measure(scenario, &service, &target, clients, round).await;
                (
                    ours,
                    measure(scenario, &baseline, &bare_target, clients, round).await,
                )
            } else {
                let theirs = measure(scenario, &baseline, &bare_target, clients, round).await;
                (
                    measure(scenario, &service, &target, clients, round).await,
                    theirs,
                )
            };
            ratios.push(ours.per_second() / theirs.per_second());
            with_layers.add(ours);
            bare.add(theirs);
        }
        let (with_layers, bare) = (with_layers.measurement(), bare.measurement());
        print_row(scenario, &server, &with_layers);
        print_row(scenario, "bare", &bare);
        ratios.sort_by(f64::total_cmp);
        let spread = format!("{:.2}–{:.2}", ratios[0], ratios[ratios.len() - 1]);
        println!(
            "  service / bare: req/s {:.2} (rounds {spread}), p50 {:.2}, p99 {:.2}",
            with_layers.per_second / bare.per_second,
            with_layers.p50_ms / bare.p50_ms,
            with_layers.p99_ms / bare.p99_ms
        );
        println!(
            "RESULT\t{scenario}: service / bare, {ROUNDS} alternating rounds\treq/s {:.2} (rounds {spread}), p99 {:.2}",
            with_layers.per_second / bare.per_second,
            with_layers.p99_ms / bare.p99_ms
        );
    }
    let service_rss = service.peak_rss_mib();
    assert!(service.terminate(), "the service did not shut down cleanly");
    println!(
        "peak RSS: service {service_rss:.1} MiB, bare {:.1} MiB",
        baseline.peak_rss_mib()
    );
    println!(
        "RESULT\tpeak RSS\tservice {service_rss:.1} MiB, bare {:.1} MiB",
        baseline.peak_rss_mib()
    );

    delete_stream(&nats, &stream).await;
}

/// Waits until the service's relay has published every waiting event; returns how many were
/// waiting and how long publishing them took.
async fn drain_outbox(db: &mut sqlx::AnyConnection) -> (i64, Duration) {
    let waiting =
        || sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL");
    let started = Instant::now();
    let events = waiting().fetch_one(&mut *db).await.unwrap();
    loop {
        let left = waiting().fetch_one(&mut *db).await.unwrap();
        if left == 0 {
            return (events, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the relay left {left} of {events} events unpublished for two minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Removes the run's own stream of events.
async fn delete_stream(nats: &str, stream: &str) {
    if let Ok(client) = async_nats::connect(nats).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(stream)
            .await;
    }
}
