//! The Tessera sidecar: runs next to a service and decides, per request, whether it may pass —
//! from a snapshot pushed by the control plane, without calling it per request.
//!
//! This milestone has the process shell: configuration ([`config::Config`]), the admin
//! listener (`/healthz`, `/readyz`, `/metrics`, `/status`) and a data listener that fails
//! closed (503 `snapshot_unavailable`) because no snapshot can be received yet. The push
//! client, the decision engine and the proxy arrive with the distribution milestone.

pub mod config;
mod metrics;
mod server;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use shared::error::ErrorBody;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use crate::config::Config;
use crate::metrics::Metrics;

/// A sidecar serving in this process.
pub struct Running {
    /// The data listener's bound address.
    pub addr: SocketAddr,
    /// The admin listener's bound address.
    pub admin_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stop both listeners and drain.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Bind both listeners and serve in background tasks.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let metrics = Arc::new(Metrics::new()?);
    let data = TcpListener::bind(config.listen).await?;
    let admin = TcpListener::bind(config.admin_listen).await?;
    let (addr, admin_addr) = (data.local_addr()?, admin.local_addr()?);
    let (stop, stopped) = watch::channel(false);
    let m = metrics.clone();
    let data_task = tokio::spawn(server::serve(data, stopped.clone(), move |req| {
        data_response(&m, &req)
    }));
    let m = metrics.clone();
    let admin_task = tokio::spawn(server::serve(admin, stopped, move |req| {
        admin_response(&m, &req)
    }));
    tracing::info!(listen = %addr, admin = %admin_addr, control_plane = ?config.control_plane, "sidecar listening");
    Ok(Running {
        addr,
        admin_addr,
        stop,
        tasks: vec![data_task, admin_task],
    })
}

fn json(status: StatusCode, body: String) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

/// Every request is denied until a snapshot has been received: fail closed.
fn data_response<B>(
    metrics: &Metrics,
    _req: &Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    metrics.denied_no_snapshot.inc();
    let body = ErrorBody::denial(
        "no policy snapshot has been received from the control plane",
        "snapshot_unavailable",
    );
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::to_string(&body).unwrap_or_default(),
    )
}

fn admin_response<B>(
    metrics: &Metrics,
    req: &Request<B>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    match req.uri().path() {
        "/healthz" => json(StatusCode::OK, r#"{"status":"ok"}"#.into()),
        // Not ready until a snapshot within the staleness budget is held.
        "/readyz" => json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"no snapshot"}"#.into(),
        ),
        "/status" => json(
            StatusCode::OK,
            r#"{"snapshotVersion":null,"stream":"disconnected"}"#.into(),
        ),
        "/metrics" => {
            let mut res = Response::new(Full::new(Bytes::from(metrics.render())));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            Ok(res)
        }
        _ => json(
            StatusCode::NOT_FOUND,
            serde_json::to_string(&ErrorBody::new("no such route", "ER-NOT-FOUND"))
                .unwrap_or_default(),
        ),
    }
}

/// Register for SIGTERM and SIGINT now (a signal during startup is not lost to the default
/// action) and return a future that resolves on either.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = int.recv() => {},
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The `tessera-sidecar` command: flags, logging, runtime, serve until a signal.
pub fn cli_main() -> std::process::ExitCode {
    use clap::Parser;
    use std::process::ExitCode;
    let config = match crate::Config::from_args(crate::config::Args::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tessera-sidecar: {e}");
            return ExitCode::from(2);
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera-sidecar: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let signal = shutdown_signal();
        match crate::start(config).await {
            Ok(running) => {
                println!(
                    "tessera-sidecar listening on http://{} (admin http://{})",
                    running.addr, running.admin_addr
                );
                signal.await;
                running.shutdown().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tessera-sidecar: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}
