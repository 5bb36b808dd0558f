//! What API tokens and access tokens share: who a user-token route acts for, expiry input,
//! and the rights a token carries (an account token's roles, or its user's current rights).

use super::users::Catalog;
use crate::error::ApiError;
use crate::http::caller::Caller;
use crate::model::authz;
use crate::model::user::User;
use crate::state::AppState;

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
