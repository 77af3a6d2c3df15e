//! Services finding each other, in kratos' terms: an instance registers a record (id, name,
//! version, metadata, endpoints such as `grpc://10.0.0.5:9000`) while it serves, and callers
//! watch the records of the services they call. Three kinds, chosen by `registry.kind`:
//! [`etcd`](etcd) (a record under a lease that dies with the service; Go kratos services share
//! it), `static` (a list in the configuration) and `dns` (a name that resolves to the instances,
//! as a Kubernetes headless Service does).
//!
//! Discovery keeps the last instances it knew when the registry cannot be reached, so a service
//! keeps calling its peers through a registry outage.

#[cfg(feature = "server")]
pub mod client;
pub mod etcd;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::conf::{self, RegistryKind};

/// One running instance of a service, as kratos' `registry.ServiceInstance` is written to a
/// registry (the same JSON, field for field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInstance {
    /// Unique among the instances of every service.
    pub id: String,
    pub name: String,
    pub version: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub metadata: BTreeMap<String, String>,
    /// `scheme://host:port`, with kratos' `?isSecure=false` when micro writes them.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub endpoints: Vec<String>,
}

/// Go writes an empty map or list as `null`.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl ServiceInstance {
    /// An instance of `name` at `version` with a fresh id and no endpoints yet.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        let name = name.into();
        ServiceInstance {
            id: format!("{name}-{:016x}", rand::random::<u64>()),
            name,
            version: version.into(),
            metadata: BTreeMap::new(),
            endpoints: Vec::new(),
        }
    }

    /// Adds the endpoint a listener bound to `addr` is reached at: `scheme://host:port`, where
    /// `host` is `advertise_host`, else `addr`'s own address unless it is unspecified
    /// (`0.0.0.0`), else the address the default route leaves by.
    pub fn with_endpoint(
        mut self,
        scheme: &str,
        addr: SocketAddr,
        advertise_host: Option<&str>,
    ) -> Self {
        let host = match advertise_host {
            Some(host) => url_host(host),
            None if !addr.ip().is_unspecified() => url_host(&addr.ip().to_string()),
            None => url_host(&outbound_ip().to_string()),
        };
        self.endpoints
            .push(format!("{scheme}://{host}:{}?isSecure=false", addr.port()));
        self
    }

    /// The `host:port` of the first endpoint with `scheme` (`grpc`, `http`).
    pub fn endpoint(&self, scheme: &str) -> Option<&str> {
        self.endpoints.iter().find_map(|endpoint| {
            let rest = endpoint.strip_prefix(scheme)?.strip_prefix("://")?;
            let authority = rest.split(['?', '/']).next()?;
            (!authority.is_empty()).then_some(authority)
        })
    }
}

/// The address this host's default route leaves by, found without sending anything (a UDP
/// socket's `connect` only picks the route); loopback when there is no route.
fn outbound_ip() -> std::net::IpAddr {
    let local = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|socket| {
            socket.connect("192.0.2.1:9")?;
            socket.local_addr()
        })
        .map(|addr| addr.ip());
    local.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

/// A host as a URL writes it: an IPv6 address in brackets.
fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// The scheme of targets resolved through the registry, as kratos spells it.
pub const DISCOVERY_SCHEME: &str = "discovery:///";

/// The service name of a `discovery:///name` target; none for a plain URL.
pub fn discovered_name(target: &str) -> Option<&str> {
    target
        .strip_prefix(DISCOVERY_SCHEME)
        .map(|name| name.trim_end_matches('/'))
        .filter(|name| !name.is_empty())
}

/// The registry a service is configured with.
#[derive(Debug, Clone)]
pub enum Registry {
    None,
    Etcd(etcd::Etcd),
    Static(BTreeMap<String, Vec<ServiceInstance>>),
    Dns(conf::Dns),
}

impl Registry {
    pub fn new(config: &conf::Registry) -> anyhow::Result<Registry> {
        Ok(match config.kind {
            RegistryKind::None => Registry::None,
            RegistryKind::Etcd => Registry::Etcd(etcd::Etcd::new(&config.etcd)?),
            RegistryKind::Static => Registry::Static(
                config
                    .services
                    .iter()
                    .map(|(name, endpoints)| {
                        let instances = endpoints
                            .iter()
                            .enumerate()
                            .map(|(i, endpoint)| ServiceInstance {
                                id: format!("{name}-{i}"),
                                name: name.clone(),
                                version: String::new(),
                                metadata: BTreeMap::new(),
                                endpoints: vec![endpoint.clone()],
                            })
                            .collect();
                        (name.clone(), instances)
                    })
                    .collect(),
            ),
            RegistryKind::Dns => Registry::Dns(config.dns.clone()),
        })
    }

    /// Keeps `instance`'s record in the registry until [`Registration::deregister`]: written now,
    /// kept alive, and written again whenever the registry lost it (a restarted etcd, an expired
    /// lease). Only etcd holds records; the other kinds are told by configuration or DNS.
    pub fn register(&self, instance: ServiceInstance) -> Registration {
        match self {
            Registry::Etcd(etcd) => Registration {
                keeper: Some(etcd.keep_registered(instance)),
            },
            Registry::None | Registry::Static(_) | Registry::Dns(_) => {
                Registration { keeper: None }
            }
        }
    }

