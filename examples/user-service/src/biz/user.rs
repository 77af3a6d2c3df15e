use std::future::Future;

/// Someone who may place orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    /// Orders placed and not cancelled, as the order service's events tell it.
    pub open_orders: i64,
}

/// What an order service event changes here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// `order.created`: the user has one more open order.
    Created { user_id: String },
    /// `order.cancelled`: one fewer.
    Cancelled { user_id: String },
}

impl OrderEvent {
    /// The event in an `order.created` or `order.cancelled` payload (the order service's JSON);
    /// what is wrong with it otherwise.
    pub fn from_json(payload: &[u8]) -> Result<OrderEvent, String> {
        #[derive(serde::Deserialize)]
        struct Payload {
            #[serde(rename = "type")]
            kind: String,
            user_id: String,
        }
        let payload: Payload =
            serde_json::from_slice(payload).map_err(|err| format!("not an order event: {err}"))?;
        match payload.kind.as_str() {
            "order.created" => Ok(OrderEvent::Created {
                user_id: payload.user_id,
            }),
            "order.cancelled" => Ok(OrderEvent::Cancelled {
                user_id: payload.user_id,
            }),
            other => Err(format!(
                "`{other}` is not an order event this service knows"
            )),
        }
    }
}

/// Why a user could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user `{0}` does not exist")]
    NotFound(String),
    /// The store could not be reached; the caller may retry.
    #[error("the user store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("storage failed")]
    Storage(#[source] anyhow::Error),
}

/// What the user use case needs from storage.
pub trait UserRepo: Send + Sync + 'static {
    /// The user with this id, if there is one.
    fn find(&self, id: &str) -> impl Future<Output = Result<Option<User>, UserError>> + Send;

    /// Applies the event with this id, unless it was applied before: the effect and the record
    /// of the id in one transaction. Whether it had an effect.
    fn apply(
        &self,
        event_id: &str,
        event: &OrderEvent,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;

    /// Fails when storage cannot serve requests (a database that does not answer, say).
    fn ping(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Reads users.
#[derive(Debug)]
pub struct UserUsecase<R> {
    repo: R,
}

impl<R: UserRepo> UserUsecase<R> {
    pub fn new(repo: R) -> Self {
        UserUsecase { repo }
    }

    /// Whether the use case can serve requests: its storage answers.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.repo.ping().await
    }

    /// Applies an order service event, once however often it is delivered.
    pub async fn apply(&self, event_id: &str, event: &OrderEvent) -> anyhow::Result<bool> {
        self.repo.apply(event_id, event).await
    }

    pub async fn get(&self, id: &str) -> Result<User, UserError> {
        self.repo
            .find(id)
            .await?
            .ok_or_else(|| UserError::NotFound(id.to_owned()))
    }
}
