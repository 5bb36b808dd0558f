//! Self-service: the calling user's own profile, accounts and authorization. Environment
//! tokens reach these routes only with `frontegg-user-id` (and `frontegg-tenant-id`).

use axum::Json;
use axum::extract::State;
use axum::routing;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::dto::{self, UserResponse, user_response};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::extract::ApiJson;
use crate::http::reply::{self, PermissionReply, RoleReply, TenantReply};
use crate::model::user::change::{self, ProfileChange};
use crate::model::user::{self, User};

/// The calling user and the account in context.
fn me(state: &AppState, caller: &Caller) -> Result<(User, String), ApiError> {
    match caller {
        Caller::User(u) => Ok((u.user.clone(), u.tenant_id.clone())),
        Caller::Env(e) => {
            let id = e.user_id.as_deref().ok_or_else(|| {
                ApiError::bad_request("frontegg-user-id is required with an environment token")
            })?;
            let user = user::get_in(&state.db, id, e.tenant.as_deref())?;
            let tenant = e
                .tenant
                .clone()
                .or_else(|| user.login_tenant().map(str::to_owned))
                .ok_or_else(|| ApiError::bad_request("frontegg-tenant-id is required"))?;
            Ok((user, tenant))
        }
    }
}

/// The caller's profile with roles and permissions in the token's account.
pub(super) async fn get(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<UserResponse>, ApiError> {
    let (u, tenant) = me(&state, &caller)?;
    Ok(Json(dto::full(&state, &u, Some(&tenant))?))
}

/// The caller's profile (v3 shape).
pub(super) async fn get_v3(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<UserResponse>, ApiError> {
    let (u, tenant) = me(&state, &caller)?;
    Ok(Json(user_response(
        &state,
        &*state.catalog()?,
        &u,
        Some(&tenant),
        false,
    )?))
}

/// `{roles, permissions}`.
#[derive(Serialize)]
pub(super) struct AuthorizationReply {
    roles: Vec<RoleReply>,
    permissions: Vec<PermissionReply>,
}

/// The caller's effective roles and permissions (the same computation as tokens).
pub(super) async fn authorization(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<AuthorizationReply>, ApiError> {
    let (u, tenant) = me(&state, &caller)?;
    let cat = state.catalog()?;
    let eff = cat.effective(&u, &tenant)?;
    Ok(Json(AuthorizationReply {
        roles: eff
            .roles
            .into_iter()
            .map(|r| reply::role(&state, r))
            .collect(),
        permissions: eff
            .permissions
            .into_iter()
            .map(|p| reply::permission(p, &cat.roles))
            .collect(),
    }))
}

/// One of the caller's accounts.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MyTenant {
    tenant_id: String,
    name: String,
    id: String,
    is_disabled: bool,
}

/// The caller's accounts (v2: a bare array).
pub(super) async fn tenants(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<MyTenant>>, ApiError> {
    let (u, _) = me(&state, &caller)?;
    Ok(Json(
        accounts(&state, &u)
            .into_iter()
            .map(|(t, disabled)| MyTenant {
                tenant_id: t.tenant_id,
                name: t.name,
                id: t.id,
                is_disabled: disabled,
            })
            .collect(),
    ))
}

/// The user's accounts that exist, each with whether the user is disabled there.
fn accounts(state: &AppState, u: &User) -> Vec<(crate::model::tenant::Tenant, bool)> {
    u.memberships
        .iter()
        .filter_map(|m| {
            crate::model::tenant::get(&state.db, &m.tenant_id)
                .ok()
                .map(|t| (t, m.disabled))
        })
        .collect()
}

/// `GetCurrentUserTenantsResponse`: the caller's accounts and the one its token is for.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CurrentTenants {
    tenants: Vec<TenantReply>,
    active_tenant: TenantReply,
}

/// The caller's accounts with the active one (`users/v1/me/tenants`, and `users/v3/me/tenants`
/// outside the spec): what every v2/v3 login path of rest-api reads after a login
/// (`compat.md` §4.1).
pub(super) async fn current_tenants(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<CurrentTenants>, ApiError> {
    let (u, active) = me(&state, &caller)?;
    let mine = accounts(&state, &u);
    let active_tenant = mine
        .iter()
        .find(|(t, _)| t.tenant_id == active)
        .map(|(t, _)| TenantReply::from(t.clone()))
        .ok_or_else(|| {
            ApiError::forbidden("the token's account is not one of the user's accounts")
        })?;
    let tenants = mine.into_iter().map(|(t, _)| t.into()).collect();
    Ok(Json(CurrentTenants {
        tenants,
        active_tenant,
    }))
}

/// What a user may change about itself. Privileged fields are refused by name; anything
/// else unknown is ignored.
#[derive(Clone, Deserialize)]
pub(super) struct SelfUpdate {
    #[serde(flatten)]
    profile: ProfileChange,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

const PRIVILEGED: &[&str] = &[
    "superUser",
    "tenantId",
    "tenantIds",
    "roles",
    "roleIds",
    "isLocked",
    "verified",
    "mfaBypass",
    "email",
    "id",
    "sub",
    "invisible",
    "vendorMetadata",
    "tenants",
    "permissions",
    "externalId",
];

/// Update the caller's own profile (name, phone, picture, metadata).
pub(super) async fn update(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SelfUpdate>,
) -> Result<Json<UserResponse>, ApiError> {
    if let Some(field) = PRIVILEGED.iter().find(|f| req.rest.contains_key(**f)) {
        return Err(ApiError::bad_request(format!(
            "{field} cannot be changed here"
        )));
    }
    let (u, tenant) = me(&state, &caller)?;
    let saved = change::update(&state.db, &state.clock, &u.id, None, |u| {
        req.profile.apply(u)?;
        Ok(None)
    })
    .await?;
    Ok(Json(dto::full(&state, &saved, Some(&tenant))?))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV2_getUserProfile", get)
        .add("UsersControllerV3_getUserProfile", get_v3)
        .add("UsersControllerV1_getMeAuthorization", authorization)
        .add("UsersControllerV2_getUserTenants", tenants)
        .add("UsersControllerV1_getUserTenants", current_tenants)
        .add_extra(
            "/resources/users/v3/me/tenants",
            routing::get(current_tenants),
        )
        .add("UsersControllerV2_updateUserProfile", update)
        .add("UsersControllerV1_updateUser", update)
}
