//! Orders in SQL, through sqlx's `Any` driver. Every statement uses `$N` parameters and portable
//! types (text ids, integer times), so the same SQL serves SQLite and PostgreSQL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

use super::StoreContext as _;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use tokio::sync::OwnedMutexGuard;

use super::cache::OrderCache;
use super::outbox::Relay;
use crate::biz::{Item, NewOrder, Order, OrderError, OrderFilter, OrderRepo, Placed, Status};
use crate::conf;

#[derive(Debug, Clone)]
pub struct OrderStore {
    pool: AnyPool,
    /// Events go to subjects under this prefix (`order.created`).
    subject_prefix: String,
    /// Relays the outbox to NATS; `None` leaves events in the outbox.
    relay: Option<Relay>,
    /// Keeps recently read orders; `None` reads every one from the database.
    cache: Option<OrderCache>,
    /// Write transactions take turns here first, on SQLite (see [`OrderStore::with_one_writer`]).
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl OrderStore {
    /// A store on `pool`, relaying its events to NATS when `nats` is configured, and reading
    /// single orders through `cache` when there is one.
    pub fn new(pool: AnyPool, nats: Option<&conf::Nats>, cache: Option<OrderCache>) -> Self {
        OrderStore {
            cache,
            relay: nats.map(|nats| Relay::spawn(pool.clone(), nats)),
            subject_prefix: nats.map_or_else(|| "order".to_owned(), |n| n.subject_prefix.clone()),
            writer: None,
            pool,
        }
    }

    /// Has write transactions queue in the process, first come first served, before they ask the
    /// database for its write lock. SQLite has one writer at a time and makes the others retry
    /// with sleeps, which is unfair: under load some creates waited past their 1 s timeout while
    /// later ones went through. A fair queue in front of it gives every write its turn.
    pub fn with_one_writer(mut self) -> Self {
        self.writer = Some(Arc::default());
        self
    }

    /// A transaction for writing, with this process's write turn when writes take turns.
    async fn begin_write(
        &self,
    ) -> anyhow::Result<(Option<OwnedMutexGuard<()>>, Transaction<'static, Any>)> {
        let turn = match &self.writer {
            Some(writer) => Some(writer.clone().lock_owned().await),
            None => None,
        };
        let tx = self
            .pool
            .begin()
            .await
            .store_context("starting a transaction")?;
        Ok((turn, tx))
    }

    /// Records an event in the transaction that made it happen.
    async fn record_event(
        &self,
        tx: &mut Transaction<'_, Any>,
        kind: &str,
        payload: serde_json::Value,
    ) -> anyhow::Result<()> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut payload = payload;
        payload["event_id"] = serde_json::Value::from(id.as_str());
        sqlx::query(
            "INSERT INTO outbox (id, subject, payload, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(format!("{}.{kind}", self.subject_prefix))
        .bind(payload.to_string())
        .bind(now_millis())
        .execute(&mut **tx)
        .await
        .store_context("recording an event")?;
        Ok(())
    }

    /// Order `id` as the database has it.
    async fn get_from_database(&self, id: &str) -> anyhow::Result<Option<Order>> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .store_context("taking a connection")?;
        let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .store_context("reading an order")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut orders = vec![order_from_row(&row)?];
        fill_items(&mut conn, &mut orders).await?;
        Ok(orders.pop())
    }

    fn wake_relay(&self) {
        if let Some(relay) = &self.relay {
            relay.wake();
        }
    }
}

const ORDER_COLUMNS: &str =
    "id, user_id, total_amount, status, address, remark, created_at, updated_at";

pub(super) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

