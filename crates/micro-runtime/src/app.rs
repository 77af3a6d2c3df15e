//! A service's lifecycle, as kratos' `App` runs one: its servers run together, and its record is
//! kept in the registry while they do; when the shutdown signal comes, the record is taken out
//! first (so callers stop choosing this instance), then readiness turns off (so load balancers
//! stop sending traffic), every server stops accepting and drains what is in flight, and past the
//! grace period the service stops waiting.
//!
//! ```ignore
//! let mut app = App::new(config.server.shutdown_grace);
//! let router = server::http::router(greeter.clone(), app.readiness(), &config.server.http);
//! app.server(server::http::serve(http, router, app.stopping()));
//! app.server(server::grpc::serve(grpc, greeter, &config.server.grpc, app.stopping()));
//! app.run(shutdown_signal()).await
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::registry::{Registry, ServiceInstance};

/// Whether the service takes traffic: ready while serving, not once shutdown begins, so load
/// balancers stop sending requests while the in-flight ones drain. `/readyz` answers from it.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// A readiness that starts out ready.
    pub fn ready() -> Self {
        let readiness = Readiness::default();
        readiness.set(true);
        readiness
    }

    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

type Server<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// The servers of one service and how long they may drain.
pub struct App<'a> {
    grace: Duration,
    readiness: Readiness,
    stop: watch::Sender<bool>,
    servers: Vec<Server<'a>>,
    registered: Option<(Registry, ServiceInstance)>,
}

impl<'a> App<'a> {
    /// An application whose servers get `grace` to finish in-flight requests after shutdown
    /// begins (`server.shutdown_grace`).
    pub fn new(grace: Duration) -> Self {
        App {
            grace,
            readiness: Readiness::ready(),
            stop: watch::channel(false).0,
            servers: Vec::new(),
            registered: None,
        }
    }

    /// Keeps `instance` in `registry` while the servers run (their listeners are bound before
    /// [`run`](Self::run), so callers that find the record can connect), and takes it out first
    /// when shutdown begins.
    pub fn register(&mut self, registry: Registry, instance: ServiceInstance) {
        self.registered = Some((registry, instance));
    }

    /// The readiness the application turns off when shutdown begins, for `/readyz`.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// A future that completes when shutdown begins: hand it to a server's graceful shutdown.
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut stop = self.stop.subscribe();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    }

    /// Adds a server: a future that serves until the [`stopping`](Self::stopping) future it was
    /// given completes, then drains and returns.
    pub fn server(&mut self, server: impl Future<Output = anyhow::Result<()>> + Send + 'a) {
        self.servers.push(Box::pin(server));
    }

    /// Runs every server until one fails or `shutdown` completes and they have drained (or the
    /// grace period is over).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stopping = self.stopping();
        let App {
            grace,
            readiness,
            stop,
            servers,
            registered,
        } = self;
        let registration = registered.map(|(registry, instance)| registry.register(instance));
        tokio::spawn(async move {
            shutdown.await;
            if let Some(registration) = registration {
                let held_a_record = registration.holds_record();
                registration.deregister().await;
                // Callers learn of the removal from their watch; until they have, they may still
                // pick this instance, so it keeps accepting for a moment before it drains.
                if held_a_record {
                    tokio::time::sleep(DEREGISTRATION_PROPAGATION).await;
                }
            }
            readiness.set(false);
            let _ = stop.send(true);
        });
        let servers = futures_util::future::try_join_all(servers);
        tokio::pin!(servers);
        tokio::select! {
            result = &mut servers => result.map(|_| ()),
            () = async { stopping.await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "in-flight requests outlived the grace period; exiting anyway");
                Ok(())
            }
        }
    }
}

/// How long a service that left the registry keeps accepting calls, for its callers' watches to
/// see it gone (etcd tells watchers within milliseconds; this leaves room for a busy machine).
const DEREGISTRATION_PROPAGATION: Duration = Duration::from_millis(500);

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_turns_readiness_off_and_stops_the_servers() {
        let mut app = App::new(Duration::from_secs(5));
        let readiness = app.readiness();
        assert!(readiness.is_ready());
        let stopping = app.stopping();
        let seen = readiness.clone();
        app.server(async move {
            stopping.await;
            assert!(
                !seen.is_ready(),
                "readiness is off before the servers drain"
            );
            Ok(())
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        tx.send(()).unwrap();
        run.await.unwrap().unwrap();
        assert!(!readiness.is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_outlives_the_grace_period_is_left_behind() {
        let mut app = App::new(Duration::from_secs(1));
        app.server(std::future::pending());
        app.run(async {}).await.unwrap();
    }

    #[tokio::test]
    async fn a_failing_server_ends_the_run_with_its_error() {
        let mut app = App::new(Duration::from_secs(1));
        app.server(async { anyhow::bail!("port taken") });
        app.server(std::future::pending());
        let err = app.run(std::future::pending()).await.unwrap_err();
        assert_eq!(err.to_string(), "port taken");
    }
}
