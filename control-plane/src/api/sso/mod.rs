//! Social and custom OAuth login (tag Custom Social OAuth Provider; the login box's `sso/v2`
//! outside the spec). Until providers can be configured (the identities-from-elsewhere
//! issue), the login box's boot reads answer the truth: no provider is configured.

mod providers;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default().merge(providers::ops())
}
