//! The transactional outbox's relay: reads events the order transactions wrote to `outbox` and
//! publishes them to NATS JetStream a batch at a time, marking each once JetStream acknowledges
//! it. With NATS down, orders still succeed and events wait; the relay retries with backoff and
//! delivers them when NATS is back. Delivery is at least once: each message carries its event id
//! as `Nats-Msg-Id`.

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
/// Publishes the oldest unpublished events in order, and marks those JetStream acknowledged;
/// returns how many went out. The batch is sent before any acknowledgement is awaited, and the
/// marks are one transaction: a commit per batch rather than per event, so the relay keeps ahead
/// of a busy service's creates. An event refused or not acknowledged goes again with the next
/// batch (after the ones sent behind it, if NATS failed mid-batch).
async fn relay_batch(pool: &AnyPool, jetstream: &jetstream::Context) -> anyhow::Result<usize> {
    let events = sqlx::query(
        "SELECT id, subject, payload FROM outbox WHERE published_at IS NULL \
         ORDER BY created_at, id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(pool)
    .await
    .context("reading the outbox")?;
    let mut sent = Vec::with_capacity(events.len());
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
        sent.push((id, ack));
    }
    let mut acknowledged = Vec::with_capacity(sent.len());
    let mut failure = None;
    for (id, ack) in sent {
        let outcome = match tokio::time::timeout(ACK_TIMEOUT, ack.into_future()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(anyhow::Error::new(err).context("JetStream refused the event")),
            Err(_) => Err(anyhow::anyhow!("JetStream did not acknowledge in time")),
        };
        if let Err(err) = outcome {
            // The rest go again with the next batch; JetStream drops the duplicates.
            failure = Some(err);
            break;
        }
        acknowledged.push(id);
    }
    let mut marking = pool.begin().await.context("marking events published")?;
    let published_at = super::order::now_millis();
    for id in &acknowledged {
        sqlx::query("UPDATE outbox SET published_at = $1 WHERE id = $2")
            .bind(published_at)
            .bind(id)
            .execute(&mut *marking)
            .await
            .context("marking an event published")?;
    }
    marking.commit().await.context("marking events published")?;
    match failure {
        Some(err) => Err(err),
        None => Ok(events.len()),
    }
}
// ANCHOR_END: relay
