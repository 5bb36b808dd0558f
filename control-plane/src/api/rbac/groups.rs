//! User groups (tag User Groups): per account, with roles and members, for environment
//! tokens (`frontegg-tenant-id`) and user tokens (`fe.secure.*.groups*`). Members' effective
//! roles include their groups' while the group configuration enables them.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::{ApiJson, RoleIds};
use crate::http::page::{ListQuery, Page};
use crate::http::reply::{self, RoleReply};
use crate::model::catalog::Catalog;
use crate::model::grant;
use crate::model::group::{self, ConfigChange, Group, GroupFields, GroupsConfig};
use crate::model::user::User;

/// A member as a group shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MemberReply {
    id: String,
    email: String,
    name: String,
    profile_picture_url: Option<String>,
    created_at: String,
    activated_for_tenant: bool,
}

/// `GroupResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupReply {
    id: String,
    name: String,
    color: Option<String>,
    description: Option<String>,
    metadata: String,
    roles: Vec<RoleReply>,
    users: Vec<MemberReply>,
    managed_by: &'static str,
    created_at: String,
    updated_at: String,
}

/// `{groups}`.
#[derive(Serialize)]
pub(super) struct GroupsReply {
    groups: Vec<GroupReply>,
}

/// `GroupsConfigurationResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConfigReply {
    enabled: bool,
    roles_enabled: bool,
}

impl From<GroupsConfig> for ConfigReply {
    fn from(c: GroupsConfig) -> Self {
        ConfigReply {
            enabled: c.enabled,
            roles_enabled: c.roles_enabled,
        }
    }
}

/// Which relations a reply includes (`_groupsRelations`: `roles`, `users`,
/// `rolesAndUsers`; both by default).
#[derive(Clone, Copy)]
pub(super) struct Relations {
    roles: bool,
    users: bool,
}

impl Relations {
    const ALL: Relations = Relations {
        roles: true,
        users: true,
    };

    fn of(q: &ListQuery) -> Result<Self, ApiError> {
        match q.get("_groupsRelations") {
            None | Some("rolesAndUsers") => Ok(Relations::ALL),
            Some("roles") => Ok(Relations {
                roles: true,
                users: false,
            }),
            Some("users") => Ok(Relations {
                roles: false,
                users: true,
            }),
            Some(_) => Err(ApiError::bad_request(
                "_groupsRelations must be roles, users or rolesAndUsers",
            )),
        }
    }
}

fn group_reply(
    state: &AppState,
    cat: &Catalog,
    g: Group,
    rel: Relations,
) -> Result<GroupReply, ApiError> {
    let roles = if rel.roles {
        cat.roles
            .iter()
            .filter(|r| g.role_ids.contains(&r.id))
            .cloned()
            .map(|r| reply::role(state, r))
            .collect()
    } else {
        Vec::new()
    };
    let mut users = Vec::new();
    if rel.users {
        for id in &g.user_ids {
            if let Some(u) = state.db.get::<User>(id.as_bytes())? {
                users.push(MemberReply {
                    id: u.id,
                    email: u.email,
                    name: u.name,
                    profile_picture_url: u.profile_picture_url,
                    created_at: u.created_at,
                    activated_for_tenant: u.verified,
                });
            }
        }
    }
    Ok(GroupReply {
        id: g.id,
        name: g.name,
        color: g.color,
        description: g.description,
        metadata: g.metadata,
        roles,
        users,
        managed_by: "frontegg",
        created_at: g.created_at,
        updated_at: g.updated_at,
    })
}

fn replies(
    state: &AppState,
    groups: Vec<Group>,
    rel: Relations,
) -> Result<Vec<GroupReply>, ApiError> {
    let cat = state.catalog()?;
    groups
        .into_iter()
        .map(|g| group_reply(state, &cat, g, rel))
        .collect()
}

/// The caller's account, for a group call needing `perm` (groups must be on).
fn scope(state: &AppState, caller: &Caller, perm: Perm) -> Result<String, ApiError> {
    caller.require(perm)?;
    let tenant = caller.tenant()?;
    group::scope(&state.db, &tenant)?;
    Ok(tenant)
}

/// `fe.secure.read.groups`: the account's groups.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<GroupsReply>, ApiError> {
    let tenant = scope(&state, &caller, Perm::ReadGroups)?;
    let groups = group::of_tenant(&state.db, &tenant)?;
    Ok(Json(GroupsReply {
        groups: replies(&state, groups, Relations::of(&q)?)?,
    }))
}

