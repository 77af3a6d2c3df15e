//! Typed configuration: `configs/config.yaml`, overridden by `APP_…` environment variables
//! (`APP_SERVER__HTTP__ADDR=127.0.0.1:8080` sets `server.http.addr`). The sections micro owns
//! (servers, logs, traces) come from the vendored `micro-runtime`; the rest is this service's.

use std::path::Path;
use std::time::Duration;

pub use micro_runtime::conf::{
    Grpc, Http, Log, LogFormat, RateLimit, Registry, RegistryKind, Server, Tracing,
};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: Server,
    pub database: Database,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub tracing: Tracing,
    #[serde(default)]
    pub registry: Registry,
    /// The order service's events, consumed to count each user's open orders; none without it.
    #[serde(default)]
    pub events: Option<Events>,
}

/// Where the order service's events are read from: a durable JetStream consumer, which all the
/// instances of this service share.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Events {
    /// `nats://host:port`; while NATS is away the service serves on and the events wait.
    pub url: String,
    /// The order service's stream.
    pub stream: String,
    /// The consumer's name: JetStream remembers what it has acknowledged.
    pub durable: String,
    pub subjects: Vec<String>,
    /// How long an event handed to an instance waits for its acknowledgement before it goes to
    /// another (an instance that stopped or died while holding it).
    pub ack_wait: humantime_serde::Serde<Duration>,
    /// Attempts before an event this service cannot handle is set aside on `dead_letter_subject`.
    pub max_deliver: i64,
    pub dead_letter_subject: String,
    /// The waits before the second, third… attempts (`[1s, 5s, 30s]`); the last one repeats.
    pub backoff: Vec<humantime_serde::Serde<Duration>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            url: "nats://localhost:4222".into(),
            stream: "ORDERS".into(),
            durable: "user-service".into(),
            subjects: vec!["order.created".into(), "order.cancelled".into()],
            ack_wait: Duration::from_secs(30).into(),
            max_deliver: 5,
            dead_letter_subject: "dead.user-service".into(),
            backoff: [1, 5, 30]
                .map(|seconds| Duration::from_secs(seconds).into())
                .into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `sqlite://path/to/file.db`.
    pub url: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long to wait for a connection before failing.
    #[serde(with = "humantime_serde", default = "default_connect_timeout")]
    pub connect_timeout: Duration,
}

fn default_max_connections() -> u32 {
    10
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}

impl Config {
    /// Reads `path`, then applies the `APP_…` environment overrides.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        micro_runtime::conf::load(path)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_shipped_config_loads() {
        let config = Config::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/config.yaml"
        )))
        .unwrap();
        assert_eq!(config.server.http.addr, "0.0.0.0:8001");
        assert_eq!(config.server.grpc.addr, "0.0.0.0:9001");
        assert_eq!(config.server.shutdown_grace, Duration::from_secs(10));
        assert_eq!(config.server.http.timeout, Duration::from_secs(1));
        assert_eq!(config.server.grpc.timeout, Duration::from_secs(1));
        assert_eq!(config.log.format, LogFormat::Pretty);
        assert_eq!(config.registry.kind, RegistryKind::Static);
    }

    /// The events section the shipped config leaves commented out loads once uncommented, with
    /// the values the defaults give a section that names only its URL.
    #[test]
    fn the_shipped_events_section_loads_and_matches_the_defaults() {
        let shipped = include_str!("../configs/config.yaml");
        let uncommented: String = shipped
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.starts_with("events:") || rest.starts_with("  ") => rest,
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, &uncommented).unwrap();
        let events = Config::load(&path)
            .unwrap()
            .events
            .expect("an events section");
        let defaults = Events::default();
        assert_eq!(events.url, defaults.url);
        assert_eq!(
            (events.stream, events.durable, events.subjects),
            (defaults.stream, defaults.durable, defaults.subjects)
        );
        assert_eq!(*events.ack_wait, *defaults.ack_wait);
        assert_eq!(events.max_deliver, defaults.max_deliver);
        assert_eq!(events.dead_letter_subject, defaults.dead_letter_subject);
        let waits = |backoff: &[humantime_serde::Serde<Duration>]| {
            backoff.iter().map(|wait| **wait).collect::<Vec<_>>()
        };
        assert_eq!(waits(&events.backoff), waits(&defaults.backoff));
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let dir = std::env::temp_dir().join(format!("conf-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.yaml");
        std::fs::write(
            &path,
            "server:\n  http: {addr: x}\n  shutdown_grace: soon\n",
        )
        .unwrap();
        let err = format!("{:#}", Config::load(&path).unwrap_err());
        assert!(err.contains("shutdown_grace"), "{err}");
    }
}
