use anyhow::Context as _;

use crate::biz::{User, UserError, UserRepo};

/// Keeps users in the `users` table.
#[derive(Debug, Clone)]
pub struct UserStore {
    pool: sqlx::SqlitePool,
}

impl UserStore {
    pub fn new(pool: sqlx::SqlitePool) -> Self {
        UserStore { pool }
    }
}

impl UserRepo for UserStore {
    async fn find(&self, id: &str) -> Result<Option<User>, UserError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, name FROM users WHERE id = ?1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|err| match err {
                    // Every connection busy for longer than a request may wait: a retry may pass.
                    sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                        UserError::Unavailable(err.into())
                    }
                    err => UserError::Storage(anyhow::Error::new(err).context("reading a user")),
                })?;
        Ok(row.map(|(id, name)| User { id, name }))
    }

    async fn ping(&self) -> anyhow::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context("the database does not answer")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_seeded_users_are_found_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::conf::Config::load("configs/config.yaml".as_ref()).unwrap();
        config.database.url = format!("sqlite://{}", dir.path().join("users.db").display());
        let store = crate::data::open(&config).await.unwrap();
        let user = store.find("user_123").await.unwrap().unwrap();
        assert_eq!(user.name, "Demo user");
        assert!(store.find("user_999").await.unwrap().is_none());
        store.pool.close().await;
        assert!(store.ping().await.is_err());
    }
}
