//! Auth on: bearer tokens on both transports, a user confined to their own orders, an admin to
//! none, and every refusal a typed 401 or 403. Against the running service over real sockets.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use micro_runtime::errors::Error;
use serde_json::{Value, json};
use tonic::Code;

use order_service::api::order::v1::{GetOrderRequest, ListOrdersRequest, is_order_forbidden};

use common::{Running, fixture, iphone_request_for};

const SECRET: &str = "test-secret-at-least-thirty-two-bytes-long";

fn token_for(user: &str, roles: &[&str], lifetime: Duration, secret: &str) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let claims = json!({
        "sub": user,
        // An expired token's `exp` is well past the verifier's leeway (30 s).
        "exp": (now + lifetime)
            .as_secs()
            .saturating_sub(if lifetime.is_zero() { 600 } else { 0 }),
        "roles": roles,
    });
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn token(user: &str, roles: &[&str]) -> String {
    token_for(user, roles, Duration::from_secs(300), SECRET)
}

/// An HTTP client of the running service, sending `token` when there is one.
struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn order_for(user: &str) -> Value {
    json!({
        "user_id": user,
        "items": [{"product_id": "prod_001", "product_name": "iPhone 15", "quantity": 1, "unit_price": 599900}],
        "address": "Beijing",
    })
}

async fn secured() -> (common::Fixture, Running) {
    let mut fixture = fixture().await;
    fixture.config.auth = Some(micro_runtime::conf::Auth {
        jwt: Some(micro_runtime::conf::Jwt {
            secret: Some(SECRET.into()),
            ..Default::default()
        }),
        api_keys: vec![],
    });
    let running = Running::start(&fixture.config).await;
    (fixture, running)
}

#[tokio::test]
async fn over_http_users_see_their_own_orders_and_admins_all() {
    let (_fixture, running) = secured().await;
    let http = Http {
        client: reqwest::Client::new(),
        base: format!("http://{}", running.http),
    };
    let (alice, bob, admin) = (
        token("user_123", &[]),
        token("user_456", &["user"]),
        token("ops", &["user", "admin"]),
    );
    let reason = |body: &Value| body["reason"].as_str().unwrap_or_default().to_owned();

    // No token, a forged one, an expired one: typed 401s that say which.
    let (status, body) = http
        .call("POST", "/api/v1/orders", None, Some(order_for("user_123")))
        .await;
    assert_eq!((status, reason(&body)), (401, "UNAUTHENTICATED".into()));
    let forged = token_for(
        "user_123",
        &["admin"],
        Duration::from_secs(300),
        "x".repeat(40).as_str(),
    );
    let (status, body) = http
        .call("GET", "/api/v1/orders", Some(&forged), None)
        .await;
    assert_eq!((status, reason(&body)), (401, "UNAUTHENTICATED".into()));
    let expired = token_for("user_123", &[], Duration::ZERO, SECRET);
    let (status, body) = http
        .call("GET", "/api/v1/orders", Some(&expired), None)
        .await;
    assert_eq!(status, 401);
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );

    // Operations stay open.
    assert_eq!(http.call("GET", "/healthz", None, None).await.0, 200);
    assert_eq!(http.call("GET", "/q/openapi.json", None, None).await.0, 200);

    // A user places their own orders, not someone else's.
    let (status, created) = http
        .call(
            "POST",
            "/api/v1/orders",
            Some(&alice),
            Some(order_for("user_123")),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let alices = created["orderId"].as_str().unwrap().to_owned();
    let (status, body) = http
        .call(
            "POST",
            "/api/v1/orders",
            Some(&alice),
            Some(order_for("user_456")),
        )
        .await;
    assert_eq!((status, reason(&body)), (403, "ORDER_FORBIDDEN".into()));
    let (status, _) = http
        .call(
            "POST",
            "/api/v1/orders",
            Some(&bob),
            Some(order_for("user_456")),
        )
        .await;
    assert_eq!(status, 200);

    // Another user can neither read, list nor cancel them.
    let order_path = format!("/api/v1/orders/{alices}");
    let cancel_path = format!("{order_path}/cancel");
    let (status, body) = http.call("GET", &order_path, Some(&bob), None).await;
    assert_eq!((status, reason(&body)), (403, "ORDER_FORBIDDEN".into()));
    let (status, body) = http
        .call(
            "PUT",
            &cancel_path,
            Some(&bob),
            Some(json!({"reason": "mine now"})),
        )
        .await;
    assert_eq!((status, reason(&body)), (403, "ORDER_FORBIDDEN".into()));
    let (status, body) = http
        .call("GET", "/api/v1/orders?user_id=user_123", Some(&bob), None)
        .await;
    assert_eq!((status, reason(&body)), (403, "ORDER_FORBIDDEN".into()));
    // Naming nobody lists one's own.
    let (status, page) = http.call("GET", "/api/v1/orders", Some(&bob), None).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], "1");
    assert_eq!(page["orders"][0]["userId"], "user_456");

    // The owner can; an admin can do everything, and lists everyone's.
    assert_eq!(
        http.call("GET", &order_path, Some(&alice), None).await.0,
        200
    );
    assert_eq!(
        http.call("GET", &order_path, Some(&admin), None).await.0,
        200
    );
    let (status, page) = http.call("GET", "/api/v1/orders", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], "2");
    let (status, cancelled) = http
        .call(
            "PUT",
            &cancel_path,
            Some(&admin),
            Some(json!({"reason": "fraud check"})),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["order"]["status"], "ORDER_STATUS_CANCELLED");

    running.stop().await;
}

/// A gRPC request carrying `token` as its `authorization` metadata.
fn with_token<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

#[tokio::test]
async fn over_grpc_tokens_travel_as_metadata() {
    let (_fixture, running) = secured().await;
    let mut client = running.grpc_client().await;

    let status = client
        .create_order(iphone_request_for("user_123"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    let created = client
        .create_order(with_token(
            &token("user_123", &[]),
            iphone_request_for("user_123"),
        ))
        .await
        .unwrap()
        .into_inner();
    let get = || GetOrderRequest {
        order_id: created.order_id.clone(),
    };
    let status = client
        .get_order(with_token(&token("user_456", &[]), get()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(is_order_forbidden(&Error::from(status)));
    let order = client
        .get_order(with_token(&token("ops", &["admin"]), get()))
        .await
        .unwrap()
        .into_inner()
        .order
        .expect("the order");
    assert_eq!(order.user_id, "user_123");
    let page = client
        .list_orders(with_token(
            &token("user_456", &[]),
            ListOrdersRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total, 0);

    running.stop().await;
}
