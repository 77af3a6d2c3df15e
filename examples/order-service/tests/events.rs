//! Order events through the transactional outbox to NATS JetStream: they arrive, each once with
//! its own id, and an outage of NATS delays them without losing any or failing an order. Against
//! the NATS on 127.0.0.1:4222 (or `ORDER_SERVICE_TEST_NATS`), and a NATS server the outage test
//! starts and stops itself.

mod common;

use std::collections::HashSet;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt as _;
use order_service::biz::OrderRepo as _;
use order_service::{conf, data};

use common::{fixture, iphone_for};

/// A stream and subjects of the test's own on a shared server.
fn nats_config(url: &str) -> conf::Nats {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    conf::Nats {
        url: url.into(),
        stream: format!("ORDERS_TEST_{unique}"),
        subject_prefix: format!("order_test_{unique}"),
    }
}

/// The events in `nats.stream`, waiting up to 20 s for `count` of them.
async fn events(nats: &conf::Nats, count: usize) -> Vec<(String, serde_json::Value)> {
    let client = async_nats::connect(nats.url.as_str()).await.unwrap();
    let jetstream = jetstream::new(client);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let stream = loop {
        if let Ok(mut stream) = jetstream.get_stream(&nats.stream).await
            && stream.info().await.unwrap().state.messages >= count as u64
        {
            break stream;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} events never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer
        .fetch()
        .max_messages(count + 1)
        .expires(Duration::from_millis(500))
        .messages()
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        let headers = message.headers.as_ref().expect("headers");
        let id = headers
            .get("Nats-Msg-Id")
            .expect("a message id")
            .to_string();
        events.push((id, serde_json::from_slice(&message.payload).unwrap()));
    }
    events
}

async fn delete_stream(nats: &conf::Nats) {
    let client = async_nats::connect(nats.url.as_str()).await.unwrap();
    jetstream::new(client)
        .delete_stream(&nats.stream)
        .await
        .unwrap();
}

#[tokio::test]
async fn created_and_cancelled_orders_publish_events() {
    let url =
        std::env::var("ORDER_SERVICE_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let nats = nats_config(&url);
    let mut fixture = fixture().await;
    fixture.config.nats = Some(nats.clone());
    let store = data::open(&fixture.config).await.unwrap();

    let created = store
        .create(&iphone_for("user_123"), 599_900)
        .await
        .unwrap()
        .order;
    store.cancel(&created.id, "changed my mind").await.unwrap();

    let events = events(&nats, 2).await;
    delete_stream(&nats).await;
    assert_eq!(events.len(), 2);
    let (created_id, created_event) = &events[0];
    assert_eq!(created_event["type"], "order.created");
    assert_eq!(created_event["order_id"], created.id.as_str());
    assert_eq!(created_event["total_amount"], 599_900);
    assert_eq!(created_event["event_id"], created_id.as_str());
    let (cancelled_id, cancelled_event) = &events[1];
    assert_eq!(cancelled_event["type"], "order.cancelled");
    assert_eq!(cancelled_event["reason"], "changed my mind");
    assert_ne!(created_id, cancelled_id);
}

/// A NATS server with JetStream on `port`, storing under `store`; stopped on drop.
struct NatsServer(Child);

impl NatsServer {
    fn start(port: u16, store: &std::path::Path) -> NatsServer {
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "nats-server",
        ]
        .into_iter()
        .find(|path| Command::new(path).arg("--version").output().is_ok())
        .expect("nats-server is not installed (Debian: apt install nats-server)");
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        NatsServer(child)
    }

    /// Stops the server as an operator would (SIGTERM) and waits for it to exit.
    fn stop(mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
        self.0.wait().unwrap();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn create_order(store: &data::OrderStore) -> String {
    let order = store.create(&iphone_for("user_123"), 599_900).await;
    order.unwrap().order.id
}

#[tokio::test]
async fn orders_go_on_while_nats_is_down_and_their_events_arrive_after() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store_dir = tempfile::tempdir().unwrap();
    let nats = nats_config(&format!("nats://127.0.0.1:{port}"));
    let mut fixture = fixture().await;
    fixture.config.nats = Some(nats.clone());
    let store = data::open(&fixture.config).await.unwrap();
    let mut ids = Vec::new();

    // NATS is up: the first orders' events go out.
    let server = NatsServer::start(port, store_dir.path());
    for _ in 0..3 {
        ids.push(create_order(&store).await);
    }
    assert_eq!(events(&nats, 3).await.len(), 3);

    // NATS stops: orders still succeed, their events wait in the outbox.
    server.stop();
    for _ in 0..5 {
        ids.push(create_order(&store).await);
    }

    // NATS is back: every event arrives, each once, in order.
    let _server = NatsServer::start(port, store_dir.path());
    let events = events(&nats, ids.len()).await;
    let delivered: Vec<&str> = events
        .iter()
        .map(|(_, event)| event["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        delivered,
        ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let event_ids: HashSet<&String> = events.iter().map(|(id, _)| id).collect();
    assert_eq!(event_ids.len(), ids.len());
}
