//! Removal: deleting a thing deletes or revokes everything that hangs on it, in the same
//! transaction, so nothing becomes valid again later — not when a revocation entry expires,
//! not when the user is added back, not when an account with the same id is created again
//! (`security.md` M3).
//!
//! - A user leaving an account loses its membership, its place in the account's groups, its
//!   sessions in the account and its personal API tokens and access tokens there.
//! - A deleted user loses all of that in every account.
//! - Either voids the user's email invitations (to that account, or all) and an account's
//!   deletion its invitation links.
//! - A deleted account takes its members' memberships (a user left without any account is
//!   deleted), its groups, roles, sessions, API tokens, access tokens and settings.
//!
//! Each cascade reads what it will change before the transaction (the store has no scans
//! inside transactions; lookups go through indexes) and re-reads every record it changes
//! inside it, so a concurrent change is not lost.

use super::access_token::AccessToken;
use super::api_token::ApiToken;
use super::event::Event;
use super::group::{self, Group};
use super::rbac::{self, Role};
use super::session::{self, Session, UserSessions};
use super::setting;
use super::user::{self, User};
use crate::store::{Db, StoreError, Tree, Tx};

/// What hangs on one user, in one account or in all.
pub struct UserDependents {
    invites: Vec<super::invitation::PendingInvite>,
    tenant: Option<String>,
    groups: Vec<Group>,
    sessions: Vec<Session>,
    api_tokens: Vec<String>,
    access_tokens: Vec<String>,
}

impl UserDependents {
    /// Read what hangs on `user_id` in `tenant` (every account when `None`).
    pub fn read(db: &Db, user_id: &str, tenant: Option<&str>) -> Result<Self, StoreError> {
        let in_scope = |t: &str| tenant.is_none_or(|x| x == t);
        let mut sessions = Vec::new();
        if let Some(idx) = db.get::<UserSessions>(user_id.as_bytes())? {
            for id in idx.session_ids {
                if let Some(s) = db.get::<Session>(id.as_bytes())?
                    && in_scope(&s.tenant_id)
                {
                    sessions.push(s);
                }
            }
        }
        Ok(UserDependents {
            invites: super::invitation::pending_of(db, user_id)?,
            tenant: tenant.map(str::to_owned),
            groups: group::of_user(db, user_id)?
                .into_iter()
                .filter(|g| in_scope(&g.tenant_id))
                .collect(),
            sessions,
            api_tokens: db
                .scan::<ApiToken>(b"")?
                .into_iter()
                .filter(|t| t.user_id.as_deref() == Some(user_id) && in_scope(&t.tenant_id))
                .map(|t| t.client_id)
                .collect(),
            access_tokens: db
                .scan::<AccessToken>(b"")?
                .into_iter()
                .filter(|t| t.user_id.as_deref() == Some(user_id) && in_scope(&t.tenant_id))
                .map(|t| t.id)
                .collect(),
        })
    }
}

/// End what hangs on a user (read in `deps`): group memberships, sessions (revoked: their
/// tokens die at sidecars), personal API tokens and access tokens (deleted, their JWTs
/// revoked).
fn drop_dependents(
    tx: &mut Tx<'_>,
    user_id: &str,
    deps: &UserDependents,
    at: &str,
) -> Result<(), StoreError> {
    group::remove_member(tx, &deps.groups, user_id, None)?;
    super::invitation::void_pending(tx, &deps.invites, deps.tenant.as_deref())?;
    end(
        tx,
        &deps.sessions,
        &deps.api_tokens,
        &deps.access_tokens,
        Some(user_id),
        at,
    )
}

/// Revoke `sessions` and delete the API tokens and access tokens named, each with the event
/// that voids its JWTs at sidecars (records already gone are skipped).
fn end(
    tx: &mut Tx<'_>,
    sessions: &[Session],
    api_tokens: &[String],
    access_tokens: &[String],
    user: Option<&str>,
    at: &str,
) -> Result<(), StoreError> {
    for s in sessions {
        if let Some(cur) = tx.get::<Session>(s.id.as_bytes())? {
            session::revoke(tx, &cur, at)?;
        }
    }
    for id in api_tokens {
        if let Some(t) = tx.get::<ApiToken>(id.as_bytes())? {
            tx.delete::<ApiToken>(id.as_bytes())?;
            let tenant = t.tenant_id.clone();
            let through = all_issued(t, at);
            Event::TokenDeleted {
                tenant: &tenant,
                user,
                id,
            }
            .record(tx, &through)?;
        }
    }
    for id in access_tokens {
        if let Some(t) = tx.get::<AccessToken>(id.as_bytes())? {
            tx.delete::<AccessToken>(id.as_bytes())?;
            Event::TokenDeleted {
                tenant: &t.tenant_id,
                user,
                id,
            }
            .record(tx, at)?;
        }
    }
    Ok(())
}

/// The time a revocation of every JWT the API token issued must name, for a deletion `at`
/// (its JWTs can be issued a second after an earlier revocation: [`ApiToken::issued_at`]).
fn all_issued(mut t: ApiToken, at: &str) -> String {
    crate::model::clock::unix_of(at)
        .map(|now| t.revoke_issued(now))
        .and_then(crate::model::clock::rfc3339_of)
        .unwrap_or_else(|| at.to_owned())
}

