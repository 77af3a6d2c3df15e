//! The bundled examples as a fleet: user-service instances and the order service as real
//! processes that find each other through a real etcd (the test's own, so it can be stopped),
//! through the faults a fleet meets: an instance killed under load, one stopped, all of them down,
//! and etcd away. Creates are the probe: each one asks the user service whether its user exists.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{cargo_in, free_port, shared_target_dir};

const ORDER: &str = r#"{"user_id": "user_123", "items": [{"product_id": "prod_001", "product_name": "iPhone 15", "quantity": 1, "unit_price": 1}], "address": "Beijing"}"#;

/// How long a killed instance's record outlives it.
const TTL: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_find_each_other_through_etcd_and_ride_out_faults() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    build(&examples);
    let data = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::start(&data.path().join("etcd"));
    etcd.wait_ready().await;
    let fleet = Fleet {
        bin: shared_target_dir().join("debug"),
        examples: examples.clone(),
        data: data.path().to_owned(),
        etcd: etcd.client.clone(),
    };

    let a = fleet.user_service("a");
    let b = fleet.user_service("b");
    let order = fleet.order_service();
    let http = reqwest::Client::new();
    for service in [&a, &b, &order] {
        service.wait_healthy(&http).await;
    }
    plenty_of_stock(&data.path().join("orders.db"));
    fleet.wait_for_records(2).await;

    // Calls spread over both instances, a fair share each.
    let outcome = load(&http, order.http, 4, Duration::from_secs(2), None).await;
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    let (on_a, on_b) = (a.users_served(&http).await, b.users_served(&http).await);
    let share = on_a as f64 / (on_a + on_b) as f64;
    eprintln!(
        "spread: {} creates, user-service a {on_a}, b {on_b}",
        outcome.ok
    );
    assert!((0.3..=0.7).contains(&share), "a {on_a}, b {on_b}");

    // `micro call discovery:///…` finds an instance through the registry the project's
    // configuration names, over gRPC and HTTP.
    for transport in [&[][..], &["--http"][..]] {
        let output = fleet.micro_call(
            "etcd",
            &[
                transport,
                &[
                    "discovery:///user-service",
                    "user.v1.UserService/GetUser",
                    r#"{"user_id": "user_123"}"#,
                ],
            ]
            .concat(),
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("Demo user"),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = fleet.micro_call(
        "none",
        &["discovery:///user-service", "user.v1.UserService/GetUser"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("sets no registry"),
        "{stderr}"
    );

    // SIGTERM: the instance leaves the registry before it stops accepting, so no call fails.
    let mut outcome = load(
        &http,
        order.http,
        4,
        Duration::from_secs(3),
        Some(Box::new(move || {
            a.signal(libc::SIGTERM);
            a
        })),
    )
    .await;
    let mut a = outcome.stopped.take().unwrap();
    assert!(a.wait_exit(Duration::from_secs(15)), "a did not exit");
    eprintln!(
        "SIGTERM under load: {} ok, {} failed",
        outcome.ok, outcome.failed
    );
    assert_eq!(outcome.failed, 0, "{outcome:?}");

    // SIGKILL under load: the user checks in flight on it are sent again to the survivor
    // (GetUser is marked NO_SIDE_EFFECTS), traffic moves there, and its record is gone within
    // its TTL.
    let mut c = fleet.user_service("c");
    c.wait_healthy(&http).await;
    fleet.wait_for_records(2).await;
    let killed_at = Arc::new(std::sync::Mutex::new(None));
    let outcome = load(&http, order.http, 4, Duration::from_secs(3), {
        let killed_at = killed_at.clone();
        Some(Box::new(move || {
            b.signal(libc::SIGKILL);
            *killed_at.lock().unwrap() = Some(Instant::now());
            b
        }))
    })
    .await;
    eprintln!(
        "SIGKILL under load: {} ok, {} failed ({:?})",
        outcome.ok, outcome.failed, outcome.reasons
    );
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    let killed_at = killed_at.lock().unwrap().unwrap();
    fleet.wait_for_records(1).await;
    let gone_after = killed_at.elapsed();
    eprintln!("the killed instance's record went after {gone_after:?}");
    assert!(gone_after < TTL + Duration::from_secs(3), "{gone_after:?}");

    // etcd away for 10 s: both services go on with the last instances they knew, and the
    // records are back once etcd is.
    etcd.stop();
    let outcome = load(&http, order.http, 2, Duration::from_secs(10), None).await;
    eprintln!("etcd stopped: {} ok, {} failed", outcome.ok, outcome.failed);
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    etcd.restart();
    etcd.wait_ready().await;
    // The survivor's record (the registry's own tests empty etcd and watch records come back).
    fleet.wait_for_records(1).await;
    let outcome = load(&http, order.http, 2, Duration::from_secs(1), None).await;
    assert_eq!(outcome.failed, 0, "{outcome:?}");

    // Every user-service instance down: typed 503s within the request deadline, fast once the
    // breaker has opened; success again once an instance is back, without a restart.
    c.signal(libc::SIGKILL);
    assert!(c.wait_exit(Duration::from_secs(5)));
    let mut failures = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let (status, body) = create(&http, order.http).await;
        let took = started.elapsed();
        assert_eq!(status, 503, "{body}");
        assert!(
            body.contains("USERS_UNAVAILABLE") || body.contains("CIRCUITBREAKER"),
            "{body}"
        );
        assert!(took < Duration::from_secs(1), "{took:?}");
        failures.push(took);
    }
    failures.sort();
    let tail = &failures[100..];
    let p99 = tail[tail.len() * 99 / 100 - 1];
    eprintln!(
        "all down: p50 {:?}, p99 of the last 100 {:?}",
        failures[100], p99
    );
    assert!(p99 < Duration::from_millis(10), "{p99:?}");
    let d = fleet.user_service("d");
    d.wait_healthy(&http).await;
    let back = Instant::now();
    loop {
        let (status, _) = create(&http, order.http).await;
        if status == 200 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "no success after return"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "success resumed {:?} after an instance returned",
        back.elapsed()
    );

    drop((a, d, order));
    etcd.stop();
}

/// Stock enough for every create the test makes (the seed has 1,000), written with Python's
/// sqlite3 while the service runs (SQLite in WAL mode takes a second writer's turn).
fn plenty_of_stock(database: &Path) {
    let script = format!(
        "import sqlite3; db = sqlite3.connect({:?}, timeout=10); db.execute(\"UPDATE products SET stock = 100000000 WHERE id = 'prod_001'\"); db.commit()",
        database.display().to_string()
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Builds both examples' binaries into the shared target folder.
fn build(examples: &Path) {
    let output = cargo_in(
        examples,
        &[
            "build",
            "--locked",
            "-p",
            "order-service",
            "-p",
            "user-service",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

struct Fleet {
    bin: PathBuf,
    examples: PathBuf,
    data: PathBuf,
    etcd: String,
}

impl Fleet {
    fn env(&self, command: &mut Command) {
        command
            .env("APP_REGISTRY__KIND", "etcd")
            .env("APP_REGISTRY__ETCD__ENDPOINTS", &self.etcd)
            .env("APP_REGISTRY__ETCD__TTL", format!("{}s", TTL.as_secs()))
            .env("APP_REGISTRY__ADVERTISE_HOST", "127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    }

    fn user_service(&self, name: &str) -> Process {
        let (http, grpc) = (free_port(), free_port());
        let mut command = Command::new(self.bin.join("user-service"));
        self.env(&mut command);
        let child = command
            .current_dir(self.examples.join("user-service"))
            .env("APP_SERVER__HTTP__ADDR", format!("127.0.0.1:{http}"))
            .env("APP_SERVER__GRPC__ADDR", format!("127.0.0.1:{grpc}"))
            .env(
                "APP_DATABASE__URL",
                format!(
                    "sqlite://{}",
                    self.data.join(format!("users-{name}.db")).display()
                ),
            )
            .spawn()
            .unwrap();
        Process { child, http }
    }

    fn order_service(&self) -> Process {
        let (http, grpc) = (free_port(), free_port());
        let mut command = Command::new(self.bin.join("order-service"));
        self.env(&mut command);
        let child = command
            .current_dir(self.examples.join("order-service"))
            .env("APP_SERVER__HTTP__ADDR", format!("127.0.0.1:{http}"))
            .env("APP_SERVER__GRPC__ADDR", format!("127.0.0.1:{grpc}"))
            .env(
                "APP_DATABASE__URL",
                format!("sqlite://{}", self.data.join("orders.db").display()),
            )
            // Events wait in the outbox: this test is about calls.
            .env("APP_NATS__URL", format!("nats://127.0.0.1:{}", free_port()))
            .spawn()
            .unwrap();
        Process { child, http }
    }

    /// `micro call ARGS` from the order service's folder, with `registry.kind` set to `kind`.
    fn micro_call(&self, kind: &str, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_micro"))
            .arg("call")
            .args(args)
            .current_dir(self.examples.join("order-service"))
            .env("APP_REGISTRY__KIND", kind)
            .env("APP_REGISTRY__ETCD__ENDPOINTS", &self.etcd)
            .output()
            .unwrap()
    }

    /// Waits until etcd holds `count` user-service records.
    async fn wait_for_records(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let records = user_service_records(&self.etcd).await;
            if records == Some(count) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd holds {records:?} user-service records, not {count}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// How many records kratos' layout holds for the user service, if etcd answers.
async fn user_service_records(etcd: &str) -> Option<usize> {
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD;
    let body = serde_json::json!({
        "key": base64.encode("/microservices/user-service/"),
        "range_end": base64.encode("/microservices/user-service0"),
        "count_only": true,
    });
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{etcd}/v3/kv/range"))
        .body(body.to_string())
        .send()
        .await
        .ok()?
        .bytes()
        .await
        .ok()
        .and_then(|body| serde_json::from_slice(&body).ok())?;
    Some(
        answer["count"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    )
}

#[derive(Debug)]
struct Process {
    child: Child,
    http: u16,
}

impl Process {
    async fn wait_healthy(&self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("http://127.0.0.1:{}/readyz", self.http);
        while !http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "{url} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GetUser calls this user-service instance answered with a user, from its own metrics.
    async fn users_served(&self, http: &reqwest::Client) -> u64 {
        let page = http
            .get(format!("http://127.0.0.1:{}/metrics", self.http))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        page.lines()
            .filter(|l| {
                l.starts_with("server_requests_code_total")
                    && l.contains(r#"kind="grpc""#)
                    && l.contains("GetUser")
                    && l.contains(r#"code="200""#)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One create through the order service's HTTP API: status and body.
async fn create(http: &reqwest::Client, port: u16) -> (u16, String) {
    let response = http
        .post(format!("http://127.0.0.1:{port}/api/v1/orders"))
        .header("content-type", "application/json")
        .body(ORDER)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[derive(Debug, Default)]
struct Outcome {
    ok: u64,
    failed: u64,
    reasons: Vec<String>,
    /// What the fault returned, handed back when the load ends.
    stopped: Option<Process>,
}

/// `clients` loops of creates for `length`; a third of the way in, `fault` runs.
async fn load(
    http: &reqwest::Client,
    port: u16,
    clients: usize,
    length: Duration,
    fault: Option<Box<dyn FnOnce() -> Process + Send>>,
) -> Outcome {
    let running = Arc::new(AtomicBool::new(true));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, running) = (http.clone(), running.clone());
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                while running.load(Ordering::Relaxed) {
                    let (status, body) = create(&http, port).await;
                    if status == 200 {
                        outcome.ok += 1;
                    } else {
                        outcome.failed += 1;
                        if outcome.reasons.len() < 5 {
                            outcome.reasons.push(format!("{status} {body}"));
                        }
                    }
                }
                outcome
            })
        })
        .collect();
    tokio::time::sleep(length / 3).await;
    let stopped = fault.map(|fault| fault());
    tokio::time::sleep(length - length / 3).await;
    running.store(false, Ordering::Relaxed);
    let mut total = Outcome {
        stopped,
        ..Outcome::default()
    };
    for task in tasks {
        let outcome = task.await.unwrap();
        total.ok += outcome.ok;
        total.failed += outcome.failed;
        total.reasons.extend(outcome.reasons);
    }
    total
}

/// An etcd of the test's own on free ports, which the test may stop and start again.
struct Etcd {
    child: Option<Child>,
    client: String,
    peer: u16,
    data: PathBuf,
}

impl Etcd {
    fn start(data: &Path) -> Etcd {
        let mut etcd = Etcd {
            child: None,
            client: format!("http://127.0.0.1:{}", free_port()),
            peer: free_port(),
            data: data.to_owned(),
        };
        etcd.restart();
        etcd
    }

    /// Starts etcd (again) on its ports, with the data it had.
    fn restart(&mut self) {
        let client = &self.client;
        let peer_url = format!("http://127.0.0.1:{}", self.peer);
        let child = Command::new("etcd")
            .args(["--name", "fleet", "--data-dir"])
            .arg(&self.data)
            .args(["--listen-client-urls", client])
            .args(["--advertise-client-urls", client])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("fleet={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the `etcd` binary (Debian's etcd-server; scripts/test installs it)");
        self.child = Some(child);
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while user_service_records(&self.client).await.is_none() {
            assert!(Instant::now() < deadline, "etcd never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}
