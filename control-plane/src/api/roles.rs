//! Roles (tags Roles, Account Roles), environment token. Environment roles have no
//! account; `frontegg-tenant-id` on create makes an account's own role. Default roles
//! (`Admin`, `ReadOnly`) cannot be deleted or renamed.

use std::collections::{BTreeSet, HashSet};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::Ops;
use super::permissions::validate_text;
use crate::crypto::new_uuid;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::{ApiJson, TenantHeader};
use crate::http::page::{ListQuery, Page};
use crate::model::clock::rfc3339;
use crate::model::rbac::{self, AssignmentType, Permission, Role};
use crate::model::tenant::Tenant;
use crate::model::user::User;
use crate::store::Tx;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("PermissionsControllerV1_getAllRoles", list_roles)
        .add("PermissionsControllerV1_addRoles", create_roles)
        .add("PermissionsControllerV1_updateRole", update_role)
        .add("PermissionsControllerV1_deleteRole", delete_role)
        .add(
            "PermissionsControllerV1_setPermissionsToRole",
            set_role_permissions,
        )
        .add("PermissionsControllerV1_updateRoleTenant", move_role)
        .add("PermissionsControllerV2_getAllRoles", list_roles_paginated)
        .add("RolesControllerV2_addRole", create_role_from_base)
        .add("RolesControllerV2_getDistinctLevels", distinct_levels)
        .add("RolesControllerV2_getDistinctTenants", distinct_tenants)
}

/// A role as every API shows it (`permissions` are permission ids).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoleResponse {
    id: String,
    vendor_id: String,
    tenant_id: Option<String>,
    key: String,
    name: String,
    description: String,
    is_default: bool,
    first_user_role: bool,
    level: u16,
    created_at: String,
    updated_at: String,
    permissions: Vec<String>,
}

