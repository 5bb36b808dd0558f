//! The Tessera sidecar: runs next to a service and decides, per request, whether it may pass —
//! from state pushed by the control plane, without calling it per request.
//!
//! - [`view`]: what one decision reads (snapshot, access tokens, route rules), swapped whole;
//!   [`snapshot`]: keys, policy and restrictions, and the revocation sets, built and
//!   validated off the request path;
//! - [`decide`]: the pure decision functions, entered through [`decide::decide`];
//!   [`routes`]: compiled route rules; [`cache`]: the verified-token cache;
//! - [`state`]: what the request path shares with the control link;
//! - [`http`]: the hyper adapter (forward-auth, reverse proxy, listeners);
//! - [`sync`]: the push stream, applying, persistence, TLS to the control plane.
//!
//! Hot-path invariants: `decide`, `view`, `snapshot` and `routes` hold no `async fn`, no I/O
//! and no locks of their own; a request loads the view once; nothing is parsed per request
//! that could be parsed when a message arrives.

pub mod cache;
pub mod config;
pub mod decide;
pub mod facts;
pub mod http;
mod metrics;
pub mod path;
pub mod routes;
pub mod snapshot;
pub mod state;
pub mod sync;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ::http::{Request, Response, StatusCode, header};
use serde_json::json;
use shared::error::ErrorBody;
use tokio::sync::watch;

pub use crate::config::Config;
use crate::http::{Body, DataPlane, json};
use crate::routes::Routes;
use crate::state::Sidecar;

/// A sidecar serving in this process.
pub struct Running {
    /// The data listener's bound address.
    pub addr: SocketAddr,
    /// The admin listener's bound address.
    pub admin_addr: SocketAddr,
    /// The shared state (tests inspect it).
    pub sidecar: Arc<Sidecar>,
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

fn load_routes(config: &Config) -> anyhow::Result<Routes> {
    match &config.routes {
        Some(p) => Routes::load(p).map_err(|e| anyhow::anyhow!("route rules: {e}")),
        None => Ok(Routes::default()),
    }
}

/// Bind both listeners, load the persisted state, connect to the control plane, and serve
/// in background tasks.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let routes = load_routes(&config)?;
    let id = sync::sidecar_id(config.sidecar_id.as_deref(), config.state_dir.as_deref())?;
    let data = http::listen(config.listen)?;
    let admin = http::listen(config.admin_listen)?;
    let (addr, admin_addr) = (data.local_addr()?, admin.local_addr()?);
    let sidecar = Arc::new(Sidecar::new(config.clone(), id, routes)?);
    if let Some(dir) = &config.state_dir {
        sync::load_persisted(&sidecar, dir);
    }
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let plane = DataPlane::new(sidecar.clone())?;
    tasks.push(tokio::spawn(http::serve(
        data,
        stopped.clone(),
        http::ConnectionCap {
            max: config.max_connections,
            shed: Some(sidecar.metrics.connections_shed.clone()),
        },
        move |req, peer| plane.clone().handle(req, peer),
    )));
    let sc = sidecar.clone();
    tasks.push(tokio::spawn(http::serve(
        admin,
        stopped.clone(),
        // Probes and scrapes: a few at a time.
        http::ConnectionCap {
            max: 64,
            shed: None,
        },
        move |req, _peer| {
            let res = admin_response(&sc, &req);
            async move { res }
        },
    )));
    match (&config.control_plane, &config.sidecar_token) {
        (Some(cp), Some(token)) => {
            let link = sync::Link::new(sidecar.clone(), cp, token, addr.to_string())?;
            tasks.push(tokio::spawn(link.run(stopped.clone())));
        }
        (Some(_), None) => anyhow::bail!("--sidecar-token is required with --control-plane"),
        _ => tracing::warn!("no --control-plane: deciding from the persisted state only"),
    }
    tasks.push(tokio::spawn(housekeeping(sidecar.clone(), stopped)));
    tracing::info!(listen = %addr, admin = %admin_addr, id = %sidecar.id, control_plane = ?config.control_plane, "sidecar listening");
    Ok(Running {
        addr,
        admin_addr,
        sidecar,
        stop,
        tasks,
    })
}

/// Drop expired revocations; reload route rules on SIGHUP or when the file changes (a bad
/// file is refused whole and the old rules stay).
async fn housekeeping(sc: Arc<Sidecar>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut sweeps = 0u32;
    let modified = |sc: &Sidecar| {
        sc.config
            .routes
            .as_ref()
            .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    };
    let mut seen = modified(&sc);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hup_recv = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup_recv = std::future::pending::<()>();
        let forced = tokio::select! {
            _ = tick.tick() => false,
            () = hup_recv => true,
            _ = stop.changed() => return,
        };
        sweeps += 1;
        if sweeps.is_multiple_of(15) {
            sc.sweep_revocations();
        }
        let now_modified = modified(&sc);
        if forced || now_modified != seen {
            seen = now_modified;
            match load_routes(&sc.config) {
                Ok(r) => {
                    sc.set_routes(r);
                    tracing::info!("route rules reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "route rules not reloaded; the previous rules stay")
                }
            }
        }
    }
}

fn admin_response<B>(sc: &Sidecar, req: &Request<B>) -> Response<Body> {
    match req.uri().path() {
        "/healthz" => json(StatusCode::OK, r#"{"status":"ok"}"#.into()),
        "/readyz" => {
            if sc.ready() {
                json(StatusCode::OK, r#"{"status":"ready"}"#.into())
            } else if sc.version().is_none() {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"status":"no snapshot"}"#.into(),
                )
            } else {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"status":"stale"}"#.into(),
                )
            }
        }
        "/status" => {
            let guard = sc.snapshot();
            let last = sc.last_contact.load(std::sync::atomic::Ordering::Relaxed);
            let body = json!({
                "id": sc.id,
                "snapshotVersion": guard.as_ref().map(|s| s.version),
                "epoch": guard.as_ref().map(|s| s.epoch.clone()),
                "keys": guard.as_ref().map(|s| s.keys.len()),
                "revocations": sc.revocations.len(),
                "stream": if sc.connected.load(std::sync::atomic::Ordering::Relaxed) { "connected" } else { "disconnected" },
                "controlPlane": sc.config.control_plane,
                "secondsSinceUpdate": sc.seconds_since_contact(),
                "lastContact": (last > 0).then_some(last),
                "clockSkewSeconds": sc.clock_skew.load(std::sync::atomic::Ordering::Relaxed),
                "ready": sc.ready(),
                "cachedTokens": sc.cache.entry_count(),
            });
            json(StatusCode::OK, body.to_string())
        }
        "/metrics" => {
            sc.refresh_gauges();
            let mut res = Response::new(http::full(sc.metrics.render()));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            res
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
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // Reverse proxy: one worker unless TOKIO_WORKER_THREADS says otherwise. A proxied
    // request wakes three tasks (client connection, upstream connection, reply); with a
    // second worker idle, each wake-up crosses CPUs, which on a VM costs an interrupt and a
    // hypervisor exit: measured here, the p99 the proxy adds fell from ~1 ms to ~0.1 ms and
    // its capacity rose 15 % (docs/PERFORMANCE.md, "Reverse proxy"). Forward-auth keeps a
    // worker per CPU: its requests are one task each.
    if config.upstream.is_some() && std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(1);
    }
    let rt = match builder.enable_all().build() {
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