/// `fe.secure.read.groups`: the account's groups, paginated and sorted.
pub(super) async fn list_paginated(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<GroupReply>>, ApiError> {
    let tenant = scope(&state, &caller, Perm::ReadGroups)?;
    let rel = Relations::of(&q)?;
    let page = q.page(200)?;
    let sort = q.sort_by(&["id", "name", "createdAt", "updatedAt"], "createdAt")?;
    let desc = q.descending()?;
    let mut groups = group::of_tenant(&state.db, &tenant)?;
    groups.sort_by(|a, b| {
        let ord = match sort {
            "id" => a.id.cmp(&b.id),
            "name" => a.name.cmp(&b.name),
            "updatedAt" => a.updated_at.cmp(&b.updated_at),
            _ => a.created_at.cmp(&b.created_at),
        }
        .then_with(|| a.id.cmp(&b.id));
        if desc { ord.reverse() } else { ord }
    });
    let cat = state.catalog()?;
    Ok(Json(
        page.apply(groups)
            .try_map(|g| group_reply(&state, &cat, g, rel))?,
    ))
}

/// `fe.secure.write.groups`: create a group (names unique in the account, ignoring case).
pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(f): ApiJson<GroupFields>,
) -> Result<(StatusCode, Json<GroupReply>), ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteGroups)?;
    let g = group::create(&state.db, &state.clock, &tenant, &f).await?;
    let cat = state.catalog()?;
    Ok((
        StatusCode::CREATED,
        Json(group_reply(&state, &cat, g, Relations::ALL)?),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupIds {
    groups_ids: Vec<String>,
}

/// `fe.secure.read.groups`: the account's groups among the given ids.
pub(super) async fn by_ids(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
    ApiJson(req): ApiJson<GroupIds>,
) -> Result<(StatusCode, Json<GroupsReply>), ApiError> {
    let tenant = scope(&state, &caller, Perm::ReadGroups)?;
    if req.groups_ids.len() > 200 {
        return Err(ApiError::bad_request("at most 200 ids"));
    }
    let wanted: BTreeSet<&str> = req.groups_ids.iter().map(String::as_str).collect();
    let groups = group::of_tenant(&state.db, &tenant)?
        .into_iter()
        .filter(|g| wanted.contains(g.id.as_str()))
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(GroupsReply {
            groups: replies(&state, groups, Relations::of(&q)?)?,
        }),
    ))
}

/// `fe.secure.read.groups`: one group.
pub(super) async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: ListQuery,
) -> Result<Json<GroupReply>, ApiError> {
    let tenant = scope(&state, &caller, Perm::ReadGroups)?;
    let g = group::get_in(&state.db, &tenant, &id)?;
    let cat = state.catalog()?;
    Ok(Json(group_reply(&state, &cat, g, Relations::of(&q)?)?))
}

/// `fe.secure.write.groups`: rename, recolour, describe.
pub(super) async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(f): ApiJson<GroupFields>,
) -> Result<Json<GroupReply>, ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteGroups)?;
    let g = group::update(&state.db, &state.clock, &tenant, &id, &f).await?;
    let cat = state.catalog()?;
    Ok(Json(group_reply(&state, &cat, g, Relations::ALL)?))
}

/// `fe.secure.delete.groups`: delete a group; members lose its roles.
pub(super) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = scope(&state, &caller, Perm::DeleteGroups)?;
    group::delete_in(&state.db, &state.clock, &tenant, &id).await?;
    Ok(StatusCode::OK)
}

/// `fe.secure.write.groupsRoles`: give the group roles (the caller's level rule holds).
pub(super) async fn add_roles(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleIds>,
) -> Result<StatusCode, ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteGroupsRoles)?;
    let roles = caller.grantable_roles(&state, &tenant, &req.role_ids)?;
    group::add_roles(&state.db, &state.clock, &tenant, &id, &roles).await?;
    Ok(StatusCode::CREATED)
}

/// `fe.secure.write.groupsRoles`: take roles from the group; members lose them.
pub(super) async fn remove_roles(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleIds>,
) -> Result<StatusCode, ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteGroupsRoles)?;
    let roles = caller.grantable_roles(&state, &tenant, &req.role_ids)?;
    group::remove_roles(&state.db, &state.clock, &tenant, &id, &roles).await?;
    Ok(StatusCode::OK)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserIds {
    user_ids: Vec<String>,
}

/// `fe.secure.write.groupsUsers`: add members (users of the account); joining gives the
/// group's roles, so the caller must be able to give them.
pub(super) async fn add_users(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UserIds>,
) -> Result<StatusCode, ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteGroupsUsers)?;
    let cat = state.catalog()?;
    let grantor = caller.grantor();
    group::add_users(
        &state.db,
        &state.clock,
        &tenant,
        &id,
        &req.user_ids,
        |held| grant::roles(grantor, &cat.roles, &tenant, held).map(drop),
    )
    .await?;
    Ok(StatusCode::CREATED)
}

/// `fe.secure.delete.groupsUsers`: remove members; they lose the group's roles.
pub(super) async fn remove_users(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UserIds>,
) -> Result<StatusCode, ApiError> {
    let tenant = scope(&state, &caller, Perm::DeleteGroupsUsers)?;
    group::remove_users(&state.db, &state.clock, &tenant, &id, &req.user_ids).await?;
    Ok(StatusCode::OK)
}

/// Environment token: the group configuration.
pub(super) async fn get_config(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<ConfigReply>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(group::config(&state.db)?.into()))
}

/// Environment token: switch groups and group roles on or off.
pub(super) async fn set_config(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(c): ApiJson<ConfigChange>,
) -> Result<(StatusCode, Json<ConfigReply>), ApiError> {
    caller.require(Perm::Environment)?;
    let saved = group::set_config(&state.db, &state.clock, c).await?;
    Ok((StatusCode::CREATED, Json(saved.into())))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("GroupsControllerV1_getAllGroups", list)
        .add("GroupsControllerV2_getAllGroupsPaginated", list_paginated)
        .add("GroupsControllerV1_createGroup", create)
        .add("GroupsControllerV1_getGroupsByIds", by_ids)
        .add("GroupsControllerV1_getGroupById", get)
        .add("GroupsControllerV1_updateGroup", update)
        .add("GroupsControllerV1_deleteGroup", delete)
        .add("GroupsControllerV1_addRolesToGroup", add_roles)
        .add("GroupsControllerV1_removeRolesFromGroup", remove_roles)
        .add("GroupsControllerV1_addUsersToGroup", add_users)
        .add("GroupsControllerV1_removeUsersFromGroup", remove_users)
        .add("GroupsControllerV1_getGroupsConfiguration", get_config)
        .add(
            "GroupsControllerV1_createOrUpdateGroupsConfiguration",
            set_config,
        )
}