impl OrderRepo for OrderStore {
    async fn create(&self, order: &NewOrder, total_amount: i64) -> Result<Placed, OrderError> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = now_millis();
        let (_turn, mut tx) = self.begin_write().await?;
        // Every write comes before any read, so concurrent creates queue on the write lock
        // instead of failing to upgrade a read. The key first: a retry racing its original waits
        // for it, then finds the key taken.
        if let Some(key) = &order.idempotency_key {
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (user_id, idempotency_key, order_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&order.user_id)
            .bind(key)
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await
            .store_context("claiming the idempotency key")?;
            if claimed.rows_affected() == 0 {
                let first: String = sqlx::query_scalar(
                    "SELECT order_id FROM idempotency_keys WHERE user_id = $1 AND idempotency_key = $2",
                )
                .bind(&order.user_id)
                .bind(key)
                .fetch_one(&mut *tx)
                .await
                .store_context("reading the idempotency key")?;
                drop(tx);
                let order = self.get(&first).await?;
                let order = order.ok_or_else(|| OrderError::NotFound(first))?;
                return Ok(Placed {
                    order,
                    replayed: true,
                });
            }
        }
        let created = Order {
            id,
            user_id: order.user_id.clone(),
            items: order.items.clone(),
            total_amount,
            status: Status::Pending,
            address: order.address.clone(),
            remark: order.remark.clone(),
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO orders (id, user_id, total_amount, status, address, remark, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&created.id)
        .bind(&created.user_id)
        .bind(created.total_amount)
        .bind(created.status as i32)
        .bind(&created.address)
        .bind(&created.remark)
        .bind(created.created_at)
        .bind(created.updated_at)
        .execute(&mut *tx)
        .await
        .store_context("storing the order")?;
        let event = serde_json::json!({
            "type": "order.created",
            "order_id": created.id,
            "user_id": created.user_id,
            "total_amount": created.total_amount,
            "items": created.items.iter().map(|item| serde_json::json!({
                "product_id": item.product_id,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
            })).collect::<Vec<_>>(),
            "occurred_at": created.created_at,
        });
        self.record_event(&mut tx, "created", event).await?;
        // ANCHOR: reserve
        // A guarded decrement never oversells. It comes late: every create of a product updates
        // the product's row, and its lock is held from here to the commit. Rows are taken in
        // product order, so two creates of the same products never wait on each other (deadlock).
        let mut by_product: Vec<_> = order.items.iter().collect();
        by_product.sort_by(|a, b| a.product_id.cmp(&b.product_id));
        for item in by_product {
            let reserved =
                sqlx::query("UPDATE products SET stock = stock - $1 WHERE id = $2 AND stock >= $1")
                    .bind(i64::from(item.quantity))
                    .bind(&item.product_id)
                    .execute(&mut *tx)
                    .await
                    .store_context("reserving stock")?;
            if reserved.rows_affected() == 0 {
                let exists = sqlx::query("SELECT 1 FROM products WHERE id = $1")
                    .bind(&item.product_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .store_context("looking up a product")?
                    .is_some();
                return Err(if exists {
                    OrderError::InsufficientStock {
                        product_id: item.product_id.clone(),
                    }
                } else {
                    OrderError::ProductNotFound(item.product_id.clone())
                });
            }
        }
        // ANCHOR_END: reserve
        // The items after the stock: their products are known to exist now.
        for (position, item) in created.items.iter().enumerate() {
            sqlx::query(
                "INSERT INTO order_items (order_id, position, product_id, product_name, quantity, unit_price) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&created.id)
            .bind(i32::try_from(position).context("too many items")?)
            .bind(&item.product_id)
            .bind(&item.product_name)
            .bind(i32::try_from(item.quantity).context("quantity out of range")?)
            .bind(item.unit_price)
            .execute(&mut *tx)
            .await
            .store_context("storing the order's items")?;
        }
        tx.commit().await.store_context("committing the order")?;
        self.wake_relay();
        Ok(Placed {
            order: created,
            replayed: false,
        })
    }

    async fn get(&self, id: &str) -> anyhow::Result<Option<Order>> {
        if let Some(cache) = &self.cache
            && let Some(order) = cache.get(id).await
        {
            return Ok(Some(order));
        }
        let order = self.get_from_database(id).await?;
        if let (Some(cache), Some(order)) = (&self.cache, &order) {
            cache.put(order).await;
        }
        Ok(order)
    }

    async fn list(&self, filter: &OrderFilter) -> anyhow::Result<(Vec<Order>, u64)> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .store_context("taking a connection")?;
        // Placeholders are numbered by hand: sqlx's query builder writes `?` for `Any`, which
        // PostgreSQL does not accept.
        let mut matching = String::from(" FROM orders WHERE 1 = 1");
        let mut next = 1;
        if filter.user_id.is_some() {
            matching.push_str(&format!(" AND user_id = ${next}"));
            next += 1;
        }
        if filter.status.is_some() {
            matching.push_str(&format!(" AND status = ${next}"));
            next += 1;
        }
        let count_sql = format!("SELECT COUNT(*){matching}");
        let total: i64 = bind_filter(sqlx::query(&count_sql), filter)
            .fetch_one(&mut *conn)
            .await
            .store_context("counting orders")?
            .try_get(0)?;

        let page_sql = format!(
            "SELECT {ORDER_COLUMNS}{matching} ORDER BY created_at DESC, id DESC LIMIT ${next} OFFSET ${}",
            next + 1
        );
        let rows = bind_filter(sqlx::query(&page_sql), filter)
            .bind(i64::from(filter.page_size))
            .bind(i64::from(filter.page - 1) * i64::from(filter.page_size))
            .fetch_all(&mut *conn)
            .await
            .store_context("listing orders")?;
        let mut orders = rows
            .iter()
            .map(order_from_row)
            .collect::<anyhow::Result<Vec<_>>>()?;
        fill_items(&mut conn, &mut orders).await?;
        Ok((orders, u64::try_from(total)?))
    }

    async fn cancel(&self, id: &str, reason: &str) -> Result<Order, OrderError> {
        let (_turn, mut tx) = self.begin_write().await?;
        // ANCHOR: cancel
        // One conditional update decides: of concurrent cancels, exactly one changes the row.
        let cancelled = sqlx::query(&format!(
            "UPDATE orders SET status = $1, updated_at = $2 \
             WHERE id = $3 AND status IN ($4, $5) RETURNING {ORDER_COLUMNS}"
        ))
        .bind(Status::Cancelled as i32)
        .bind(now_millis())
        .bind(id)
        .bind(Status::Pending as i32)
        .bind(Status::Paid as i32)
        .fetch_optional(&mut *tx)
        .await
        .store_context("cancelling the order")?;
        let Some(row) = cancelled else {
            return Err(why_not_cancelled(&mut tx, id).await?);
        };
        // ANCHOR_END: cancel
        let mut orders = vec![order_from_row(&row)?];
        fill_items(&mut tx, &mut orders).await?;
        for item in &orders[0].items {
            sqlx::query("UPDATE products SET stock = stock + $1 WHERE id = $2")
                .bind(i64::from(item.quantity))
                .bind(&item.product_id)
                .execute(&mut *tx)
                .await
                .store_context("releasing stock")?;
        }
        let cancelled = orders.remove(0);
        let event = serde_json::json!({
            "type": "order.cancelled",
            "order_id": cancelled.id,
            "user_id": cancelled.user_id,
            "reason": reason,
            "occurred_at": cancelled.updated_at,
        });
        self.record_event(&mut tx, "cancelled", event).await?;
        tx.commit()
            .await
            .store_context("committing the cancellation")?;
        self.wake_relay();
        if let Some(cache) = &self.cache {
            cache.invalidate(id).await;
        }
        Ok(cancelled)
    }

    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .store_context("the database does not answer")?;
        Ok(())
    }
}

