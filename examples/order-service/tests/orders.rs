//! The order service end to end: HTTP through the router, gRPC through a real server and client,
//! each test on a database of its own (see `common`), migrated and seeded at start-up.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use micro_runtime::errors::Error;
use serde_json::{Value, json};
use tower::ServiceExt;

use order_service::api::order::v1::{
    CancelOrderRequest, CreateOrderRequest, CreateOrderResponse, GetOrderRequest, OrderItem,
    OrderStatus, is_order_already_cancelled, is_order_not_found,
};
use order_service::{biz, server, service};

use common::{Fixture, Running, fixture, iphone_request_for, set_status, stock};
use tonic::Code;

async fn router(fixture: &Fixture) -> axum::Router {
    let orders: Arc<service::OrderService> = order_service::orders(&fixture.config).await.unwrap();
    server::http::router(
        orders,
        server::Readiness::ready(),
        &fixture.config.server.http,
        None,
    )
}

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder().method(method).uri(uri);
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    };
    let response = router.clone().oneshot(request.unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The README's create request, as typed there.
fn iphone_order() -> Value {
    json!({
        "user_id": "user_123",
        "items": [{"product_id": "prod_001", "product_name": "iPhone 15", "quantity": 1, "unit_price": 599900}],
        "address": "Beijing Chaoyang District xxx",
        "remark": "Please ship ASAP"
    })
}

#[tokio::test]
async fn the_readme_requests_work_over_http() {
    let fixture = fixture().await;
    let router = router(&fixture).await;

    let (status, created) = call(&router, "POST", "/api/v1/orders", Some(iphone_order())).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["orderId"].as_str().expect("an order id").to_owned();

    let (status, reply) = call(&router, "GET", &format!("/api/v1/orders/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    // The guide's contract: the order comes wrapped, `{"order": {...}}`.
    let order = &reply["order"];
    assert_eq!(order["userId"], "user_123");
    assert_eq!(order["status"], "ORDER_STATUS_PENDING");
    // The server computes the total; 64-bit integers are strings in proto3 JSON.
    assert_eq!(order["totalAmount"], "599900");
    assert_eq!(order["items"][0]["productName"], "iPhone 15");
    assert_eq!(order["remark"], "Please ship ASAP");

    let (status, page) = call(
        &router,
        "GET",
        "/api/v1/orders?user_id=user_123&page=1&page_size=10",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], "1");
    assert_eq!(page["orders"][0]["id"], id.as_str());

    let (status, cancelled) = call(
        &router,
        "PUT",
        &format!("/api/v1/orders/{id}/cancel"),
        Some(json!({"reason": "User cancelled"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["success"], true);
    assert_eq!(cancelled["order"]["status"], "ORDER_STATUS_CANCELLED");

    // Both show on /metrics (tests share the process's counters, so at least one of each).
    let response = router
        .clone()
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let page = String::from_utf8(bytes.to_vec()).unwrap();
    for counter in [biz::ORDERS_CREATED, biz::ORDERS_CANCELLED] {
        let count = page
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{counter} ")))
            .unwrap_or_else(|| panic!("no {counter} in\n{page}"));
        assert!(count.parse::<f64>().unwrap() >= 1.0, "{counter} {count}");
    }
}

#[tokio::test]
async fn every_error_reason_is_typed_over_http() {
    let fixture = fixture().await;
    let router = router(&fixture).await;
    let reason = |body: &Value| body["reason"].as_str().unwrap_or_default().to_owned();

    let (status, body) = call(&router, "GET", "/api/v1/orders/nope", None).await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::NOT_FOUND, "ORDER_NOT_FOUND".into())
    );

    let mut order = iphone_order();
    order["user_id"] = json!("user_nobody");
    let (status, body) = call(&router, "POST", "/api/v1/orders", Some(order)).await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::BAD_REQUEST, "INVALID_USER".into())
    );

    let mut order = iphone_order();
    order["items"][0]["product_id"] = json!("prod_999");
    let (status, body) = call(&router, "POST", "/api/v1/orders", Some(order)).await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::BAD_REQUEST, "PRODUCT_NOT_FOUND".into())
    );

    // prod_003 has 10 in stock.
    let mut order = iphone_order();
    order["items"][0]["product_id"] = json!("prod_003");
    order["items"][0]["quantity"] = json!(11);
    let (status, body) = call(&router, "POST", "/api/v1/orders", Some(order)).await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::CONFLICT, "INSUFFICIENT_STOCK".into())
    );
    assert_eq!(body["metadata"]["product_id"], "prod_003");

    let (_, created) = call(&router, "POST", "/api/v1/orders", Some(iphone_order())).await;
    let cancel = format!(
        "/api/v1/orders/{}/cancel",
        created["orderId"].as_str().unwrap()
    );
    let (status, _) = call(&router, "PUT", &cancel, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&router, "PUT", &cancel, Some(json!({}))).await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::CONFLICT, "ORDER_ALREADY_CANCELLED".into())
    );

    let (_, created) = call(&router, "POST", "/api/v1/orders", Some(iphone_order())).await;
    let id = created["orderId"].as_str().unwrap();
    set_status(&fixture.config, id, OrderStatus::Shipped as i32).await;
    let cancel = format!("/api/v1/orders/{id}/cancel");
    let (status, body) = call(&router, "PUT", &cancel, Some(json!({}))).await;
    assert_eq!(
        (status, reason(&body)),
        (StatusCode::CONFLICT, "ORDER_NOT_CANCELLABLE".into())
    );
}

