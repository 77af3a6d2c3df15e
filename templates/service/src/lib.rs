//! The service: configuration, the HTTP and gRPC servers, and the layers behind them.
//!
//! `service` adapts the transports to the domain, `biz` holds the domain logic and the repository
//! traits it needs, and `data` implements those traits. Requests flow server → service → biz → data.

#[path = "../api/mod.rs"]
pub mod api;
pub mod biz;
pub mod conf;
pub mod data;
pub mod server;
pub mod service;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

/// Serves HTTP and gRPC until `shutdown` completes, then lets in-flight requests finish within the
/// configured grace period.
pub async fn run(config: conf::Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let http = TcpListener::bind(&config.server.http.addr)
        .await
        .with_context(|| format!("binding HTTP to {}", config.server.http.addr))?;
    let grpc = TcpListener::bind(&config.server.grpc.addr)
        .await
        .with_context(|| format!("binding gRPC to {}", config.server.grpc.addr))?;
    serve(http, grpc, config, shutdown).await
}

/// Like [`run`], on listeners the caller has bound (tests bind port 0).
pub async fn serve(
    http: TcpListener,
    grpc: TcpListener,
    config: conf::Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let greeter = Arc::new(service::GreeterService::new(biz::GreeterUsecase::new(data::GreeterStore::default())));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let readiness = server::Readiness::ready();
    tokio::spawn({
        let (readiness, stop_rx) = (readiness.clone(), stop_rx.clone());
        async move {
            stopped(stop_rx).await;
            readiness.set(false);
        }
    });

    tracing::info!(http = %http.local_addr()?, grpc = %grpc.local_addr()?, "serving");
    let router = server::http::router(greeter.clone(), readiness, &config.server.http);
    let http_server = server::http::serve(http, router, stopped(stop_rx.clone()));
    let grpc_server = server::grpc::serve(grpc, greeter, &config.server.grpc, stopped(stop_rx.clone()));
    let servers = async { tokio::try_join!(http_server, grpc_server).map(|_| ()) };

    // Once shutdown starts, the servers stop accepting and drain; past the grace period, stop waiting.
    let grace = config.server.shutdown_grace;
    tokio::pin!(servers);
    tokio::select! {
        result = &mut servers => result,
        () = async { stopped(stop_rx).await; tokio::time::sleep(grace).await } => {
            tracing::warn!(?grace, "in-flight requests outlived the grace period; exiting anyway");
            Ok(())
        }
    }
}

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

/// Logs to stderr in the configured format, filtered by `RUST_LOG` when set, else by the configured
/// level.
pub fn init_tracing(log: &conf::Log) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.level));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match log.format {
        conf::LogFormat::Json => logs.json().init(),
        conf::LogFormat::Pretty => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
            logs.with_ansi(ansi).init();
        }
    }
}
