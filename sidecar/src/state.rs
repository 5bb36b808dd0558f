//! What the request path and the control link share: the current snapshot (one
//! `ArcSwapOption`), the revocation sets, the route rules, the verified-token cache, the
//! link status and metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::config::Config;
use crate::decide::{self, DenyReason, Inputs, TokenSource, Verified};
use crate::metrics::Metrics;
use crate::routes::Routes;
use crate::snapshot::{Revocations, Snapshot};

/// Unix seconds now: the sidecar's one clock read (decisions take `now` as an argument).
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The request facts the decision needs, borrowed from the request.
pub struct Facts<'a> {
    /// Method of the original request.
    pub method: &'a str,
    /// Path of the original request.
    pub path: &'a str,
    /// The credential.
    pub token: TokenSource<'a>,
    /// The client's address (trusted-proxy rule applied).
    pub client_ip: std::net::IpAddr,
}

/// Who an allowed request is.
pub struct Identity {
    /// The verified token.
    pub verified: Arc<Verified>,
    /// For an access token (`x-api-key`): its record, whose rights replace the token's.
    pub record: Option<Arc<shared::wire::AccessTokenRecord>>,
}

/// An allowed request's identity (none for public routes).
pub type Permit = Option<Identity>;

/// The sidecar's shared state.
pub struct Sidecar {
    /// Configuration.
    pub config: Config,
    /// The current keys and policy; `None` until a snapshot is held.
    pub current: ArcSwapOption<Snapshot>,
    /// Live revocations.
    pub revocations: Revocations,
    /// Active access tokens.
    pub access_tokens: crate::snapshot::AccessTokens,
    /// Route rules.
    pub routes: ArcSwap<Routes>,
    /// Verified tokens by [`cache_key`].
    pub cache: moka::sync::Cache<[u8; 32], Arc<Verified>>,
    pub(crate) metrics: Metrics,
    /// Whether the push stream is open.
    pub connected: AtomicBool,
    /// Unix seconds of the last message from the control plane (or of the persisted state).
    pub last_contact: AtomicI64,
    /// This host's clock minus the control plane's, seconds, from the last heartbeat (0 until
    /// one arrives). Tokens are judged by this host's clock, so a skew beyond the leeway
    /// refuses fresh tokens (behind) or accepts expired ones for longer (ahead): reported,
    /// never corrected.
    pub clock_skew: AtomicI64,
    /// The id this sidecar reports.
    pub id: String,
    last_deny_log: AtomicI64,
}

impl Sidecar {
    /// State without listeners or a control link (the listeners are [`crate::start`]'s); it
    /// holds no snapshot until one is applied ([`crate::sync::apply`]).
    pub fn new(config: Config, id: String, routes: Routes) -> anyhow::Result<Self> {
        let cache = moka::sync::Cache::builder()
            .max_capacity(config.cache_bytes)
            .weigher(|_k: &[u8; 32], v: &Arc<Verified>| v.weight(0))
            .time_to_idle(std::time::Duration::from_secs(600))
            .build();
        Ok(Sidecar {
            config,
            current: ArcSwapOption::empty(),
            revocations: Revocations::default(),
            access_tokens: Default::default(),
            routes: ArcSwap::from_pointee(routes),
            cache,
            metrics: Metrics::new()?,
            connected: AtomicBool::new(false),
            last_contact: AtomicI64::new(0),
            clock_skew: AtomicI64::new(0),
            id,
            last_deny_log: AtomicI64::new(0),
        })
    }

    /// Decide one request. One load of the snapshot; the signature check is cached.
    pub fn decide(&self, facts: &Facts<'_>, now: i64) -> Result<Permit, DenyReason> {
        let guard = self.current.load();
        let Some(snap) = guard.as_deref() else {
            return Err(DenyReason::SnapshotUnavailable);
        };
        decide::check_environment_ip(snap, facts.client_ip)?;
        let routes = self.routes.load();
        let req = routes.find(facts.method, facts.path);
        if req.public {
            return Ok(None);
        }
        if req.deny {
            return Err(DenyReason::RouteDenied);
        }
        let token = facts.token.token().ok_or(DenyReason::NoToken)?;
        let key = cache_key(token);
        let verified = match self.cache.get(&key) {
            Some(v) if *v.token == *token => {
                self.metrics.cache_hits.inc();
                v
            }
            _ => {
                self.metrics.cache_misses.inc();
                let v = Arc::new(decide::verify_token(snap, token)?);
                self.cache.insert(key, v.clone());
                v
            }
        };
        let record = decide::authorize(
            snap,
            &self.revocations,
            &verified,
            &Inputs {
                source: facts.token,
                client_ip: facts.client_ip,
                route: req,
                now,
                leeway: self.config.leeway,
                access_tokens: &self.access_tokens,
            },
        )?;
        Ok(Some(Identity { verified, record }))
    }

    /// Count (and, at most once a second, log) a decision.
    pub(crate) fn record(
        &self,
        outcome: &Result<Permit, DenyReason>,
        facts: &Facts<'_>,
        elapsed: f64,
    ) {
        self.metrics.decision_seconds.observe(elapsed);
        match outcome {
            Ok(_) => self.metrics.allowed.inc(),
            Err(reason) => {
                self.metrics.denied(*reason).inc();
                let now = unix_now();
                if self.last_deny_log.swap(now, Ordering::Relaxed) != now {
                    tracing::info!(
                        reason = reason.as_str(),
                        method = facts.method,
                        path = facts.path,
                        "request denied"
                    );
                } else {
                    tracing::debug!(
                        reason = reason.as_str(),
                        method = facts.method,
                        path = facts.path,
                        "request denied"
                    );
                }
            }
        }
    }

    /// Whether the state is within the staleness budget (readiness).
    pub fn ready(&self) -> bool {
        self.current.load().is_some()
            && unix_now() - self.last_contact.load(Ordering::Relaxed)
                <= i64::try_from(self.config.max_staleness.as_secs()).unwrap_or(i64::MAX)
    }

    /// The applied version, if any.
    pub fn version(&self) -> Option<u64> {
        self.current.load().as_ref().map(|s| s.version)
    }

    /// Refresh the gauges that are read rather than counted.
    pub(crate) fn refresh_gauges(&self) {
        let m = &self.metrics;
        m.cache_entries
            .set(i64::try_from(self.cache.entry_count()).unwrap_or(i64::MAX));
        m.revocations
            .set(i64::try_from(self.revocations.len()).unwrap_or(i64::MAX));
        m.snapshot_version.set(
            self.version()
                .map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX)),
        );
        m.seconds_since_update
            .set(unix_now() - self.last_contact.load(Ordering::Relaxed));
        m.stream_connected
            .set(i64::from(self.connected.load(Ordering::Relaxed)));
        m.clock_skew.set(self.clock_skew.load(Ordering::Relaxed));
    }
}

/// The verified-token cache key: the first 32 characters of the signature segment (RS256
/// signatures are unpredictable and distinct per token). The key only finds the entry; a hit
/// also needs the whole token to match byte for byte, so a forged token sharing a
/// signature's prefix is a miss and gets verified. Cheaper than hashing the whole token.
pub fn cache_key(token: &str) -> [u8; 32] {
    let sig = token.rsplit_once('.').map_or(token, |(_, s)| s).as_bytes();
    let mut out = [0u8; 32];
    let n = sig.len().min(32);
    out[..n].copy_from_slice(&sig[..n]);
    out
}

pub use shared::net::client_ip;
