//! Tessera's own operator API (environment token): signing keys, the sidecars and what
//! each has applied, the security-event log, the allowed browser origins, the applications
//! the hosted login serves and its pages' branding; and the sidecar link itself (sidecar token).

mod applications;
mod branding;
mod events;
mod keys;
mod origins;
mod sidecars;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .merge(keys::ops())
        .merge(sidecars::ops())
        .merge(events::ops())
        .merge(origins::ops())
        .merge(applications::ops())
        .merge(branding::ops())
}