    /// The live instances of the service `name`, kept current: the receiver sees every change.
    /// It starts empty until the first answer, and keeps the last known instances while the
    /// registry cannot be reached.
    pub fn watch(&self, name: &str) -> watch::Receiver<Vec<ServiceInstance>> {
        match self {
            Registry::Etcd(etcd) => etcd.watch(name),
            Registry::Static(services) => {
                watch::channel(services.get(name).cloned().unwrap_or_default()).1
            }
            Registry::Dns(dns) => watch_dns(dns.clone(), name.to_owned()),
            Registry::None => watch::channel(Vec::new()).1,
        }
    }
}

/// A record kept in the registry, and the task keeping it there.
#[derive(Debug)]
pub struct Registration {
    keeper: Option<etcd::Keeper>,
}

impl Registration {
    /// Whether a registry holds a record for this registration (only etcd does).
    pub fn holds_record(&self) -> bool {
        self.keeper.is_some()
    }

    /// Takes the record out of the registry (so callers stop choosing this instance) and stops
    /// keeping it alive. Bounded: a registry that does not answer is left to expire the record.
    pub async fn deregister(self) {
        if let Some(keeper) = self.keeper {
            keeper.deregister().await;
        }
    }
}

/// Resolves `name` every `refresh`; each address found is an instance with the configured ports.
fn watch_dns(dns: conf::Dns, name: String) -> watch::Receiver<Vec<ServiceInstance>> {
    let (sender, receiver) = watch::channel(Vec::new());
    tokio::spawn(async move {
        loop {
            match tokio::net::lookup_host((name.as_str(), dns.http_port)).await {
                Ok(addrs) => {
                    let mut ips: Vec<_> = addrs.map(|addr| addr.ip()).collect();
                    ips.sort();
                    ips.dedup();
                    let instances = ips
                        .into_iter()
                        .map(|ip| {
                            let host = url_host(&ip.to_string());
                            ServiceInstance {
                                id: format!("{name}-{host}"),
                                name: name.clone(),
                                version: String::new(),
                                metadata: BTreeMap::new(),
                                endpoints: vec![
                                    format!("http://{host}:{}", dns.http_port),
                                    format!("grpc://{host}:{}", dns.grpc_port),
                                ],
                            }
                        })
                        .collect();
                    sender.send_if_modified(|known| replace_if_changed(known, instances));
                }
                Err(err) => {
                    tracing::warn!(service = %name, %err, "resolving the service's instances")
                }
            }
            if sender.is_closed() {
                return;
            }
            tokio::time::sleep(dns.refresh).await;
        }
    });
    receiver
}

/// Replaces `known` with `found` when they differ (as sets); whether it did.
pub(crate) fn replace_if_changed(
    known: &mut Vec<ServiceInstance>,
    mut found: Vec<ServiceInstance>,
) -> bool {
    found.sort_by(|a, b| a.id.cmp(&b.id));
    if *known == found {
        return false;
    }
    *known = found;
    true
}

/// How long to wait before the `attempt`th retry of talking to the registry: doubling from
/// 500 ms up to `cap`, with jitter so that instances do not retry in step.
pub(crate) fn backoff(attempt: u32, cap: Duration) -> Duration {
    backoff_from(Duration::from_millis(500), attempt, cap)
}

/// A wait of between half and all of `first × 2^attempt` (at most `cap`), chosen at random.
pub(crate) fn backoff_from(first: Duration, attempt: u32, cap: Duration) -> Duration {
    let base = first.saturating_mul(1 << attempt.min(10)).min(cap);
    base / 2 + base.mul_f64(rand::random::<f64>() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_is_kratos_json() {
        let instance = ServiceInstance {
            id: "1".into(),
            name: "user-service".into(),
            version: "v1".into(),
            metadata: BTreeMap::new(),
            endpoints: vec!["grpc://10.0.0.5:9000?isSecure=false".into()],
        };
        assert_eq!(
            serde_json::to_string(&instance).unwrap(),
            r#"{"id":"1","name":"user-service","version":"v1","metadata":{},"endpoints":["grpc://10.0.0.5:9000?isSecure=false"]}"#
        );
        let from_go: ServiceInstance = serde_json::from_str(
            r#"{"id":"1","name":"user-service","version":"","metadata":null,"endpoints":["http://[::1]:8000"]}"#,
        )
        .unwrap();
        assert!(from_go.metadata.is_empty());
        assert_eq!(from_go.endpoint("http"), Some("[::1]:8000"));
        assert_eq!(from_go.endpoint("grpc"), None);
    }

    #[test]
    fn endpoints_name_a_reachable_host() {
        let bound: SocketAddr = "0.0.0.0:9000".parse().unwrap();
        let instance = ServiceInstance::new("a", "v1")
            .with_endpoint("grpc", bound, Some("10.1.2.3"))
            .with_endpoint("http", "127.0.0.1:8000".parse().unwrap(), None)
            .with_endpoint("http", bound, None);
        assert_eq!(instance.endpoints[0], "grpc://10.1.2.3:9000?isSecure=false");
        assert_eq!(instance.endpoint("grpc"), Some("10.1.2.3:9000"));
        assert_eq!(instance.endpoint("http"), Some("127.0.0.1:8000"));
        assert!(!instance.endpoints[2].contains("0.0.0.0"));
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let cap = Duration::from_secs(5);
        assert!(backoff(0, cap) <= Duration::from_millis(500));
        assert!(backoff(0, cap) >= Duration::from_millis(250));
        assert!(backoff(20, cap) <= cap);
        assert!(backoff(20, cap) >= cap / 2);
    }
}
