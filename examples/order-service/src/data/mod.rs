//! Storage: implementations of the repository traits `biz` declares, on SQLite or PostgreSQL.

mod cache;
mod order;
mod outbox;
mod users;

pub use order::OrderStore;
pub use users::UserClient;

use cache::OrderCache;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::any::AnyPoolOptions;

use crate::biz::StoreUnreachable;
use crate::conf;

/// Context for a failed statement that also marks it [`StoreUnreachable`] when the database could
/// not be reached (refused or lost connections, an exhausted pool, a server shutting down): the
/// service answers those as `UNAVAILABLE`, for the caller to retry, instead of as a fault.
trait StoreContext<T> {
    fn store_context(self, doing: &'static str) -> anyhow::Result<T>;
}

impl<T> StoreContext<T> for Result<T, sqlx::Error> {
    fn store_context(self, doing: &'static str) -> anyhow::Result<T> {
        self.map_err(|err| {
            let unreachable = is_unreachable(&err);
            let err = anyhow::Error::new(err).context(doing);
            match unreachable {
                true => err.context(StoreUnreachable),
                false => err,
            }
        })
    }
}

fn is_unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception) and 57P01–57P03 (the server shutting down,
        // crashed, or not yet accepting connections).
        sqlx::Error::Database(err) => err.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// The schema, embedded in the binary; applied at start-up, each migration once. The same files
/// serve SQLite and PostgreSQL.
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects to the configured database (`sqlite://…` or `postgres://…`) and brings its schema up
/// to date.
pub async fn open(config: &conf::Config) -> anyhow::Result<OrderStore> {
    sqlx::any::install_default_drivers();
    let database = &config.database;
    let url = prepare_sqlite(&database.url)?;
    let options = AnyPoolOptions::new()
        .max_connections(database.max_connections)
        .acquire_timeout(database.acquire_timeout)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // SQLite in write-ahead-log mode: reads go on while an order is written, and a
                // commit costs one fsync instead of several. `synchronous` stays FULL, so an
                // acknowledged order survives a crash of the machine, not only of the process.
                if conn.backend_name() == "SQLite" {
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        });
    // Start-up waits longer for the database than a request does (it may still be starting).
    let started = Instant::now();
    let pool = loop {
        match options.clone().connect(&url).await {
            Ok(pool) => break pool,
            Err(err) if is_unreachable(&err) && started.elapsed() < database.connect_timeout => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("connecting to the database at `{}`", database.url));
            }
        }
    };
    MIGRATIONS
        .run(&pool)
        .await
        .context("migrating the database")?;
    let cache = config.cache.as_ref().map(OrderCache::new).transpose()?;
    let store = OrderStore::new(pool, config.nats.as_ref(), cache);
    Ok(match url.starts_with("sqlite:") {
        true => store.with_one_writer(),
        false => store,
    })
}

/// For an SQLite URL, creates the file's folder and lets SQLite create the file (`mode=rwc`);
/// any other URL is returned as it is.
fn prepare_sqlite(url: &str) -> anyhow::Result<String> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(url.to_owned());
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if let Some(folder) = Path::new(path)
        .parent()
        .filter(|f| !f.as_os_str().is_empty())
    {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating `{}`", folder.display()))?;
    }
    Ok(match query {
        "" => format!("{url}?mode=rwc"),
        query if query.contains("mode=") => url.to_owned(),
        _ => format!("{url}&mode=rwc"),
    })
}
