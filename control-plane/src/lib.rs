//! The Tessera control plane: every management and login endpoint of Frontegg's identity API,
//! the embedded store, environment authentication and (in later milestones) token issuing and
//! push to sidecars.
//!
//! It is *not* on the request path of protected services: sidecars decide from pushed
//! snapshots. Its main types are [`state::AppState`] (what handlers reach),
//! [`store::Db`] (typed, durable storage) and [`error::ApiError`] (the only error response).
//! [`start`] runs the server in-process (tests, port 0); [`cli::main`] is the binary.

pub mod api;
pub mod app;
pub mod cli;
pub mod codegen;
pub mod config;
pub mod crypto;
pub mod delivery;
pub mod environment;
pub mod error;
pub mod hashing;
pub mod http;
pub mod metrics;
pub mod model;
pub mod push;
pub mod spec;
pub mod store;
pub mod token;
pub mod trace;
pub mod upstream;

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::environment::{EnvAuth, NewCredentials};
use crate::http::AppState;
use crate::model::clock::Clock;
use crate::store::Db;

/// A control plane serving in this process.
pub struct Running {
    /// The bound address (the real port when configured with port 0).
    pub addr: SocketAddr,
    /// The metrics listener's bound address (`--metrics-listen`).
    pub metrics_addr: Option<SocketAddr>,
    /// The shared state (tests inspect the store, clock and counters through it).
    pub state: AppState,
    /// The environment client id.
    pub client_id: String,
    /// Credentials generated at this start (printed once by the binary).
    pub credentials: NewCredentials,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stop accepting, drain in-flight requests, flush the store.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Err(e) = (&mut self.task).await {
            tracing::error!(error = %e, "server task failed");
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Open the store, set up the environment, bind the listener and serve in a background task.
pub async fn start(config: Config, clock: Clock) -> anyhow::Result<Running> {
    let db = match (&config.database_url, &config.data_dir) {
        (Some(url), _) => {
            let url = url.clone();
            tokio::task::spawn_blocking(move || Db::open_postgres(&url, 8))
                .await
                .context("the database connection task failed")?
                .context("cannot open the PostgreSQL store")?
        }
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create data directory {}", dir.display()))?;
            let db = Db::open_sled(dir)
                .with_context(|| format!("cannot open the store in {}", dir.display()))?;
            db.set_min_free_bytes(config.limits.min_free_bytes);
            db
        }
        (None, None) => Db::in_memory(),
    };
    start_on(config, clock, db).await
}

/// Serve from a store already open — another replica of one sharing it (what a shared
/// database gives several processes; tests run two in one process).
pub async fn start_on(config: Config, clock: Clock, db: Db) -> anyhow::Result<Running> {
    let (env, client_id, credentials) = EnvAuth::bootstrap(
        &db,
        config.client_id.as_deref(),
        config.api_key.as_deref(),
        config.sidecar_token.as_deref(),
        config.vendor_token_ttl,
    )
    .await
    .context("cannot set up the environment credentials")?;
    let created = model::clock::rfc3339(clock.now());
    let issuer = token::Issuer::load_or_init(&db, &created)
        .await
        .context("cannot load or create the signing keys")?;
    model::vendor_config::ensure(&db)
        .await
        .context("cannot store the default configuration")?;
    model::rbac::seed(&db, &created)
        .await
        .context("cannot seed the built-in permissions and roles")?;
    model::indexes::ensure(&db)
        .await
        .context("cannot build the store's indexes")?;
    let listener = http::server::listen(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match config.metrics_listen {
        Some(a) => Some(
            http::server::listen(a).with_context(|| format!("cannot listen on {a} for metrics"))?,
        ),
        None => None,
    };
    let metrics_addr = metrics_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let version = model::event::last_seq(&db).context("cannot read the event log")?;
    let epoch = if db.shared() {
        Some(
            model::event::ensure_shared_epoch(&db)
                .await
                .context("cannot read the shared store's epoch")?,
        )
    } else {
        None
    };
    let state = AppState::new(
        db.clone(),
        env,
        issuer,
        clock,
        &config,
        public_url,
        push::LogPosition { version, epoch },
    )?;
    let publisher = tokio::spawn(push::run(state.push.clone()));
    let hub = state.hub.clone();
    let app = app::app(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let limits = config.limits;
    let (stop_metrics, metrics_stopped) = tokio::sync::watch::channel(false);
    let metrics_task = metrics_listener.map(|l| {
        let app = app::metrics_app(state.clone());
        let mut stopped = metrics_stopped.clone();
        tokio::spawn(http::server::serve(l, app, limits, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }))
    });
    let task = tokio::spawn(async move {
        http::server::serve(listener, app, limits, async move {
            let _ = rx.await;
            hub.close();
        })
        .await;
        let _ = stop_metrics.send(true);
        if let Some(t) = metrics_task {
            let _ = t.await;
        }
        let _ = publisher.await;
        if let Err(e) = db.flush() {
            tracing::error!(error = %e, "final store flush failed");
        }
    });
    tracing::info!(listen = %addr, "control plane listening");
    Ok(Running {
        addr,
        metrics_addr,
        state,
        client_id,
        credentials,
        shutdown: Some(tx),
        task,
    })
}