/// Binds the values of the conditions `list` wrote for `filter`, in the same order.
fn bind_filter<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    filter: &'q OrderFilter,
) -> Query<'q, Any, AnyArguments<'q>> {
    let query = match &filter.user_id {
        Some(user_id) => query.bind(user_id.as_str()),
        None => query,
    };
    match filter.status {
        Some(status) => query.bind(status as i32),
        None => query,
    }
}

/// The error for an order the conditional cancel did not change.
async fn why_not_cancelled(tx: &mut Transaction<'_, Any>, id: &str) -> anyhow::Result<OrderError> {
    let status: Option<i32> = sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
        .store_context("reading an order's status")?;
    Ok(match status.and_then(Status::from_number) {
        None => OrderError::NotFound(id.to_owned()),
        Some(Status::Cancelled) => OrderError::AlreadyCancelled(id.to_owned()),
        Some(status) => OrderError::NotCancellable {
            id: id.to_owned(),
            status,
        },
    })
}

fn order_from_row(row: &AnyRow) -> anyhow::Result<Order> {
    let status: i32 = row.try_get("status")?;
    Ok(Order {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        items: Vec::new(),
        total_amount: row.try_get("total_amount")?,
        status: Status::from_number(status)
            .with_context(|| format!("unknown order status {status} in the database"))?,
        address: row.try_get("address")?,
        remark: row.try_get("remark")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Reads the items of `orders` with one query.
async fn fill_items(conn: &mut AnyConnection, orders: &mut [Order]) -> anyhow::Result<()> {
    if orders.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (1..=orders.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT order_id, product_id, product_name, quantity, unit_price FROM order_items \
         WHERE order_id IN ({}) ORDER BY order_id, position",
        placeholders.join(", ")
    );
    let query = orders.iter().fold(sqlx::query(&sql), |query, order| {
        query.bind(order.id.as_str())
    });
    let rows = query
        .fetch_all(&mut *conn)
        .await
        .store_context("reading order items")?;
    let mut items: HashMap<String, Vec<Item>> = HashMap::new();
    for row in rows {
        let quantity: i64 = row.try_get("quantity")?;
        items
            .entry(row.try_get("order_id")?)
            .or_default()
            .push(Item {
                product_id: row.try_get("product_id")?,
                product_name: row.try_get("product_name")?,
                quantity: u32::try_from(quantity)?,
                unit_price: row.try_get("unit_price")?,
            });
    }
    for order in orders {
        order.items = items.remove(&order.id).unwrap_or_default();
    }
    Ok(())
}
