//! Client-credentials API tokens (an account's, or a user's in an account): the secret is
//! stored only as SHA-256 (it is 256 random bits), and the token's live refresh tokens —
//! at most [`MAX_REFRESH`], oldest evicted first — live in the same record, so a login or a
//! refresh is one atomic update.

use serde::{Deserialize, Serialize};

use shared::claims::AccessClaims;

use super::catalog::Catalog;
use super::m2m::{self, M2mError, Owner};
use super::restrictions::Policies;
use crate::crypto::{ct_eq, hex, sha256};
use crate::model::clock::{Clock, rfc3339, rfc3339_of};
use crate::model::event::Event;
use crate::store::{Db, Record, Tree};

/// Live refresh tokens per API token; the next login evicts the oldest.
pub const MAX_REFRESH: usize = 100;

/// One live refresh token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshEntry {
    /// Hex SHA-256 of the random part.
    pub digest: String,
    /// Unix seconds.
    pub issued_at: i64,
}

/// A stored API token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    /// The client id (UUID): the token's identity and the JWT's `sub`.
    pub client_id: String,
    /// Hex SHA-256 of the secret.
    pub secret_sha256: String,
    /// The account.
    pub tenant_id: String,
    /// The user, for a user's token.
    pub user_id: Option<String>,
    /// Free text.
    pub description: String,
    /// Encoded into the JWT.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Role ids (account tokens).
    pub role_ids: Vec<String>,
    /// Permission ids (account tokens, when no roles are given).
    pub permission_ids: Vec<String>,
    /// Who created it, when a user did.
    pub created_by_user_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Unix seconds after which it is refused; `None`: never.
    pub expires_at: Option<i64>,
    /// Live refresh tokens, oldest first.
    #[serde(default)]
    pub refresh: Vec<RefreshEntry>,
    /// JWTs of this token issued at or before this Unix second are revoked at sidecars
    /// (its rights were reduced). Later ones are issued after it — `iat` can be a second or
    /// two ahead of the clock, within every leeway — so they are not caught by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_through: Option<i64>,
}

impl ApiToken {
    /// The `iat` of a JWT issued `now`: after every revocation of this token's JWTs.
    pub fn issued_at(&self, now: i64) -> i64 {
        self.revoked_through.map_or(now, |r| now.max(r + 1))
    }

    /// Revoke every JWT issued so far (none was issued after `max(now, revoked_through + 1)`)
    /// and return the second a revocation entry must name.
    pub fn revoke_issued(&mut self, now: i64) -> i64 {
        let through = self.revoked_through.map_or(now, |r| now.max(r + 1));
        self.revoked_through = Some(through);
        through
    }
}

impl Record for ApiToken {
    const TREE: Tree = Tree::ApiTokens;
    fn key(&self) -> Vec<u8> {
        self.client_id.as_bytes().to_vec()
    }
}

/// Hex SHA-256 of a secret or refresh value.
pub fn digest(value: &str) -> String {
    hex(&sha256(value.as_bytes()))
}

impl ApiToken {
    /// Whether `secret` is this token's (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        ct_eq(digest(secret).as_bytes(), self.secret_sha256.as_bytes())
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }

    /// Add a refresh token (its random part), evicting the oldest beyond [`MAX_REFRESH`].
    pub fn add_refresh(&mut self, random: &str, now: i64) {
        self.refresh.push(RefreshEntry {
            digest: digest(random),
            issued_at: now,
        });
        while self.refresh.len() > MAX_REFRESH {
            self.refresh.remove(0);
        }
    }

    /// Take a live refresh token out (single use). `false` if it is not live.
    pub fn take_refresh(&mut self, random: &str) -> bool {
        let d = digest(random);
        match self
            .refresh
            .iter()
            .position(|e| ct_eq(e.digest.as_bytes(), d.as_bytes()))
        {
            Some(i) => {
                self.refresh.remove(i);
                true
            }
            None => false,
        }
    }
}

fn not_found() -> M2mError {
    M2mError::NotFound("API token")
}

