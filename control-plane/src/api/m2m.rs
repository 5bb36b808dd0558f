//! What API tokens and access tokens share: who a user-token route acts for, expiry input,
//! and the rights a token carries (an account token's roles, or its user's current rights).

use axum::http::StatusCode;

use super::users::Catalog;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::http::caller::Caller;
use crate::model::authz;
use crate::model::event::{self, EventKind};
use crate::model::user::User;
use crate::state::AppState;
use crate::store::Record;

/// Role keys and permission keys.
pub(super) type Rights = (Vec<String>, Vec<String>);

pub(super) use crate::clock::rfc3339_of as time_of;

/// The user a user-token route acts for: the token's user, or `frontegg-user-id` with an
/// environment token (a member of the account).
pub(super) fn acting_user(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
) -> Result<String, ApiError> {
    match caller {
        Caller::User(u) => Ok(u.user.id.clone()),
        Caller::Env(e) => {
            let id = e.user_id.clone().ok_or_else(|| {
                ApiError::bad_request("frontegg-user-id is required with an environment token")
            })?;
            super::users::load_user(state, &id, Some(tenant))?;
            Ok(id)
        }
    }
}

/// `expiresInMinutes` (whole minutes, 1 to ten years) as a Unix expiry.
pub(super) fn expiry(now: i64, minutes: Option<f64>) -> Result<Option<i64>, ApiError> {
    match minutes {
        None => Ok(None),
        Some(m) if m.fract() == 0.0 && (1.0..=5_256_000.0).contains(&m) => {
            Ok(Some(now + (m as i64) * 60))
        }
        Some(_) => Err(ApiError::bad_request(
            "expiresInMinutes must be a whole number from 1 to 5256000",
        )),
    }
}

/// An account token's rights: its roles' keys and the keys of their permissions plus
/// `permission_ids`.
pub(super) fn role_rights(cat: &Catalog, role_ids: &[String], permission_ids: &[String]) -> Rights {
    let roles: Vec<_> = cat
        .roles
        .iter()
        .filter(|r| role_ids.contains(&r.id))
        .collect();
    let mut perm_ids: Vec<&String> = roles.iter().flat_map(|r| r.permission_ids.iter()).collect();
    perm_ids.extend(permission_ids.iter());
    let permissions = cat
        .permissions
        .iter()
        .filter(|p| perm_ids.contains(&&p.id))
        .map(|p| p.key.clone())
        .collect();
    (roles.iter().map(|r| r.key.clone()).collect(), permissions)
}

/// A user's current rights in an account with the user, or `None` when the user is gone,
/// locked or not an enabled member (its tokens are then inactive).
pub(super) fn user_rights(
    state: &AppState,
    cat: &Catalog,
    user_id: &str,
    tenant: &str,
) -> Result<Option<(Rights, User)>, ApiError> {
    let Some(u) = state.db.get::<User>(user_id.as_bytes())? else {
        return Ok(None);
    };
    if u.is_locked || u.membership(tenant).is_none_or(|m| m.disabled) {
        return Ok(None);
    }
    let eff = authz::effective(&u, tenant, &cat.roles, &cat.permissions, &cat.groups);
    Ok(Some(((eff.role_keys(), eff.permission_keys()), u)))
}

/// Check role and permission ids an account token may hold (roles of the environment or of
/// the account; at most 500 in all).
pub(super) fn check_ids(
    state: &AppState,
    tenant: &str,
    roles: &[String],
    perms: &[String],
) -> Result<(), ApiError> {
    let cat = Catalog::load(state)?;
    for r in roles {
        let ok = cat
            .roles
            .iter()
            .any(|x| x.id == *r && x.tenant_id.as_deref().is_none_or(|t| t == tenant));
        if !ok {
            return Err(ApiError::bad_request(format!("role {r} does not exist")));
        }
    }
    for p in perms {
        if !cat.permissions.iter().any(|x| x.id == *p) {
            return Err(ApiError::bad_request(format!(
                "permission {p} does not exist"
            )));
        }
    }
    if roles.len() + perms.len() > 500 {
        return Err(ApiError::bad_request("at most 500 roles and permissions"));
    }
    Ok(())
}

/// Delete the token record `id` of type `R` if `owned` accepts it (returning its account and
/// user), recording the event that revokes its JWTs at every sidecar (`subject` = `id`).
pub(super) async fn delete_owned<R: Record>(
    state: &AppState,
    id: &str,
    not_found: fn() -> ApiError,
    owned: impl Fn(&R) -> Option<(String, Option<String>)>,
) -> Result<StatusCode, ApiError> {
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            let (tenant, user) = tx
                .get::<R>(id.as_bytes())?
                .and_then(|t| owned(&t))
                .ok_or_else(not_found)?;
            tx.delete::<R>(id.as_bytes())?;
            event::record_about(
                tx,
                EventKind::ApiTokenDeleted,
                Some(&tenant),
                user.as_deref(),
                Some(id),
                &at,
            )?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::OK)
}
