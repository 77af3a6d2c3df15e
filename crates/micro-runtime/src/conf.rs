//! The configuration sections micro owns: the servers (addresses, deadlines, limits), logs and
//! traces. A service's own `Config` (in its `conf.rs`) holds these next to its own sections and is
//! read by [`load`]: `configs/config.yaml`, overridden by `APP_…` environment variables
//! (`APP_SERVER__HTTP__ADDR=127.0.0.1:8080` sets `server.http.addr`). An unknown key or a bad value
//! stops the service with a message naming the key.

use std::collections::BTreeMap;
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
    /// NATS request-reply, a third transport for the services gRPC serves; off when absent.
    #[serde(default)]
    pub nats: Option<NatsTransport>,
    /// How long in-flight requests may run on after a shutdown signal.
    #[serde(with = "humantime_serde", default = "default_grace")]
    pub shutdown_grace: Duration,
    /// Whether HTTP and gRPC listen apart or share the HTTP listener.
    #[serde(default)]
    pub mode: Mode,
}

/// How a service with gRPC takes its connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// HTTP on `server.http.addr`, gRPC on `server.grpc.addr`.
    #[default]
    Split,
    /// Both on `server.http.addr`, told apart by content type (`application/grpc…` is gRPC);
    /// `server.grpc.addr` is not listened on. For platforms that give a service one port.
    Single,
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

/// The contracts' services over NATS request-reply (see `micro_runtime::nats`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsTransport {
    /// `nats://host:port`; the service starts while NATS is down and serves once it connects.
    pub url: String,
    /// The first token of every subject: `{prefix}.{package}.{Service}.{Method}`.
    #[serde(default = "default_nats_prefix")]
    pub prefix: String,
    /// How long a call may take when its request does not say (`grpc-timeout`).
    #[serde(with = "humantime_serde", default = "default_nats_timeout")]
    pub timeout: Duration,
}

fn default_nats_prefix() -> String {
    "micro".into()
}

fn default_nats_timeout() -> Duration {
    Duration::from_secs(1)
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tracing {
    /// An OpenTelemetry collector's OTLP/gRPC endpoint (`http://localhost:4317`); spans are
    /// exported there when set, and not at all when not.
    pub otlp_endpoint: Option<String>,
    /// The share of traces this service starts that are kept, from 0 to 1 (the key kratos' guide
    /// uses). A request that arrives inside a trace follows its caller's choice, so a trace is
    /// kept or dropped whole across services.
    #[serde(deserialize_with = "ratio")]
    pub sample_ratio: f64,
}

impl Default for Tracing {
    fn default() -> Self {
        Tracing {
            otlp_endpoint: None,
            sample_ratio: 1.0,
        }
    }
}

fn ratio<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(deserializer)?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "{value} is not a ratio from 0 to 1 (1 keeps every trace)"
        )))
    }
}