/// An API token's metadata travels in each of its JWTs: 8 KiB at most.
fn metadata(
    v: Option<&serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, M2mError> {
    Ok(crate::model::json::object("metadata", v, 8 * 1024)?)
}

/// A token to create: for an account, with roles (which win) or permissions, already
/// checked against what the creator may confer; for a user, with none.
#[derive(Clone, Debug, Default)]
pub struct NewApiToken {
    /// Free text.
    pub description: Option<String>,
    /// A JSON object.
    pub metadata: Option<serde_json::Value>,
    /// Role ids.
    pub role_ids: Vec<String>,
    /// Permission ids (only without roles).
    pub permission_ids: Vec<String>,
    /// Whole minutes.
    pub expires_in_minutes: Option<f64>,
    /// The creating user, if a user created it.
    pub created_by: Option<String>,
}

/// Create `owner`'s token, never with more than `grantor` may confer; returns it with its
/// secret (shown once, stored as a digest).
pub async fn create(
    db: &Db,
    clock: &Clock,
    owner: &Owner,
    grantor: crate::model::grant::Grantor<'_>,
    new: NewApiToken,
) -> Result<(ApiToken, String), M2mError> {
    crate::model::tenant::require(db, &owner.tenant)?;
    let (role_ids, permission_ids) = match &owner.user {
        // A user's token has its user's rights, read at each login.
        Some(_) => (Vec::new(), Vec::new()),
        None if new.role_ids.is_empty() => (Vec::new(), new.permission_ids),
        None => (new.role_ids, Vec::new()),
    };
    if owner.user.is_none() {
        check_rights(db, grantor, &owner.tenant, &role_ids, &permission_ids)?;
    }
    let secret = crate::crypto::random_secret_hex();
    let t = ApiToken {
        client_id: crate::crypto::new_uuid().to_string(),
        secret_sha256: digest(&secret),
        tenant_id: owner.tenant.clone(),
        user_id: owner.user.clone(),
        description: m2m::description(new.description.as_deref())?,
        metadata: metadata(new.metadata.as_ref())?,
        role_ids,
        permission_ids,
        created_by_user_id: new.created_by,
        created_at: rfc3339(clock.now()),
        expires_at: m2m::expiry(clock.unix(), new.expires_in_minutes)?,
        refresh: Vec::new(),
        revoked_through: None,
    };
    db.write(|tx| tx.put(&t)).await?;
    Ok((t, secret))
}

/// `owner`'s tokens, oldest first.
pub fn of_owner(db: &Db, owner: &Owner) -> Result<Vec<ApiToken>, M2mError> {
    let mut all: Vec<ApiToken> = db
        .scan::<ApiToken>(b"")?
        .into_iter()
        .filter(|t| owner.owns(&t.tenant_id, t.user_id.as_deref()))
        .collect();
    all.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then(a.client_id.cmp(&b.client_id))
    });
    Ok(all)
}

/// A change to an account token (rights already checked against the caller's).
#[derive(Clone, Debug, Default)]
pub struct ApiTokenChange {
    /// Free text.
    pub description: Option<String>,
    /// A JSON object.
    pub metadata: Option<serde_json::Value>,
    /// New role ids.
    pub role_ids: Option<Vec<String>>,
    /// New permission ids.
    pub permission_ids: Option<Vec<String>>,
}

/// The rights an account token is to carry, checked: they exist and `grantor` may confer
/// them.
fn check_rights(
    db: &Db,
    grantor: crate::model::grant::Grantor<'_>,
    tenant: &str,
    role_ids: &[String],
    permission_ids: &[String],
) -> Result<(), M2mError> {
    let cat = crate::model::rbac::Snapshot::read(db)?;
    crate::model::grant::token_rights(
        grantor,
        &cat.roles,
        &cat.permissions,
        tenant,
        role_ids,
        permission_ids,
    )?;
    Ok(())
}

