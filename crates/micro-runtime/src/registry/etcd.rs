//! etcd as a registry, spoken through the JSON gateway every etcd v3 serves on its client port
//! (`/v3/kv/put`, `/v3/lease/grant`, `/v3/watch`, …), so a service needs neither etcd's gRPC
//! client nor `protoc` to build one. Records follow kratos' etcd registry: the key
//! `{namespace}/{name}/{id}` (namespace `/microservices`), the value the instance as JSON, under a
//! lease of `ttl` that the service keeps alive; callers read every key under `{namespace}/{name}`
//! and watch it for changes.

use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{oneshot, watch};

use super::{ServiceInstance, backoff, replace_if_changed};
use crate::conf;

/// How long one request to etcd may take (watches excepted).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// An etcd cluster, by its members' client URLs.
#[derive(Debug, Clone)]
pub struct Etcd {
    http: reqwest::Client,
    endpoints: Vec<String>,
    namespace: String,
    ttl: Duration,
}

impl Etcd {
    pub fn new(config: &conf::Etcd) -> anyhow::Result<Etcd> {
        if config.endpoints.is_empty() {
            anyhow::bail!("`registry.etcd.endpoints` is empty: name at least one etcd client URL");
        }
        if config.ttl < Duration::from_secs(2) {
            anyhow::bail!("`registry.etcd.ttl` must be at least 2s (etcd leases count seconds)");
        }
        Ok(Etcd {
            http: reqwest::Client::new(),
            endpoints: config
                .endpoints
                .iter()
                .map(|e| e.trim_end_matches('/').to_owned())
                .collect(),
            namespace: config.namespace.trim_end_matches('/').to_owned(),
            ttl: config.ttl,
        })
    }

    /// The key of an instance's record: `{namespace}/{name}/{id}`, as kratos writes it.
    pub fn key(&self, instance: &ServiceInstance) -> String {
        format!("{}/{}/{}", self.namespace, instance.name, instance.id)
    }

    /// Posts a gateway method to the first member that answers; its response. `timeout` bounds
    /// the whole exchange (none for a watch, which streams for as long as it lasts).
    async fn post(
        &self,
        method: &str,
        body: &serde_json::Value,
        timeout: Option<Duration>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut last = None;
        for endpoint in &self.endpoints {
            let url = format!("{endpoint}/v3/{method}");
            let mut request = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            match request
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
            {
                Ok(response) => return Ok(response),
                Err(err) => last = Some(anyhow::Error::new(err).context(format!("calling {url}"))),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no etcd endpoint")))
    }

    /// Calls a gateway method on the first member that answers, and reads its JSON answer.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<T> {
        let response = self.post(method, &body, Some(REQUEST_TIMEOUT)).await?;
        let bytes = response.bytes().await?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("reading etcd's answer to `{method}`"))
    }

    /// Grants a lease of the configured TTL; its id.
    async fn grant(&self) -> anyhow::Result<i64> {
        let granted: Granted = self
            .call(
                "lease/grant",
                json!({ "TTL": self.ttl.as_secs().to_string() }),
            )
            .await?;
        Ok(granted.id)
    }

    /// Writes the record under `lease`.
    async fn put(&self, key: &str, value: &str, lease: i64) -> anyhow::Result<()> {
        let body = json!({
            "key": BASE64.encode(key),
            "value": BASE64.encode(value),
            "lease": lease.to_string(),
        });
        self.call::<serde_json::Value>("kv/put", body).await?;
        Ok(())
    }

