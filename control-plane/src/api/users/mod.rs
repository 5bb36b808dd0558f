//! Users and account membership (tags Users, User Management, User Sessions): management
//! with an environment token (target account from `frontegg-tenant-id`) and self-service
//! with a user token, gated by the built-in `fe.secure.*` permissions. A foreign user id
//! answers 404. The rules live in `model::user`.

mod addresses;
mod applications;
mod dto;
mod emails;
mod manage;
mod me;
mod mfa;
mod migrations;
mod phones;
mod roles;
mod sessions;
mod temporary;
mod tenants;
mod usernames;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .merge(manage::ops())
        .merge(emails::ops())
        .merge(roles::ops())
        .merge(tenants::ops())
        .merge(me::ops())
        .merge(sessions::ops())
        .merge(mfa::ops())
        .merge(addresses::ops())
        .merge(temporary::ops())
        .merge(phones::ops())
        .merge(usernames::ops())
        .merge(applications::ops())
        .merge(migrations::ops())
}
