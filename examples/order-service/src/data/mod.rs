//! Storage: implementations of the repository traits `biz` declares, on SQLite or PostgreSQL.

mod cache;
mod order;
mod outbox;

pub use order::OrderStore;

use cache::OrderCache;

use std::path::Path;

use anyhow::Context as _;
use sqlx::any::AnyPoolOptions;

use crate::conf;

/// The schema, embedded in the binary; applied at start-up, each migration once. The same files
/// serve SQLite and PostgreSQL.
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects to the configured database (`sqlite://…` or `postgres://…`) and brings its schema up
/// to date.
pub async fn open(config: &conf::Config) -> anyhow::Result<OrderStore> {
    sqlx::any::install_default_drivers();
    let database = &config.database;
    let url = prepare_sqlite(&database.url)?;
    let pool = AnyPoolOptions::new()
        .max_connections(database.max_connections)
        .acquire_timeout(database.connect_timeout)
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
        })
        .connect(&url)
        .await
        .with_context(|| format!("connecting to the database at `{}`", database.url))?;
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
