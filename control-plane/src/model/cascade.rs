//! Cascades that span record types. Each takes a snapshot read before the transaction (the
//! store has no scans inside transactions) and re-reads every record it changes inside it,
//! so a concurrent change to one of them is not lost.

use super::group::{self, Group};
use super::rbac::{self, Role};
use super::session::Session;
use super::user::{self, User};
use crate::store::{Db, StoreError, Tree, Tx};

/// What refers to one account.
pub struct TenantSnapshot {
    users: Vec<String>,
    groups: Vec<String>,
    roles: Vec<Role>,
    sessions: Vec<Session>,
}

impl TenantSnapshot {
    /// Read everything that refers to `tenant`.
    pub fn read(db: &Db, tenant: &str) -> Result<Self, StoreError> {
        Ok(TenantSnapshot {
            users: db
                .scan::<User>(b"")?
                .into_iter()
                .filter(|u| u.membership(tenant).is_some())
                .map(|u| u.id)
                .collect(),
            groups: group::all(db)?
                .into_iter()
                .filter(|g| g.tenant_id == tenant)
                .map(|g| g.id)
                .collect(),
            roles: rbac::all_roles(db)?
                .into_iter()
                .filter(|r| r.tenant_id.as_deref() == Some(tenant))
                .collect(),
            sessions: db
                .scan::<Session>(b"")?
                .into_iter()
                .filter(|s| s.tenant_id == tenant)
                .collect(),
        })
    }
}

/// Remove an account from everything that refers to it: memberships (a user left without
/// any account is deleted), the account's groups, roles and sessions.
pub fn delete_tenant(
    tx: &mut Tx<'_>,
    tenant: &str,
    snap: &TenantSnapshot,
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
            user::delete_user(tx, &u)?;
        } else {
            for m in &mut u.memberships {
                m.role_ids.retain(|r| !account_roles.contains(&r.as_str()));
            }
            tx.put(&u)?;
        }
    }
    for g in &snap.groups {
        tx.delete::<Group>(g.as_bytes())?;
    }
    for r in &snap.roles {
        rbac::delete_role(tx, r)?;
    }
    for s in &snap.sessions {
        tx.delete_raw(Tree::RefreshTokens, s.refresh_sha256.as_bytes())?;
        tx.delete::<Session>(s.id.as_bytes())?;
    }
    Ok(())
}
