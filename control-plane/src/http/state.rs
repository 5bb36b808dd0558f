//! `AppState`: what every handler can reach.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::{Config, Limits};
use crate::environment::EnvAuth;
use crate::metrics::Metrics;
use crate::model::clock::Clock;
use crate::store::Db;
use crate::token::Issuer;

/// Shared state of the control plane: one `Arc`, so the clone every request and middleware
/// makes is one reference-count increment (cloning two dozen `Arc`s per request cost ~7 %
/// of the control plane's CPU under load, in cache-line traffic between cores).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    /// The typed store.
    pub db: Db,
    /// Environment credentials and tokens.
    pub env: Arc<EnvAuth>,
    /// Signing keys: issues and verifies the environment's JWTs.
    pub issuer: Arc<Issuer>,
    /// Metrics handles.
    pub metrics: Arc<Metrics>,
    /// The clock.
    pub clock: Clock,
    /// Request limits.
    pub limits: Limits,
    /// Per spec operation, how many requests were answered by a real handler.
    pub served: Arc<ServedOps>,
    /// External base URL.
    pub public_url: Arc<str>,
    /// Password hashing: the cost and the bounded line of checks waiting for a core.
    pub hasher: crate::hashing::Hasher,
    /// Outgoing email.
    pub mailer: crate::delivery::Mailer,
    /// Whether cookies carry `Secure` (off only in `--dev` over plain HTTP).
    pub secure_cookies: bool,
    /// `; Domain=…` of the refresh cookie (`--cookie-domain`), or empty: host-only.
    pub cookie_domain_attr: Arc<str>,
    /// Distribution to sidecars.
    pub hub: Arc<crate::push::Hub>,
    /// What distribution reads (the same hub).
    pub push: crate::push::Context,
    /// How long a key rotation waits for every connected sidecar to hold the next key.
    pub key_rotation_wait: std::time::Duration,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Arc<[shared::net::Cidr]>,
    /// The one forwarding header those proxies write.
    pub client_ip_header: shared::net::ForwardedHeader,
    /// Browser origins allowed to call with credentials (CORS, the session cookie).
    pub origins: Arc<super::cors::Origins>,
    /// Whether `/metrics` has a listener of its own (`--metrics-listen`).
    pub metrics_elsewhere: bool,
    /// The compiled restriction policies.
    pub restrictions: Arc<crate::model::restrictions::Policies>,
    /// The roles-and-permissions catalogue, cached by its generation.
    pub catalogs: Arc<crate::model::catalog::Catalogs>,
    /// Outbound HTTPS (rustls on ring): the captcha verifier.
    pub http: reqwest::Client,
    /// The external services' endpoints (providers, the captcha verifier).
    pub endpoints: Arc<crate::config::Endpoints>,
    /// Outbound calls to other identity systems (no redirects, bounded; `upstream`).
    pub upstream: reqwest::Client,
}

/// Counters of served spec operations, indexed like [`crate::spec::spec_operations`].
pub struct ServedOps(Box<[AtomicU64]>);

