use std::future::Future;

/// A greeting made for someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub message: String,
}

/// Why a greeting could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GreetError {
    #[error("a name is required")]
    EmptyName,
    #[error("storage failed")]
    Storage(#[source] anyhow::Error),
}

/// What the greeter needs from storage.
pub trait GreeterRepo: Send + Sync + 'static {
    /// Records that `name` was greeted and returns how many times they have been, this time included.
    fn record(&self, name: &str) -> impl Future<Output = anyhow::Result<u64>> + Send;

    /// Fails when storage cannot serve requests (a database that does not answer, say).
    fn ping(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Greets people and remembers who was greeted.
#[derive(Debug)]
pub struct GreeterUsecase<R> {
    repo: R,
}

impl<R: GreeterRepo> GreeterUsecase<R> {
    pub fn new(repo: R) -> Self {
        GreeterUsecase { repo }
    }

    /// Whether the use case can serve requests: its storage answers.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.repo.ping().await
    }

    pub async fn greet(&self, name: &str) -> Result<Greeting, GreetError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(GreetError::EmptyName);
        }
        let times = self.repo.record(name).await.map_err(GreetError::Storage)?;
        tracing::debug!(name, times, "greeted");
        Ok(Greeting {
            message: format!("Hello {name}"),
        })
    }
}
