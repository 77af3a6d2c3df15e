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