/// Where the service registers itself and finds the services it calls (`registry:`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Registry {
    pub kind: RegistryKind,
    pub etcd: Etcd,
    /// For `static`: each service's endpoints, as a registry would list them
    /// (`user-service: ["grpc://10.0.0.7:9000", "http://10.0.0.7:8000"]`).
    pub services: BTreeMap<String, Vec<String>>,
    pub dns: Dns,
    /// The host other services reach this one at; when empty, the address of the network
    /// interface the default route leaves by (the listeners bind `0.0.0.0`).
    pub advertise_host: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistryKind {
    /// Registers nowhere; peers are called by URL.
    #[default]
    None,
    /// etcd, with the key layout and record kratos' etcd registry uses, so Go kratos services and
    /// these find each other.
    Etcd,
    /// A fixed list of instances per service (`services`).
    Static,
    /// DNS: a service name resolves to its instances' addresses (a Kubernetes headless Service).
    Dns,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Etcd {
    /// Client URLs of the etcd members, tried in order: a list, or from the environment one
    /// comma-separated value (`APP_REGISTRY__ETCD__ENDPOINTS=http://etcd-0:2379,http://etcd-1:2379`).
    #[serde(deserialize_with = "list_or_commas")]
    pub endpoints: Vec<String>,
    /// The key prefix records live under (kratos' default).
    pub namespace: String,
    /// How long a record outlives its service when the service dies without deregistering.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

impl Default for Etcd {
    fn default() -> Self {
        Etcd {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            namespace: "/microservices".into(),
            ttl: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// The port every instance serves HTTP on.
    pub http_port: u16,
    /// The port every instance serves gRPC on.
    pub grpc_port: u16,
    /// How often names are resolved again.
    #[serde(with = "humantime_serde")]
    pub refresh: Duration,
}

impl Default for Dns {
    fn default() -> Self {
        Dns {
            http_port: 8000,
            grpc_port: 9000,
            refresh: Duration::from_secs(10),
        }
    }
}

/// A list, or one string of comma-separated items (what an environment variable can hold).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCommas {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match ListOrCommas::deserialize(deserializer)? {
        ListOrCommas::List(list) => list,
        ListOrCommas::Commas(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct WithRegistry {
        registry: Registry,
    }

    fn load_yaml(yaml: &str) -> anyhow::Result<WithRegistry> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml)?;
        load(&path)
    }

    #[test]
    fn etcd_endpoints_are_a_list_or_comma_separated() {
        let listed = load_yaml(
            "registry: {kind: etcd, etcd: {endpoints: [\"http://a:2379\", \"http://b:2379\"]}}",
        )
        .unwrap();
        let joined = load_yaml(
            "registry: {kind: etcd, etcd: {endpoints: \"http://a:2379, http://b:2379\"}}",
        )
        .unwrap();
        assert_eq!(
            listed.registry.etcd.endpoints,
            joined.registry.etcd.endpoints
        );
        assert_eq!(joined.registry.kind, RegistryKind::Etcd);
        assert_eq!(joined.registry.etcd.namespace, "/microservices");
        assert_eq!(joined.registry.etcd.ttl, Duration::from_secs(15));
    }

    #[derive(Debug, Deserialize)]
    struct WithTracing {
        #[serde(default)]
        tracing: Tracing,
    }

    #[test]
    fn the_sample_ratio_keeps_every_trace_unless_told_and_is_a_ratio() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        let load_tracing = |yaml: &str| {
            std::fs::write(&path, yaml).unwrap();
            load::<WithTracing>(&path)
        };
        assert_eq!(load_tracing("{}").unwrap().tracing.sample_ratio, 1.0);
        let quarter = load_tracing("tracing: {sample_ratio: 0.25}").unwrap();
        assert_eq!(quarter.tracing.sample_ratio, 0.25);
        let err = format!(
            "{:#}",
            load_tracing("tracing: {sample_ratio: 1.5}").unwrap_err()
        );
        assert!(err.contains("sample_ratio") && err.contains("1.5"), "{err}");
    }

    #[test]
    fn an_unknown_registry_kind_is_refused_by_name() {
        let err = format!("{:#}", load_yaml("registry: {kind: consul}").unwrap_err());
        assert!(err.contains("consul"), "{err}");
    }
}

/// How callers prove who they are (`auth:`): bearer JWTs, API keys, or both. What each contract
/// method then asks of them is the contract's to say (`micro/auth.proto`).
#[cfg(feature = "auth")]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Auth {
    /// Bearer tokens (`authorization: Bearer …`); none are accepted without it.
    pub jwt: Option<Jwt>,
    /// API keys (`x-api-key: …` or `apikey: …`), stored as SHA-256 hashes. Two entries under one
    /// name are how a key is rotated: both work until the old one is removed.
    pub api_keys: Vec<ApiKey>,
}

/// Where token signatures are checked from: exactly one of `secret` (HS256), `public_key` (a PEM
/// RSA or P-256 key: RS256 or ES256) and `jwks_url` (an identity provider's key set).
#[cfg(feature = "auth")]
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Jwt {
    pub secret: Option<String>,
    pub public_key: Option<String>,
    pub jwks_url: Option<String>,
    /// The `iss` a token must carry, when set.
    pub issuer: Option<String>,
    /// The `aud` a token must include, when set.
    pub audience: Option<String>,
    /// How far the clocks of issuer and service may disagree when `exp` and `nbf` are checked.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// The claim that holds the caller's roles (a string or a list of strings), as a dotted path
    /// for nested claims (`realm_access.roles`).
    pub roles_claim: String,
    /// The key set is fetched again when a token names a key it does not hold, at most this often.
    #[serde(with = "humantime_serde")]
    pub jwks_min_refresh: Duration,
    /// ...and in any case once it is this old.
    #[serde(with = "humantime_serde")]
    pub jwks_max_age: Duration,
}

#[cfg(feature = "auth")]
impl Default for Jwt {
    fn default() -> Self {
        Jwt {
            secret: None,
            public_key: None,
            jwks_url: None,
            issuer: None,
            audience: None,
            leeway: Duration::from_secs(30),
            roles_claim: "roles".into(),
            jwks_min_refresh: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(3600),
        }
    }
}

#[cfg(feature = "auth")]
impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("Jwt")
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("public_key", &self.public_key.is_some())
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("roles_claim", &self.roles_claim)
            .finish_non_exhaustive()
    }
}

/// One API key: who it stands for, the roles it carries, and the SHA-256 of the key in hex
/// (`printf %s "$KEY" | sha256sum`); the key itself is never stored.
#[cfg(feature = "auth")]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub name: String,
    pub sha256: String,
    #[serde(default)]
    pub roles: Vec<String>,
}
