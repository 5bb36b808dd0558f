//! Listing users: an account's members by index (only an environment-wide listing reads
//! every user), filtered and sorted.

use std::collections::BTreeSet;

use super::{User, UserError};
use crate::store::Db;

/// What a listing keeps.
#[derive(Clone, Debug, Default)]
pub struct Filter<'a> {
    /// Members of this account (`None`: every user).
    pub tenant: Option<&'a str>,
    /// Leave out invisible users (user-token callers).
    pub hide_invisible: bool,
    /// Only these ids.
    pub ids: BTreeSet<&'a str>,
    /// Normalised address containing this.
    pub email: Option<String>,
    /// Name or address containing this (lower case).
    pub text: Option<String>,
}

/// The sort keys listings accept.
pub const SORT: &[&str] = &[
    "createdAt",
    "name",
    "email",
    "id",
    "verified",
    "isLocked",
    "provider",
    "tenantId",
];

/// The users `f` keeps and `extra` accepts, sorted by `sort` (then id).
pub fn list(
    db: &Db,
    f: &Filter<'_>,
    sort: &str,
    descending: bool,
    extra: impl Fn(&User) -> bool,
) -> Result<Vec<User>, UserError> {
    let candidates = match f.tenant {
        Some(t) => super::members(db, t)?,
        None => db.scan::<User>(b"")?,
    };
    let mut users: Vec<User> = candidates
        .into_iter()
        .filter(|u| f.tenant.is_none_or(|t| u.membership(t).is_some()))
        .filter(|u| !(f.hide_invisible && u.invisible))
        .filter(|u| f.ids.is_empty() || f.ids.contains(u.id.as_str()))
        .filter(|u| f.email.as_deref().is_none_or(|e| u.email_norm.contains(e)))
        .filter(|u| {
            f.text
                .as_deref()
                .is_none_or(|t| u.name.to_lowercase().contains(t) || u.email_norm.contains(t))
        })
        .filter(|u| extra(u))
        .collect();
    users.sort_by(|a, b| {
        let ord = match sort {
            "name" => a.name.cmp(&b.name),
            "email" => a.email_norm.cmp(&b.email_norm),
            "id" => a.id.cmp(&b.id),
            "verified" => a.verified.cmp(&b.verified),
            "isLocked" => a.is_locked.cmp(&b.is_locked),
            "tenantId" => a.active_tenant_id.cmp(&b.active_tenant_id),
            _ => a.created_at.cmp(&b.created_at),
        }
        .then_with(|| a.id.cmp(&b.id));
        if descending { ord.reverse() } else { ord }
    });
    Ok(users)
}

/// A user's status in one of its accounts.
pub fn status(u: &User, m: &super::Membership) -> &'static str {
    if m.pending_invitation {
        return "PendingInvitation";
    }
    match (u.verified && !m.disabled, u.last_login.is_some()) {
        (false, _) => "NotActivated",
        (true, false) => "PendingLogin",
        (true, true) => "Activated",
    }
}

/// The statuses a status filter may name.
pub const STATUSES: [&str; 4] = [
    "PendingInvitation",
    "PendingLogin",
    "Activated",
    "NotActivated",
];
