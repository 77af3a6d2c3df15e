//! The service binary as a process of its own, for the tests and the load benchmark that need
//! the real thing: started on free ports, ready when `/readyz` says so, killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on loopback (free when asked; the service binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct ServiceProcess {
    pub process: Child,
    /// `http://127.0.0.1:PORT`, for HTTP/JSON.
    pub http: String,
    /// `http://127.0.0.1:PORT`, for gRPC.
    pub grpc: String,
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl ServiceProcess {
    /// `binary` with the shipped config and `env` on top of it (`APP_…` overrides), once ready.
    /// Its logs are discarded, or shown with `ORDER_SERVICE_TEST_LOGS` set.
    pub async fn start(binary: &str, env: &[(&str, String)]) -> ServiceProcess {
        let (http, grpc) = (
            format!("127.0.0.1:{}", free_port()),
            format!("127.0.0.1:{}", free_port()),
        );
        let process = Command::new(binary)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--conf", "configs/config.yaml"])
            .env("APP_SERVER__HTTP__ADDR", &http)
            .env("APP_SERVER__GRPC__ADDR", &grpc)
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::null())
            .stderr(match std::env::var_os("ORDER_SERVICE_TEST_LOGS") {
                Some(_) => Stdio::inherit(),
                None => Stdio::null(),
            })
            .spawn()
            .expect("starting the service");
        let service = ServiceProcess {
            process,
            http: format!("http://{http}"),
            grpc: format!("http://{grpc}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client
            .get(format!("{}/readyz", service.http))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
        {
            assert!(Instant::now() < deadline, "the service never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        service
    }

    /// Sends SIGTERM and waits: whether the service drained and exited cleanly.
    pub fn terminate(&mut self) -> bool {
        self.send_sigterm() && self.process.wait().is_ok_and(|status| status.success())
    }

    /// Sends SIGTERM without waiting: whether it was delivered.
    pub fn send_sigterm(&self) -> bool {
        Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// CPU seconds the service has used so far (user + system), from `/proc`.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.process.id()))
            .unwrap_or_default();
        // The fields after the command name (which may hold spaces); utime and stime are the
        // 12th and 13th of them, in ticks of USER_HZ (100 on Linux).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
            .sum();
        ticks / 100.0
    }

    /// The service's peak resident memory in MiB, from `/proc`.
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}
