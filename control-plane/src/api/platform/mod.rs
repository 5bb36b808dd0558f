//! The platform's endpoints: liveness, readiness and metrics, the JWKS, and environment
//! (vendor) authentication.

pub(super) mod health;
mod jwks;
mod vendor;

use axum::routing::{get, post};

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root("/healthz", get(health::healthz))
        .add_root("/readyz", get(health::readyz))
        .add_root("/metrics", get(health::metrics))
        .add_root("/.well-known/jwks.json", get(jwks::jwks))
        .add_root("/auth/vendor", post(vendor::authenticate))
}
