//! Prometheus metrics of the control plane, registered once at startup.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Handles to every metric.
pub struct Metrics {
    registry: Registry,
    /// Requests by route template, method and status.
    pub requests: IntCounterVec,
    /// Request latency by route template.
    pub latency: HistogramVec,
    /// `/auth/vendor` outcomes.
    pub vendor_auth: IntCounterVec,
    /// 1 while the store accepts writes.
    pub store_healthy: IntGauge,
    /// Password checks refused with 503 because every core was busy and the line full.
    pub hashes_shed: IntCounter,
    /// Password logins by result: `success`, `failure` (password evaluated and wrong, or no
    /// such user), `locked` (refused without evaluating the password), `throttled` (the
    /// account's hourly failure budget is spent; not evaluated either).
    pub logins: IntCounterVec,
    /// Captcha checks by result: `passed`, `refused`, `unavailable` (the verifier failed).
    pub captcha: IntCounterVec,
    /// The last version published to sidecars.
    pub push_version: IntGauge,
    /// Time to build and broadcast one delta.
    pub push_fanout: Histogram,
    /// Open sidecar streams.
    pub sidecars_connected: IntGauge,
    /// Push messages sidecars rejected.
    pub push_nacks: IntCounter,
    /// Per sidecar: the version it applied.
    pub sidecar_applied: IntGaugeVec,
    /// Per sidecar: versions behind the current one.
    pub sidecar_lag: IntGaugeVec,
    /// Requests refused by IP or email-domain restrictions, by kind and level.
    pub restriction_denials: IntCounterVec,
    /// Messages by channel (`email`/`sms`), type (the flow) and result (`delivered`,
    /// `failed`, `inactive`).
    pub messages: IntCounterVec,
    /// Time from a write's start to its durable acknowledgement (`Db::write`).
    pub store_write: Histogram,
    /// Database connections by state (`idle`, `busy`): PostgreSQL only.
    pub db_connections: IntGaugeVec,
}

impl Metrics {
    /// Create and register every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "control_plane_http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "control_plane_http_request_duration_seconds",
                "HTTP request latency by route template",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route"],
        )?;
        let vendor_auth = IntCounterVec::new(
            Opts::new(
                "control_plane_vendor_auth_total",
                "Environment authentications by result",
            ),
            &["result"],
        )?;
        let logins = IntCounterVec::new(
            Opts::new("control_plane_logins_total", "Password logins by result"),
            &["result"],
        )?;
        let store_healthy = IntGauge::new(
            "control_plane_store_healthy",
            "1 while the store accepts durable writes",
        )?;
        let push_version = IntGauge::new(
            "control_plane_push_version",
            "The last state version published to sidecars",
        )?;
        let push_fanout = Histogram::with_opts(
            HistogramOpts::new(
                "control_plane_push_fanout_seconds",
                "Time to build one delta and hand it to every sidecar stream",
            )
            .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5]),
        )?;
        let sidecars_connected = IntGauge::new(
            "control_plane_sidecars_connected",
            "Open sidecar push streams",
        )?;
        let push_nacks = IntCounter::new(
            "control_plane_push_nacks_total",
            "Push messages a sidecar rejected",
        )?;
        let sidecar_applied = IntGaugeVec::new(
            Opts::new(
                "control_plane_sidecar_applied_version",
                "The version each sidecar acknowledged as applied",
            ),
            &["sidecar"],
        )?;
        let sidecar_lag = IntGaugeVec::new(
            Opts::new(
                "control_plane_sidecar_lag_versions",
                "Versions each sidecar is behind the current one",
            ),
            &["sidecar"],
        )?;
        let restriction_denials = IntCounterVec::new(
            Opts::new(
                "control_plane_restriction_denials_total",
                "Requests refused by IP or email-domain restrictions",
            ),
            &["kind", "level"],
        )?;
        for m in [
            Box::new(restriction_denials.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(push_version.clone()),
            Box::new(push_fanout.clone()),
            Box::new(sidecars_connected.clone()),
            Box::new(push_nacks.clone()),
            Box::new(sidecar_applied.clone()),
            Box::new(sidecar_lag.clone()),
        ] {
            registry.register(m)?;
        }
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(vendor_auth.clone()))?;
        registry.register(Box::new(store_healthy.clone()))?;
        let hashes_shed = IntCounter::new(
            "control_plane_password_checks_shed_total",
            "Password checks refused with 503 (every core busy, the waiting line full)",
        )?;
        registry.register(Box::new(hashes_shed.clone()))?;
        registry.register(Box::new(logins.clone()))?;
        let captcha = IntCounterVec::new(
            Opts::new(
                "control_plane_captcha_checks_total",
                "Captcha checks of public flows by result",
            ),
            &["result"],
        )?;
        registry.register(Box::new(captcha.clone()))?;
        let messages = IntCounterVec::new(
            Opts::new(
                "control_plane_messages_total",
                "Messages by channel, type and delivery result",
            ),
            &["channel", "type", "result"],
        )?;
        registry.register(Box::new(messages.clone()))?;
        let store_write = Histogram::with_opts(
            HistogramOpts::new(
                "control_plane_store_write_seconds",
                "Time from a store write's start to its durable acknowledgement",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )?;
        registry.register(Box::new(store_write.clone()))?;
        let db_connections = IntGaugeVec::new(
            Opts::new(
                "control_plane_db_connections",
                "PostgreSQL store connections by state (idle, busy)",
            ),
            &["state"],
        )?;
        registry.register(Box::new(db_connections.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            vendor_auth,
            store_healthy,
            hashes_shed,
            logins,
            captcha,
            push_version,
            push_fanout,
            sidecars_connected,
            push_nacks,
            sidecar_applied,
            sidecar_lag,
            restriction_denials,
            messages,
            store_write,
            db_connections,
        })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
