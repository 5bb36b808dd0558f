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
    /// Canonical path of the original request ([`crate::path::canonical`]).
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
    /// Unix seconds of the last message from the control plane (or of the persisted state):
    /// for display and persistence. Staleness is measured on the monotonic clock
    /// ([`Sidecar::seconds_since_contact`]), so a wall-clock step cannot make every sidecar
    /// stale (or fresh) at once.
    pub last_contact: AtomicI64,
    /// Milliseconds after `started` of the last contact; `i64::MIN` until there is one.
    contact_at_ms: AtomicI64,
    /// The monotonic origin of `contact_at_ms`.
    started: std::time::Instant,
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
            contact_at_ms: AtomicI64::new(i64::MIN),
            started: std::time::Instant::now(),
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

    /// Count (and, at most once a second, log) a decision about `method` `path`.
    pub(crate) fn record(
        &self,
        outcome: &Result<Permit, DenyReason>,
        method: &str,
        path: &str,
        elapsed: f64,
    ) {
        self.metrics.decision_seconds.observe(elapsed);
        match outcome {
            Ok(_) => self.metrics.allowed.inc(),
            Err(reason) => {
                self.metrics.denied(*reason).inc();
                let now = unix_now();
                if self.last_deny_log.swap(now, Ordering::Relaxed) != now {
                    tracing::info!(reason = reason.as_str(), method, path, "request denied");
                } else {
                    tracing::debug!(reason = reason.as_str(), method, path, "request denied");
                }
            }
        }
    }

    fn monotonic_ms(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// Record a message from the control plane at `now` (Unix seconds).
    pub(crate) fn touch(&self, now: i64) {
        self.last_contact.store(now, Ordering::Relaxed);
        self.contact_at_ms
            .store(self.monotonic_ms(), Ordering::Relaxed);
    }

    /// Restore a persisted contact time: as long ago as the wall clock says, read once.
    pub(crate) fn restore_contact(&self, last_contact: i64) {
        self.last_contact.store(last_contact, Ordering::Relaxed);
        let ago_ms = unix_now()
            .saturating_sub(last_contact)
            .max(0)
            .saturating_mul(1000);
        self.contact_at_ms.store(
            self.monotonic_ms().saturating_sub(ago_ms),
            Ordering::Relaxed,
        );
    }

    /// Seconds since the last contact by the monotonic clock; `None` before any.
    pub fn seconds_since_contact(&self) -> Option<i64> {
        let at = self.contact_at_ms.load(Ordering::Relaxed);
        (at != i64::MIN).then(|| (self.monotonic_ms().saturating_sub(at)) / 1000)
    }

    /// The control plane's present time as best known here: this host's clock minus the
    /// skew its last heartbeat showed (revocations are swept by it, so a forward step of this
    /// host's clock does not drop entries that a step back would need again).
    pub fn control_plane_now(&self) -> i64 {
        unix_now().saturating_sub(self.clock_skew.load(Ordering::Relaxed))
    }

    /// Drop revocations whose tokens can no longer pass: by the control plane's clock, and
    /// only after the leeway (a token is accepted until `exp` + leeway).
    pub fn sweep_revocations(&self) {
        self.revocations
            .sweep(self.control_plane_now().saturating_sub(self.config.leeway));
    }

    /// Whether the state is within the staleness budget (readiness).
    pub fn ready(&self) -> bool {
        self.current.load().is_some()
            && self.seconds_since_contact().is_some_and(|s| {
                s <= i64::try_from(self.config.max_staleness.as_secs()).unwrap_or(i64::MAX)
            })
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
            .set(self.seconds_since_contact().unwrap_or_else(unix_now));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sidecar() -> Sidecar {
        let config = Config::from_args(crate::config::Args::default()).unwrap();
        Sidecar::new(config, "t".into(), Routes::default()).unwrap()
    }

    fn session(id: &str, expires_at: i64) -> shared::wire::Revocation {
        shared::wire::Revocation {
            kind: shared::wire::RevocationKind::Session,
            id: id.into(),
            tenant_id: None,
            not_before: 0,
            expires_at,
        }
    }

    #[test]
    fn revocations_outlive_their_tokens_leeway_by_the_control_planes_clock() {
        let sc = sidecar();
        let now = unix_now();
        sc.revocations.insert(&session("in-leeway", now - 10));
        sc.revocations.insert(&session("long-gone", now - 100));
        sc.sweep_revocations();
        assert_eq!(sc.revocations.len(), 1, "kept through the 30 s leeway only");
        // This host's clock stepped an hour ahead (the heartbeat shows it): the control
        // plane's time decides, so nothing live is swept.
        sc.revocations.insert(&session("live", now + 60));
        sc.clock_skew.store(3600, Ordering::Relaxed);
        sc.sweep_revocations();
        assert_eq!(sc.revocations.len(), 2);
    }

    #[test]
    fn staleness_is_measured_on_the_monotonic_clock() {
        let sc = sidecar();
        assert_eq!(sc.seconds_since_contact(), None);
        sc.touch(unix_now());
        assert_eq!(sc.seconds_since_contact(), Some(0));
        // A persisted contact from 100 s ago (by the wall clock, read once at load).
        sc.restore_contact(unix_now() - 100);
        assert!((99..=101).contains(&sc.seconds_since_contact().unwrap()));
    }
}
