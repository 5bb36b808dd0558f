//! Logging in and everything before it (tags General, User Management, Password Settings,
//! Users): password login, refresh and logout with the cookie, unlocking, signup,
//! activation, and passwords outside a login. The flows' rules live in `model::login`,
//! `model::signup` and `model::credentials`.

mod activation;
mod invitations;
mod issue;
mod login;
mod mfa;
mod passwordless;
mod passwords;
mod session;
mod signup;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .merge(login::ops())
        .merge(session::ops())
        .merge(signup::ops())
        .merge(activation::ops())
        .merge(passwords::ops())
        .merge(mfa::ops())
        .merge(passwordless::ops())
        .merge(invitations::ops())
}
