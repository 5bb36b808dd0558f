//! Stored records and their invariants, one file per resource. No HTTP, no sled: functions
//! here take a [`Tx`](crate::store::Tx) or [`Db`](crate::store::Db) and plain values.

pub mod access_token;
pub mod api_token;
pub mod application;
pub mod approval;
pub mod authz;
pub mod builtin;
pub mod captcha;
pub mod cascade;
pub mod catalog;
pub mod clock;
pub mod credentials;
pub mod delegation;
pub mod email;
pub mod event;
pub mod grant;
pub mod group;
pub mod identity_settings;
pub mod indexes;
pub mod invitation;
pub mod json;
pub mod jwt_template;
pub mod lockout;
pub mod login;
pub mod m2m;
pub mod message;
pub mod mfa;
pub mod migration;
pub mod oauth;
pub mod otp;
pub mod outbox;
pub mod password_policy;
pub mod passwordless;
pub mod provider;
pub mod rbac;
pub mod restrictions;
pub mod session;
pub mod setting;
pub mod sidecar;
pub mod signup;
pub mod social;
pub mod template;
pub mod tenant;
pub mod text;
pub mod user;
pub mod user_source;
pub mod vendor_config;
pub mod version;

/// Append the ids of `items` that `list` does not hold yet, keeping order.
pub fn add_unique(list: &mut Vec<String>, items: &[String]) {
    for i in items {
        if !list.contains(i) {
            list.push(i.clone());
        }
    }
}
