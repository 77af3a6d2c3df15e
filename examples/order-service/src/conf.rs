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
    /// Where order events go; without it they stay in the outbox table.
    #[serde(default)]
    pub nats: Option<Nats>,
    /// Bearer-token auth on both transports; off when absent (the development default). A token's
    /// subject is the user, who sees only their own orders; the role `admin` sees all.
    #[serde(default)]
    pub auth: Option<micro_runtime::conf::Auth>,
    /// A Redis read-through cache for single orders; reads go to the database when absent.
    #[serde(default)]
    pub cache: Option<Cache>,
    #[serde(default)]
    pub log: Log,
    #[serde(default)]
    pub tracing: Tracing,
    #[serde(default)]
    pub registry: Registry,
    #[serde(default)]
    pub users: Users,
}

/// The user service, asked whether an order's user exists.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Users {
    /// `discovery:///user-service` (its instances from the registry, a call spread over them) or
    /// one URL (`http://127.0.0.1:9001`).
    pub target: String,
    /// Calls made for a request carry its bearer token, so the user service sees the user.
    pub forward_credentials: bool,
    /// This service's own API key, presented on every call (`APP_USERS__API_KEY`): the user
    /// service then knows which service passed a user's call on, or that it called for itself.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("Users")
            .field("target", &self.target)
            .field("forward_credentials", &self.forward_credentials)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Default for Users {
    fn default() -> Self {
        Users {
            target: "discovery:///user-service".into(),
            forward_credentials: true,
            api_key: None,
        }
    }
}

/// NATS JetStream, which receives `order.created` and `order.cancelled` events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nats {
    /// `nats://host:port`; the service runs without it, and events wait until it answers.
    pub url: String,
    /// The JetStream stream that keeps the events, created if missing.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// Events are published on `<prefix>.created` and `<prefix>.cancelled`.
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
}

fn default_stream() -> String {
    "ORDERS".into()
}

fn default_subject_prefix() -> String {
    "order".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `sqlite://path/to/file.db` or `postgres://user:password@host:port/database`.
    pub url: String,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long start-up waits for the database to accept a connection.
    #[serde(with = "humantime_serde", default = "default_connect_timeout")]
    pub connect_timeout: Duration,
    /// How long a request waits for a connection before it is answered `STORE_UNAVAILABLE`;
    /// below the request timeout, so that an unreachable database is told apart from a slow one.
    #[serde(with = "humantime_serde", default = "default_acquire_timeout")]
    pub acquire_timeout: Duration,
}

fn default_acquire_timeout() -> Duration {
    Duration::from_millis(500)
}

fn default_max_connections() -> u32 {
    10
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}

/// Redis, which keeps recently read orders for `ttl`; a cancel removes the order from it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// `redis://host:port`; when Redis is away, reads go to the database.
    pub url: String,
    /// How long a cached order is served; also the longest a stale copy can live should a read
    /// race a cancel.
    #[serde(with = "humantime_serde", default = "default_cache_ttl")]
    pub ttl: Duration,
}

fn default_cache_ttl() -> Duration {
    Duration::from_secs(60)
}

impl Config {
    /// Reads `path`, then applies the `APP_…` environment overrides.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        micro_runtime::conf::load(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_config_loads() {
        let config = Config::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/configs/config.yaml"
        )))
        .unwrap();
        assert_eq!(config.server.http.addr, "0.0.0.0:8000");
        assert_eq!(config.server.grpc.addr, "0.0.0.0:9000");
        assert_eq!(config.server.shutdown_grace, Duration::from_secs(10));
        assert_eq!(config.server.http.timeout, Duration::from_secs(1));
        assert_eq!(config.server.grpc.timeout, Duration::from_secs(1));
        assert_eq!(config.log.format, LogFormat::Pretty);
        assert_eq!(config.registry.kind, RegistryKind::Static);
        assert_eq!(config.users.target, "discovery:///user-service");
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

    fn load_text(text: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).unwrap_or_else(|err| panic!("{err:#}\n{text}"))
    }

    /// The sections the shipped config leaves commented out load once uncommented, as it says.
    #[test]
    fn the_shipped_configs_optional_sections_load() {
        let shipped = include_str!("../configs/config.yaml");
        let uncommented: String = shipped
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.starts_with("cache:") || rest.starts_with("auth:") => rest,
                Some(rest) if rest.starts_with("  ") => rest,
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let config = load_text(&uncommented);
        assert_eq!(config.cache.unwrap().ttl, Duration::from_secs(60));
        let jwt = config.auth.unwrap().jwt.unwrap();
        assert_eq!(jwt.audience.as_deref(), Some("order-service"));
    }

    /// The Kubernetes ConfigMap's config is one the service accepts, with every option on.
    #[test]
    fn the_kubernetes_config_loads() {
        let manifest = include_str!("../deploy/kubernetes/configmap.yaml");
        let (_, block) = manifest.split_once("config.yaml: |\n").unwrap();
        let text: String = block
            .lines()
            .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
            .collect();
        let config = load_text(&text);
        assert!(config.database.url.starts_with("postgres://"));
        assert!(config.nats.is_some() && config.cache.is_some() && config.auth.is_some());
    }
}