#[tokio::test]
async fn every_error_reason_is_typed_over_grpc() {
    let fixture = fixture().await;
    let running = Running::start(&fixture.config).await;
    let mut client = running.grpc_client().await;
    let get = |order_id: &str| GetOrderRequest {
        order_id: order_id.into(),
    };
    let cancel = |order_id: &str| CancelOrderRequest {
        order_id: order_id.into(),
        reason: String::new(),
    };
    let with_item = |product_id: &str, quantity: i32| {
        let mut request = iphone_request_for("user_123");
        request.items[0].product_id = product_id.into();
        request.items[0].quantity = quantity;
        request
    };
    let expect = |status: tonic::Status, code: Code, reason: &str| {
        assert_eq!(status.code(), code, "{status:?}");
        let error = Error::from(status);
        assert_eq!(error.reason, reason, "{error:?}");
        error
    };

    let status = client.get_order(get("nope")).await.unwrap_err();
    expect(status, Code::NotFound, "ORDER_NOT_FOUND");
    let status = client
        .create_order(iphone_request_for("user_nobody"))
        .await
        .unwrap_err();
    expect(status, Code::InvalidArgument, "INVALID_USER");
    let status = client
        .create_order(with_item("prod_999", 1))
        .await
        .unwrap_err();
    expect(status, Code::InvalidArgument, "PRODUCT_NOT_FOUND");
    let status = client
        .create_order(with_item("prod_003", 11))
        .await
        .unwrap_err();
    let error = expect(status, Code::Aborted, "INSUFFICIENT_STOCK");
    assert_eq!(error.metadata["product_id"], "prod_003");
    let status = client
        .create_order(with_item("prod_001", 0))
        .await
        .unwrap_err();
    let error = expect(status, Code::InvalidArgument, "VALIDATOR");
    assert_eq!(error.violations[0].field, "items[0].quantity");

    let id = |response: tonic::Response<CreateOrderResponse>| response.into_inner().order_id;
    let cancelled = id(client
        .create_order(iphone_request_for("user_123"))
        .await
        .unwrap());
    client.cancel_order(cancel(&cancelled)).await.unwrap();
    let status = client.cancel_order(cancel(&cancelled)).await.unwrap_err();
    expect(status, Code::Aborted, "ORDER_ALREADY_CANCELLED");
    let shipped = id(client
        .create_order(iphone_request_for("user_123"))
        .await
        .unwrap());
    set_status(&fixture.config, &shipped, OrderStatus::Shipped as i32).await;
    let status = client.cancel_order(cancel(&shipped)).await.unwrap_err();
    expect(status, Code::Aborted, "ORDER_NOT_CANCELLABLE");

    running.stop().await;
}