pub(crate) fn role_response(state: &AppState, r: Role) -> RoleResponse {
    RoleResponse {
        id: r.id,
        vendor_id: state.env.client_id().to_owned(),
        tenant_id: r.tenant_id,
        key: r.key,
        name: r.name,
        description: r.description,
        is_default: r.is_default,
        first_user_role: r.first_user_role,
        level: r.level,
        created_at: r.created_at,
        updated_at: r.updated_at,
        permissions: r.permission_ids,
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("Role not found")
}

/// Role keys go into `roles` claims and the comma-separated `x-user-roles` header: what a
/// header list can carry ([`shared::rights::is_valid_key`]), and no `*` (roles have no
/// wildcards).
fn validate_role_key(key: &str) -> Result<(), ApiError> {
    if !shared::rights::is_valid_key(key) || key.contains('*') {
        return Err(ApiError::bad_request(format!(
            "invalid role key {key:?}: {}, no *",
            shared::rights::KEY_RULE
        )));
    }
    Ok(())
}

fn validate_level(level: i64) -> Result<u16, ApiError> {
    u16::try_from(level)
        .ok()
        .filter(|l| *l <= 32767)
        .ok_or_else(|| ApiError::bad_request("level must be between 0 and 32767"))
}

/// The account of a management call must exist.
fn require_tenant(state: &AppState, tenant: Option<&str>) -> Result<(), ApiError> {
    match tenant {
        Some(t) if state.db.get::<Tenant>(t.as_bytes())?.is_none() => {
            Err(ApiError::not_found("Tenant not found"))
        }
        _ => Ok(()),
    }
}

/// Roles visible for a call: environment roles, plus the account's own with the header.
fn visible(state: &AppState, tenant: Option<&str>) -> Result<Vec<Role>, ApiError> {
    Ok(rbac::all_roles(&state.db)?
        .into_iter()
        .filter(|r| r.tenant_id.is_none() || r.tenant_id.as_deref() == tenant)
        .collect())
}

/// Permission ids must exist and be assignable.
fn check_assignable(tx: &mut Tx<'_>, ids: &[String]) -> Result<(), ApiError> {
    for id in ids {
        let p = tx
            .get::<Permission>(id.as_bytes())?
            .ok_or_else(|| ApiError::bad_request(format!("permission {id} does not exist")))?;
        if p.assignment_type == AssignmentType::Never {
            return Err(ApiError::bad_request(format!(
                "permission {} is classified NEVER",
                p.key
            )));
        }
    }
    Ok(())
}

/// `fe.secure.read.roles`: environment roles and the account's own (the header's for
/// environment tokens, the token's for user tokens).
async fn list_roles(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<RoleResponse>>, ApiError> {
    caller.require(Perm::ReadRoles)?;
    let tenant = caller.tenant_opt();
    require_tenant(&state, tenant.as_deref())?;
    let roles = visible(&state, tenant.as_deref())?;
    Ok(Json(
        roles
            .into_iter()
            .map(|r| role_response(&state, r))
            .collect(),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddRoleRequest {
    key: String,
    name: String,
    description: Option<String>,
    #[serde(default)]
    is_default: bool,
    #[serde(default)]
    first_user_role: bool,
    level: i64,
}

fn new_role(req: &AddRoleRequest, tenant: Option<&str>, now: &str) -> Result<Role, ApiError> {
    validate_role_key(&req.key)?;
    Ok(Role {
        id: new_uuid().to_string(),
        key: req.key.clone(),
        name: validate_text("name", &req.name, 255, true)?,
        description: validate_text(
            "description",
            req.description.as_deref().unwrap_or(""),
            1000,
            false,
        )?,
        level: validate_level(req.level)?,
        is_default: req.is_default,
        first_user_role: req.first_user_role,
        tenant_id: tenant.map(str::to_owned),
        permission_ids: Vec::new(),
        builtin: false,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
}

/// Insert roles whose keys must be free in their scope.
async fn insert_roles(state: &AppState, roles: &[Role]) -> Result<(), ApiError> {
    let existing = rbac::all_roles(&state.db)?;
    state
        .db
        .write(|tx| {
            for r in roles {
                if !rbac::role_key_free(&existing, r.tenant_id.as_deref(), &r.key, None)
                    || tx
                        .get_raw(
                            crate::store::Tree::RoleKeys,
                            &rbac::role_key_index(r.tenant_id.as_deref(), &r.key),
                        )?
                        .is_some()
                {
                    return Err(ApiError::conflict(format!(
                        "a role with key {:?} exists",
                        r.key
                    )));
                }
                check_assignable(tx, &r.permission_ids)?;
                rbac::put_role(tx, r)?;
            }
            Ok(())
        })
        .await
}

/// Environment token: create roles (all or none); account roles with `frontegg-tenant-id`.
async fn create_roles(
    caller: Caller,
    State(state): State<AppState>,
    TenantHeader(tenant): TenantHeader,
    ApiJson(reqs): ApiJson<Vec<AddRoleRequest>>,
) -> Result<(StatusCode, Json<Vec<RoleResponse>>), ApiError> {
    caller.require(Perm::Environment)?;
    if reqs.is_empty() || reqs.len() > 100 {
        return Err(ApiError::bad_request("send 1 to 100 roles"));
    }
    require_tenant(&state, tenant.as_deref())?;
    let now = rfc3339(state.clock.now());
    let roles = reqs
        .iter()
        .map(|r| new_role(r, tenant.as_deref(), &now))
        .collect::<Result<Vec<_>, _>>()?;
    let keys: HashSet<&str> = roles.iter().map(|r| r.key.as_str()).collect();
    if keys.len() != roles.len() {
        return Err(ApiError::bad_request("a role key appears twice"));
    }
    insert_roles(&state, &roles).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            roles
                .into_iter()
                .map(|r| role_response(&state, r))
                .collect(),
        ),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateRoleRequest {
    key: Option<String>,
    name: Option<String>,
    description: Option<String>,
    is_default: Option<bool>,
    first_user_role: Option<bool>,
    level: Option<i64>,
}

/// Environment token: change a role; default roles keep key and name.
async fn update_role(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateRoleRequest>,
) -> Result<Json<RoleResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    if let Some(k) = &req.key {
        validate_role_key(k)?;
    }
    let name = req
        .name
        .as_deref()
        .map(|n| validate_text("name", n, 255, true))
        .transpose()?;
    let description = req
        .description
        .as_deref()
        .map(|d| validate_text("description", d, 1000, false))
        .transpose()?;
    let level = req.level.map(validate_level).transpose()?;
    let existing = rbac::all_roles(&state.db)?;
    let now = rfc3339(state.clock.now());
    let saved = state
        .db
        .write(|tx| {
            let old = tx.get::<Role>(id.as_bytes())?.ok_or_else(not_found)?;
            let mut r = old.clone();
            if r.builtin
                && (req.key.as_ref().is_some_and(|k| *k != r.key)
                    || name.as_ref().is_some_and(|n| *n != r.name))
            {
                return Err(ApiError::forbidden("default roles cannot be renamed"));
            }
            if let Some(k) = &req.key
                && *k != r.key
            {
                if !rbac::role_key_free(&existing, r.tenant_id.as_deref(), k, Some(&r.id)) {
                    return Err(ApiError::conflict(format!("a role with key {k:?} exists")));
                }
                // Tokens carry the old key: void at sidecars (it names nothing now).
                crate::model::event::Event::RoleDeleted {
                    tenant: r.tenant_id.as_deref(),
                    key: &r.key,
                }
                .record(tx, &now)?;
                r.key = k.clone();
            }
            r.name = name.clone().unwrap_or(r.name);
            r.description = description.clone().unwrap_or(r.description);
            r.level = level.unwrap_or(r.level);
            r.is_default = req.is_default.unwrap_or(r.is_default);
            r.first_user_role = req.first_user_role.unwrap_or(r.first_user_role);
            r.updated_at = now.clone();
            rbac::put_role(tx, &r)?;
            Ok(r)
        })
        .await?;
    Ok(Json(role_response(&state, saved)))
}

/// Environment token: delete a role (default roles stay), and take it from every user in
/// the same transaction. Holders lose it at once (event).
async fn delete_role(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    let holders: Vec<User> = state
        .db
        .scan::<User>(b"")?
        .into_iter()
        .filter(|u| u.memberships.iter().any(|m| m.role_ids.contains(&id)))
        .collect();
    let groups = crate::model::group::all(&state.db)?;
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            let r = tx.get::<Role>(id.as_bytes())?.ok_or_else(not_found)?;
            if r.builtin {
                return Err(ApiError::forbidden("default roles cannot be deleted"));
            }
            crate::model::group::remove_role(tx, &groups, &r.id)?;
            for h in &holders {
                if let Some(mut u) = tx.get::<User>(h.id.as_bytes())? {
                    for m in &mut u.memberships {
                        m.role_ids.retain(|x| *x != r.id);
                    }
                    tx.put(&u)?;
                }
            }
            rbac::delete_role(tx, &r)?;
            crate::model::event::Event::RoleDeleted {
                tenant: r.tenant_id.as_deref(),
                key: &r.key,
            }
            .record(tx, &at)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PermissionIdsRequest {
    permission_ids: Vec<String>,
}

fn dedup(ids: &[String]) -> Result<Vec<String>, ApiError> {
    if ids.len() > 1000 {
        return Err(ApiError::bad_request("at most 1000 permissions"));
    }
    let mut seen = BTreeSet::new();
    Ok(ids
        .iter()
        .filter(|i| seen.insert(i.as_str()))
        .cloned()
        .collect())
}

/// Environment token: **replace** the role's permissions with the given set.
async fn set_role_permissions(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PermissionIdsRequest>,
) -> Result<Json<RoleResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let ids = dedup(&req.permission_ids)?;
    let now = rfc3339(state.clock.now());
    let saved = state
        .db
        .write(|tx| {
            let mut r = tx.get::<Role>(id.as_bytes())?.ok_or_else(not_found)?;
            check_assignable(tx, &ids)?;
            if r.permission_ids.iter().any(|p| !ids.contains(p)) {
                crate::model::event::Event::RolePermissionsRemoved {
                    tenant: r.tenant_id.as_deref(),
                    key: &r.key,
                }
                .record(tx, &now)?;
            }
            r.permission_ids = ids.clone();
            r.updated_at = now.clone();
            rbac::put_role(tx, &r)?;
            Ok::<_, ApiError>(r)
        })
        .await?;
    Ok(Json(role_response(&state, saved)))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveRoleRequest {
    tenant_id: Option<String>,
}

/// Environment token: make a role an account's own (or, with `null`, environment-wide).
async fn move_role(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MoveRoleRequest>,
) -> Result<Json<RoleResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let tenant = match req.tenant_id.as_deref() {
        Some(raw) => Some(
            crate::model::tenant::parse_id(raw)
                .ok_or_else(|| ApiError::bad_request("tenantId must be a UUID"))?,
        ),
        None => None,
    };
    require_tenant(&state, tenant.as_deref())?;
    let existing = rbac::all_roles(&state.db)?;
    let now = rfc3339(state.clock.now());
    let saved = state
        .db
        .write(|tx| {
            let old = tx.get::<Role>(id.as_bytes())?.ok_or_else(not_found)?;
            if old.builtin {
                return Err(ApiError::forbidden("default roles stay environment-wide"));
            }
            if !rbac::role_key_free(&existing, tenant.as_deref(), &old.key, Some(&old.id)) {
                return Err(ApiError::conflict(format!(
                    "a role with key {:?} exists there",
                    old.key
                )));
            }
            let mut r = old.clone();
            r.tenant_id = tenant.clone();
            r.updated_at = now.clone();
            rbac::put_role(tx, &r)?;
            // Where the role applied before and no longer does, holders lose it: an
            // environment role moved to one account leaves every other account; an account's
            // role moved elsewhere leaves that account.
            if old.tenant_id != r.tenant_id && r.tenant_id.is_some() {
                crate::model::event::Event::RoleDeleted {
                    tenant: old.tenant_id.as_deref(),
                    key: &old.key,
                }
                .record(tx, &now)?;
            }
            Ok(r)
        })
        .await?;
    Ok(Json(role_response(&state, saved)))
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

/// `fe.secure.read.roles`: roles, paginated, with `_levels`, `_tenantIds` and a `_filter` on key
/// or name.
async fn list_roles_paginated(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<RoleResponse>>, ApiError> {
    caller.require(Perm::ReadRoles)?;
    let tenant = caller.tenant_opt();
    require_tenant(&state, tenant.as_deref())?;
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
    let mut roles: Vec<Role> = visible(&state, tenant.as_deref())?
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
    let p = page.apply(roles);
    Ok(Json(Page {
        items: p
            .items
            .into_iter()
            .map(|r| role_response(&state, r))
            .collect(),
        _links: p._links,
        _metadata: p._metadata,
    }))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddRoleFromBaseRequest {
    key: String,
    name: String,
    description: Option<String>,
    #[serde(default)]
    is_default: bool,
    base_role_id: String,
    permission_ids: Vec<String>,
}

/// `fe.secure.write.roles`: create an account role at the level of `baseRoleId`, with the given
/// permissions (which must be within the base role's).
async fn create_role_from_base(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AddRoleFromBaseRequest>,
) -> Result<Json<RoleResponse>, ApiError> {
    caller.require(Perm::WriteRoles)?;
    let tenant = caller.tenant_opt().ok_or_else(|| {
        ApiError::bad_request("frontegg-tenant-id is required: the role belongs to an account")
    })?;
    require_tenant(&state, Some(&tenant))?;
    let base = state
        .db
        .get::<Role>(req.base_role_id.as_bytes())?
        .filter(|r| r.tenant_id.is_none() || r.tenant_id.as_deref() == Some(tenant.as_str()))
        .ok_or_else(|| ApiError::bad_request("baseRoleId does not name a role of this account"))?;
    // A user may base a role only on one at or below its own level.
    if let Caller::User(u) = &caller
        && u.effective.best_level().is_none_or(|own| base.level < own)
    {
        return Err(ApiError::forbidden("the base role is above your own level"));
    }
    let ids = dedup(&req.permission_ids)?;
    if let Some(extra) = ids.iter().find(|p| !base.permission_ids.contains(p)) {
        return Err(ApiError::bad_request(format!(
            "permission {extra} is not in the base role"
        )));
    }
    let now = rfc3339(state.clock.now());
    let add = AddRoleRequest {
        key: req.key.clone(),
        name: req.name.clone(),
        description: req.description.clone(),
        is_default: req.is_default,
        first_user_role: false,
        level: i64::from(base.level),
    };
    let mut role = new_role(&add, Some(&tenant), &now)?;
    role.permission_ids = ids;
    insert_roles(&state, std::slice::from_ref(&role)).await?;
    Ok(Json(role_response(&state, role)))
}

/// `fe.secure.read.roles`: the distinct role levels in use (environment roles and, with the
/// header, the account's).
async fn distinct_levels(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<u16>>, ApiError> {
    caller.require(Perm::ReadRoles)?;
    let tenant = caller.tenant_opt();
    require_tenant(&state, tenant.as_deref())?;
    let levels: BTreeSet<u16> = visible(&state, tenant.as_deref())?
        .into_iter()
        .map(|r| r.level)
        .collect();
    Ok(Json(levels.into_iter().collect()))
}

/// Environment token: the accounts that have roles of their own.
async fn distinct_tenants(
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
