//! Access tokens (`x-api-key`): the stored record. Its secret, an RS256 JWT whose `sub` is
//! the record's id, is never stored; the record carries the rights (an account token's
//! roles) or names the user whose current rights it has.

use serde::{Deserialize, Serialize};

use shared::claims::{AccessClaims, TokenType};

use super::api_token::Issuance;
use super::catalog::Catalog;
use super::m2m::{self, M2mError, Owner, Rights, account_rights, tenant_exists, user_rights};
use super::restrictions::Policies;
use crate::model::clock::{Clock, rfc3339};
use crate::model::event::Event;
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

fn not_found() -> M2mError {
    M2mError::NotFound("Access token")
}

/// A token to create (an account's roles already checked against what its creator may
/// confer; a user's carries none).
#[derive(Clone, Debug, Default)]
pub struct NewAccessToken {
    /// Free text.
    pub description: Option<String>,
    /// Role ids (account tokens).
    pub role_ids: Vec<String>,
    /// Whole minutes.
    pub expires_in_minutes: Option<f64>,
    /// The creating user, if a user created it.
    pub created_by: Option<String>,
}

/// Create `owner`'s access token (only under the `AccessToken` strategy), with never more
/// than `grantor` may confer; returns it with the claims of its secret, to be signed.
pub async fn create(
    db: &Db,
    clock: &Clock,
    owner: &Owner,
    grantor: crate::model::grant::Grantor<'_>,
    new: NewAccessToken,
    who: Issuance<'_>,
) -> Result<(AccessToken, AccessClaims), M2mError> {
    m2m::require_strategy(db, true)?;
    crate::model::tenant::require(db, &owner.tenant)?;
    if owner.user.is_none() {
        let cat = crate::model::rbac::Snapshot::read(db)?;
        crate::model::grant::token_rights(
            grantor,
            &cat.roles,
            &cat.permissions,
            &owner.tenant,
            &new.role_ids,
            &[],
        )?;
    }
    let now = clock.unix();
    let t = AccessToken {
        id: crate::crypto::new_uuid().to_string(),
        tenant_id: owner.tenant.clone(),
        user_id: owner.user.clone(),
        description: m2m::description(new.description.as_deref())?,
        role_ids: if owner.user.is_some() {
            Vec::new()
        } else {
            new.role_ids
        },
        created_by_user_id: new.created_by,
        created_at: rfc3339(clock.now()),
        expires_at: m2m::expiry(now, new.expires_in_minutes)?,
    };
    let claims = AccessClaims {
        sub: t.id.clone(),
        token_type: if t.user_id.is_some() {
            TokenType::UserAccessToken
        } else {
            TokenType::TenantAccessToken
        },
        tenant_id: t.tenant_id.clone(),
        tenant_ids: Vec::new(),
        roles: Vec::new(),
        permissions: Vec::new(),
        application_id: who.audience.to_owned(),
        iss: who.issuer.to_owned(),
        aud: who.audience.to_owned(),
        iat: now,
        exp: t.expires_at,
        sid: None,
        user_id: t.user_id.clone(),
        email: None,
        email_verified: None,
        name: None,
        profile_picture_url: None,
        metadata: None,
        super_user: None,
        acr: None,
        amr: None,
        auth_time: None,
        jti: None,
        nbf: None,
        act: None,
    };
    let at = rfc3339(clock.now());
    db.write(|tx| {
        tx.put(&t)?;
        Event::AccessTokenCreated {
            tenant: &t.tenant_id,
            user: t.user_id.as_deref(),
            id: &t.id,
        }
        .record(tx, &at)
    })
    .await?;
    Ok((t, claims))
}

/// `owner`'s access tokens, oldest first.
pub fn of_owner(db: &Db, owner: &Owner) -> Result<Vec<AccessToken>, M2mError> {
    let mut all: Vec<AccessToken> = db
        .scan::<AccessToken>(b"")?
        .into_iter()
        .filter(|t| owner.owns(&t.tenant_id, t.user_id.as_deref()))
        .collect();
    all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(all)
}

/// Delete `owner`'s access token: it stops counting at every sidecar.
pub async fn delete(db: &Db, clock: &Clock, owner: &Owner, id: &str) -> Result<(), M2mError> {
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let t = tx
            .get::<AccessToken>(id.as_bytes())?
            .filter(|t| owner.owns(&t.tenant_id, t.user_id.as_deref()))
            .ok_or_else(not_found)?;
        tx.delete::<AccessToken>(id.as_bytes())?;
        Event::TokenDeleted {
            tenant: &t.tenant_id,
            user: t.user_id.as_deref(),
            id,
        }
        .record(tx, &at)?;
        Ok(())
    })
    .await
}

/// The ids of every active user's (`users`) or account's access token, in `tenant` when
/// one is given.
pub fn active_ids(
    db: &Db,
    cat: &Catalog,
    policies: &Policies,
    users: bool,
    tenant: Option<&str>,
    now: i64,
) -> Result<Vec<String>, M2mError> {
    m2m::require_strategy(db, true)?;
    let mut out = Vec::new();
    for t in db.scan::<AccessToken>(b"")? {
        if t.user_id.is_some() != users || tenant.is_some_and(|h| h != t.tenant_id) {
            continue;
        }
        if rights(db, cat, policies, &t, now)?.is_some() {
            out.push(t.id);
        }
    }
    Ok(out)
}

/// An active token's record and current rights ([`M2mError::NotFound`] once it is not
/// active, or not of the kind asked for).
pub fn active(
    db: &Db,
    cat: &Catalog,
    policies: &Policies,
    id: &str,
    users: bool,
    now: i64,
) -> Result<(AccessToken, Rights), M2mError> {
    m2m::require_strategy(db, true)?;
    let t = db
        .get::<AccessToken>(id.as_bytes())?
        .filter(|t| t.user_id.is_some() == users)
        .ok_or_else(not_found)?;
    let (r, _) = rights(db, cat, policies, &t, now)?.ok_or_else(not_found)?;
    Ok((t, r))
}
