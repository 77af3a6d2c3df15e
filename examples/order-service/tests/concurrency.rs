//! Races the store must win: concurrent creates never oversell, and of concurrent cancels of one
//! order exactly one succeeds (and releases the stock once). Real concurrency: a multi-threaded
//! runtime, every request its own task, all on one database.

mod common;

use std::sync::Arc;

use order_service::biz::{Item, NewOrder, OrderError, OrderRepo as _};
use order_service::{data, service};

use common::{fixture, stock};

fn one(product_id: &str, quantity: u32) -> NewOrder {
    NewOrder {
        user_id: "user_123".into(),
        items: vec![Item {
            product_id: product_id.into(),
            product_name: String::new(),
            quantity,
            unit_price: 100,
        }],
        address: "somewhere".into(),
        remark: String::new(),
        idempotency_key: None,
    }
}

// ANCHOR: oversell
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_creates_against_a_stock_of_ten_accept_exactly_ten() {
    let fixture = fixture().await;
    let store = Arc::new(data::open(&fixture.config).await.unwrap());
    // prod_003 starts with 10 in stock.
    let creates: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.create(&one("prod_003", 1), 100).await })
        })
        .collect();
    let (mut accepted, mut refused) = (0, 0);
    for create in creates {
        match create.await.unwrap() {
            Ok(_) => accepted += 1,
            Err(OrderError::InsufficientStock { .. }) => refused += 1,
            Err(other) => panic!("neither accepted nor out of stock: {other:#}"),
        }
    }
    assert_eq!((accepted, refused), (10, 40));
    assert_eq!(stock(&fixture.config, "prod_003").await, 0);
}
// ANCHOR_END: oversell

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_cancels_of_one_order_succeed_once() {
    let fixture = fixture().await;
    let orders: Arc<service::OrderService> = order_service::orders(&fixture.config).await.unwrap();
    let store = data::open(&fixture.config).await.unwrap();
    let order = store.create(&one("prod_002", 3), 300).await.unwrap().order;
    let before = stock(&fixture.config, "prod_002").await;

    let cancels: Vec<_> = (0..100)
        .map(|_| {
            let (orders, id) = (orders.clone(), order.id.clone());
            tokio::spawn(async move {
                use order_service::api::order::v1::CancelOrderRequest;
                use order_service::api::order::v1::order_service_server::OrderService as _;
                let request = CancelOrderRequest {
                    order_id: id,
                    reason: "race".into(),
                };
                orders.cancel_order(tonic::Request::new(request)).await
            })
        })
        .collect();
    let mut succeeded = 0;
    for cancel in cancels {
        match cancel.await.unwrap() {
            Ok(_) => succeeded += 1,
            Err(status) => {
                let err = micro_runtime::errors::Error::from(status);
                assert!(
                    order_service::api::order::v1::is_order_already_cancelled(&err),
                    "{err}"
                );
            }
        }
    }
    assert_eq!(succeeded, 1);
    // The stock came back once, not a hundred times.
    assert_eq!(stock(&fixture.config, "prod_002").await, before + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_retries_of_one_create_place_one_order() {
    let fixture = fixture().await;
    let store = Arc::new(data::open(&fixture.config).await.unwrap());
    let retries: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let order = NewOrder {
                    idempotency_key: Some("retry-me".into()),
                    ..one("prod_002", 1)
                };
                store
                    .create(&order, 100)
                    .await
                    .map(|placed| (placed.order.id, placed.replayed))
            })
        })
        .collect();
    let (mut ids, mut placed) = (Vec::new(), 0);
    for retry in retries {
        let (id, replayed) = retry.await.unwrap().unwrap();
        ids.push(id);
        placed += usize::from(!replayed);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one order for one key: {ids:?}");
    assert_eq!(
        placed, 1,
        "the first create places it, the other nineteen replay it"
    );
    assert_eq!(stock(&fixture.config, "prod_002").await, 500 - 1);
}