    /// Renews `lease`; false when etcd no longer knows it (expired, or etcd lost it).
    async fn keep_alive(&self, lease: i64) -> anyhow::Result<bool> {
        let answer: KeepAlive = self
            .call("lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        Ok(answer.result.ttl > 0)
    }

    async fn revoke(&self, lease: i64) -> anyhow::Result<()> {
        self.call::<serde_json::Value>("lease/revoke", json!({ "ID": lease.to_string() }))
            .await?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.call::<serde_json::Value>("kv/deleterange", json!({ "key": BASE64.encode(key) }))
            .await?;
        Ok(())
    }

    /// Every instance of `name`, and the store revision they were read at.
    pub async fn instances(&self, name: &str) -> anyhow::Result<(Vec<ServiceInstance>, i64)> {
        let (key, range_end) = prefix_range(&self.prefix(name));
        let range: Range = self
            .call("kv/range", json!({ "key": key, "range_end": range_end }))
            .await?;
        let mut instances = Vec::new();
        for kv in range.kvs {
            let value = BASE64
                .decode(&kv.value)
                .context("a record that is not base64")?;
            match serde_json::from_slice::<ServiceInstance>(&value) {
                // kratos reads `{namespace}/{name}` as a prefix, so `user` also matches
                // `user-admin`'s keys; the record's name says whose it is.
                Ok(instance) if instance.name == name => instances.push(instance),
                Ok(_) => {}
                Err(err) => {
                    let key = String::from_utf8_lossy(&BASE64.decode(&kv.key).unwrap_or_default())
                        .into_owned();
                    tracing::warn!(%key, %err, "skipping a registry record that is not an instance");
                }
            }
        }
        Ok((instances, range.header.revision))
    }

    fn prefix(&self, name: &str) -> String {
        format!("{}/{}", self.namespace, name)
    }

    /// Keeps `instance` registered until the returned keeper deregisters it.
    pub(super) fn keep_registered(&self, instance: ServiceInstance) -> Keeper {
        let (stop, stopped) = oneshot::channel();
        let etcd = self.clone();
        let key = self.key(&instance);
        let task = tokio::spawn(etcd.clone().keep(key.clone(), instance, stopped));
        Keeper {
            etcd,
            key,
            stop,
            task,
        }
    }

    /// The keep-alive loop: register, renew the lease at a third of its TTL, and register
    /// afresh whenever the lease is gone or etcd did not answer. Returns the lease held when
    /// told to stop.
    async fn keep(
        self,
        key: String,
        instance: ServiceInstance,
        mut stop: oneshot::Receiver<()>,
    ) -> Option<i64> {
        let value = match serde_json::to_string(&instance) {
            Ok(value) => value,
            Err(err) => {
                tracing::error!(%err, "the instance record does not serialise");
                return None;
            }
        };
        let mut lease = None;
        let mut failures = 0;
        loop {
            let renewed = match lease {
                Some(id) => self.keep_alive(id).await,
                None => Ok(false),
            };
            let wait = match renewed {
                Ok(true) => {
                    failures = 0;
                    self.ttl / 3
                }
                _ => match self.register(&key, &value).await {
                    Ok(id) => {
                        if lease.is_some() || failures > 0 {
                            tracing::info!(%key, "registered again");
                        } else {
                            tracing::info!(%key, "registered");
                        }
                        lease = Some(id);
                        failures = 0;
                        self.ttl / 3
                    }
                    Err(err) => {
                        if failures == 0 {
                            tracing::warn!(%key, err = %format!("{err:#}"), "registering; retrying until etcd answers");
                        }
                        lease = None;
                        failures += 1;
                        backoff(failures, self.ttl / 3)
                    }
                },
            };
            tokio::select! {
                _ = &mut stop => return lease,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn register(&self, key: &str, value: &str) -> anyhow::Result<i64> {
        let lease = self.grant().await?;
        self.put(key, value, lease).await?;
        Ok(lease)
    }

    /// The instances of `name`, kept current from etcd's watch; see [`super::Registry::watch`].
    pub(super) fn watch(&self, name: &str) -> watch::Receiver<Vec<ServiceInstance>> {
        let (sender, receiver) = watch::channel(Vec::new());
        let etcd = self.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let mut failures = 0;
            while !sender.is_closed() {
                match etcd.follow(&name, &sender).await {
                    Ok(()) => failures = 0,
                    Err(err) => {
                        if failures == 0 {
                            tracing::warn!(service = %name, err = %format!("{err:#}"), "watching the registry; keeping the last known instances");
                        }
                        failures += 1;
                    }
                }
                tokio::time::sleep(backoff(failures, Duration::from_secs(5))).await;
            }
        });
        receiver
    }

    /// Reads the instances, then follows etcd's watch from that revision, reading them again on
    /// every change, until the watch ends.
    async fn follow(
        &self,
        name: &str,
        sender: &watch::Sender<Vec<ServiceInstance>>,
    ) -> anyhow::Result<()> {
        let (instances, revision) = self.instances(name).await?;
        sender.send_if_modified(|known| replace_if_changed(known, instances));
        let (key, range_end) = prefix_range(&self.prefix(name));
        let body = json!({ "create_request": {
            "key": key,
            "range_end": range_end,
            "start_revision": (revision + 1).to_string(),
        } });
        let mut response = self.post("watch", &body, None).await?;
        // The gateway streams one JSON object per watch response.
        let mut buffer = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            buffer.extend_from_slice(&chunk);
            let mut changed = false;
            let mut stream =
                serde_json::Deserializer::from_slice(&buffer).into_iter::<WatchAnswer>();
            let mut consumed = 0;
            while let Some(Ok(answer)) = stream.next() {
                consumed = stream.byte_offset();
                if let Some(error) = answer.error {
                    anyhow::bail!("etcd ended the watch: {error}");
                }
                changed |= answer.result.is_some_and(|r| !r.events.is_empty());
            }
            buffer.drain(..consumed);
            if changed {
                let (instances, _) = self.instances(name).await?;
                sender.send_if_modified(|known| replace_if_changed(known, instances));
            }
            if sender.is_closed() {
                return Ok(());
            }
        }
        anyhow::bail!("etcd closed the watch")
    }
}

/// The task keeping one record alive.
#[derive(Debug)]
pub(super) struct Keeper {
    etcd: Etcd,
    key: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Option<i64>>,
}

impl Keeper {
    pub(super) async fn deregister(self) {
        let _ = self.stop.send(());
        let lease = self.task.await.ok().flatten();
        let removed = async {
            self.etcd.delete(&self.key).await?;
            if let Some(lease) = lease {
                self.etcd.revoke(lease).await?;
            }
            anyhow::Ok(())
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, removed).await {
            Ok(Ok(())) => tracing::info!(key = %self.key, "deregistered"),
            Ok(Err(err)) => {
                tracing::warn!(key = %self.key, err = %format!("{err:#}"), "deregistering; the record expires with its lease")
            }
            Err(_) => {
                tracing::warn!(key = %self.key, "etcd did not answer; the record expires with its lease")
            }
        }
    }
}

/// The base64 `key` and `range_end` etcd reads as "every key under `prefix/`".
fn prefix_range(prefix: &str) -> (String, String) {
    let start = format!("{prefix}/");
    let mut end = start.clone().into_bytes();
    // The first key after every key that starts with `prefix/`: `/` + 1 is `0`.
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (BASE64.encode(start), BASE64.encode(end))
}

/// etcd's JSON gateway writes 64-bit integers as strings.
fn int64<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Text(String),
        Number(i64),
    }
    match Int64::deserialize(deserializer)? {
        Int64::Text(text) => text.parse().map_err(serde::de::Error::custom),
        Int64::Number(number) => Ok(number),
    }
}

#[derive(Deserialize)]
struct Granted {
    #[serde(rename = "ID", deserialize_with = "int64")]
    id: i64,
}

#[derive(Deserialize)]
struct KeepAlive {
    #[serde(default)]
    result: KeepAliveResult,
}

#[derive(Default, Deserialize)]
struct KeepAliveResult {
    #[serde(rename = "TTL", default, deserialize_with = "int64")]
    ttl: i64,
}

#[derive(Deserialize)]
struct Range {
    header: Header,
    #[serde(default)]
    kvs: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default, deserialize_with = "int64")]
    revision: i64,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct WatchAnswer {
    result: Option<WatchResult>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WatchResult {
    #[serde(default)]
    events: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_covers_the_service_and_no_other() {
        let (start, end) = prefix_range("/microservices/user");
        assert_eq!(BASE64.decode(start).unwrap(), b"/microservices/user/");
        assert_eq!(BASE64.decode(end).unwrap(), b"/microservices/user0");
    }
}