impl ServedOps {
    pub(crate) fn new(n: usize) -> Self {
        ServedOps((0..n).map(|_| AtomicU64::new(0)).collect())
    }
    pub(crate) fn hit(&self, index: usize) {
        if let Some(c) = self.0.get(index) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
    /// How many requests the operation `operation_id` answered with a real handler.
    pub fn count(&self, operation_id: &str) -> u64 {
        crate::spec::spec_index(operation_id)
            .and_then(|i| self.0.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl AppState {
    /// Every sidecar: this replica's, or every replica's when several share the store.
    pub fn sidecars(&self) -> Result<Vec<crate::push::SidecarStatus>, crate::store::StoreError> {
        crate::push::everywhere(&self.hub.sidecars, &self.db, self.clock.unix())
    }

    /// Wait until every connected sidecar (of every replica sharing the store) applied
    /// `version`, at most the key-rotation wait: (connected, acknowledged).
    pub async fn wait_applied(&self, version: u64) -> (usize, usize) {
        if self.db.shared() {
            crate::push::wait_applied_shared(&self.db, &self.clock, version, self.key_rotation_wait)
                .await
        } else {
            self.hub
                .sidecars
                .wait_applied(version, self.key_rotation_wait)
                .await
        }
    }

    /// Where the links in messages point.
    pub fn links(&self) -> crate::model::message::Links<'_> {
        crate::model::message::Links(&self.public_url)
    }

    /// The current roles-and-permissions catalogue.
    pub fn catalog(&self) -> Result<Arc<crate::model::catalog::Catalog>, crate::store::StoreError> {
        self.catalogs.current(&self.db)
    }

    /// Assemble the state from its parts.
    pub fn new(
        db: Db,
        env: EnvAuth,
        issuer: Issuer,
        clock: Clock,
        config: &Config,
        public_url: String,
        log: crate::push::LogPosition,
    ) -> Result<Self, prometheus::Error> {
        let crate::push::LogPosition { version, epoch } = log;
        let secure_cookies = !(config.dev && public_url.starts_with("http://"));
        let issuer = Arc::new(issuer);
        if db.shared() {
            tokio::spawn(issuer.clone().follow(db.downgrade()));
        }
        let metrics = Arc::new(Metrics::new()?);
        db.observe_writes(metrics.store_write.clone());
        let messages = metrics.messages.clone();
        let hub = Arc::new(crate::push::Hub::new(env.sidecar_mac_key(), version, epoch));
        let restrictions: Arc<crate::model::restrictions::Policies> = Arc::default();
        let catalogs: Arc<crate::model::catalog::Catalogs> = Arc::default();
        let public_url: Arc<str> = public_url.into();
        let push = crate::push::Context {
            db: db.clone(),
            hub: hub.clone(),
            clock: clock.clone(),
            issuer: public_url.clone(),
            audience: env.client_id().into(),
            restrictions: restrictions.clone(),
            catalogs: catalogs.clone(),
            version_gauge: metrics.push_version.clone(),
            fanout: metrics.push_fanout.clone(),
        };
        let mailer_db = db.clone();
        let http = crate::delivery::http_client();
        crate::delivery::outcomes::spawn(&db, clock.clone(), http.clone(), public_url.clone());
        crate::delivery::migrations::spawn(&db, clock.clone());
        Ok(AppState(Arc::new(Shared {
            db,
            hub,
            push,
            key_rotation_wait: config.key_rotation_wait,
            trusted_proxies: config.trusted_proxies.clone().into(),
            client_ip_header: config.client_ip_header,
            origins: Arc::new(super::cors::Origins::new(
                &public_url,
                &config.allowed_origins,
                config.dev,
            )),
            metrics_elsewhere: config.metrics_listen.is_some(),
            restrictions,
            catalogs,
            http,
            upstream: crate::upstream::client(),
            endpoints: Arc::new(config.provider_endpoints.clone()),
            env: Arc::new(env),
            issuer,
            hasher: crate::hashing::Hasher::new(config.argon2, config.limits.max_hash_queue)
                .counting(metrics.hashes_shed.clone()),
            metrics,
            clock,
            limits: config.limits,
            served: Arc::new(ServedOps::new(crate::spec::spec_operations().len())),
            public_url,
            secure_cookies,
            cookie_domain_attr: config
                .cookie_domain
                .as_deref()
                .map_or_else(String::new, |d| format!("; Domain={d}"))
                .into(),
            mailer: crate::delivery::Mailer::spawn(
                mailer_db,
                match (&config.smtp_url, &config.email_outbox) {
                    (Some(url), outbox) => crate::delivery::Backend::Smtp {
                        url: url.clone(),
                        sms_outbox: outbox.clone(),
                    },
                    (None, Some(dir)) => crate::delivery::Backend::Outbox(dir.clone()),
                    (None, None) => crate::delivery::Backend::Memory,
                },
                config.email_from.clone(),
                config.provider_endpoints.clone(),
                messages,
            ),
        })))
    }
}
