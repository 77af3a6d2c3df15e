//! JetStream event consumers against a real NATS server (127.0.0.1:4222, or
//! `MICRO_TEST_NATS_URL`): a burst of events applied exactly once in effect across failed
//! attempts and a consumer killed between its work and its acknowledgement, and a poison event
//! dead-lettered after its attempts without holding up the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream;
use futures_util::StreamExt as _;
use micro_runtime::Error;
use micro_runtime::events::{self, Consumer, Delivery};

fn nats_url() -> String {
    std::env::var("MICRO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// What the handler did: effects per event id (the "store"), and attempts per id.
#[derive(Default)]
struct Effects {
    applied: HashMap<String, u32>,
    attempts: HashMap<String, u32>,
}

/// A handler as a service writes one: an effect recorded with its event id, once; a transient
/// failure on the first attempt of every fifth event; the poison event never readable. With
/// `hang_after`, it applies that event's effect and then never returns (the process is about to
/// be killed).
async fn handle(
    effects: Arc<Mutex<Effects>>,
    hang_after: Option<String>,
    delivery: Delivery,
) -> Result<(), Error> {
    let number: Option<u32> = delivery.id.strip_prefix('e').and_then(|n| n.parse().ok());
    let attempt = {
        let mut effects = effects.lock().unwrap();
        let attempts = effects.attempts.entry(delivery.id.clone()).or_default();
        *attempts += 1;
        *attempts
    };
    let Some(number) = number else {
        return Err(Error::new(500, "BROKEN", "this event cannot be read"));
    };
    if number % 5 == 0 && attempt == 1 {
        return Err(Error::new(503, "UNAVAILABLE", "the store is busy"));
    }
    {
        let mut effects = effects.lock().unwrap();
        // The idempotency check and the effect, as one transaction would do them.
        if effects.applied.contains_key(&delivery.id) {
            return Ok(());
        }
        effects.applied.insert(delivery.id.clone(), 1);
    }
    if hang_after.as_deref() == Some(delivery.id.as_str()) {
        std::future::pending::<()>().await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_apply_once_across_failures_and_a_killed_consumer_and_poison_is_set_aside() {
    let unique = format!(
        "ev{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = jetstream::new(client.clone());
    let stream_name = format!("EVENTS_{unique}");
    js.create_stream(jetstream::stream::Config {
        name: stream_name.clone(),
        subjects: vec![format!("{unique}.>")],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut consumer = Consumer::new(&stream_name, &format!("c-{unique}"), &[]);
    consumer.subjects = vec![format!("{unique}.order.*")];
    consumer.ack_wait = Duration::from_secs(1);
    consumer.backoff = vec![Duration::from_millis(50)];
    consumer.max_deliver = 3;
    consumer.dead_letter_subject = format!("dead.{unique}");
    let mut dead_letters = client
        .subscribe(consumer.dead_letter_subject.clone())
        .await
        .unwrap();
    client.flush().await.unwrap();

    // A burst: 30 events, and a poison one among them.
    for i in 1..=30 {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("e{i}").as_str());
        let subject = format!("{unique}.order.created");
        js.publish_with_headers(subject, headers, format!("{{\"n\":{i}}}").into())
            .await
            .unwrap()
            .await
            .unwrap();
        if i == 10 {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", "poison");
            js.publish_with_headers(format!("{unique}.order.created"), headers, "?".into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }

    // The first consumer applies event 21's effect, then dies before acknowledging it.
    let effects = Arc::new(Mutex::new(Effects::default()));
    let first = tokio::spawn(events::consume(
        js.clone(),
        consumer.clone(),
        {
            let effects = effects.clone();
            move |delivery| handle(effects.clone(), Some("e21".into()), delivery)
        },
        std::future::pending(),
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !effects.lock().unwrap().applied.contains_key("e21") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "event 21 never came"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.abort();
    let _ = first.await;

    // A new consumer process picks up where JetStream says the last one stopped.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(events::consume(
        js.clone(),
        consumer.clone(),
        {
            let effects = effects.clone();
            move |delivery| handle(effects.clone(), None, delivery)
        },
        async {
            let _ = stopped.await;
        },
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (applied, poison_tries) = {
            let effects = effects.lock().unwrap();
            (
                effects.applied.len(),
                effects.attempts.get("poison").copied(),
            )
        };
        let info = js
            .get_stream(&stream_name)
            .await
            .unwrap()
            .consumer_info(&consumer.durable)
            .await
            .unwrap();
        if applied == 30
            && poison_tries == Some(3)
            && info.num_pending == 0
            && info.num_ack_pending == 0
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not settled: {applied} applied, poison tried {poison_tries:?}, {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    second.await.unwrap().unwrap();

    {
        let effects = effects.lock().unwrap();
        // Every event once in effect: event 21 came twice (its acknowledgement was lost), every
        // fifth event failed once and came again.
        assert!(effects.applied.values().all(|count| *count == 1));
        assert_eq!(effects.attempts["e21"], 2);
        assert_eq!(effects.attempts["e5"], 2);
        assert_eq!(effects.attempts["e7"], 1);
        assert!(!effects.applied.contains_key("poison"));
    }

    // The poison event, once, on the dead-letter subject, saying where from and why.
    let dead = tokio::time::timeout(Duration::from_secs(5), dead_letters.next())
        .await
        .unwrap()
        .unwrap();
    let headers = dead.headers.unwrap();
    assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), "poison");
    assert_eq!(
        headers
            .get(events::ORIGINAL_SUBJECT_HEADER)
            .unwrap()
            .as_str(),
        format!("{unique}.order.created")
    );
    let error: Error =
        serde_json::from_str(headers.get(events::ERROR_HEADER).unwrap().as_str()).unwrap();
    assert_eq!(error.reason, "BROKEN");
    assert_eq!(dead.payload.as_ref(), b"?");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), dead_letters.next())
            .await
            .is_err(),
        "dead-lettered twice"
    );

    js.delete_stream(&stream_name).await.unwrap();
}
