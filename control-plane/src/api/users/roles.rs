//! A user's roles: granting and taking them in the account (at or below the caller's
//! level), the roles and groups of listed users, and bulk changes across accounts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::dto::{self, UserRolesReply};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::{ApiJson, RoleIds};
use crate::http::page::ListQuery;
use crate::model::user::User;
use crate::model::user::change::{self, BulkRoles, BulkRolesTask};

/// `fe.secure.write.usersRoles`: grant roles in the account.
pub(super) async fn add(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleIds>,
) -> Result<(StatusCode, Json<UserRolesReply>), ApiError> {
    caller.require(Perm::WriteUsersRoles)?;
    let tenant = caller.tenant()?;
    let roles = caller.grantable_roles(&state, &tenant, &req.role_ids)?;
    let u = change::add_roles(&state.db, &state.clock, &id, &tenant, &roles).await?;
    let cat = state.catalog()?;
    Ok((
        StatusCode::CREATED,
        Json(dto::roles_in(&state, &cat, &u, &tenant)?),
    ))
}

/// `fe.secure.delete.usersRoles`: take roles away in the account (same level rule); the
/// user's earlier tokens carry too much from now on.
pub(super) async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleIds>,
) -> Result<Json<UserRolesReply>, ApiError> {
    caller.require(Perm::DeleteUsersRoles)?;
    let tenant = caller.tenant()?;
    let roles = caller.grantable_roles(&state, &tenant, &req.role_ids)?;
    let u = change::remove_roles(&state.db, &state.clock, &id, &tenant, &roles).await?;
    let cat = state.catalog()?;
    Ok(Json(dto::roles_in(&state, &cat, &u, &tenant)?))
}

/// The team service's member update (`PUT team/resources/members/v1`, outside the spec):
/// the roles the user should hold in the account; `['']` means none.
#[derive(Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MemberUpdate {
    id: String,
    #[serde(default)]
    role_ids: Option<Vec<String>>,
}

/// `{item}`: the updated member.
#[derive(Serialize)]
pub(super) struct MemberReply {
    item: dto::UserResponse,
}

/// `fe.secure.write.usersRoles` (and `fe.secure.delete.usersRoles` to take any away): make the
/// member's roles in the account the listed ones — the admin portal's team page
/// (`api.teams.updateUser`). Roles given and taken are both checked by the granting rule.
pub(super) async fn update_member(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<MemberUpdate>,
) -> Result<Json<MemberReply>, ApiError> {
    caller.require(Perm::WriteUsersRoles)?;
    let tenant = caller.tenant()?;
    let u = crate::model::user::get_in(&state.db, &req.id, Some(&tenant))?;
    let cat = state.catalog()?;
    if let Some(ids) = &req.role_ids {
        let wanted: Vec<String> = ids.iter().filter(|r| !r.is_empty()).cloned().collect();
        let held: Vec<String> = cat
            .direct(&u, &tenant)?
            .roles
            .into_iter()
            .map(|r| r.id)
            .collect();
        let add: Vec<String> = wanted
            .iter()
            .filter(|r| !held.contains(r))
            .cloned()
            .collect();
        let remove: Vec<String> = held
            .iter()
            .filter(|r| !wanted.contains(r))
            .cloned()
            .collect();
        if !remove.is_empty() {
            caller.require(Perm::DeleteUsersRoles)?;
        }
        let add = caller.grantable_roles(&state, &tenant, &add)?;
        let remove = caller.grantable_roles(&state, &tenant, &remove)?;
        change::change_roles(&state.db, &state.clock, &u.id, &tenant, &add, &remove).await?;
    }
    let u = crate::model::user::get_in(&state.db, &req.id, Some(&tenant))?;
    let cat = state.catalog()?;
    Ok(Json(MemberReply {
        item: dto::user_response(&state, &cat, &u, Some(&tenant), true)?,
    }))
}

