//! The Redis read-through cache for single orders: reads fill it and are served from it, a cancel
//! invalidates it, and a Redis that is down costs nothing but the cache. Against the Redis on
//! 127.0.0.1:6379 (or `ORDER_SERVICE_TEST_REDIS`).

mod common;

use std::time::Duration;

use redis::AsyncCommands as _;

use order_service::biz::{Item, NewOrder, OrderRepo as _, Status};
use order_service::{conf, data};

use common::fixture;

fn redis_url() -> String {
    std::env::var("ORDER_SERVICE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn order() -> NewOrder {
    NewOrder {
        user_id: "user_456".into(),
        items: vec![Item {
            product_id: "prod_002".into(),
            product_name: "AirPods Pro".into(),
            quantity: 1,
            unit_price: 189_900,
        }],
        address: "Shanghai".into(),
        remark: "as placed".into(),
        idempotency_key: None,
    }
}

/// Changes an order's remark behind the store's back, so a read shows where it came from.
async fn rewrite_remark(config: &conf::Config, id: &str, remark: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::AnyConnection::connect(&config.database.url)
        .await
        .unwrap();
    sqlx::query("UPDATE orders SET remark = $1 WHERE id = $2")
        .bind(remark)
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn reads_are_served_from_redis_until_a_cancel_invalidates_them() {
    let mut fixture = fixture().await;
    fixture.config.cache = Some(conf::Cache {
        url: redis_url(),
        ttl: Duration::from_secs(60),
    });
    let store = data::open(&fixture.config).await.unwrap();
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    let created = store.create(&order(), 189_900).await.unwrap().order;
    let key = format!("order:{}", created.id);
    let _: () = redis.del(&key).await.unwrap();

    // A miss reads the database and fills the cache, with the configured lifetime.
    let first = store.get(&created.id).await.unwrap().unwrap();
    assert_eq!(first.remark, "as placed");
    let ttl: i64 = redis.ttl(&key).await.unwrap();
    assert!((1..=60).contains(&ttl), "ttl {ttl}");

    // A hit does not touch the database: a change made behind the store's back is not seen.
    rewrite_remark(&fixture.config, &created.id, "changed in the database").await;
    let cached = store.get(&created.id).await.unwrap().unwrap();
    assert_eq!(cached.remark, "as placed");

    // A cancel drops the entry: the next read is the database's, cancelled and all.
    store.cancel(&created.id, "testing").await.unwrap();
    let exists: bool = redis.exists(&key).await.unwrap();
    assert!(!exists);
    let fresh = store.get(&created.id).await.unwrap().unwrap();
    assert_eq!(fresh.status, Status::Cancelled);
    assert_eq!(fresh.remark, "changed in the database");
    let _: () = redis.del(&key).await.unwrap();
}

#[tokio::test]
async fn with_redis_down_orders_are_read_from_the_database() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut fixture = fixture().await;
    fixture.config.cache = Some(conf::Cache {
        url: format!("redis://127.0.0.1:{closed_port}"),
        ttl: Duration::from_secs(60),
    });
    let store = data::open(&fixture.config).await.unwrap();

    let created = store.create(&order(), 189_900).await.unwrap().order;
    let read = store.get(&created.id).await.unwrap().unwrap();
    assert_eq!(read, created);
    let cancelled = store.cancel(&created.id, "testing").await.unwrap();
    assert_eq!(cancelled.status, Status::Cancelled);
    assert_eq!(
        store.get(&created.id).await.unwrap().unwrap().status,
        Status::Cancelled
    );
    assert!(store.get("no-such-order").await.unwrap().is_none());
}
