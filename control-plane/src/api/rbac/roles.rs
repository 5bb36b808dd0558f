//! Roles (tags Roles, Account Roles). Environment roles have no account;
//! `frontegg-tenant-id` on create makes an account's own role. The seeded roles (`Admin`,
//! `ReadOnly`) cannot be deleted or renamed.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::{ApiJson, TenantHeader};
use crate::http::page::{ListQuery, Page};
use crate::http::reply::{self, RoleReply};
use crate::model::rbac::roles::{self as change, NewRole, RoleChange, RoleFromBase};
use crate::model::rbac::{self, Role};

fn replies(state: &AppState, roles: Vec<Role>) -> Vec<RoleReply> {
    roles.into_iter().map(|r| reply::role(state, r)).collect()
}

/// `fe.secure.read.roles`: environment roles and the account's own (the header's for
/// environment tokens, the token's for user tokens).
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<RoleReply>>, ApiError> {
    caller.require(Perm::ReadRoles)?;
    let roles = change::visible(&state.db, caller.tenant_opt().as_deref())?;
    Ok(Json(replies(&state, roles)))
}

/// `{items}`: the roles as Frontegg's team service lists them.
#[derive(serde::Serialize)]
pub(super) struct TeamRoles {
    items: Vec<RoleReply>,
}

/// `fe.secure.read.roles`: the same roles as [`list`], for the admin portal's team page,
/// which reads them from the team service (`api.teams.loadAvailableRoles`, outside the spec).
pub(super) async fn team_roles(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<TeamRoles>, ApiError> {
    let Json(items) = list(caller, State(state)).await?;
    Ok(Json(TeamRoles { items }))
}

/// Environment token: create roles (all or none); account roles with `frontegg-tenant-id`.
pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    TenantHeader(tenant): TenantHeader,
    ApiJson(new): ApiJson<Vec<NewRole>>,
) -> Result<(StatusCode, Json<Vec<RoleReply>>), ApiError> {
    caller.require(Perm::Environment)?;
    let roles = change::create(&state.db, &state.clock, tenant.as_deref(), &new).await?;
    Ok((StatusCode::CREATED, Json(replies(&state, roles))))
}

/// The one check of every route that changes an existing role: the route's permission, and
/// for a user token only its own account's roles at or below its level
/// ([`change::check_editable`]; the portal's roles page calls these with the user's JWT).
fn editable(
    state: &AppState,
    caller: &Caller,
    perm: Perm,
    id: &str,
    new_level: Option<i64>,
) -> Result<Role, ApiError> {
    caller.require(perm)?;
    Ok(change::check_editable(
        &state.db,
        id,
        caller.tenant_opt().as_deref(),
        caller.grantor(),
        new_level,
    )?)
}

/// `fe.secure.write.updateRole`: change a role (a user: its account's, not above its level,
/// not to a level above its own).
pub(super) async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<RoleChange>,
) -> Result<Json<RoleReply>, ApiError> {
    editable(&state, &caller, Perm::WriteUpdateRole, &id, c.level)?;
    let r = change::update(&state.db, &state.clock, &id, &c).await?;
    Ok(Json(reply::role(&state, r)))
}