/// The users named by `ids` that are members of the caller's account (others skipped).
fn users_by_ids(
    state: &AppState,
    caller: &Caller,
    q: &ListQuery,
) -> Result<(String, Vec<User>), ApiError> {
    caller.require(Perm::ReadUsers)?;
    let tenant = caller.tenant()?;
    let ids = q.all("ids");
    if ids.is_empty() || ids.len() > 200 {
        return Err(ApiError::bad_request("ids: 1 to 200 user ids"));
    }
    let mut out = Vec::new();
    for id in ids {
        if let Ok(u) = crate::model::user::get_in(&state.db, id, Some(&tenant)) {
            out.push(u);
        }
    }
    Ok((tenant, out))
}

/// `{userId, roleIds}`: the team page reads `roleIds` (`GetUserRolesResponse`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RolesOfUser {
    user_id: String,
    role_ids: Vec<String>,
}

/// `fe.secure.read.users`: the roles each listed user holds in the account itself (the ones
/// the team page edits; roles through groups show on the group).
pub(super) async fn of_users(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Vec<RolesOfUser>>, ApiError> {
    let (tenant, users) = users_by_ids(&state, &caller, &q)?;
    let cat = state.catalog()?;
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        let role_ids = cat
            .direct(&u, &tenant)?
            .roles
            .into_iter()
            .map(|r| r.id)
            .collect();
        out.push(RolesOfUser {
            user_id: u.id,
            role_ids,
        });
    }
    Ok(Json(out))
}

/// `{userId, groupIds}` (`GetUserGroupsResponse`; the team page reads `groupIds`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupsOfUser {
    user_id: String,
    group_ids: Vec<String>,
}

/// `fe.secure.read.users`: each listed user's groups in the account.
pub(super) async fn groups_of_users(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Vec<GroupsOfUser>>, ApiError> {
    let (tenant, users) = users_by_ids(&state, &caller, &q)?;
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        let group_ids = crate::model::group::of_user(&state.db, &u.id)?
            .into_iter()
            .filter(|g| g.tenant_id == tenant)
            .map(|g| g.id)
            .collect();
        out.push(GroupsOfUser {
            user_id: u.id,
            group_ids,
        });
    }
    Ok(Json(out))
}

/// The summary of a bulk role change.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BulkReply {
    user_id: String,
    affected_tenants: usize,
    roles_added: Vec<String>,
    roles_removed: Vec<String>,
    task_id: String,
}

/// Environment token: add and remove roles in every account of the user (or the listed
/// ones), in one transaction.
pub(super) async fn bulk(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<BulkRoles>,
) -> Result<Json<BulkReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let task = change::bulk_roles(&state.db, &state.clock, &id, &req).await?;
    Ok(Json(BulkReply {
        user_id: task.user_id,
        affected_tenants: task.processed_tenants,
        roles_added: task.added_role_ids,
        roles_removed: task.removed_role_ids,
        task_id: task.id,
    }))
}

/// A bulk role change's status.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TaskReply {
    id: String,
    user_id: String,
    status: String,
    total_tenants: usize,
    processed_tenants: usize,
    added_role_ids: Vec<String>,
    removed_role_ids: Vec<String>,
}

impl From<BulkRolesTask> for TaskReply {
    fn from(t: BulkRolesTask) -> Self {
        TaskReply {
            id: t.id,
            user_id: t.user_id,
            status: t.status,
            total_tenants: t.total_tenants,
            processed_tenants: t.processed_tenants,
            added_role_ids: t.added_role_ids,
            removed_role_ids: t.removed_role_ids,
        }
    }
}

/// Environment token: the status of a bulk role change.
pub(super) async fn bulk_status(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskReply>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(change::bulk_task(&state.db, &id)?.into()))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_addRolesToUser", add)
        .add("UsersControllerV1_deleteRolesFromUser", remove)
        .add("UsersControllerV3_getUsersRoles", of_users)
        .add("UsersControllerV3_getUsersGroups", groups_of_users)
        .add("VendorOnlyUsers_bulkUpdateRolesAcrossAllTenants", bulk)
        .add("VendorOnlyUsers_getBulkRolesTaskStatus", bulk_status)
        .add_team(
            "/team/resources/members/v1",
            axum::routing::put(update_member),
        )
}
