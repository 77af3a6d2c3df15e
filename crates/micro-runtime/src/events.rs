//! Consuming events from NATS JetStream: a durable pull consumer hands each event to a handler and
//! acknowledges it once the handler succeeds; a failed event comes back after a growing delay
//! (`backoff`), and after `max_deliver` attempts it is set aside on a dead-letter subject, with
//! the error, so that one poison event never blocks the rest.
//!
//! Delivery is at least once: an event whose acknowledgement was lost (the consumer killed after
//! the handler's work, before the ack) comes again. Handlers make that harmless by recording each
//! [`Delivery::id`] (the publisher's `Nats-Msg-Id`) in the same transaction as their effect, and
//! doing nothing for an id already recorded.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use axum::body::Bytes;
use futures_util::StreamExt as _;

use crate::errors::Error;

/// The header that names the subject a dead-lettered event was published on.
pub const ORIGINAL_SUBJECT_HEADER: &str = "Micro-Original-Subject";
/// The header that holds, as JSON, the typed error of a dead-lettered event's last attempt.
pub const ERROR_HEADER: &str = "Micro-Error";

/// A durable consumer of some subjects of a stream.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// The stream the events are in (it must exist: the publisher owns it).
    pub stream: String,
    /// The consumer's name: JetStream remembers what it has acknowledged, across restarts and
    /// across the instances that share it.
    pub durable: String,
    /// The subjects it takes, e.g. `order.created`; all of the stream's when empty.
    pub subjects: Vec<String>,
    /// How long JetStream waits for an acknowledgement before sending an event again (a handler
    /// still at work asks for more time as it goes).
    pub ack_wait: Duration,
    /// The waits before the second, third… attempts; the last one repeats.
    pub backoff: Vec<Duration>,
    /// Attempts before an event is dead-lettered.
    pub max_deliver: i64,
    /// Where dead-lettered events are published (a stream can keep them for inspection).
    pub dead_letter_subject: String,
}

impl Consumer {
    /// A consumer named `durable` of `stream`'s `subjects`: 30 s to handle an event, retried
    /// after 1 s, 5 s, then every 30 s, dead-lettered to `dead.{durable}` after 5 attempts.
    pub fn new(stream: &str, durable: &str, subjects: &[&str]) -> Consumer {
        Consumer {
            stream: stream.into(),
            durable: durable.into(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            ack_wait: Duration::from_secs(30),
            backoff: vec![
                Duration::from_secs(1),
                Duration::from_secs(5),
                Duration::from_secs(30),
            ],
            max_deliver: 5,
            dead_letter_subject: format!("dead.{durable}"),
        }
    }

    /// The wait before attempt `attempt + 1`.
    fn backoff(&self, attempt: i64) -> Duration {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(0);
        self.backoff
            .get(index)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

/// One event, as a handler gets it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The event's id: the publisher's `Nats-Msg-Id`, or the stream sequence without one.
    pub id: String,
    pub subject: String,
    pub payload: Bytes,
    /// 1 on the first delivery.
    pub attempt: i64,
}

/// Hands the events of `consumer` to `handle`, one at a time in stream order, until `shutdown`
/// completes (the event in hand is finished first). Creates the durable consumer if needed.
pub async fn consume<H, F>(
    jetstream: jetstream::Context,
    consumer: Consumer,
    handle: H,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()>
where
    H: Fn(Delivery) -> F,
    F: Future<Output = Result<(), Error>>,
{
    let stream = jetstream
        .get_stream(&consumer.stream)
        .await
        .with_context(|| format!("finding the stream `{}`", consumer.stream))?;
    let config = pull::Config {
        durable_name: Some(consumer.durable.clone()),
        filter_subjects: consumer.subjects.clone(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: consumer.ack_wait,
        // Redeliveries are paced by the handler's refusals (below); this bounds them, one more
        // than the last attempt so that the consumer itself dead-letters.
        max_deliver: consumer.max_deliver + 1,
        ..Default::default()
    };
    let pulled = stream
        .get_or_create_consumer(&consumer.durable, config)
        .await
        .with_context(|| format!("creating the consumer `{}`", consumer.durable))?;
    let mut messages = pulled
        .messages()
        .await
        .with_context(|| format!("reading from the consumer `{}`", consumer.durable))?;
    tokio::pin!(shutdown);
    loop {
        let message = tokio::select! {
            message = messages.next() => message,
            () = &mut shutdown => break,
        };
        let Some(message) = message else { break };
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(error = %err, consumer = %consumer.durable, "reading an event failed");
                continue;
            }
        };
        if let Err(err) = deliver(&jetstream, &consumer, &handle, message).await {
            tracing::warn!(error = %format!("{err:#}"), consumer = %consumer.durable, "an event could not be settled");
        }
    }
    Ok(())
}

async fn deliver<H, F>(
    jetstream: &jetstream::Context,
    consumer: &Consumer,
    handle: &H,
    message: jetstream::Message,
) -> anyhow::Result<()>
where
    H: Fn(Delivery) -> F,
    F: Future<Output = Result<(), Error>>,
{
    let info = message.info().map_err(|err| anyhow::anyhow!("{err}"))?;
    let (attempt, sequence) = (info.delivered, info.stream_sequence);
    let id = message
        .headers
        .as_ref()
        .and_then(|headers| headers.get("Nats-Msg-Id"))
        .map_or_else(|| sequence.to_string(), |id| id.as_str().to_owned());
    let delivery = Delivery {
        id,
        subject: message.subject.to_string(),
        payload: message.payload.clone(),
        attempt,
    };
    let result = handle(delivery.clone()).await;
    let settled = match result {
        Ok(()) => message.ack().await,
        Err(err) if attempt >= consumer.max_deliver => {
            dead_letter(jetstream, consumer, &delivery, &err).await?;
            message.ack_with(AckKind::Term).await
        }
        Err(err) => {
            tracing::info!(
                id = %delivery.id, attempt, error = %err,
                "an event failed; it will come again"
            );
            message
                .ack_with(AckKind::Nak(Some(consumer.backoff(attempt))))
                .await
        }
    };
    settled.map_err(|err| anyhow::anyhow!("acknowledging: {err}"))
}

/// Publishes a failed event to the dead-letter subject, with where it came from and why it failed.
async fn dead_letter(
    jetstream: &jetstream::Context,
    consumer: &Consumer,
    delivery: &Delivery,
    error: &Error,
) -> anyhow::Result<()> {
    tracing::warn!(
        id = %delivery.id, subject = %delivery.subject, error = %error,
        dead_letter = %consumer.dead_letter_subject, "an event failed every attempt; set aside"
    );
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", delivery.id.as_str());
    headers.insert(ORIGINAL_SUBJECT_HEADER, delivery.subject.as_str());
    if let Ok(typed) = serde_json::to_string(error) {
        headers.insert(ERROR_HEADER, typed.as_str());
    }
    // Through the core connection: a dead-letter subject needs no stream to be watched, and one
    // that has a stream keeps the event.
    jetstream
        .client()
        .publish_with_headers(
            consumer.dead_letter_subject.clone(),
            headers,
            delivery.payload.clone(),
        )
        .await
        .context("publishing to the dead-letter subject")?;
    jetstream
        .client()
        .flush()
        .await
        .context("publishing to the dead-letter subject")?;
    Ok(())
}
