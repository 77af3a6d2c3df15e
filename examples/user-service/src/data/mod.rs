//! Storage: implementations of the repository traits `biz` declares.

mod user;

pub use user::UserStore;

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::conf;

/// The schema, embedded in the binary; applied at start-up, each migration once.
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects to the configured database and brings its schema up to date.
pub async fn open(config: &conf::Config) -> anyhow::Result<UserStore> {
    let database = &config.database;
    let options: SqliteConnectOptions = database
        .url
        .parse()
        .with_context(|| format!("`database.url` = `{}` is not an SQLite URL", database.url))?;
    // SQLite creates the file, not the folders above it.
    if let Some(folder) = options
        .get_filename()
        .parent()
        .filter(|f| !f.as_os_str().is_empty())
    {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating `{}`", folder.display()))?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(database.max_connections)
        .acquire_timeout(database.connect_timeout)
        .connect_with(options.create_if_missing(true))
        .await
        .with_context(|| format!("opening the database at `{}`", database.url))?;
    MIGRATIONS
        .run(&pool)
        .await
        .context("migrating the database")?;
    Ok(UserStore::new(pool))
}