/// `fe.secure.delete.role`: delete a role, taking it from every holder (a user: its
/// account's, not above its level).
pub(super) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    editable(&state, &caller, Perm::DeleteRole, &id, None)?;
    change::delete(&state.db, &state.clock, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PermissionIds {
    permission_ids: Vec<String>,
}

/// `fe.secure.write.updateRole`: **replace** the role's permissions (a user: its account's role,
/// with permissions it holds itself — the granting rule).
pub(super) async fn set_permissions(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PermissionIds>,
) -> Result<Json<RoleReply>, ApiError> {
    editable(&state, &caller, Perm::WriteUpdateRole, &id, None)?;
    crate::model::grant::permissions(
        caller.grantor(),
        &state.catalog()?.permissions,
        &req.permission_ids,
    )?;
    let r = change::set_permissions(&state.db, &state.clock, &id, &req.permission_ids).await?;
    Ok(Json(reply::role(&state, r)))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MoveTo {
    tenant_id: Option<String>,
}

/// Environment token: make a role an account's own (or, with `null`, environment-wide).
pub(super) async fn move_to(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MoveTo>,
) -> Result<Json<RoleReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let tenant = req
        .tenant_id
        .as_deref()
        .map(|t| crate::model::tenant::id_of("tenantId", t))
        .transpose()?;
    let r = change::move_to(&state.db, &state.clock, &id, tenant.as_deref()).await?;
    Ok(Json(reply::role(&state, r)))
}

const ROLE_SORT: &[&str] = &[
    "key",
    "name",
    "description",
    "isDefault",
    "firstUserRole",
    "level",
    "updatedAt",
    "createdAt",
    "permissions",
];

/// `fe.secure.read.roles`: roles, paginated, with `_levels`, `_tenantIds` and a `_filter` on
/// key or name.
pub(super) async fn list_paginated(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<RoleReply>>, ApiError> {
    caller.require(Perm::ReadRoles)?;
    let page = q.page(2000)?;
    let sort = q.sort_by(ROLE_SORT, "createdAt")?;
    let desc = q.descending()?;
    let levels = q
        .all("_levels")
        .into_iter()
        .map(|l| {
            l.parse::<u16>()
                .map_err(|_| ApiError::bad_request("_levels must be numbers"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tenants = q.all("_tenantIds");
    let filter = q.get("_filter").map(str::to_lowercase);
    let mut roles: Vec<Role> = change::visible(&state.db, caller.tenant_opt().as_deref())?
        .into_iter()
        .filter(|r| levels.is_empty() || levels.contains(&r.level))
        .filter(|r| {
            tenants.is_empty() || r.tenant_id.as_deref().is_some_and(|t| tenants.contains(&t))
        })
        .filter(|r| {
            filter.as_deref().is_none_or(|f| {
                r.key.to_lowercase().contains(f) || r.name.to_lowercase().contains(f)
            })
        })
        .collect();
    roles.sort_by(|a, b| {
        let ord = match sort {
            "key" => a.key.cmp(&b.key),
            "name" => a.name.cmp(&b.name),
            "description" => a.description.cmp(&b.description),
            "isDefault" => a.is_default.cmp(&b.is_default),
            "firstUserRole" => a.first_user_role.cmp(&b.first_user_role),
            "level" => a.level.cmp(&b.level),
            "updatedAt" => a.updated_at.cmp(&b.updated_at),
            "permissions" => a.permission_ids.len().cmp(&b.permission_ids.len()),
            _ => a.created_at.cmp(&b.created_at),
        }
        .then_with(|| a.id.cmp(&b.id));
        if desc { ord.reverse() } else { ord }
    });
    Ok(Json(page.apply(roles).map(|r| reply::role(&state, r))))
}

/// `fe.secure.write.roles`: create an account role at the level of `baseRoleId`, with
/// permissions within the base role's.
pub(super) async fn create_from_base(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RoleFromBase>,
) -> Result<Json<RoleReply>, ApiError> {
    caller.require(Perm::WriteRoles)?;
    let tenant = caller.tenant_opt().ok_or_else(|| {
        ApiError::bad_request("frontegg-tenant-id is required: the role belongs to an account")
    })?;
    let r =
        change::create_from_base(&state.db, &state.clock, &tenant, caller.grantor(), &req).await?;
    Ok(Json(reply::role(&state, r)))
}

/// `fe.secure.read.roles`: the distinct role levels in use (environment roles and, with the
/// header, the account's).
pub(super) async fn distinct_levels(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<u16>>, ApiError> {
    caller.require(Perm::ReadRoles)?;
    let levels: BTreeSet<u16> = change::visible(&state.db, caller.tenant_opt().as_deref())?
        .into_iter()
        .map(|r| r.level)
        .collect();
    Ok(Json(levels.into_iter().collect()))
}

/// Environment token: the accounts that have roles of their own.
pub(super) async fn distinct_tenants(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<String>>, ApiError> {
    caller.require(Perm::Environment)?;
    let tenants: BTreeSet<String> = rbac::all_roles(&state.db)?
        .into_iter()
        .filter_map(|r| r.tenant_id)
        .collect();
    Ok(Json(tenants.into_iter().collect()))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("PermissionsControllerV1_getAllRoles", list)
        .add_team("/team/resources/roles/v1", axum::routing::get(team_roles))
        .add("PermissionsControllerV1_addRoles", create)
        .add("PermissionsControllerV1_updateRole", update)
        .add("PermissionsControllerV1_deleteRole", delete)
        .add(
            "PermissionsControllerV1_setPermissionsToRole",
            set_permissions,
        )
        .add("PermissionsControllerV1_updateRoleTenant", move_to)
        .add("PermissionsControllerV2_getAllRoles", list_paginated)
        .add("RolesControllerV2_addRole", create_from_base)
        .add("RolesControllerV2_getDistinctLevels", distinct_levels)
        .add("RolesControllerV2_getDistinctTenants", distinct_tenants)
}
