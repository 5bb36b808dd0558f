//! Machine-to-machine tokens (tags API Tokens, Personal Tokens, M2M Tokens, API Token): an
//! account's and a user's client-credentials API tokens and access tokens, the API-token
//! login and refresh, and the vendor-only lookups SDKs use for access tokens. The account
//! and user variants of each route are one handler over an [`owner::Owner`] kind.

mod access;
mod api;
mod login;
mod owner;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .merge(login::ops())
        .merge(access::ops())
        .merge(api::ops())
}
