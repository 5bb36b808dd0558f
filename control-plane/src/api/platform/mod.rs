//! The platform's endpoints: liveness, readiness and metrics, the JWKS, and environment
//! (vendor) authentication.

pub(super) mod health;
mod jwks;
mod vendor;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .merge(health::ops())
        .merge(jwks::ops())
        .merge(vendor::ops())
}
