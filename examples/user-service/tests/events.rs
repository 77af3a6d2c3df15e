//! The order service's events, consumed by the user service's own binary against a real NATS
//! server (127.0.0.1:4222, or `MICRO_TEST_NATS_URL`) into a real SQLite store: a burst of creates
//! and cancels counted once each into users' open orders, across the process killed with SIGKILL
//! mid-stream and started again; an event the service cannot read set aside on the dead-letter
//! subject without holding up the rest.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt as _;

fn nats_url() -> String {
    std::env::var("MICRO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The user service's binary, as it is deployed: the shipped configuration with its database in
/// `folder` and the event consumer `events` (a YAML section) turned on. Returns the process and
/// its HTTP address once it listens.
fn start(folder: &Path, events: &str) -> (Child, String) {
    let shipped = std::fs::read_to_string("configs/config.yaml").unwrap();
    let config = folder.join("config.yaml");
    std::fs::write(&config, format!("{shipped}\n{events}")).unwrap();
    let (http, grpc) = (free_port(), free_port());
    let log = std::fs::File::create(folder.join("service.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_user-service"))
        .arg("--conf")
        .arg(&config)
        .env(
            "APP_DATABASE__URL",
            format!("sqlite://{}", folder.join("users.db").display()),
        )
        .env("APP_SERVER__HTTP__ADDR", format!("127.0.0.1:{http}"))
        .env("APP_SERVER__GRPC__ADDR", format!("127.0.0.1:{grpc}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "not listening:\n{}",
            std::fs::read_to_string(folder.join("service.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, format!("http://127.0.0.1:{http}"))
}

async fn open_orders(base: &str, user: &str) -> i64 {
    let text = reqwest::get(format!("{base}/api/v1/users/{user}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    body["user"]["openOrders"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_events_count_once_across_a_sigkill_and_poison_is_set_aside() {
    let unique = format!(
        "us{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = jetstream::new(client.clone());
    let stream = format!("ORDERS_{unique}");
    js.create_stream(jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![format!("{unique}.order.>")],
        ..Default::default()
    })
    .await
    .unwrap();
    let durable = format!("users-{unique}");
    let dead_letters = format!("dead.{unique}");
    let events = format!(
        "events:\n  url: {url}\n  stream: {stream}\n  durable: {durable}\n  \
         subjects: [{unique}.order.created, {unique}.order.cancelled]\n  ack_wait: 1s\n  \
         max_deliver: 2\n  dead_letter_subject: {dead_letters}\n  backoff: [50ms]\n",
        url = nats_url(),
    );
    let mut dead = client.subscribe(dead_letters).await.unwrap();
    client.flush().await.unwrap();

    // Events as the order service's outbox publishes them: its event id as `Nats-Msg-Id`.
    let publish = |id: String, kind: &'static str, payload: String| {
        let js = js.clone();
        let subject = format!("{unique}.{kind}");
        async move {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", id.as_str());
            js.publish_with_headers(subject, headers, payload.into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    let created = |user: &str| format!(r#"{{"type":"order.created","user_id":"{user}"}}"#);
    let cancelled = |user: &str| format!(r#"{{"type":"order.cancelled","user_id":"{user}"}}"#);

    let folder = tempfile::tempdir().unwrap();
    let (mut service, base) = start(folder.path(), &events);
    // A burst for user_123: 40 creates, 15 cancels; one for user_456; and one unreadable.
    for i in 0..40 {
        publish(format!("c{i}"), "order.created", created("user_123")).await;
    }
    for i in 0..15 {
        publish(format!("x{i}"), "order.cancelled", cancelled("user_123")).await;
    }
    publish("poison".into(), "order.created", "{not json".into()).await;
    publish("c-456".into(), "order.created", created("user_456")).await;

    // SIGKILL mid-stream, once it has counted some: events it held, counted or not, were not
    // acknowledged, and come again to the next process.
    while open_orders(&base, "user_123").await < 10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service.kill().unwrap();
    service.wait().unwrap();
    for i in 40..60 {
        publish(format!("c{i}"), "order.created", created("user_123")).await;
    }
    let (mut service, base_again) = start(folder.path(), &events);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (mine, theirs) = (
            open_orders(&base_again, "user_123").await,
            open_orders(&base_again, "user_456").await,
        );
        if mine == 45 && theirs == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "open orders: user_123 {mine} (want 45), user_456 {theirs} (want 1)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The unreadable event, once, on the dead-letter subject, after its two attempts.
    let letter = tokio::time::timeout(Duration::from_secs(10), dead.next())
        .await
        .unwrap()
        .unwrap();
    let headers = letter.headers.unwrap();
    assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), "poison");
    let error: micro_runtime::Error = serde_json::from_str(
        headers
            .get(micro_runtime::events::ERROR_HEADER)
            .unwrap()
            .as_str(),
    )
    .unwrap();
    assert_eq!(error.reason, "BAD_EVENT");

    // Nothing left unacknowledged, and no count moves any more.
    let info = js
        .get_stream(&stream)
        .await
        .unwrap()
        .consumer_info(&durable)
        .await
        .unwrap();
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0), "{info:?}");
    assert_eq!(open_orders(&base_again, "user_123").await, 45);

    service.kill().unwrap();
    service.wait().unwrap();
    js.delete_stream(&stream).await.unwrap();
}
