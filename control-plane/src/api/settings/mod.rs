//! Settings (tags Core Settings (incl. JWT templates and targeting), Lockout Policy, Password Settings, Sessions Configuration,
//! Email Templates, SMS Templates, Email Configuration, SMS Configuration):
//! the environment's configuration and the policies every account may set for itself, the
//! environment's applying where it has none (`model::setting`).

mod captcha;
mod jwt;
mod lockout;
mod mfa;
mod passwords;
mod providers;
mod scoped;
mod sessions;
mod strategies;
mod templates;
mod vendor;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .merge(vendor::ops())
        .merge(lockout::ops())
        .merge(passwords::ops())
        .merge(sessions::ops())
        .merge(strategies::ops())
        .merge(mfa::ops())
        .merge(templates::ops())
        .merge(providers::ops())
        .merge(jwt::ops())
        .merge(captcha::ops())
}
