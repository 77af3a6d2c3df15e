use anyhow::Context as _;

use crate::biz::{OrderEvent, User, UserError, UserRepo};

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
        let row: Option<(String, String, i64)> =
            sqlx::query_as("SELECT id, name, open_orders FROM users WHERE id = ?1")
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
        Ok(row.map(|(id, name, open_orders)| User {
            id,
            name,
            open_orders,
        }))
    }

    async fn apply(&self, event_id: &str, event: &OrderEvent) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64);
        let first_time = sqlx::query(
            "INSERT INTO processed_events (id, processed_at) VALUES (?1, ?2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(event_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("recording the event")?
        .rows_affected()
            == 1;
        if !first_time {
            // Applied before: its acknowledgement was lost, or it was published twice.
            return Ok(false);
        }
        let (user_id, change) = match event {
            OrderEvent::Created { user_id } => (user_id, 1),
            OrderEvent::Cancelled { user_id } => (user_id, -1),
        };
        // An event about a user this service does not know changes nothing, but is recorded.
        sqlx::query("UPDATE users SET open_orders = MAX(open_orders + ?1, 0) WHERE id = ?2")
            .bind(change)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .context("counting the user's open orders")?;
        tx.commit().await.context("committing the event")?;
        Ok(true)
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
