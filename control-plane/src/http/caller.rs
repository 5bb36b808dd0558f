//! `Caller`: who is calling a route that both caller classes use. An environment token acts
//! on the account named by `frontegg-tenant-id` (and the user named by `frontegg-user-id`);
//! a user token acts only in its own account, with its current effective permissions, and
//! no header ever widens its reach (`design.md` §2).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use shared::claims::{AccessClaims, TokenType};

use super::extract::{TenantHeader, bearer};
use crate::error::ApiError;
use crate::http::AppState;
use crate::model::authz::{self, Effective};
pub use crate::model::builtin::Perm;
use crate::model::session::Session;
use crate::model::user::User;

/// A management call with an environment token.
#[derive(Debug)]
pub struct EnvContext {
    /// `frontegg-tenant-id`, if sent.
    pub tenant: Option<String>,
    /// `frontegg-user-id`, if sent.
    pub user_id: Option<String>,
}

/// A self-service call with a user token, checked against the current state of the store.
#[derive(Debug)]
pub struct UserContext {
    /// The user, as stored now.
    pub user: User,
    /// The token's account (an enabled membership of the user).
    pub tenant_id: String,
    /// The token's session.
    pub session_id: Option<String>,
    /// What the user may do in that account, now.
    pub effective: Effective,
}

/// The caller of a route open to environment and user tokens.
#[derive(Debug)]
pub enum Caller {
    /// Environment (vendor) token.
    Env(EnvContext),
    /// User token.
    User(Box<UserContext>),
}

impl Caller {
    /// The first line of every handler: require `perm`. Environment tokens pass every check;
    /// a user token must hold the permission (wildcards count) — 403 otherwise — and is
    /// refused as unauthenticated (401) on [`Perm::Environment`] routes.
    pub fn require(&self, perm: Perm) -> Result<(), ApiError> {
        match (self, perm.key()) {
            (Caller::Env(_), _) => Ok(()),
            (Caller::User(_), None) => Err(unauthorized()),
            (Caller::User(u), Some(key)) if u.effective.allows(key) => Ok(()),
            (Caller::User(_), Some(key)) => {
                Err(ApiError::forbidden(format!("missing permission {key}")))
            }
        }
    }

    /// Who confers rights in this call ([`crate::model::grant`]).
    pub fn grantor(&self) -> crate::model::grant::Grantor<'_> {
        match self {
            Caller::Env(_) => crate::model::grant::Grantor::Environment,
            Caller::User(u) => crate::model::grant::Grantor::User(&u.effective),
        }
    }

    /// The ids of the roles `ids` names in `tenant`, if this caller may give (or take) them
    /// all: the one check of every route that hands roles over (users, groups).
    pub fn grantable_roles(
        &self,
        state: &AppState,
        tenant: &str,
        ids: &[String],
    ) -> Result<Vec<String>, ApiError> {
        let catalog = state.catalog()?;
        Ok(
            crate::model::grant::roles(self.grantor(), &catalog.roles, tenant, ids)?
                .into_iter()
                .map(|r| r.id)
                .collect(),
        )
    }

    /// The account the call acts on: the header for environment tokens (required here), the
    /// token's account for user tokens.
    pub fn tenant(&self) -> Result<String, ApiError> {
        match self {
            Caller::Env(e) => e.tenant.clone().ok_or_else(|| {
                ApiError::bad_request("frontegg-tenant-id is required with an environment token")
            }),
            Caller::User(u) => Ok(u.tenant_id.clone()),
        }
    }

    /// The account a route acts on, after `perm`: it must exist (404).
    pub fn account(&self, state: &AppState, perm: Perm) -> Result<String, ApiError> {
        self.require(perm)?;
        let tenant = self.tenant()?;
        crate::model::tenant::require(&state.db, &tenant)?;
        Ok(tenant)
    }

    /// The scope of a route for the environment or one account — settings, restrictions —
    /// after `perm`: an existing account (a user token's, or `frontegg-tenant-id`), or the
    /// environment (an environment token without the header).
    pub fn scope(&self, state: &AppState, perm: Perm) -> Result<Option<String>, ApiError> {
        self.require(perm)?;
        let tenant = self.tenant_opt();
        if let Some(t) = &tenant {
            crate::model::tenant::require(&state.db, t)?;
        }
        Ok(tenant)
    }

    /// The user a self-service route acts for in `tenant`: the token's user, or
    /// `frontegg-user-id` with an environment token (a member of the account).
    pub fn acting_user(&self, state: &AppState, tenant: &str) -> Result<String, ApiError> {
        match self {
            Caller::User(u) => Ok(u.user.id.clone()),
            Caller::Env(e) => {
                let id = e.user_id.clone().ok_or_else(|| {
                    ApiError::bad_request("frontegg-user-id is required with an environment token")
                })?;
                crate::model::user::get_in(&state.db, &id, Some(tenant))?;
                Ok(id)
            }
        }
    }

    /// The account for routes where it is optional for environment tokens.
    pub fn tenant_opt(&self) -> Option<String> {
        match self {
            Caller::Env(e) => e.tenant.clone(),
            Caller::User(u) => Some(u.tenant_id.clone()),
        }
    }

    /// The user a self-service route acts for, as stored, with the caller's session: the
    /// token's user, or `frontegg-user-id` with an environment token (no session then).
    pub fn me(&self, state: &AppState) -> Result<(User, Option<String>), ApiError> {
        match self {
            Caller::User(u) => Ok((u.user.clone(), u.session_id.clone())),
            Caller::Env(e) => {
                let id = e.user_id.clone().ok_or_else(|| {
                    ApiError::bad_request("frontegg-user-id is required with an environment token")
                })?;
                Ok((crate::model::user::get(&state.db, &id)?, None))
            }
        }
    }

    /// The user context, for self-service-only routes (401 for environment tokens without
    /// `frontegg-user-id`).
    pub fn user(&self) -> Option<&UserContext> {
        match self {
            Caller::User(u) => Some(u),
            Caller::Env(_) => None,
        }
    }
}

