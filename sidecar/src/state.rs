//! What the request path and the control link share: the [`View`] (one `ArcSwap`: snapshot,
//! access tokens, route rules), the revocation set every view shares, the verified-token
//! cache, the link status and metrics.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::cache::TokenCache;
use crate::config::Config;
use crate::decide::{self, DenyReason};
pub use crate::decide::{Facts, Identity, Permit};
use crate::metrics::Metrics;
use crate::routes::Routes;
use crate::snapshot::{AccessTokens, Revocations, Snapshot};
use crate::view::View;

/// Unix seconds now: the sidecar's one clock read (decisions take `now` as an argument).
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The sidecar's shared state.
pub struct Sidecar {
    /// Configuration.
    pub config: Config,
    /// What decisions read, swapped whole.
    view: ArcSwap<View>,
    /// Serialises the writers of `view` (the link's apply, the routes reload): each reads
    /// the view it replaces.
    writer: Mutex<()>,
    /// Live revocations (the set every view shares).
    pub revocations: Arc<Revocations>,
    /// Verified tokens.
    pub cache: TokenCache,
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
        let metrics = Metrics::new()?;
        let cache = TokenCache::new(
            config.cache_bytes,
            metrics.cache_hits.clone(),
            metrics.cache_misses.clone(),
        );
        let revocations = Arc::new(Revocations::default());
        Ok(Sidecar {
            view: ArcSwap::from_pointee(View::empty(routes, revocations.clone(), config.leeway)),
            writer: Mutex::new(()),
            config,
            revocations,
            cache,
            metrics,
            connected: AtomicBool::new(false),
            last_contact: AtomicI64::new(0),
            contact_at_ms: AtomicI64::new(i64::MIN),
            started: std::time::Instant::now(),
            clock_skew: AtomicI64::new(0),
            id,
            last_deny_log: AtomicI64::new(0),
        })
    }

    /// Decide one request: one load of the view ([`decide::decide`]).
    pub fn decide(&self, facts: &Facts<'_>, now: i64) -> Result<Permit, DenyReason> {
        decide::decide(&self.view.load(), &self.cache, facts, now)
    }

    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    /// The held snapshot, if any.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.view.load().snapshot.clone()
    }

    /// Replace the view by `change(current)`, unless it fails; writers take turns, so each
    /// sees the view it replaces.
    pub(crate) fn update<T, E>(
        &self,
        change: impl FnOnce(&View) -> Result<(View, T), E>,
    ) -> Result<T, E> {
        let _turn = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (next, out) = change(&self.view.load())?;
        self.view.store(Arc::new(next));
        Ok(out)
    }

    /// Hold `snapshot` with `access_tokens` (the revocations are the caller's to set first).
    pub fn install(&self, snapshot: Snapshot, access_tokens: AccessTokens) {
        let _ = self.update(|v| {
            Ok::<_, std::convert::Infallible>((
                v.with_snapshot(snapshot, Arc::new(access_tokens)),
                (),
            ))
        });
    }

    /// Decide by other route rules from now on.
    pub(crate) fn set_routes(&self, routes: Routes) {
        let _ = self.update(|v| Ok::<_, std::convert::Infallible>((v.with_routes(routes), ())));
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
        self.view.load().snapshot.is_some()
            && self.seconds_since_contact().is_some_and(|s| {
                s <= i64::try_from(self.config.max_staleness.as_secs()).unwrap_or(i64::MAX)
            })
    }

    /// The applied version, if any.
    pub fn version(&self) -> Option<u64> {
        self.view.load().snapshot.as_ref().map(|s| s.version)
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

pub use crate::cache::cache_key;
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
