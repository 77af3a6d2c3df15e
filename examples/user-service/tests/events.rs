//! The order service's events, consumed against a real NATS server (127.0.0.1:4222, or
//! `MICRO_TEST_NATS_URL`) into a real SQLite store: a burst of creates and cancels counted once
//! each into users' open orders, across a consumer killed mid-stream and started again; an event
//! the service cannot read set aside on the dead-letter subject without holding up the rest.

use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt as _;
use tokio::net::TcpListener;
use user_service::conf;

fn nats_url() -> String {
    std::env::var("MICRO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The user service on free ports, with its database in `folder`, consuming `events`; stopped by
/// the returned sender.
async fn start(
    folder: &std::path::Path,
    events: &conf::Events,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let mut config = conf::Config::load("configs/config.yaml".as_ref()).unwrap();
    config.database.url = format!("sqlite://{}", folder.join("users.db").display());
    config.events = Some(events.clone());
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", http.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(user_service::serve(http, grpc, config, async {
        let _ = stopped.await;
    }));
    (base, stop, running)
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
async fn order_events_count_once_across_a_restart_and_poison_is_set_aside() {
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
    let events = conf::Events {
        url: nats_url(),
        stream: stream.clone(),
        durable: format!("users-{unique}"),
        subjects: vec![
            format!("{unique}.order.created"),
            format!("{unique}.order.cancelled"),
        ],
        ack_wait: Duration::from_secs(1).into(),
        max_deliver: 2,
        dead_letter_subject: format!("dead.{unique}"),
        backoff: vec![Duration::from_millis(50).into()],
    };
    let mut dead = client
        .subscribe(events.dead_letter_subject.clone())
        .await
        .unwrap();
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
    let (base, stop, running) = start(folder.path(), &events).await;
    // A burst for user_123: 40 creates, 15 cancels; one for user_456; and one unreadable.
    for i in 0..40 {
        publish(format!("c{i}"), "order.created", created("user_123")).await;
    }
    for i in 0..15 {
        publish(format!("x{i}"), "order.cancelled", cancelled("user_123")).await;
    }
    publish("poison".into(), "order.created", "{not json".into()).await;
    publish("c-456".into(), "order.created", created("user_456")).await;

    // Killed mid-stream, once it has counted some: events it held, handled or not, are not
    // acknowledged, and come again to the next instance.
    while open_orders(&base, "user_123").await < 10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.abort();
    let _ = running.await;
    drop(stop);
    for i in 40..60 {
        publish(format!("c{i}"), "order.created", created("user_123")).await;
    }
    let (base_again, stop, running) = start(folder.path(), &events).await;

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
        .consumer_info(&events.durable)
        .await
        .unwrap();
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0), "{info:?}");
    assert_eq!(open_orders(&base_again, "user_123").await, 45);

    stop.send(()).unwrap();
    running.await.unwrap().unwrap();
    js.delete_stream(&stream).await.unwrap();
}
