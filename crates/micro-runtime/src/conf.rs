//! The configuration sections micro owns: the servers (addresses, deadlines, limits), logs and
//! traces. A service's own `Config` (in its `conf.rs`) holds these next to its own sections and is
//! read by [`load`]: `configs/config.yaml`, overridden by `APP_…` environment variables
//! (`APP_SERVER__HTTP__ADDR=127.0.0.1:8080` sets `server.http.addr`). An unknown key or a bad value
//! stops the service with a message naming the key.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The prefix of environment variables that override the file.
pub const ENV_PREFIX: &str = "APP";

/// Reads the YAML file at `path` into `T`, then applies the `APP_…` environment overrides.
pub fn load<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Yaml))
        .add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__"),
        )
        .build()
        .and_then(config::Config::try_deserialize)
        .with_context(|| format!("loading configuration from `{}`", path.display()))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub http: Http,
    /// The gRPC listener; a service that serves HTTP only has no use for it.
    #[serde(default)]
    pub grpc: Grpc,
    /// How long in-flight requests may run on after a shutdown signal.
    #[serde(with = "humantime_serde", default = "default_grace")]
    pub shutdown_grace: Duration,
}

fn default_grace() -> Duration {
    Duration::from_secs(10)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    /// `host:port` to listen on.
    pub addr: String,
    /// How long a request may take before it is answered `504 TIMEOUT`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The largest request body accepted; a larger one is answered `413`.
    pub max_body_bytes: usize,
    /// Origins allowed to call from a browser (`*` for any); none when empty.
    pub cors_origins: Vec<String>,
    pub rate_limit: RateLimit,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            addr: "0.0.0.0:8000".into(),
            timeout: Duration::from_secs(1),
            max_body_bytes: 4 * 1024 * 1024,
            cors_origins: Vec::new(),
            rate_limit: RateLimit::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Grpc {
    /// `host:port` to listen on.
    pub addr: String,
    /// How long a call may take before it ends with `DEADLINE_EXCEEDED`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub rate_limit: RateLimit,
}

impl Default for Grpc {
    fn default() -> Self {
        Grpc {
            addr: "0.0.0.0:9000".into(),
            timeout: Duration::from_secs(1),
            rate_limit: RateLimit::default(),
        }
    }
}

/// A token bucket: `per_second` requests a second on average, up to `burst` at once. Requests
/// beyond it are refused (`429 RATE_LIMITED`, `RESOURCE_EXHAUSTED`). Off when `per_second` is 0.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// A tracing filter, e.g. `info` or `info,my_service=debug`.
    pub level: String,
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".into(),
            format: LogFormat::Pretty,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// OpenTelemetry traces.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tracing {
    /// An OpenTelemetry collector's OTLP/gRPC endpoint (`http://localhost:4317`); spans are
    /// exported there when set, and not at all when not.
    pub otlp_endpoint: Option<String>,
}
