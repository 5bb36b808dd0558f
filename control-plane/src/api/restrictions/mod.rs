//! IP restrictions and email-domain restrictions (tags IP Restrictions, Domain
//! Restrictions), for the environment (environment token, no `frontegg-tenant-id`) or an
//! account (environment token with the header, or a user token holding the
//! `fe.secure.*.ipRestrictions` / `fe.secure.*.emailDomainRestrictions` permissions). Every
//! change goes through `model::restrictions` (one consistent transaction, an event for the
//! sidecars' next delta); enforcement is `http::guard`.

mod domains;
mod ip;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default().merge(ip::ops()).merge(domains::ops())
}
