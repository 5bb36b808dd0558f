//! Access tokens (`x-api-key`): the stored record. Its secret, an RS256 JWT whose `sub` is
//! the record's id, is never stored; the record carries the rights (an account token's
//! roles) or names the user whose current rights it has.

use serde::{Deserialize, Serialize};

use super::catalog::Catalog;
use super::m2m::{Rights, account_rights, tenant_exists, user_rights};
use super::restrictions::Policies;
use crate::store::{Db, Record, StoreError, Tree};

/// A stored access token (its secret, a JWT, is never stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessToken {
    /// UUID; the JWT's `sub`.
    pub id: String,
    /// The account.
    pub tenant_id: String,
    /// The user, for a user's token.
    pub user_id: Option<String>,
    /// Free text.
    pub description: String,
    /// Role ids (account tokens).
    pub role_ids: Vec<String>,
    /// Who created it, when a user did.
    pub created_by_user_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Unix seconds; `None`: never expires.
    pub expires_at: Option<i64>,
}

impl Record for AccessToken {
    const TREE: Tree = Tree::AccessTokens;
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}

/// A token's current rights (and, for a user's token, its user's normalised address), or
/// `None` when it is not active: expired, its account gone, or for a user's token the user
/// gone, locked, no longer an enabled member or refused by the email-domain rules.
pub fn rights(
    db: &Db,
    cat: &Catalog,
    policies: &Policies,
    t: &AccessToken,
    now: i64,
) -> Result<Option<(Rights, Option<String>)>, StoreError> {
    if t.expires_at.is_some_and(|e| now >= e) || !tenant_exists(db, &t.tenant_id)? {
        return Ok(None);
    }
    Ok(match &t.user_id {
        None => account_rights(db, cat, &t.tenant_id, &t.role_ids, &[])?.map(|r| (r, None)),
        Some(uid) => user_rights(db, cat, policies, uid, &t.tenant_id)?
            .map(|(r, u)| (r, Some(u.email_norm).filter(|e| !e.is_empty()))),
    })
}

/// Every active access token with its current rights: what sidecars honour.
pub fn active_records(
    db: &Db,
    cat: &Catalog,
    policies: &Policies,
    now: i64,
) -> Result<Vec<shared::wire::AccessTokenRecord>, StoreError> {
    let mut out = Vec::new();
    for t in db.scan::<AccessToken>(b"")? {
        if let Some(((roles, permissions), email)) = rights(db, cat, policies, &t, now)? {
            out.push(shared::wire::AccessTokenRecord {
                id: t.id,
                tenant_id: t.tenant_id,
                user_id: t.user_id,
                roles,
                permissions,
                expires_at: t.expires_at,
                email,
            });
        }
    }
    Ok(out)
}
