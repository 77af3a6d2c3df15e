//! A Redis read-through cache for single orders. Reads try Redis first and fill it on a miss; a
//! cancel deletes the order's entry once its transaction has committed. Redis is a convenience,
//! never a dependency: when it fails or is slow, the store reads the database and says so in the
//! logs, and requests go on.

use std::time::Duration;

use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::biz::Order;
use crate::conf;

/// Past this, a cache call counts as failed and the database answers instead.
const TIMEOUT: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct OrderCache {
    redis: ConnectionManager,
    ttl_seconds: u64,
}

impl std::fmt::Debug for OrderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderCache")
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

impl OrderCache {
    /// A cache on the configured Redis; it connects on first use, and reconnects by itself, so a
    /// Redis that is down at start-up or restarts later costs cache hits, not requests.
    pub fn new(config: &conf::Cache) -> anyhow::Result<OrderCache> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|err| anyhow::anyhow!("`cache.url` {:?}: {err}", config.url))?;
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        Ok(OrderCache {
            redis: ConnectionManager::new_lazy_with_config(client, settings)?,
            ttl_seconds: config.ttl.as_secs().max(1),
        })
    }

    fn key(id: &str) -> String {
        format!("order:{id}")
    }

    /// The cached copy of order `id`; `None` on a miss or when Redis fails.
    pub async fn get(&self, id: &str) -> Option<Order> {
        let cached: Option<String> = self
            .redis
            .clone()
            .get(Self::key(id))
            .await
            .inspect_err(|err| tracing::warn!(order = id, "reading the cache failed: {err}"))
            .ok()?;
        // An entry this version cannot read (say, written by an older one) is a miss.
        serde_json::from_str(&cached?).ok()
    }

    pub async fn put(&self, order: &Order) {
        let Ok(value) = serde_json::to_string(order) else {
            return;
        };
        let stored: redis::RedisResult<()> = self
            .redis
            .clone()
            .set_ex(Self::key(&order.id), value, self.ttl_seconds)
            .await;
        if let Err(err) = stored {
            tracing::warn!(order = %order.id, "filling the cache failed: {err}");
        }
    }

    /// Drops order `id`'s entry, so the next read sees the database's copy.
    pub async fn invalidate(&self, id: &str) {
        let deleted: redis::RedisResult<()> = self.redis.clone().del(Self::key(id)).await;
        if let Err(err) = deleted {
            // The entry expires within the TTL anyway; until then a read may see the old status.
            tracing::warn!(order = id, "invalidating the cache failed: {err}");
        }
    }
}
