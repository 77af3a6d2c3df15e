//! A database of the test's own: a fresh SQLite file, or, with `ORDER_SERVICE_TEST_POSTGRES` set
//! to a PostgreSQL URL, a fresh schema in that database. Either way the service migrates and seeds
//! it at start-up, so every behaviour test runs the same on both.

#![allow(dead_code)] // each test binary uses its own subset

pub mod process;
pub mod users;

pub use users::user_service;

use order_service::api::order::v1::order_service_client::OrderServiceClient;
use order_service::api::order::v1::{CreateOrderRequest, OrderItem};
use order_service::biz::{Item, NewOrder};
use order_service::conf;

pub struct Fixture {
    pub config: conf::Config,
    /// The gRPC URL of the user service the order service asks (`APP_USERS__TARGET` for a
    /// service started as a process).
    pub users: String,
    _folder: tempfile::TempDir,
}

pub async fn fixture() -> Fixture {
    let folder = tempfile::tempdir().unwrap();
    let mut config = conf::Config::load("configs/config.yaml".as_ref()).unwrap();
    let postgres = std::env::var("ORDER_SERVICE_TEST_POSTGRES").unwrap_or_default();
    config.database.url = match postgres.as_str() {
        "" => format!("sqlite://{}", folder.path().join("orders.db").display()),
        server => fresh_schema(server).await,
    };
    // Tests that want events set their own NATS; the rest keep theirs in the outbox.
    config.nats = None;
    let users = user_service(folder.path()).await;
    config.users.target = users.clone();
    Fixture {
        config,
        users,
        _folder: folder,
    }
}

/// A new schema in the database at `server`, and a URL whose connections work in it.
async fn fresh_schema(server: &str) -> String {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let schema = format!("order_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::AnyConnection::connect(server).await.unwrap();
    drop_stale_schemas(&mut admin).await;
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let separator = if server.contains('?') { '&' } else { '?' };
    format!("{server}{separator}options=-c%20search_path%3D{schema}")
}

/// Drops the schemas of test runs that ended over an hour ago (their names start with a UUIDv7,
/// whose first 48 bits are its creation time in milliseconds), so the shared database stays tidy.
async fn drop_stale_schemas(admin: &mut sqlx::AnyConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'order_test_%'",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for name in names {
        let created = name
            .strip_prefix("order_test_")
            .and_then(|id| u64::from_str_radix(id.get(..12)?, 16).ok());
        if created.is_some_and(|created| now.saturating_sub(created) > 3_600_000) {
            // Another run may be dropping it too; either way it goes.
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// The stock of `product_id`, read straight from the database.
pub async fn stock(config: &conf::Config, product_id: &str) -> i64 {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&config.database.url)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
        .bind(product_id)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Moves order `id` on to `status` (the contract's number) behind the service's back, as the
/// warehouse would when it ships.
pub async fn set_status(config: &conf::Config, id: &str, status: i32) {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&config.database.url)
        .await
        .unwrap();
    sqlx::query("UPDATE orders SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The README's order (one iPhone 15 from `prod_001`) for `user`, as the use case takes it.
pub fn iphone_for(user: &str) -> NewOrder {
    NewOrder {
        user_id: user.into(),
        items: vec![Item {
            product_id: "prod_001".into(),
            product_name: "iPhone 15".into(),
            quantity: 1,
            unit_price: 599_900,
        }],
        address: "Beijing".into(),
        remark: String::new(),
        idempotency_key: None,
    }
}

/// The same order as a gRPC request.
pub fn iphone_request_for(user: &str) -> CreateOrderRequest {
    let order = iphone_for(user);
    CreateOrderRequest {
        user_id: order.user_id,
        items: order
            .items
            .into_iter()
            .map(|item| OrderItem {
                product_id: item.product_id,
                product_name: item.product_name,
                quantity: item.quantity as i32,
                unit_price: item.unit_price,
            })
            .collect(),
        address: order.address,
        remark: order.remark,
    }
}

/// The service serving a configuration on free ports, as `main` would, until [`Running::stop`].
pub struct Running {
    pub http: std::net::SocketAddr,
    pub grpc: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub async fn start(config: &conf::Config) -> Running {
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        Running {
            http: http.local_addr().unwrap(),
            grpc: grpc.local_addr().unwrap(),
            stop,
            task: tokio::spawn(order_service::serve(http, grpc, config.clone(), async {
                let _ = stopped.await;
            })),
        }
    }

    pub async fn grpc_client(&self) -> OrderServiceClient<tonic::transport::Channel> {
        OrderServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    /// Shuts the service down as SIGTERM would, and checks it exited cleanly.
    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}