/// Change an account token of `tenant` (new rights never more than `grantor` may confer);
/// rights apply from its next login or refresh, and rights taken away void the JWTs already
/// issued ([`Event::ApiTokenRightsReduced`]).
pub async fn update(
    db: &Db,
    clock: &Clock,
    tenant: &str,
    grantor: crate::model::grant::Grantor<'_>,
    id: &str,
    c: &ApiTokenChange,
) -> Result<ApiToken, M2mError> {
    check_rights(
        db,
        grantor,
        tenant,
        c.role_ids.as_deref().unwrap_or_default(),
        c.permission_ids.as_deref().unwrap_or_default(),
    )?;
    let description = c
        .description
        .as_deref()
        .map(|d| m2m::description(Some(d)))
        .transpose()?;
    let meta = c.metadata.as_ref().map(|m| metadata(Some(m))).transpose()?;
    let at = rfc3339(clock.now());
    let now = clock.unix();
    db.write(|tx| {
        let mut t = tx
            .get::<ApiToken>(id.as_bytes())?
            .filter(|t| t.tenant_id == tenant && t.user_id.is_none())
            .ok_or_else(not_found)?;
        if let Some(d) = &description {
            t.description = d.clone();
        }
        if let Some(m) = &meta {
            t.metadata = m.clone();
        }
        let before = (t.role_ids.clone(), t.permission_ids.clone());
        if let Some(r) = &c.role_ids {
            t.role_ids = r.clone();
        }
        if let Some(p) = &c.permission_ids {
            t.permission_ids = p.clone();
        }
        let shrinks = before.0.iter().any(|r| !t.role_ids.contains(r))
            || before.1.iter().any(|p| !t.permission_ids.contains(p));
        if shrinks {
            let through = t.revoke_issued(now);
            Event::ApiTokenRightsReduced {
                tenant: &t.tenant_id,
                client_id: &t.client_id,
            }
            .record(tx, &rfc3339_of(through).unwrap_or_else(|| at.clone()))?;
        }
        tx.put(&t)?;
        Ok(t)
    })
    .await
}

/// Delete `owner`'s token: its refresh tokens die with it and every JWT it issued is
/// revoked at every sidecar.
pub async fn delete(db: &Db, clock: &Clock, owner: &Owner, id: &str) -> Result<(), M2mError> {
    let now = clock.unix();
    db.write(|tx| {
        let mut t = tx
            .get::<ApiToken>(id.as_bytes())?
            .filter(|t| owner.owns(&t.tenant_id, t.user_id.as_deref()))
            .ok_or_else(not_found)?;
        tx.delete::<ApiToken>(id.as_bytes())?;
        let through = t.revoke_issued(now);
        Event::TokenDeleted {
            tenant: &t.tenant_id,
            user: t.user_id.as_deref(),
            id,
        }
        .record(tx, &rfc3339_of(through).unwrap_or_default())?;
        Ok(())
    })
    .await
}

/// A login or refresh that went through: the token as stored and the random part of its new
/// refresh token.
pub struct Granted {
    /// The token.
    pub token: ApiToken,
    /// The new refresh token's random part (`<clientId>.<random>` on the wire).
    pub refresh: String,
}

/// Log in with `{clientId, secret}`: adds a refresh token (the 101st evicts the oldest).
pub async fn login(
    db: &Db,
    clock: &Clock,
    client_id: &str,
    secret: &str,
) -> Result<Granted, M2mError> {
    m2m::require_strategy(db, false)?;
    let now = clock.unix();
    let random = crate::model::otp::new_token();
    let id = crate::model::tenant::parse_id(client_id).ok_or(M2mError::Refused)?;
    let token = db
        .write(|tx| {
            let Some(mut t) = tx.get::<ApiToken>(id.as_bytes())? else {
                return Ok(None);
            };
            if !t.secret_matches(secret) || t.expired(now) {
                return Ok(None);
            }
            t.add_refresh(&random, now);
            tx.put(&t)?;
            Ok::<_, M2mError>(Some(t))
        })
        .await?
        .ok_or(M2mError::Refused)?;
    Ok(Granted {
        token,
        refresh: random,
    })
}