#[tokio::test]
async fn requests_breaking_the_contracts_rules_are_refused() {
    let fixture = fixture().await;
    let router = router(&fixture).await;
    let order = json!({
        "user_id": "",
        "items": [{"product_id": "prod_001", "quantity": 0, "unit_price": -1}],
        "address": ""
    });
    let (status, body) = call(&router, "POST", "/api/v1/orders", Some(order)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["reason"], "VALIDATOR");
    let message = body["message"].as_str().unwrap();
    for field in [
        "user_id",
        "items[0].quantity",
        "items[0].unit_price",
        "address",
    ] {
        assert!(message.contains(field), "{field} in {message}");
    }

    let no_items = json!({"user_id": "user_123", "items": [], "address": "x"});
    let (status, _) = call(&router, "POST", "/api/v1/orders", Some(no_items)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = call(
        &router,
        "GET",
        "/api/v1/orders?user_id=user_123&page_size=101",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn stock_is_reserved_and_released() {
    let fixture = fixture().await;
    let router = router(&fixture).await;
    let order = |quantity: u32| {
        let mut order = iphone_order();
        order["items"][0]["product_id"] = json!("prod_003");
        order["items"][0]["quantity"] = json!(quantity);
        order
    };
    // prod_003 has 10 in stock: 7 leaves 3, so 4 more is too many until the 7 are cancelled.
    let (status, first) = call(&router, "POST", "/api/v1/orders", Some(order(7))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&router, "POST", "/api/v1/orders", Some(order(4))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let cancel = format!(
        "/api/v1/orders/{}/cancel",
        first["orderId"].as_str().unwrap()
    );
    let (status, _) = call(&router, "PUT", &cancel, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&router, "POST", "/api/v1/orders", Some(order(4))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn lists_are_newest_first_paged_and_filtered() {
    let fixture = fixture().await;
    let router = router(&fixture).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, created) = call(&router, "POST", "/api/v1/orders", Some(iphone_order())).await;
        ids.push(created["orderId"].as_str().unwrap().to_owned());
    }
    let (_, page) = call(
        &router,
        "GET",
        "/api/v1/orders?user_id=user_123&page=1&page_size=2",
        None,
    )
    .await;
    assert_eq!(page["total"], "3");
    let listed: Vec<&str> = page["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);
    let (_, page) = call(
        &router,
        "GET",
        "/api/v1/orders?user_id=user_123&page=2&page_size=2",
        None,
    )
    .await;
    assert_eq!(page["orders"][0]["id"], ids[0].as_str());

    let cancel = format!("/api/v1/orders/{}/cancel", ids[1]);
    call(&router, "PUT", &cancel, Some(json!({}))).await;
    let (_, page) = call(
        &router,
        "GET",
        "/api/v1/orders?user_id=user_123&status=ORDER_STATUS_CANCELLED",
        None,
    )
    .await;
    assert_eq!(page["total"], "1");
    assert_eq!(page["orders"][0]["id"], ids[1].as_str());
    let (_, page) = call(&router, "GET", "/api/v1/orders?user_id=user_456", None).await;
    assert_eq!(page["total"], "0");
}

#[tokio::test]
async fn orders_over_grpc() {
    let fixture = fixture().await;
    let running = Running::start(&fixture.config).await;
    let mut client = running.grpc_client().await;

    let created = client
        .create_order(CreateOrderRequest {
            user_id: "user_123".into(),
            items: vec![OrderItem {
                product_id: "prod_002".into(),
                product_name: "AirPods Pro".into(),
                quantity: 2,
                unit_price: 189_900,
            }],
            address: "Beijing".into(),
            remark: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let order = client
        .get_order(GetOrderRequest {
            order_id: created.order_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .expect("GetOrderResponse carries the order");
    assert_eq!(order.total_amount, 379_800);
    assert_eq!(order.status, OrderStatus::Pending as i32);

    let cancel = || CancelOrderRequest {
        order_id: created.order_id.clone(),
        reason: "changed my mind".into(),
    };
    let cancelled = client.cancel_order(cancel()).await.unwrap().into_inner();
    assert!(cancelled.success);
    assert_eq!(
        cancelled.order.map(|order| order.status),
        Some(OrderStatus::Cancelled as i32)
    );
    let status = client.cancel_order(cancel()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Aborted, "{status:?}");
    assert!(is_order_already_cancelled(&Error::from(status)));

    let status = client
        .get_order(GetOrderRequest {
            order_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert!(is_order_not_found(&Error::from(status)));

    // The contract's rules hold over gRPC too.
    let status = client
        .create_order(CreateOrderRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    running.stop().await;
}

#[tokio::test]
async fn a_create_retried_with_its_idempotency_key_returns_the_first_order() {
    let fixture = fixture().await;
    let router = router(&fixture).await;
    let create = |key: &str| {
        Request::post("/api/v1/orders")
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(Body::from(iphone_order().to_string()))
            .unwrap()
    };
    let order_id = |response: axum::response::Response| async move {
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        body["orderId"].as_str().unwrap().to_owned()
    };
    let first = order_id(router.clone().oneshot(create("k-1")).await.unwrap()).await;
    let retried = order_id(router.clone().oneshot(create("k-1")).await.unwrap()).await;
    let other = order_id(router.clone().oneshot(create("k-2")).await.unwrap()).await;
    assert_eq!(first, retried);
    assert_ne!(first, other);
    // Two orders were placed, so two units left stock, not three.
    assert_eq!(stock(&fixture.config, "prod_001").await, 1000 - 2);

    // Over gRPC the key is metadata; the same key finds the same order whichever transport set it.
    let running = Running::start(&fixture.config).await;
    let mut client = running.grpc_client().await;
    let mut request = tonic::Request::new(iphone_request_for("user_123"));
    request
        .metadata_mut()
        .insert("idempotency-key", "k-1".parse().unwrap());
    let replayed = client.create_order(request).await.unwrap().into_inner();
    assert_eq!(replayed.order_id, first);
    running.stop().await;
}

#[tokio::test]
async fn without_a_user_service_creates_are_a_typed_503_and_reads_go_on() {
    let mut fixture = fixture().await;
    let (status, created) = call(
        &router(&fixture).await,
        "POST",
        "/api/v1/orders",
        Some(iphone_order()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");

    // Nothing listens on the port the user service is now said to be at.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    fixture.config.users.target = nowhere;
    let router = router(&fixture).await;
    let started = std::time::Instant::now();
    let (status, body) = call(&router, "POST", "/api/v1/orders", Some(iphone_order())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["reason"], "USERS_UNAVAILABLE");
    // Within the request's deadline (server.http.timeout), not after it.
    assert!(started.elapsed() < fixture.config.server.http.timeout);
    let id = created["orderId"].as_str().unwrap();
    let (status, _) = call(&router, "GET", &format!("/api/v1/orders/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
}
