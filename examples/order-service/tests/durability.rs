//! SIGKILL in the middle of a stream of creates loses no order the service acknowledged, nor its
//! event: after a restart on the same database, every acknowledged order is there, and the outbox
//! holds its `order.created`. The real binary, over real HTTP, on the test's own database.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::Connection as _;

use common::fixture;
use common::process::{ServiceProcess, free_port};

/// The service binary on `database_url`, once ready.
async fn start(database_url: &str) -> ServiceProcess {
    let env = [
        ("APP_DATABASE__URL", database_url.to_owned()),
        // NATS is away: events must wait in the outbox, where this test looks for them.
        ("APP_NATS__URL", format!("nats://127.0.0.1:{}", free_port())),
    ];
    ServiceProcess::start(env!("CARGO_BIN_EXE_order-service"), &env).await
}

const ORDER: &str = r#"{"user_id": "user_123", "items": [{"product_id": "prod_001", "product_name": "iPhone 15", "quantity": 1, "unit_price": 599900}], "address": "Beijing"}"#;

#[tokio::test]
async fn orders_acknowledged_before_a_sigkill_survive_it() {
    let fixture = fixture().await;
    let database = fixture.config.database.url.clone();
    let client = reqwest::Client::new();
    let mut service = start(&database).await;
    // Plenty of stock, so every create can succeed.
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&database).await.unwrap();
    sqlx::query("UPDATE products SET stock = 1000000 WHERE id = 'prod_001'")
        .execute(&mut db)
        .await
        .unwrap();

    // Eight clients create orders as fast as the service takes them, noting each acknowledgement.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (client, acknowledged) = (client.clone(), acknowledged.clone());
            let base = service.http.clone();
            tokio::spawn(async move {
                loop {
                    let response = client
                        .post(format!("{base}/api/v1/orders"))
                        .header("content-type", "application/json")
                        .body(ORDER)
                        .send()
                        .await;
                    // The first failure is the kill: the connection drops.
                    let Ok(response) = response else { break };
                    assert_eq!(response.status(), 200);
                    let Ok(text) = response.text().await else {
                        break;
                    };
                    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let id = body["orderId"].as_str().unwrap().to_owned();
                    acknowledged.lock().unwrap().push(id);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().unwrap().len() < 200 {
        assert!(Instant::now() < deadline, "too few creates succeeded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    service.process.kill().unwrap(); // SIGKILL: no drain, no clean close
    service.process.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    // Restarted on the same database, the service has every order it acknowledged.
    let mut service = start(&database).await;
    for id in &acknowledged {
        let response = client
            .get(format!("{}/api/v1/orders/{id}", service.http))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "order {id} was lost");
    }
    // ...and the event of each.
    let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM outbox")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let with_events: HashSet<String> = payloads
        .iter()
        .map(|payload| {
            let event: serde_json::Value = serde_json::from_str(payload).unwrap();
            event["order_id"].as_str().unwrap().to_owned()
        })
        .collect();
    for id in &acknowledged {
        assert!(with_events.contains(id), "order {id} has no event");
    }
    assert!(
        service.terminate(),
        "the restarted service did not exit cleanly"
    );
}
