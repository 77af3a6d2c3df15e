//! The order service's events, a transport of their own: a durable JetStream consumer hands each
//! `order.created` and `order.cancelled` to the user service (see `micro_runtime::events` for
//! acknowledgements, retries and dead letters). NATS being away, or the order service's stream not
//! existing yet, holds up nothing else: the consumer tries again until it can read.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use micro_runtime::events::{self, Consumer};

use crate::conf;
use crate::service::UserService;

/// The longest wait between two attempts to reach the stream.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(10);

/// Consumes the configured events into `users` until `shutdown` completes.
pub async fn serve(
    users: Arc<UserService>,
    config: conf::Events,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let consumer = Consumer {
        subjects: config.subjects.clone(),
        ack_wait: *config.ack_wait,
        max_deliver: config.max_deliver,
        dead_letter_subject: config.dead_letter_subject.clone(),
        backoff: config.backoff.iter().map(|wait| **wait).collect(),
        ..Consumer::new(&config.stream, &config.durable, &[])
    };
    // The event in hand is finished (and acknowledged) before the consumer stops.
    let shutdown = futures_util::FutureExt::shared(Box::pin(shutdown));
    let mut wait = Duration::from_millis(500);
    loop {
        let attempt = async {
            let client = async_nats::ConnectOptions::new()
                .name(env!("CARGO_PKG_NAME"))
                .connection_timeout(Duration::from_secs(5))
                .connect(config.url.as_str())
                .await?;
            let jetstream = async_nats::jetstream::new(client);
            let users = users.clone();
            events::consume(
                jetstream,
                consumer.clone(),
                move |delivery| {
                    let users = users.clone();
                    async move { users.order_event(delivery).await }
                },
                shutdown.clone(),
            )
            .await
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "order events unavailable; trying again")
            }
        }
        tokio::select! {
            () = shutdown.clone() => return Ok(()),
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(MAX_RECONNECT_WAIT);
    }
}