/// Take `u` out of `tenant` with everything that hangs on it there (`deps`, read for that
/// account); a user left without any account is deleted. Records the events.
pub fn remove_from_tenant(
    tx: &mut Tx<'_>,
    mut u: User,
    tenant: &str,
    deps: &UserDependents,
    at: &str,
) -> Result<(), StoreError> {
    u.memberships.retain(|m| m.tenant_id != tenant);
    if u.active_tenant_id.as_deref() == Some(tenant) {
        u.active_tenant_id = u.memberships.first().map(|m| m.tenant_id.clone());
    }
    drop_dependents(tx, &u.id, deps, at)?;
    Event::UserRemovedFromTenant {
        tenant,
        user: &u.id,
    }
    .record(tx, at)?;
    if u.memberships.is_empty() {
        tx.delete::<user::User>(u.id.as_bytes())?;
        tx.delete::<crate::model::mfa::UserMfa>(u.id.as_bytes())?;
        Event::UserDeleted { user: &u.id }.record(tx, at)?;
    } else {
        tx.put(&u)?;
    }
    Ok(())
}

/// Delete `u` with everything that hangs on it (`deps`, read for every account).
pub fn delete_user(
    tx: &mut Tx<'_>,
    u: &User,
    deps: &UserDependents,
    at: &str,
) -> Result<(), StoreError> {
    drop_dependents(tx, &u.id, deps, at)?;
    tx.delete::<user::User>(u.id.as_bytes())?;
    tx.delete::<crate::model::mfa::UserMfa>(u.id.as_bytes())?;
    Event::UserDeleted { user: &u.id }.record(tx, at)?;
    Ok(())
}

/// What refers to one account.
pub struct TenantSnapshot {
    users: Vec<String>,
    links: Vec<String>,
    invites: Vec<super::invitation::PendingInvite>,
    groups: Vec<String>,
    roles: Vec<Role>,
    sessions: Vec<Session>,
    api_tokens: Vec<String>,
    access_tokens: Vec<String>,
}

impl TenantSnapshot {
    /// Read everything that refers to `tenant` (members and groups by index).
    pub fn read(db: &Db, tenant: &str) -> Result<Self, StoreError> {
        let users = user::member_ids(db, tenant)?;
        let mut sessions = Vec::new();
        for u in &users {
            if let Some(idx) = db.get::<UserSessions>(u.as_bytes())? {
                for id in idx.session_ids {
                    if let Some(s) = db.get::<Session>(id.as_bytes())?
                        && s.tenant_id == tenant
                    {
                        sessions.push(s);
                    }
                }
            }
        }
        Ok(TenantSnapshot {
            users,
            links: super::invitation::link_ids_of_tenant(db, tenant)?,
            invites: db
                .scan::<super::invitation::PendingInvite>(b"user/")?
                .into_iter()
                .filter(|p| p.tenant_id == tenant)
                .collect(),
            groups: group::of_tenant(db, tenant)?
                .into_iter()
                .map(|g| g.id)
                .collect(),
            roles: rbac::all_roles(db)?
                .into_iter()
                .filter(|r| r.tenant_id.as_deref() == Some(tenant))
                .collect(),
            sessions,
            api_tokens: db
                .scan::<ApiToken>(b"")?
                .into_iter()
                .filter(|t| t.tenant_id == tenant)
                .map(|t| t.client_id)
                .collect(),
            access_tokens: db
                .scan::<AccessToken>(b"")?
                .into_iter()
                .filter(|t| t.tenant_id == tenant)
                .map(|t| t.id)
                .collect(),
        })
    }
}

/// The account's own settings records (lockout, session and password policies), keyed by
/// the account.
fn settings_keys(tenant: &str) -> [Vec<u8>; 5] {
    [
        setting::key::<super::lockout::LockoutPolicy>(Some(tenant)),
        setting::key::<session::StoredSessionPolicy>(Some(tenant)),
        setting::key::<super::password_policy::StoredPasswordPolicy>(Some(tenant)),
        setting::key::<super::password_policy::HistoryPolicy>(Some(tenant)),
        setting::key::<super::password_policy::RotationPolicy>(Some(tenant)),
    ]
}

/// Remove an account from everything that refers to it: memberships (a user left without
/// any account is deleted), the account's groups, roles, sessions, API tokens, access
/// tokens and settings. Records one event per token (its JWTs are void at sidecars).
pub fn delete_tenant(
    tx: &mut Tx<'_>,
    tenant: &str,
    snap: &TenantSnapshot,
    at: &str,
) -> Result<(), StoreError> {
    let account_roles: Vec<&str> = snap.roles.iter().map(|r| r.id.as_str()).collect();
    for id in &snap.users {
        let Some(mut u) = tx.get::<User>(id.as_bytes())? else {
            continue;
        };
        u.memberships.retain(|m| m.tenant_id != tenant);
        if u.active_tenant_id.as_deref() == Some(tenant) {
            u.active_tenant_id = u.memberships.first().map(|m| m.tenant_id.clone());
        }
        if u.memberships.is_empty() {
            tx.delete::<user::User>(u.id.as_bytes())?;
        } else {
            for m in &mut u.memberships {
                m.role_ids.retain(|r| !account_roles.contains(&r.as_str()));
            }
            tx.put(&u)?;
        }
    }
    for g in &snap.groups {
        tx.delete::<group::Group>(g.as_bytes())?;
    }
    super::invitation::void_links(tx, &snap.links)?;
    super::invitation::void_pending(tx, &snap.invites, Some(tenant))?;
    for r in &snap.roles {
        rbac::delete_role(tx, r)?;
    }
    end(
        tx,
        &snap.sessions,
        &snap.api_tokens,
        &snap.access_tokens,
        None,
        at,
    )?;
    for k in settings_keys(tenant) {
        tx.delete_raw(Tree::Environment, &k)?;
    }
    Ok(())
}
