//! Sidecar metrics, registered once; handles are resolved at startup, never per request.

use prometheus::{Encoder, IntCounter, Registry, TextEncoder};

pub(crate) struct Metrics {
    registry: Registry,
    /// Requests denied because no snapshot is held.
    pub denied_no_snapshot: IntCounter,
}

impl Metrics {
    pub(crate) fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let denied_no_snapshot = IntCounter::new(
            "sidecar_denied_no_snapshot_total",
            "Requests denied because no policy snapshot is held (fail closed)",
        )?;
        registry.register(Box::new(denied_no_snapshot.clone()))?;
        Ok(Metrics {
            registry,
            denied_no_snapshot,
        })
    }

    pub(crate) fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
