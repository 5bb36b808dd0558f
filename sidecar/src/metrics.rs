//! Sidecar metrics, registered once; the per-request handles are resolved at startup, never
//! per request.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::decide::DenyReason;

pub(crate) struct Metrics {
    registry: Registry,
    /// Allowed decisions.
    pub allowed: IntCounter,
    /// Denied decisions, indexed like [`DenyReason::ALL`].
    denied: Vec<IntCounter>,
    /// Decision latency (the decision itself, not the proxying).
    pub decision_seconds: Histogram,
    /// Verified-token cache hits.
    pub cache_hits: IntCounter,
    /// Verified-token cache misses (a signature check ran).
    pub cache_misses: IntCounter,
    /// Entries in the verified-token cache.
    pub cache_entries: IntGauge,
    /// The applied state version.
    pub snapshot_version: IntGauge,
    /// Seconds since the last message from the control plane.
    pub seconds_since_update: IntGauge,
    /// 1 while the push stream is open.
    pub stream_connected: IntGauge,
    /// Stream (re)connection attempts after the first.
    pub reconnects: IntCounter,
    /// Push messages rejected (nacked).
    pub rejected_messages: IntCounter,
    /// Live revocation entries.
    pub revocations: IntGauge,
    /// This host's clock minus the control plane's (last heartbeat), seconds.
    pub clock_skew: IntGauge,
    /// Connections answered 503 because `--max-connections` were open.
    pub connections_shed: IntCounter,
}

impl Metrics {
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let decisions = IntCounterVec::new(
            Opts::new(
                "sidecar_decisions_total",
                "Authorization decisions by result and reason",
            ),
            &["result", "reason"],
        )?;
        registry.register(Box::new(decisions.clone()))?;
        let allowed = decisions.with_label_values(&["allow", "ok"]);
        let denied = DenyReason::ALL
            .iter()
            .map(|r| decisions.with_label_values(&["deny", r.as_str()]))
            .collect();
        let decision_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "sidecar_decision_duration_seconds",
                "Time to decide one request",
            )
            .buckets(vec![
                0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001,
                0.002_5, 0.005, 0.01,
            ]),
        )?;
        let counter = |name: &str, help: &str| -> Result<IntCounter, prometheus::Error> {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        registry.register(Box::new(decision_seconds.clone()))?;
        Ok(Metrics {
            allowed,
            denied,
            decision_seconds,
            cache_hits: counter(
                "sidecar_token_cache_hits_total",
                "Verified-token cache hits",
            )?,
            cache_misses: counter(
                "sidecar_token_cache_misses_total",
                "Verified-token cache misses (signature checks)",
            )?,
            cache_entries: gauge("sidecar_token_cache_entries", "Verified tokens cached")?,
            snapshot_version: gauge("sidecar_snapshot_version", "The applied state version")?,
            seconds_since_update: gauge(
                "sidecar_seconds_since_update",
                "Seconds since the last message from the control plane",
            )?,
            stream_connected: gauge(
                "sidecar_stream_connected",
                "1 while the push stream to the control plane is open",
            )?,
            reconnects: counter(
                "sidecar_reconnects_total",
                "Push-stream reconnection attempts",
            )?,
            rejected_messages: counter(
                "sidecar_rejected_messages_total",
                "Push messages rejected as invalid (the last good state kept)",
            )?,
            revocations: gauge("sidecar_revocations", "Live revocation entries")?,
            clock_skew: gauge(
                "sidecar_clock_skew_seconds",
                "This host's clock minus the control plane's at the last heartbeat",
            )?,
            connections_shed: counter(
                "sidecar_connections_shed_total",
                "Connections answered 503 at the --max-connections cap",
            )?,
            registry,
        })
    }

    /// The counter of denials for `reason`.
    pub(crate) fn denied(&self, reason: DenyReason) -> &IntCounter {
        let i = DenyReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        &self.denied[i]
    }

    pub(crate) fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