fn unauthorized() -> ApiError {
    ApiError::unauthorized("Unauthorized")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)?.ok_or_else(unauthorized)?.to_owned();
        let now = state.clock.unix();
        if token.starts_with("tev1.") {
            state.env.verify(&token, now).ok_or_else(unauthorized)?;
            let TenantHeader(tenant) = TenantHeader::from_request_parts(parts, state).await?;
            let user_id = parts
                .headers
                .get("frontegg-user-id")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    crate::model::tenant::parse_id(v)
                        .ok_or_else(|| ApiError::bad_request("frontegg-user-id must be a UUID"))
                })
                .transpose()?;
            return Ok(Caller::Env(EnvContext { tenant, user_id }));
        }
        let u = user_context(state, &token, now)?;
        // A user token is held to what its login was: the environment's and the account's
        // IP rules on the caller's address and the email-domain rules on the user's, on
        // every call (`security.md` M5). Environment tokens stay unrestricted (break-glass).
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        let ip = crate::http::guard::client_ip(state, peer, &parts.headers);
        crate::http::guard::check_ip(state, Some(&u.tenant_id), ip)?;
        crate::http::guard::check_email(state, &[&u.tenant_id], &u.user.email_norm)?;
        Ok(Caller::User(Box::new(u)))
    }
}

/// Verify a user token against the keys and the current store: signature, type, expiry,
/// the user (exists, not locked), the membership (exists, enabled), the session (alive).
pub fn user_context(state: &AppState, token: &str, now: i64) -> Result<UserContext, ApiError> {
    let claims: AccessClaims = state.issuer.verify(token).map_err(|_| unauthorized())?;
    if claims.token_type != TokenType::UserToken
        || claims.exp.is_none_or(|exp| exp <= now)
        || claims.iat > now + 60
    {
        return Err(unauthorized());
    }
    let user = state
        .db
        .get::<User>(claims.sub.as_bytes())?
        .ok_or_else(unauthorized)?;
    if user.is_locked
        || user.expired(now)
        || user
            .membership(&claims.tenant_id)
            .is_none_or(|m| m.disabled)
    {
        return Err(unauthorized());
    }
    if let Some(sid) = &claims.sid {
        let alive = state
            .db
            .get::<Session>(sid.as_bytes())?
            .is_some_and(|s| s.user_id == user.id && s.expires_at > now);
        if !alive {
            return Err(unauthorized());
        }
    }
    // The caller's rights from its own records only: its roles and groups by id, never the
    // environment's whole catalogue (`security.md` I2: one account's data cannot slow every
    // other account's requests).
    let groups = crate::model::group::granting_for(&state.db, &user.id, &claims.tenant_id)?;
    let effective = authz::effective(&user, &claims.tenant_id, &groups, &state.db)?;
    Ok(UserContext {
        user,
        tenant_id: claims.tenant_id,
        session_id: claims.sid,
        effective,
    })
}
