use std::future::Future;

/// Someone who may place orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
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

    pub async fn get(&self, id: &str) -> Result<User, UserError> {
        self.repo
            .find(id)
            .await?
            .ok_or_else(|| UserError::NotFound(id.to_owned()))
    }
}
