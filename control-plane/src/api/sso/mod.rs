//! Identities from elsewhere, managed: custom social OAuth providers (tag Custom Social
//! OAuth Provider; the login box's `sso/v2` outside the spec) and user pools (tag User
//! Sources). Signing in through them is `api::auth::{social, pools}`.

mod providers;
mod sources;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default().merge(providers::ops()).merge(sources::ops())
}
