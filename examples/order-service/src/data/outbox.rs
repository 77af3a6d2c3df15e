//! The transactional outbox's relay: reads events the order transactions wrote to `outbox` and
//! publishes them to NATS JetStream, marking each once JetStream acknowledges it. With NATS down,
//! orders still succeed and events wait; the relay retries with backoff and delivers them when
//! NATS is back. Delivery is at least once: each message carries its event id as `Nats-Msg-Id`.

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream;
use sqlx::{AnyPool, Row};
use tokio::sync::Notify;

use crate::conf;

/// Events relayed per round trip to the database.
const BATCH: i64 = 100;
/// How long to wait for JetStream's acknowledgement of one event.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often to look for events when nobody says there are some.
const POLL: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A handle to the relay task; dropping the last one stops it.
#[derive(Debug, Clone)]
pub struct Relay {
    wake: Arc<Notify>,
    _task: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Relay {
    /// Starts relaying `pool`'s outbox to the configured NATS server.
    pub fn spawn(pool: AnyPool, config: &conf::Nats) -> Relay {
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(run(pool, config.clone(), wake.clone()));
        Relay {
            wake,
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// Tells the relay new events are waiting, so they go out now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

async fn run(pool: AnyPool, config: conf::Nats, wake: Arc<Notify>) {
    let client = match async_nats::ConnectOptions::new()
        .name(env!("CARGO_PKG_NAME"))
        .retry_on_initial_connect()
        .connect(config.url.as_str())
        .await
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(url = %config.url, "events will not be relayed: {err}");
            return;
        }
    };
    let jetstream = jetstream::new(client);
    let mut stream_ready = false;
    let mut backoff = Duration::from_millis(100);
    loop {
        let relayed = async {
            if !stream_ready {
                ensure_stream(&jetstream, &config).await?;
                stream_ready = true;
            }
            relay_batch(&pool, &jetstream).await
        };
        match relayed.await {
            Ok(count) => {
                backoff = Duration::from_millis(100);
                if count < BATCH as usize {
                    // Caught up: sleep until woken or the next poll.
                    let _ = tokio::time::timeout(POLL, wake.notified()).await;
                }
            }
            Err(err) => {
                tracing::warn!(?backoff, "relaying events failed; retrying: {err:#}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The stream that keeps the order events, created on first use.
async fn ensure_stream(jetstream: &jetstream::Context, config: &conf::Nats) -> anyhow::Result<()> {
    jetstream
        .get_or_create_stream(jetstream::stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            ..Default::default()
        })
        .await
        .map_err(|err| anyhow::anyhow!("creating the `{}` stream: {err}", config.stream))?;
    Ok(())
}

// ANCHOR: relay
/// Publishes the oldest unpublished events, one acknowledgement at a time so they stay in order;
/// returns how many went out.
async fn relay_batch(pool: &AnyPool, jetstream: &jetstream::Context) -> anyhow::Result<usize> {
    let events = sqlx::query(
        "SELECT id, subject, payload FROM outbox WHERE published_at IS NULL \
         ORDER BY created_at, id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await
    .context("reading the outbox")?;
    for event in &events {
        let id: String = event.try_get("id")?;
        let subject: String = event.try_get("subject")?;
        let payload: String = event.try_get("payload")?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.as_str());
        let ack = jetstream
            .publish_with_headers(subject, headers, payload.into())
            .await
            .context("publishing to JetStream")?;
        tokio::time::timeout(ACK_TIMEOUT, ack.into_future())
            .await
            .context("JetStream did not acknowledge in time")?
            .context("JetStream refused the event")?;
        sqlx::query("UPDATE outbox SET published_at = $1 WHERE id = $2")
            .bind(super::order::now_millis())
            .bind(&id)
            .execute(pool)
            .await
            .context("marking an event published")?;
    }
    Ok(events.len())
}
// ANCHOR_END: relay
