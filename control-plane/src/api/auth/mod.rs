//! Logging in and everything before it (tags General, User Management, Password Settings,
//! Users): password login, refresh and logout with the cookie, unlocking, signup,
//! activation, and passwords outside a login; the hosted login (its account pages and the
//! OAuth 2.0 / OpenID Connect authorization server, with RFC 8693 token exchange at the same
//! token endpoint). The flows' rules live in `model::login`, `model::signup`,
//! `model::credentials` and `model::oauth`.

mod activation;
mod exchange;
mod invitations;
mod issue;
mod login;
mod mfa;
mod oauth;
mod pages;
mod passwordless;
mod passwords;
mod pools;
mod session;
mod signup;
mod social;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .merge(login::ops())
        .merge(social::ops())
        .merge(session::ops())
        .merge(signup::ops())
        .merge(activation::ops())
        .merge(passwords::ops())
        .merge(mfa::ops())
        .merge(passwordless::ops())
        .merge(invitations::ops())
        .merge(exchange::ops())
        .merge(oauth::ops())
        .merge(pages::ops())
}
