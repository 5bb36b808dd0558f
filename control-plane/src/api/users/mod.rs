//! Users and account membership (tags Users, User Management): management with an
//! environment token (target account from `frontegg-tenant-id`) and self-service with a user
//! token, gated by the built-in `fe.secure.*` permissions. A foreign user id answers 404.

mod dto;
mod manage;
mod me;
mod more;

pub(crate) use dto::Catalog;

use super::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::model::rbac::Role;
use crate::model::tenant::Tenant;
use crate::model::user::User;

pub(super) fn ops() -> Ops {
    manage::ops().merge(me::ops()).merge(more::ops())
}

pub(crate) fn user_not_found() -> ApiError {
    ApiError::not_found("User not found")
}

/// The user `id`, which must be a member of `tenant` when one is given (404 otherwise, so a
/// caller cannot learn about users of other accounts).
pub(crate) fn load_user(
    state: &AppState,
    id: &str,
    tenant: Option<&str>,
) -> Result<User, ApiError> {
    let user = state
        .db
        .get::<User>(id.as_bytes())?
        .ok_or_else(user_not_found)?;
    match tenant {
        Some(t) if user.membership(t).is_none() => Err(user_not_found()),
        _ => Ok(user),
    }
}

/// The account must exist.
pub(crate) fn require_tenant_exists(state: &AppState, tenant: &str) -> Result<(), ApiError> {
    if state.db.get::<Tenant>(tenant.as_bytes())?.is_none() {
        return Err(ApiError::not_found("Tenant not found"));
    }
    Ok(())
}

/// Resolve role ids for an assignment in `tenant` — each must be an environment role or one
/// of the account's — and check the caller may confer them ([`crate::model::grant`]: a user
/// only at or below its own best level; environment tokens any).
pub(crate) fn check_grantable(
    caller: &Caller,
    cat: &Catalog,
    tenant: &str,
    ids: &[String],
) -> Result<Vec<Role>, ApiError> {
    if ids.len() > 100 {
        return Err(ApiError::bad_request("at most 100 roles at once"));
    }
    let roles = resolve_roles(cat, tenant, ids)?;
    crate::model::grant::may_confer(caller.grantor(), &roles, &[])?;
    Ok(roles)
}

/// The roles named by `ids` (deduplicated, in order) among the environment's and `tenant`'s.
pub(crate) fn resolve_roles(
    cat: &Catalog,
    tenant: &str,
    ids: &[String],
) -> Result<Vec<Role>, ApiError> {
    let mut out: Vec<Role> = Vec::new();
    for id in ids {
        let role = cat
            .roles
            .iter()
            .find(|r| r.id == *id && r.tenant_id.as_deref().is_none_or(|t| t == tenant))
            .ok_or_else(|| {
                ApiError::bad_request(format!("role {id} does not exist in this account"))
            })?;
        if !out.iter().any(|r| r.id == role.id) {
            out.push(role.clone());
        }
    }
    Ok(out)
}

/// The default roles of an account: environment and account roles marked `isDefault`.
pub(crate) fn default_role_ids(cat: &Catalog, tenant: &str) -> Vec<String> {
    cat.roles
        .iter()
        .filter(|r| r.is_default && r.tenant_id.as_deref().is_none_or(|t| t == tenant))
        .map(|r| r.id.clone())
        .collect()
}

/// Validated changes to the profile fields both the management and the self-service update
/// may change: name, phone number, picture and metadata.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProfileChange {
    name: Option<String>,
    phone_number: Option<String>,
    profile_picture_url: Option<String>,
    metadata: Option<String>,
}

impl ProfileChange {
    /// Validate the given fields (absent ones stay unchanged).
    pub(crate) fn validate(
        name: Option<&str>,
        phone_number: Option<&str>,
        profile_picture_url: Option<&str>,
        metadata: Option<&serde_json::Value>,
    ) -> Result<Self, ApiError> {
        Ok(ProfileChange {
            name: name
                .map(|n| crate::model::text::checked("name", n, 255, false))
                .transpose()?,
            phone_number: phone_number
                .map(|p| crate::model::text::checked("phoneNumber", p, 32, false))
                .transpose()?,
            profile_picture_url: profile_picture_url
                .map(|p| crate::model::text::checked("profilePictureUrl", p, 2048, false))
                .transpose()?,
            metadata: metadata
                .map(|m| crate::model::user::metadata_text(Some(m)))
                .transpose()?,
        })
    }

    /// Apply to a user record.
    pub(crate) fn apply(&self, u: &mut User) {
        if let Some(v) = &self.name {
            u.name = v.clone();
        }
        if self.phone_number.is_some() {
            u.phone_number = self.phone_number.clone();
        }
        if self.profile_picture_url.is_some() {
            u.profile_picture_url = self.profile_picture_url.clone();
        }
        if let Some(v) = &self.metadata {
            u.metadata = v.clone();
        }
    }
}
