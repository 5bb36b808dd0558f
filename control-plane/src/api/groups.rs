//! User groups (tag User Groups): per account, with roles and members, for environment
//! tokens (`frontegg-tenant-id`) and user tokens (`fe.secure.*.groups*`). Members' effective
//! roles include their groups' roles while the group configuration enables them.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ops;
use super::permissions::validate_text;
use super::roles::{RoleResponse, role_response};
use super::users::{Catalog, check_grantable, require_tenant_exists};
use crate::crypto::new_uuid;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::{ListQuery, Page};
use crate::model::clock::rfc3339;
use crate::model::event::Event;
use crate::model::group::{self, Group, GroupsConfig};
use crate::model::user::{self, User};

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("GroupsControllerV1_getAllGroups", list_groups)
        .add(
            "GroupsControllerV2_getAllGroupsPaginated",
            list_groups_paginated,
        )
        .add("GroupsControllerV1_createGroup", create_group)
        .add("GroupsControllerV1_getGroupsByIds", get_groups_by_ids)
        .add("GroupsControllerV1_getGroupById", get_group)
        .add("GroupsControllerV1_updateGroup", update_group)
        .add("GroupsControllerV1_deleteGroup", delete_group)
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupUser {
    id: String,
    email: String,
    name: String,
    profile_picture_url: Option<String>,
    created_at: String,
    activated_for_tenant: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupResponse {
    id: String,
    name: String,
    color: Option<String>,
    description: Option<String>,
    metadata: String,
    roles: Vec<RoleResponse>,
    users: Vec<GroupUser>,
    managed_by: &'static str,
    created_at: String,
    updated_at: String,
}

#[derive(Serialize)]
struct GroupsResponse {
    groups: Vec<GroupResponse>,
}

/// `_groupsRelations`: which relations to include (`roles`, `users`, `rolesAndUsers`);
/// both by default.
fn relations(q: &ListQuery) -> Result<(bool, bool), ApiError> {
    match q.get("_groupsRelations") {
        None | Some("rolesAndUsers") => Ok((true, true)),
        Some("roles") => Ok((true, false)),
        Some("users") => Ok((false, true)),
        Some(_) => Err(ApiError::bad_request(
            "_groupsRelations must be roles, users or rolesAndUsers",
        )),
    }
}

fn group_response(
    state: &AppState,
    cat: &Catalog,
    g: Group,
    (with_roles, with_users): (bool, bool),
) -> Result<GroupResponse, ApiError> {
    let roles = if with_roles {
        cat.roles
            .iter()
            .filter(|r| g.role_ids.contains(&r.id))
            .cloned()
            .map(|r| role_response(state, r))
            .collect()
    } else {
        Vec::new()
    };
    let mut users = Vec::new();
    if with_users {
        for id in &g.user_ids {
            if let Some(u) = state.db.get::<User>(id.as_bytes())? {
                users.push(GroupUser {
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
    Ok(GroupResponse {
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

/// Groups must be enabled; the caller's account is the scope.
fn scope(state: &AppState, caller: &Caller, permission: Perm) -> Result<String, ApiError> {
    caller.require(permission)?;
    if !group::config(&state.db)?.enabled {
        return Err(ApiError::forbidden(
            "groups are disabled for this environment",
        ));
    }
    let tenant = caller.tenant()?;
    require_tenant_exists(state, &tenant)?;
    Ok(tenant)
}

fn not_found() -> ApiError {
    ApiError::not_found("Group not found")
}

/// A group of the account (404 for another account's).
fn load(state: &AppState, tenant: &str, id: &str) -> Result<Group, ApiError> {
    state
        .db
        .get::<Group>(id.as_bytes())?
        .filter(|g| g.tenant_id == tenant)
        .ok_or_else(not_found)
}

fn of_tenant(state: &AppState, tenant: &str) -> Result<Vec<Group>, ApiError> {
    Ok(group::of_tenant(&state.db, tenant)?)
}

fn respond_all(
    state: &AppState,
    groups: Vec<Group>,
    rel: (bool, bool),
) -> Result<Vec<GroupResponse>, ApiError> {
    let cat = state.catalog()?;
    groups
        .into_iter()
        .map(|g| group_response(state, &cat, g, rel))
        .collect()
}

/// `fe.secure.read.groups`: the account's groups.
async fn list_groups(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<GroupsResponse>, ApiError> {
    let tenant = scope(&state, &caller, Perm::ReadGroups)?;
    let rel = relations(&q)?;
    Ok(Json(GroupsResponse {
        groups: respond_all(&state, of_tenant(&state, &tenant)?, rel)?,
    }))
}

/// `fe.secure.read.groups`: the account's groups, paginated and sorted.
async fn list_groups_paginated(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<GroupResponse>>, ApiError> {
    let tenant = scope(&state, &caller, Perm::ReadGroups)?;
    let rel = relations(&q)?;
    let page = q.page(200)?;
    let sort = q.sort_by(&["id", "name", "createdAt", "updatedAt"], "createdAt")?;
    let desc = q.descending()?;
    let mut groups = of_tenant(&state, &tenant)?;
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
    let p = page.apply(groups);
    let items = respond_all(&state, p.items, rel)?;
    Ok(Json(Page {
        items,
        _links: p._links,
        _metadata: p._metadata,
    }))
}

#[derive(Clone, Deserialize)]
struct GroupFields {
    name: Option<String>,
    color: Option<String>,
    description: Option<String>,
    metadata: Option<Value>,
}

struct Validated {
    name: Option<String>,
    color: Option<String>,
    description: Option<String>,
    metadata: Option<String>,
}

fn validate(f: &GroupFields) -> Result<Validated, ApiError> {
    Ok(Validated {
        name: f
            .name
            .as_deref()
            .map(|n| validate_text("name", n, 255, true))
            .transpose()?,
        color: f
            .color
            .as_deref()
            .map(|c| validate_text("color", c, 32, false))
            .transpose()?,
        description: f
            .description
            .as_deref()
            .map(|d| validate_text("description", d, 1000, false))
            .transpose()?,
        metadata: f
            .metadata
            .as_ref()
            .map(|m| user::metadata_text(Some(m)))
            .transpose()?,
    })
}

fn name_taken(
    state: &AppState,
    tenant: &str,
    name: &str,
    except: Option<&str>,
) -> Result<bool, ApiError> {
    Ok(of_tenant(state, tenant)?
        .iter()
        .any(|g| Some(g.id.as_str()) != except && g.name.eq_ignore_ascii_case(name)))
}

/// `fe.secure.write.groups`: create a group (names unique in the account, ignoring case).
async fn create_group(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<GroupFields>,
) -> Result<(StatusCode, Json<GroupResponse>), ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteGroups)?;
    let v = validate(&req)?;
    let name = v
        .name
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    if name_taken(&state, &tenant, &name, None)? {
        return Err(ApiError::conflict(
            "a group with this name exists in the account",
        ));
    }
    let now = rfc3339(state.clock.now());
    let g = Group {
        id: new_uuid().to_string(),
        tenant_id: tenant,
        name,
        color: v.color,
        description: v.description,
        metadata: v.metadata.unwrap_or_else(|| "{}".into()),
        role_ids: Vec::new(),
        user_ids: Vec::new(),
        created_at: now.clone(),
        updated_at: now,
    };
    state.db.write(|tx| tx.put(&g)).await?;
    let cat = state.catalog()?;
    Ok((
        StatusCode::CREATED,
        Json(group_response(&state, &cat, g, (true, true))?),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupIds {
    groups_ids: Vec<String>,
}

/// `fe.secure.read.groups`: the account's groups among the given ids.
async fn get_groups_by_ids(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
    ApiJson(req): ApiJson<GroupIds>,
) -> Result<(StatusCode, Json<GroupsResponse>), ApiError> {
    let tenant = scope(&state, &caller, Perm::ReadGroups)?;
    if req.groups_ids.len() > 200 {
        return Err(ApiError::bad_request("at most 200 ids"));
    }
    let wanted: BTreeSet<&str> = req.groups_ids.iter().map(String::as_str).collect();
    let groups = of_tenant(&state, &tenant)?
        .into_iter()
        .filter(|g| wanted.contains(g.id.as_str()))
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(GroupsResponse {
            groups: respond_all(&state, groups, relations(&q)?)?,
        }),
    ))
}

/// `fe.secure.read.groups`: one group.
async fn get_group(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: ListQuery,
) -> Result<Json<GroupResponse>, ApiError> {
    let tenant = scope(&state, &caller, Perm::ReadGroups)?;
    let g = load(&state, &tenant, &id)?;
    let cat = state.catalog()?;
    Ok(Json(group_response(&state, &cat, g, relations(&q)?)?))
}

/// Change a group of the account in one transaction; with `roles_removed`, every member loses the group's roles (an event each).
async fn change(
    state: &AppState,
    tenant: &str,
    id: &str,
    roles_removed: bool,
    f: impl Fn(&mut Group) -> Result<(), ApiError>,
) -> Result<Group, ApiError> {
    let now = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            let mut g = tx
                .get::<Group>(id.as_bytes())?
                .filter(|g| g.tenant_id == tenant)
                .ok_or_else(not_found)?;
            let members_before = g.user_ids.clone();
            f(&mut g)?;
            g.updated_at = now.clone();
            tx.put(&g)?;
            if roles_removed {
                for u in &members_before {
                    Event::UserRolesRemoved { tenant, user: u }.record(tx, &now)?;
                }
            }
            Ok(g)
        })
        .await
}

/// `fe.secure.write.groups`: rename, recolour, describe.
async fn update_group(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<GroupFields>,
) -> Result<Json<GroupResponse>, ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteGroups)?;
    let v = validate(&req)?;
    if let Some(n) = &v.name
        && name_taken(&state, &tenant, n, Some(&id))?
    {
        return Err(ApiError::conflict(
            "a group with this name exists in the account",
        ));
    }
    let g = change(&state, &tenant, &id, false, |g| {
        if let Some(n) = &v.name {
            g.name = n.clone();
        }
        if v.color.is_some() {
            g.color = v.color.clone();
        }
        if v.description.is_some() {
            g.description = v.description.clone();
        }
        if let Some(m) = &v.metadata {
            g.metadata = m.clone();
        }
        Ok(())
    })
    .await?;
    let cat = state.catalog()?;
    Ok(Json(group_response(&state, &cat, g, (true, true))?))
}

/// `fe.secure.delete.groups`: delete a group; members lose its roles (event per member).
async fn delete_group(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let tenant = scope(&state, &caller, Perm::DeleteGroups)?;
    let now = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            let g = tx
                .get::<Group>(id.as_bytes())?
                .filter(|g| g.tenant_id == tenant)
                .ok_or_else(not_found)?;
            if !g.role_ids.is_empty() {
                for u in &g.user_ids {
                    Event::UserRolesRemoved {
                        tenant: &tenant,
                        user: u,
                    }
                    .record(tx, &now)?;
                }
            }
            tx.delete::<group::Group>(id.as_bytes())?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleIds {
    role_ids: Vec<String>,
}

/// `fe.secure.write.groupsRoles`: grant roles to the group (the caller's level rule holds).
async fn add_roles(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleIds>,
) -> Result<StatusCode, ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteGroupsRoles)?;
    if !group::config(&state.db)?.roles_enabled {
        return Err(ApiError::forbidden(
            "group roles are disabled for this environment",
        ));
    }
    let cat = state.catalog()?;
    let grant: Vec<String> = check_grantable(&caller, &cat, &tenant, &req.role_ids)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    change(&state, &tenant, &id, false, |g| {
        crate::model::add_unique(&mut g.role_ids, &grant);
        Ok(())
    })
    .await?;
    Ok(StatusCode::CREATED)
}

/// `fe.secure.write.groupsRoles`: take roles from the group; members lose them (event).
async fn remove_roles(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleIds>,
) -> Result<StatusCode, ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteGroupsRoles)?;
    let cat = state.catalog()?;
    let take: Vec<String> = check_grantable(&caller, &cat, &tenant, &req.role_ids)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    change(&state, &tenant, &id, true, |g| {
        g.role_ids.retain(|r| !take.contains(r));
        Ok(())
    })
    .await?;
    Ok(StatusCode::OK)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIds {
    user_ids: Vec<String>,
}

/// `fe.secure.write.groupsUsers`: add members (users of the account only).
async fn add_users(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UserIds>,
) -> Result<StatusCode, ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteGroupsUsers)?;
    if req.user_ids.len() > 500 {
        return Err(ApiError::bad_request("at most 500 users at once"));
    }
    for u in &req.user_ids {
        let member = state
            .db
            .get::<User>(u.as_bytes())?
            .is_some_and(|x| x.membership(&tenant).is_some());
        if !member {
            return Err(ApiError::bad_request(format!(
                "user {u} is not a member of this account"
            )));
        }
    }
    // Joining a group gives its roles: the caller must be able to give them itself (else a
    // user could join a group holding a role above its own and have it).
    let cat = state.catalog()?;
    let held = load(&state, &tenant, &id)?.role_ids;
    check_grantable(&caller, &cat, &tenant, &held)?;
    change(&state, &tenant, &id, false, |g| {
        if g.role_ids.iter().any(|r| !held.contains(r)) {
            return Err(ApiError::conflict(
                "the group's roles changed meanwhile; try again",
            ));
        }
        crate::model::add_unique(&mut g.user_ids, &req.user_ids);
        Ok(())
    })
    .await?;
    Ok(StatusCode::CREATED)
}

/// `fe.secure.delete.groupsUsers`: remove members; they lose the group's roles (event).
async fn remove_users(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UserIds>,
) -> Result<StatusCode, ApiError> {
    let tenant = scope(&state, &caller, Perm::DeleteGroupsUsers)?;
    let now = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            let mut g = tx
                .get::<Group>(id.as_bytes())?
                .filter(|g| g.tenant_id == tenant)
                .ok_or_else(not_found)?;
            for u in &req.user_ids {
                if g.user_ids.contains(u) && !g.role_ids.is_empty() {
                    Event::UserRolesRemoved {
                        tenant: &tenant,
                        user: u,
                    }
                    .record(tx, &now)?;
                }
            }
            g.user_ids.retain(|u| !req.user_ids.contains(u));
            g.updated_at = now.clone();
            tx.put(&g)?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::OK)
}

/// Environment token: the group configuration.
async fn get_config(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<GroupsConfig>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(group::config(&state.db)?))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigUpdate {
    enabled: Option<bool>,
    roles_enabled: Option<bool>,
}

/// Environment token: enable/disable groups and group roles.
async fn set_config(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ConfigUpdate>,
) -> Result<(StatusCode, Json<GroupsConfig>), ApiError> {
    caller.require(Perm::Environment)?;
    let groups = group::all(&state.db)?;
    let at = rfc3339(state.clock.now());
    let saved = state
        .db
        .write(|tx| {
            let mut c = tx
                .get::<GroupsConfig>(b"groups-config")?
                .unwrap_or_default();
            let counted_before = c.enabled && c.roles_enabled;
            c.enabled = req.enabled.unwrap_or(c.enabled);
            c.roles_enabled = req.roles_enabled.unwrap_or(c.roles_enabled);
            tx.put(&c)?;
            // Group roles stop counting: every member of a group with roles loses them, so
            // its tokens are void at sidecars (they refresh into their remaining rights).
            if counted_before && !(c.enabled && c.roles_enabled) {
                for g in groups.iter().filter(|g| !g.role_ids.is_empty()) {
                    for u in &g.user_ids {
                        Event::UserRolesRemoved {
                            tenant: &g.tenant_id,
                            user: u,
                        }
                        .record(tx, &at)?;
                    }
                }
            }
            Ok::<_, ApiError>(c)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}
