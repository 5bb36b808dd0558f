//! What the request path and the control link share: the current snapshot (one
//! `ArcSwapOption`), the revocation sets, the route rules, the verified-token cache, the
//! link status and metrics.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, ArcSwapOption};

use crate::config::{Cidr, Config};
use crate::decide::{self, DenyReason, TokenSource, Verified};
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
}

/// An allowed request's identity (none for public routes).
pub type Permit = Option<Arc<Verified>>;

/// The sidecar's shared state.
pub struct Sidecar {
    /// Configuration.
    pub config: Config,
    /// The current keys and policy; `None` until a snapshot is held.
    pub current: ArcSwapOption<Snapshot>,
    /// Live revocations.
    pub revocations: Revocations,
    /// Route rules.
    pub routes: ArcSwap<Routes>,
    /// Verified tokens by SHA-256 of the token.
    pub cache: moka::sync::Cache<[u8; 32], Arc<Verified>>,
    pub(crate) metrics: Metrics,
    /// Whether the push stream is open.
    pub connected: AtomicBool,
    /// Unix seconds of the last message from the control plane (or of the persisted state).
    pub last_contact: AtomicI64,
    /// The id this sidecar reports.
    pub id: String,
    last_deny_log: AtomicI64,
}

impl Sidecar {
    pub(crate) fn new(config: Config, id: String, routes: Routes) -> anyhow::Result<Self> {
        let cache = moka::sync::Cache::builder()
            .max_capacity(config.cache_bytes)
            .weigher(|_k: &[u8; 32], v: &Arc<Verified>| v.weight(0))
            .time_to_idle(std::time::Duration::from_secs(600))
            .build();
        Ok(Sidecar {
            config,
            current: ArcSwapOption::empty(),
            revocations: Revocations::default(),
            routes: ArcSwap::from_pointee(routes),
            cache,
            metrics: Metrics::new()?,
            connected: AtomicBool::new(false),
            last_contact: AtomicI64::new(0),
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
        let routes = self.routes.load();
        let req = routes.find(facts.method, facts.path);
        if req.public {
            return Ok(None);
        }
        if req.deny {
            return Err(DenyReason::RouteDenied);
        }
        let token = facts.token.token().ok_or(DenyReason::NoToken)?;
        let digest = digest(token);
        let verified = match self.cache.get(&digest) {
            Some(v) => {
                self.metrics.cache_hits.inc();
                v
            }
            None => {
                self.metrics.cache_misses.inc();
                let v = Arc::new(decide::verify_token(snap, token)?);
                self.cache.insert(digest, v.clone());
                v
            }
        };
        decide::authorize(
            snap,
            &self.revocations,
            &verified,
            facts.token,
            req,
            now,
            self.config.leeway,
        )?;
        Ok(Some(verified))
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
    }
}

/// SHA-256 of a token (the cache key).
pub fn digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn in_cidr(ip: IpAddr, c: &Cidr) -> bool {
    let bits = |ip: IpAddr| match ip {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 32u32),
        IpAddr::V6(v) => (u128::from(v), 128u32),
    };
    let (a, alen) = bits(ip);
    let (n, nlen) = bits(c.addr);
    if alen != nlen {
        return false;
    }
    let host = alen - u32::from(c.prefix);
    let mask = if host >= 128 { 0 } else { u128::MAX << host };
    let mask = if alen == 32 {
        mask & u128::from(u32::MAX)
    } else {
        mask
    };
    a & mask == n & mask
}

/// IPv4-mapped IPv6 as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v) => v.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then the
/// right-most address in `X-Forwarded-For` (or `Forwarded: for=`) that is not itself a
/// trusted proxy. Unparseable entries stop the walk at the last good address.
pub fn client_ip(
    peer: IpAddr,
    trusted: &[Cidr],
    forwarded_for: &[&str],
    forwarded: &[&str],
) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| in_cidr(ip, c));
    if !is_trusted(peer) {
        return peer;
    }
    let mut chain: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect();
    if chain.is_empty() {
        chain = forwarded
            .iter()
            .flat_map(|h| h.split(','))
            .flat_map(|el| el.split(';'))
            .filter_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                k.eq_ignore_ascii_case("for").then_some(v.trim_matches('"'))
            })
            .collect();
    }
    let mut client = peer;
    for entry in chain.iter().rev() {
        let entry = entry
            .strip_prefix('[')
            .and_then(|e| e.split_once(']').map(|(a, _)| a))
            .unwrap_or(entry);
        let Ok(ip) = entry.parse::<IpAddr>().or_else(|_| {
            // `1.2.3.4:5678`
            entry
                .rsplit_once(':')
                .filter(|(a, _)| a.contains('.'))
                .map_or(Err(()), |(a, _)| a.parse::<IpAddr>().map_err(|_| ()))
        }) else {
            break;
        };
        client = canonical(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_cidr;

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted = [parse_cidr("10.0.0.0/8").unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An untrusted peer's headers are ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), &trusted, &["1.2.3.4"], &[]),
            ip("203.0.113.9")
        );
        // A trusted peer: the right-most untrusted address.
        assert_eq!(
            client_ip(
                ip("10.0.0.1"),
                &trusted,
                &["6.6.6.6, 198.51.100.7, 10.0.0.2"],
                &[]
            ),
            ip("198.51.100.7")
        );
        // IPv4-mapped IPv6 peers are matched as IPv4.
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &trusted, &["198.51.100.7"], &[]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(
                ip("10.0.0.1"),
                &trusted,
                &[],
                &["for=192.0.2.60;proto=http, for=\"[2001:db8::1]:4711\""]
            ),
            ip("2001:db8::1")
        );
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            client_ip(ip("10.0.0.1"), &trusted, &["1.1.1.1, junk"], &[]),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &trusted, &["1.1.1.1:80"], &[]),
            ip("1.1.1.1")
        );
    }
}