/// Refresh with `<clientId>.<random>` (single use): a new refresh token.
pub async fn refresh(db: &Db, clock: &Clock, refresh_token: &str) -> Result<Granted, M2mError> {
    m2m::require_strategy(db, false)?;
    let now = clock.unix();
    let (id, old) = refresh_token.split_once('.').ok_or(M2mError::Refused)?;
    let id = crate::model::tenant::parse_id(id).ok_or(M2mError::Refused)?;
    let random = crate::model::otp::new_token();
    let token = db
        .write(|tx| {
            let Some(mut t) = tx.get::<ApiToken>(id.as_bytes())? else {
                return Ok(None);
            };
            if t.expired(now) || !t.take_refresh(old) {
                return Ok(None);
            }
            t.add_refresh(&random, now);
            tx.put(&t)?;
            Ok::<_, M2mError>(Some(t))
        })
        .await?
        .ok_or(M2mError::Refused)?;
    Ok(Granted {
        token,
        refresh: random,
    })
}

/// Who issues and who accepts the environment's JWTs.
#[derive(Clone, Copy, Debug)]
pub struct Issuance<'a> {
    /// `iss`: the public URL.
    pub issuer: &'a str,
    /// `aud`: the environment's client id.
    pub audience: &'a str,
    /// `applicationId`: the default application (the client id) or an assigned one
    /// (`model::application::for_token`).
    pub application: &'a str,
    /// Access-token lifetime, seconds.
    pub ttl: i64,
}

/// The claims of a JWT issued for `t` at `now`: an account token carries its roles' (or its
/// own) permissions; a user's token its user's current rights in the account — refused when
/// the user is locked, gone or no longer an enabled member, or the account is gone.
pub fn claims(
    db: &Db,
    cat: &Catalog,
    policies: &Policies,
    t: &ApiToken,
    now: i64,
    who: Issuance<'_>,
) -> Result<crate::model::jwt_template::Shaped, M2mError> {
    let (token_type, (roles, permissions), user) = match &t.user_id {
        None => (
            shared::claims::TokenType::TenantApiToken,
            m2m::account_rights(db, cat, &t.tenant_id, &t.role_ids, &t.permission_ids)?
                .ok_or(M2mError::Refused)?,
            None,
        ),
        Some(uid) => {
            let (rights, u) =
                m2m::user_rights(db, cat, policies, uid, &t.tenant_id)?.ok_or(M2mError::Refused)?;
            (shared::claims::TokenType::UserApiToken, rights, Some(u))
        }
    };
    let facts = crate::model::jwt_template::Facts {
        user_id: t.user_id.as_deref(),
        email: user.as_ref().map(|u| u.email.as_str()),
        tenant_id: &t.tenant_id,
        application_id: who.application,
        token_type,
        role_ids: &t.role_ids,
    };
    crate::model::jwt_template::shape(db, &facts, who.ttl, |ttl| {
        let exp = match t.expires_at {
            Some(e) => (now + ttl).min(e),
            None => now + ttl,
        };
        Ok(AccessClaims {
            sub: t.client_id.clone(),
            token_type,
            tenant_id: t.tenant_id.clone(),
            tenant_ids: Vec::new(),
            roles,
            permissions,
            application_id: who.application.to_owned(),
            iss: who.issuer.to_owned(),
            aud: who.audience.to_owned(),
            iat: t.issued_at(now),
            exp: Some(exp),
            sid: None,
            user_id: user.as_ref().map(|u| u.id.clone()),
            email: user
                .as_ref()
                .map(|u| u.email.clone())
                .filter(|e| !e.is_empty()),
            email_verified: None,
            name: None,
            profile_picture_url: None,
            metadata: Some(t.metadata.clone()),
            super_user: None,
            acr: None,
            amr: None,
            auth_time: None,
            jti: None,
            nbf: None,
            act: None,
        })
    })
}
