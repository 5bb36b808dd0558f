//! User DTOs: the shapes of `UserDto`/`UserV3Dto`/`CoreUserDto` and `UserCreatedResponse`,
//! built from the stored user plus the current roles and permissions. Roles inside user
//! objects are role **objects** (`compat.md` §5.3), metadata is JSON text.

use serde::Serialize;

use crate::error::ApiError;
use crate::http::AppState;
use crate::http::reply::{self, PermissionReply as PermissionResponse, RoleReply as RoleResponse};
use crate::model::authz;
use crate::model::catalog::Catalog;
use crate::model::user::User;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserTenantResponse {
    tenant_id: String,
    roles: Vec<RoleResponse>,
    is_disabled: bool,
    /// A temporary user's end (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    temporary_expiration_date: Option<String>,
}

/// `UserDto` (with `roles`/`permissions`) or `UserV3Dto` (without).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserResponse {
    id: String,
    email: String,
    name: String,
    profile_picture_url: Option<String>,
    sub: String,
    verified: bool,
    mfa_enrolled: bool,
    mfa_bypass: bool,
    phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<RoleResponse>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Vec<PermissionResponse>>,
    provider: &'static str,
    tenant_id: Option<String>,
    tenant_ids: Vec<String>,
    activated_for_tenant: bool,
    is_locked: bool,
    /// Disabled in the account in scope (`tenantId`): the team page reads it here.
    is_disabled: bool,
    tenants: Vec<UserTenantResponse>,
    invisible: bool,
    super_user: bool,
    metadata: String,
    vendor_metadata: String,
    external_id: Option<String>,
    created_at: String,
    last_login: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<GroupSummary>>,
    sub_account_access_allowed: bool,
    managed_by: &'static str,
    /// A temporary user's end (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    temporary_expiration_date: Option<String>,
}

/// Build the DTO of `user` as seen in `tenant` (its roles and permissions there); without a
/// tenant, the user's active account.
pub(super) fn user_response(
    state: &AppState,
    cat: &Catalog,
    user: &User,
    tenant: Option<&str>,
    with_authz: bool,
) -> Result<UserResponse, ApiError> {
    let tenant_id = tenant
        .map(str::to_owned)
        .or_else(|| user.login_tenant().map(str::to_owned));
    let eff = match (&tenant_id, with_authz) {
        (Some(t), true) => cat.effective(user, t)?,
        _ => authz::Effective::default(),
    };
    let is_disabled = tenant_id
        .as_deref()
        .and_then(|t| user.membership(t))
        .is_some_and(|m| m.disabled);
    let mut tenants = Vec::with_capacity(user.memberships.len());
    for m in &user.memberships {
        tenants.push(UserTenantResponse {
            tenant_id: m.tenant_id.clone(),
            roles: cat
                .direct(user, &m.tenant_id)?
                .roles
                .into_iter()
                .map(|r| reply::role(state, r))
                .collect(),
            is_disabled: m.disabled,
            temporary_expiration_date: user.expires_at.and_then(crate::model::clock::rfc3339_of),
        });
    }
    Ok(UserResponse {
        id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        profile_picture_url: user.profile_picture_url.clone(),
        sub: user.id.clone(),
        verified: user.verified,
        mfa_enrolled: false,
        mfa_bypass: user.mfa_bypass,
        phone_number: user.phone_number.clone(),
        roles: with_authz.then(|| {
            eff.roles
                .iter()
                .cloned()
                .map(|r| reply::role(state, r))
                .collect()
        }),
        permissions: with_authz.then(|| {
            eff.permissions
                .iter()
                .cloned()
                .map(|p| reply::permission(p, &cat.roles))
                .collect()
        }),
        provider: "local",
        tenant_id,
        tenant_ids: user.tenant_ids(),
        activated_for_tenant: user.verified,
        is_locked: user.is_locked,
        is_disabled,
        tenants,
        invisible: user.invisible,
        super_user: user.super_user,
        metadata: user.metadata.clone(),
        vendor_metadata: user.vendor_metadata.clone(),
        external_id: user.external_id.clone(),
        created_at: user.created_at.clone(),
        last_login: user.last_login.clone(),
        groups: with_authz.then(Vec::new),
        sub_account_access_allowed: user.sub_account_access_allowed,
        managed_by: "frontegg",
        temporary_expiration_date: user.expires_at.and_then(crate::model::clock::rfc3339_of),
    })
}

/// `UserCreatedResponse`, with role objects as clients expect.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserCreatedResponse {
    id: String,
    email: String,
    verified: bool,
    name: String,
    profile_picture_url: Option<String>,
    roles: Vec<RoleResponse>,
    permissions: Vec<String>,
    metadata: String,
    created_at: String,
    last_login: Option<String>,
    activated_for_tenant: bool,
    tenant_id: String,
}

pub(super) fn created_response(
    state: &AppState,
    cat: &Catalog,
    user: &User,
    tenant: &str,
) -> Result<UserCreatedResponse, ApiError> {
    let eff = cat.effective(user, tenant)?;
    Ok(UserCreatedResponse {
        id: user.id.clone(),
        email: user.email.clone(),
        verified: user.verified,
        name: user.name.clone(),
        profile_picture_url: user.profile_picture_url.clone(),
        permissions: eff.permission_keys(),
        roles: eff
            .roles
            .into_iter()
            .map(|r| reply::role(state, r))
            .collect(),
        metadata: user.metadata.clone(),
        created_at: user.created_at.clone(),
        last_login: user.last_login.clone(),
        activated_for_tenant: user.verified,
        tenant_id: tenant.to_owned(),
    })
}

/// A group as a user's reply names it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupSummary {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) color: Option<String>,
    pub(super) description: Option<String>,
}

/// The reply of `user` as seen in `tenant`, with its roles and permissions there.
pub(super) fn full(
    state: &AppState,
    user: &User,
    tenant: Option<&str>,
) -> Result<UserResponse, ApiError> {
    user_response(state, &*state.catalog()?, user, tenant, true)
}

/// `{tenantId, userId, roles}`: a user's own roles in an account.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserRolesReply {
    tenant_id: String,
    user_id: String,
    roles: Vec<RoleResponse>,
}

/// A user's own roles in `tenant` (not its groups').
pub(super) fn roles_in(
    state: &AppState,
    cat: &Catalog,
    u: &User,
    tenant: &str,
) -> Result<UserRolesReply, ApiError> {
    Ok(UserRolesReply {
        tenant_id: tenant.to_owned(),
        user_id: u.id.clone(),
        roles: cat
            .direct(u, tenant)?
            .roles
            .into_iter()
            .map(|r| reply::role(state, r))
            .collect(),
    })
}

/// The users a portal lookup names (`users/emails`, `usernames`, `users/phone-numbers/v2`):
/// those of `ids` (`userIds`, comma-joined or repeated), else the account's members — every
/// user for an environment token without an account — kept to the account in `scope`.
pub(super) fn looked_up(
    state: &AppState,
    scope: Option<&str>,
    ids: &[&str],
) -> Result<Vec<User>, ApiError> {
    let mut users: Vec<User> = if ids.is_empty() {
        match scope {
            Some(t) => crate::model::user::members(&state.db, t)?,
            None => state.db.scan::<User>(b"")?,
        }
    } else {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(u) = state.db.get::<User>(id.as_bytes())? {
                out.push(u);
            }
        }
        out
    };
    users.retain(|u| scope.is_none_or(|t| u.membership(t).is_some()));
    Ok(users)
}
