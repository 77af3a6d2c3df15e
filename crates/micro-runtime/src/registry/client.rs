//! Clients for `discovery:///name` targets: the live instances of `name` from the registry, a
//! choice among them per request by the power of two choices, and traffic that follows the
//! registry (a new instance gets calls without a restart; one that leaves gets none).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use tonic::transport::channel::Change;
use tonic::transport::{Channel, Endpoint};

use super::Registry;

/// The scheme of targets resolved through the registry, as kratos spells it.
pub const DISCOVERY_SCHEME: &str = "discovery:///";

/// How long connecting to one instance may take before the call fails over.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The service name of a `discovery:///name` target; none for a plain URL.
pub fn discovered_name(target: &str) -> Option<&str> {
    target
        .strip_prefix(DISCOVERY_SCHEME)
        .map(|name| name.trim_end_matches('/'))
        .filter(|name| !name.is_empty())
}

/// A gRPC channel to `target`. For `discovery:///name`, tonic's balanced channel (tower's
/// power-of-two-choices balancer over live connections, by in-flight requests) fed by the
/// registry's watch of `name`'s `grpc://` endpoints; for a URL (`http://host:9000`), a channel to
/// it. Both connect lazily: building one never waits for a peer.
pub fn grpc_channel(registry: &Registry, target: &str) -> anyhow::Result<Channel> {
    let Some(name) = discovered_name(target) else {
        let endpoint = Endpoint::from_shared(target.to_owned())
            .with_context(|| format!("`{target}` is neither a URL nor `discovery:///name`"))?;
        return Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).connect_lazy());
    };
    if matches!(registry, Registry::None) {
        anyhow::bail!(
            "`{target}` needs a registry, and `registry.kind` is `none`\nhint: set `registry.kind` (etcd, static or dns), or call the service by URL"
        );
    }
    let (channel, changes) = Channel::balance_channel::<String>(64);
    let mut instances = registry.watch(name);
    let name = name.to_owned();
    tokio::spawn(async move {
        // Instance id → the `host:port` its connection goes to.
        let mut current: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let next: BTreeMap<String, String> = instances
                .borrow_and_update()
                .iter()
                .filter_map(|i| Some((i.id.clone(), i.endpoint("grpc")?.to_owned())))
                .collect();
            let gone = current
                .iter()
                .filter(|(id, addr)| next.get(*id) != Some(*addr));
            let mut updates: Vec<Change<String, Endpoint>> =
                gone.map(|(id, _)| Change::Remove(id.clone())).collect();
            for (id, addr) in next
                .iter()
                .filter(|(id, addr)| current.get(*id) != Some(*addr))
            {
                match Endpoint::from_shared(format!("http://{addr}")) {
                    Ok(endpoint) => updates.push(Change::Insert(
                        id.clone(),
                        endpoint.connect_timeout(CONNECT_TIMEOUT),
                    )),
                    Err(err) => {
                        tracing::warn!(service = %name, %addr, %err, "skipping an instance with a bad endpoint")
                    }
                }
            }
            for update in updates {
                if changes.send(update).await.is_err() {
                    return; // every clone of the channel is gone
                }
            }
            current = next;
            if instances.changed().await.is_err() {
                return;
            }
        }
    });
    Ok(channel)
}
