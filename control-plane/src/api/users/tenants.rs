//! A user's accounts: joining another, the active account, disabling in an account, moving
//! an account's users, statuses, sub-account access and the hierarchy.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::dto::{self, UserResponse};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::ListQuery;
use crate::model::grant;
use crate::model::tenant;
use crate::model::user::{self, change, list};

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TenantRequest {
    tenant_id: String,
}

/// Environment token: add the user to another account, with that account's default roles.
pub(super) async fn join(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TenantRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    caller.require(Perm::Environment)?;
    let t = tenant::id_of("tenantId", &req.tenant_id)?;
    let defaults = grant::default_role_ids(&state.catalog()?.roles, &t);
    let u = change::join(&state.db, &state.clock, &id, &t, &defaults).await?;
    Ok((StatusCode::CREATED, Json(dto::full(&state, &u, Some(&t))?)))
}

/// Environment token: set the account the user's tokens are issued for (a membership).
pub(super) async fn set_active(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TenantRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let t = tenant::id_of("tenantId", &req.tenant_id)?;
    let u = change::set_active_tenant(&state.db, &state.clock, &id, &t, false).await?;
    Ok(Json(dto::full(&state, &u, Some(&t))?))
}

/// User token: make another of the caller's accounts the active one (the next login or
/// refresh issues tokens for it).
pub(super) async fn switch_mine(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TenantRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let me = match &caller {
        Caller::User(u) => u.user.id.clone(),
        Caller::Env(e) => e
            .user_id
            .clone()
            .ok_or_else(|| ApiError::bad_request("frontegg-user-id is required"))?,
    };
    let t = tenant::id_of("tenantId", &req.tenant_id)?;
    let u = change::set_active_tenant(&state.db, &state.clock, &me, &t, true).await?;
    Ok(Json(dto::full(&state, &u, Some(&t))?))
}

/// `fe.secure.write.enableDisable`: disable (its tokens there stop) or enable a user in the
/// account; nobody disables or enables itself.
async fn set_disabled(
    caller: Caller,
    state: AppState,
    id: String,
    disabled: bool,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::WriteEnableDisable)?;
    let t = caller.tenant()?;
    if caller.user().is_some_and(|u| u.user.id == id) {
        return Err(ApiError::bad_request(
            "you cannot disable or enable yourself",
        ));
    }
    change::set_disabled(&state.db, &state.clock, &id, &t, disabled).await?;
    Ok(StatusCode::OK)
}

/// Disable the user in the account.
pub(super) async fn disable(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_disabled(caller, state, id, true).await
}

/// Enable the user in the account again.
pub(super) async fn enable(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_disabled(caller, state, id, false).await
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MigrateRequest {
    src_tenant_id: String,
    target_tenant_id: String,
}

/// Environment token: move every user of one account to another.
pub(super) async fn migrate(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<MigrateRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    let src = tenant::id_of("srcTenantId", &req.src_tenant_id)?;
    let dst = tenant::id_of("targetTenantId", &req.target_tenant_id)?;
    change::migrate(&state.db, &state.clock, &src, &dst).await?;
    Ok(StatusCode::OK)
}

/// `{tenantId, status}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TenantStatus {
    tenant_id: String,
    status: &'static str,
}

/// `{userId, tenantsStatuses}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserStatuses {
    user_id: String,
    tenants_statuses: Vec<TenantStatus>,
}

/// Environment token: each listed user's status in each of its accounts
/// (`NotActivated`, `PendingLogin`, `Activated`), optionally filtered by status.
pub(super) async fn statuses(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Vec<UserStatuses>>, ApiError> {
    caller.require(Perm::Environment)?;
    let ids = q.all("userIds");
    if ids.is_empty() || ids.len() > 200 {
        return Err(ApiError::bad_request("userIds: 1 to 200 user ids"));
    }
    let wanted = q.all("userTenantStatuses");
    if let Some(bad) = wanted.iter().find(|s| !list::STATUSES.contains(s)) {
        return Err(ApiError::bad_request(format!("unknown status {bad}")));
    }
    let mut out = Vec::new();
    for id in ids {
        let Ok(u) = user::get(&state.db, id) else {
            continue;
        };
        let tenants_statuses = u
            .memberships
            .iter()
            .map(|m| (m, list::status(&u, m)))
            .filter(|(_, s)| wanted.is_empty() || wanted.contains(s))
            .map(|(m, status)| TenantStatus {
                tenant_id: m.tenant_id.clone(),
                status,
            })
            .collect();
        out.push(UserStatuses {
            user_id: u.id,
            tenants_statuses,
        });
    }
    Ok(Json(out))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccessRequest {
    allow_access: bool,
}

/// `fe.account-hierarchy.write.subAccountAccess`: allow or deny a user of the account access
/// to its sub-accounts.
pub(super) async fn set_sub_account_access(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AccessRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::AccountHierarchyWriteSubAccountAccess)?;
    let t = caller.tenant()?;
    change::update(&state.db, &state.clock, &id, Some(&t), |u| {
        u.sub_account_access_allowed = req.allow_access;
        Ok(None)
    })
    .await?;
    Ok(StatusCode::OK)
}

/// One account in the hierarchy.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HierarchyNode {
    tenant_id: String,
    name: String,
    parent_tenant_id: Option<String>,
    children: Vec<HierarchyNode>,
}

/// User token: the caller's accounts as a hierarchy. Accounts have no parents yet, so each
/// is a root.
pub(super) async fn my_hierarchy(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<HierarchyNode>>, ApiError> {
    let user = caller
        .user()
        .ok_or_else(|| ApiError::bad_request("a user token is required"))?;
    let mut out = Vec::new();
    for m in &user.user.memberships {
        if let Ok(t) = tenant::get(&state.db, &m.tenant_id) {
            out.push(HierarchyNode {
                tenant_id: t.tenant_id,
                name: t.name,
                parent_tenant_id: None,
                children: Vec::new(),
            });
        }
    }
    Ok(Json(out))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_addUserToTenantForVendor", join)
        .add("UsersControllerV1_updateUserTenantForVendor", set_active)
        .add("UsersTenantsControllerV1_disableUserTenant", disable)
        .add("UsersTenantsControllerV1_enableUserTenant", enable)
        .add("UsersControllerV1_moveAllUsersTenants", migrate)
        .add("UsersControllerV1_updateUserTenant", switch_mine)
        .add("get", statuses)
        .add(
            "UsersControllerV1_setUserRolesFromSubTenants",
            set_sub_account_access,
        )
        .add("UsersControllerV2_getUserTenantsHierarchy", my_hierarchy)
}
