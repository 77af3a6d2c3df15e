//! PostgreSQL restarting under load: while it is away, requests fail with typed errors (503
//! STORE_UNAVAILABLE, or 504 TIMEOUT when a connection cannot be had in time), never a 500 or a
//! crash, and once it is back the same process serves again on its own.
//!
//! The test stops and starts a PostgreSQL cluster of its own (`initdb` in a temporary folder, on
//! a free port), so the machine's server and other tests are left alone. It runs where the other
//! PostgreSQL tests do: with `ORDER_SERVICE_TEST_POSTGRES` set.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::process::{ServiceProcess, free_port};

const ORDER: &str = r#"{"user_id": "user_123", "items": [{"product_id": "prod_001", "product_name": "iPhone 15", "quantity": 1, "unit_price": 599900}], "address": "Beijing"}"#;

/// A PostgreSQL cluster in a temporary folder. As root, its commands run as `postgres`, since
/// PostgreSQL refuses to run as root.
struct Cluster {
    bin: PathBuf,
    folder: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    fn create() -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.flatten().map(|v| v.path().join("bin")).max())
            .filter(|bin| bin.join("initdb").exists())
            .expect("PostgreSQL's server programs (initdb, pg_ctl) under /usr/lib/postgresql");
        let folder = tempfile::tempdir().unwrap();
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
        if as_postgres {
            let owned = Command::new("chown")
                .args(["postgres", folder.path().to_str().unwrap()])
                .status()
                .unwrap();
            assert!(owned.success());
        }
        let cluster = Cluster {
            bin,
            folder,
            port: free_port(),
            as_postgres,
        };
        cluster.run(
            "initdb",
            &["-A", "trust", "-U", "postgres", "-D", &cluster.data()],
        );
        cluster.start();
        cluster
    }

    fn data(&self) -> String {
        self.folder.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `program` from PostgreSQL's folder, as the user PostgreSQL accepts.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = match self.as_postgres {
            true => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
            false => Command::new(program),
        };
        command.current_dir(self.folder.path());
        command
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.folder.path().display()
        );
        let log = self.folder.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// A fast shutdown: sessions are ended at once, as in a restart or a failover.
    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

/// What one request got: when it finished, its status, and its body.
struct Answer {
    at: Instant,
    status: u16,
    body: String,
}

#[tokio::test]
async fn a_postgres_restart_gives_typed_errors_then_the_service_recovers_by_itself() {
    if std::env::var_os("ORDER_SERVICE_TEST_POSTGRES").is_none() {
        eprintln!("skipped: set ORDER_SERVICE_TEST_POSTGRES to run the PostgreSQL tests");
        return;
    }
    let cluster = Cluster::create();
    let users = tempfile::tempdir().unwrap();
    let env = [
        ("APP_DATABASE__URL", cluster.url()),
        (
            "APP_USERS__TARGET",
            common::user_service(users.path()).await,
        ),
        ("APP_NATS__URL", format!("nats://127.0.0.1:{}", free_port())),
    ];
    let mut service = ServiceProcess::start(env!("CARGO_BIN_EXE_order-service"), &env).await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/api/v1/orders", service.http))
        .header("content-type", "application/json")
        .body(ORDER)
        .send()
        .await
        .unwrap();
    let created: serde_json::Value = serde_json::from_str(&created.text().await.unwrap()).unwrap();
    let order_url = format!(
        "{}/api/v1/orders/{}",
        service.http,
        created["orderId"].as_str().unwrap()
    );

    // Four clients read and create orders until told to stop, noting every answer.
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (http, answers, stop) = (http.clone(), answers.clone(), stop.clone());
            let (order_url, create_url) =
                (order_url.clone(), format!("{}/api/v1/orders", service.http));
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let request = match client % 2 {
                        0 => http.get(&order_url),
                        _ => http
                            .post(&create_url)
                            .header("content-type", "application/json")
                            .body(ORDER),
                    };
                    let response = request.send().await.expect("the service stays up");
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap();
                    answers.lock().unwrap().push(Answer {
                        at: Instant::now(),
                        status,
                        body,
                    });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.start();
    let back = Instant::now();

    // Back to serving within ten seconds of the database's return: a run of successes.
    let deadline = back + Duration::from_secs(10);
    loop {
        let recovered = {
            let answers = answers.lock().unwrap();
            let recent: Vec<&Answer> = answers.iter().rev().take(8).collect();
            recent.len() == 8 && recent.iter().all(|a| a.at > back && a.status == 200)
        };
        if recovered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not recover after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }

    let answers = answers.lock().unwrap();
    let failures: Vec<&Answer> = answers.iter().filter(|a| a.status != 200).collect();
    assert!(!failures.is_empty(), "no request noticed the outage");
    for failure in &failures {
        let error: serde_json::Value = serde_json::from_str(&failure.body)
            .unwrap_or_else(|_| panic!("an untyped answer: {} {}", failure.status, failure.body));
        let reason = error["reason"].as_str().unwrap_or_default();
        assert!(
            matches!(
                (failure.status, reason),
                (503, "STORE_UNAVAILABLE") | (504, "TIMEOUT")
            ),
            "an outage answered {}: {}",
            failure.status,
            failure.body
        );
    }
    eprintln!(
        "{} answers, {} failed during the outage ({} STORE_UNAVAILABLE, {} TIMEOUT)",
        answers.len(),
        failures.len(),
        failures.iter().filter(|a| a.status == 503).count(),
        failures.iter().filter(|a| a.status == 504).count()
    );
    assert!(service.terminate(), "the service did not shut down cleanly");
}
