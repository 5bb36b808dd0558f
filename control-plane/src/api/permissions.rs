//! Permissions and permission categories (tags Permissions, Permissions Categories),
//! environment token. Built-in `fe.*` permissions and categories cannot be deleted or
//! renamed; the `fe.` key prefix is reserved.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::Ops;
use crate::crypto::new_uuid;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::clock::rfc3339;
use crate::model::rbac::{self, AssignmentType, Category, Permission, Role};

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "PermissionsControllerV1_getAllPermissions",
            list_permissions,
        )
        .add("PermissionsControllerV1_addPermissions", create_permissions)
        .add(
            "PermissionsControllerV1_updatePermission",
            update_permission,
        )
        .add(
            "PermissionsControllerV1_deletePermission",
            delete_permission,
        )
        .add(
            "PermissionsControllerV1_setRolesToPermission",
            add_permission_to_roles,
        )
        .add(
            "PermissionsControllerV1_updatePermissionsAssignmentType",
            classify_permissions,
        )
        .add(
            "PermissionsCategoriesController_getAllCategoriesWithPermissions",
            list_categories,
        )
        .add(
            "PermissionsCategoriesController_createPermissionCategory",
            create_category,
        )
        .add(
            "PermissionsCategoriesController_updateCategory",
            update_category,
        )
        .add(
            "PermissionsCategoriesController_deleteCategory",
            delete_category,
        )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PermissionResponse {
    id: String,
    key: String,
    name: String,
    description: String,
    category_id: Option<String>,
    fe_permission: bool,
    assignment_type: AssignmentType,
    role_ids: Vec<String>,
    created_at: String,
    updated_at: String,
}

pub(crate) fn permission_response(p: Permission, roles: &[Role]) -> PermissionResponse {
    let role_ids = roles
        .iter()
        .filter(|r| r.permission_ids.contains(&p.id))
        .map(|r| r.id.clone())
        .collect();
    PermissionResponse {
        id: p.id,
        key: p.key,
        name: p.name,
        description: p.description,
        category_id: p.category_id,
        fe_permission: p.fe_permission,
        assignment_type: p.assignment_type,
        role_ids,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn respond_one(state: &AppState, p: Permission) -> Result<Json<PermissionResponse>, ApiError> {
    Ok(Json(permission_response(p, &rbac::all_roles(&state.db)?)))
}

/// Keys: what a header list can carry ([`shared::rights::is_valid_key`]); `fe.` is reserved
/// for built-ins.
fn validate_key(key: &str) -> Result<(), ApiError> {
    if !shared::rights::is_valid_key(key) {
        return Err(ApiError::bad_request(format!(
            "invalid permission key {key:?}: {}",
            shared::rights::KEY_RULE
        )));
    }
    if key.starts_with("fe.") {
        return Err(ApiError::bad_request(format!(
            "permission key {key:?}: the fe. prefix is reserved for built-in permissions"
        )));
    }
    Ok(())
}

pub(crate) fn validate_text(
    field: &str,
    v: &str,
    max: usize,
    required: bool,
) -> Result<String, ApiError> {
    let t = v.trim();
    if (required && t.is_empty())
        || t.chars().count() > max
        || t.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(ApiError::bad_request(format!(
            "{field} must be {} to {max} characters",
            usize::from(required)
        )));
    }
    Ok(t.to_owned())
}

fn not_found() -> ApiError {
    ApiError::not_found("Permission not found")
}

/// `fe.secure.read.permissions` (or environment token): every permission.
async fn list_permissions(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<PermissionResponse>>, ApiError> {
    caller.require(Perm::ReadPermissions)?;
    let roles = rbac::all_roles(&state.db)?;
    let perms = rbac::all_permissions(&state.db)?;
    Ok(Json(
        perms
            .into_iter()
            .map(|p| permission_response(p, &roles))
            .collect(),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddPermissionRequest {
    key: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    category_id: Option<String>,
    #[serde(default)]
    assignment_type: Option<AssignmentType>,
}

/// Environment token: create permissions (all or none); 409 when a key is taken.
async fn create_permissions(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(reqs): ApiJson<Vec<AddPermissionRequest>>,
) -> Result<(StatusCode, Json<Vec<PermissionResponse>>), ApiError> {
    caller.require(Perm::Environment)?;
    if reqs.is_empty() || reqs.len() > 500 {
        return Err(ApiError::bad_request("send 1 to 500 permissions"));
    }
    let now = rfc3339(state.clock.now());
    let mut seen = HashSet::new();
    let mut records = Vec::with_capacity(reqs.len());
    for r in reqs {
        validate_key(&r.key)?;
        if !seen.insert(r.key.clone()) {
            return Err(ApiError::bad_request(format!(
                "permission key {:?} appears twice",
                r.key
            )));
        }
        records.push(Permission {
            id: new_uuid().to_string(),
            key: r.key,
            name: validate_text("name", &r.name, 255, true)?,
            description: validate_text(
                "description",
                r.description.as_deref().unwrap_or(""),
                1000,
                false,
            )?,
            category_id: r.category_id,
            fe_permission: false,
            assignment_type: r.assignment_type.unwrap_or(AssignmentType::Assignable),
            created_at: now.clone(),
            updated_at: now.clone(),
        });
    }
    state
        .db
        .write(|tx| {
            for p in &records {
                if rbac::permission_key_taken(tx, &p.key)? {
                    return Err(ApiError::conflict(format!(
                        "a permission with key {:?} exists",
                        p.key
                    )));
                }
                if let Some(c) = &p.category_id
                    && tx.get::<Category>(c.as_bytes())?.is_none()
                {
                    return Err(ApiError::bad_request(format!(
                        "category {c} does not exist"
                    )));
                }
                rbac::put_permission(tx, p)?;
            }
            Ok(())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            records
                .into_iter()
                .map(|p| permission_response(p, &[]))
                .collect(),
        ),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdatePermissionRequest {
    key: Option<String>,
    name: Option<String>,
    description: Option<String>,
    category_id: Option<String>,
}

/// Environment token: change key, name, description or category; built-ins keep key and name.
async fn update_permission(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdatePermissionRequest>,
) -> Result<Json<PermissionResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    if let Some(k) = &req.key {
        validate_key(k)?;
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
    let now = rfc3339(state.clock.now());
    let saved = state
        .db
        .write(|tx| {
            let mut p = tx.get::<Permission>(id.as_bytes())?.ok_or_else(not_found)?;
            if p.fe_permission
                && (req.key.as_ref().is_some_and(|k| *k != p.key)
                    || name.as_ref().is_some_and(|n| *n != p.name))
            {
                return Err(ApiError::forbidden(
                    "built-in permissions cannot be renamed",
                ));
            }
            if let Some(k) = &req.key
                && *k != p.key
            {
                if rbac::permission_key_taken(tx, k)? {
                    return Err(ApiError::conflict(format!(
                        "a permission with key {k:?} exists"
                    )));
                }
                // Tokens carry the old key, which now names nothing (or, later, something
                // else): they are void at sidecars.
                crate::model::event::Event::PermissionRevoked { key: &p.key }.record(tx, &now)?;
                p.key = k.clone();
            }
            if let Some(c) = &req.category_id {
                if tx.get::<Category>(c.as_bytes())?.is_none() {
                    return Err(ApiError::bad_request(format!(
                        "category {c} does not exist"
                    )));
                }
                p.category_id = Some(c.clone());
            }
            p.name = name.clone().unwrap_or(p.name);
            p.description = description.clone().unwrap_or(p.description);
            p.updated_at = now.clone();
            rbac::put_permission(tx, &p)?;
            Ok(p)
        })
        .await?;
    respond_one(&state, saved)
}

/// Environment token: delete a permission and remove it from every role; built-ins stay.
async fn delete_permission(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    let roles = rbac::all_roles(&state.db)?;
    let now = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            let p = tx.get::<Permission>(id.as_bytes())?.ok_or_else(not_found)?;
            if p.fe_permission {
                return Err(ApiError::forbidden(
                    "built-in permissions cannot be deleted",
                ));
            }
            rbac::delete_permission(tx, &p, &roles, &now)?;
            crate::model::event::Event::PermissionRevoked { key: &p.key }.record(tx, &now)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleIdsRequest {
    role_ids: Vec<String>,
}

/// Environment token: add the permission to each listed role (existing grants stay).
async fn add_permission_to_roles(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleIdsRequest>,
) -> Result<Json<PermissionResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    if req.role_ids.len() > 500 {
        return Err(ApiError::bad_request("at most 500 roles at once"));
    }
    let now = rfc3339(state.clock.now());
    let p = state
        .db
        .write(|tx| {
            let p = tx.get::<Permission>(id.as_bytes())?.ok_or_else(not_found)?;
            if p.assignment_type == AssignmentType::Never {
                return Err(ApiError::bad_request(
                    "this permission is classified NEVER and cannot be put in roles",
                ));
            }
            for rid in &req.role_ids {
                let mut r = tx
                    .get::<Role>(rid.as_bytes())?
                    .ok_or_else(|| ApiError::bad_request(format!("role {rid} does not exist")))?;
                if !r.permission_ids.contains(&p.id) {
                    r.permission_ids.push(p.id.clone());
                    r.updated_at = now.clone();
                    rbac::put_role(tx, &r)?;
                }
            }
            Ok(p)
        })
        .await?;
    respond_one(&state, p)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClassifyRequest {
    permission_ids: Vec<String>,
    #[serde(rename = "type")]
    kind: AssignmentType,
}

/// Environment token: set the assignment type of permissions. `NEVER` also takes them out of
/// every role. Replies with the updated permissions.
async fn classify_permissions(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ClassifyRequest>,
) -> Result<Json<Vec<PermissionResponse>>, ApiError> {
    caller.require(Perm::Environment)?;
    if req.permission_ids.is_empty() || req.permission_ids.len() > 500 {
        return Err(ApiError::bad_request("send 1 to 500 permission ids"));
    }
    let roles = rbac::all_roles(&state.db)?;
    let now = rfc3339(state.clock.now());
    let updated = state
        .db
        .write(|tx| {
            let mut out = Vec::new();
            for id in &req.permission_ids {
                let mut p = tx.get::<Permission>(id.as_bytes())?.ok_or_else(|| {
                    ApiError::bad_request(format!("permission {id} does not exist"))
                })?;
                let before = p.assignment_type;
                p.assignment_type = req.kind;
                p.updated_at = now.clone();
                rbac::put_permission(tx, &p)?;
                // Holders lose it when it stops being everyone's (ALWAYS to anything else)
                // or becomes nobody's (NEVER): tokens carrying it are void at sidecars.
                let shrinks = req.kind != before
                    && (before == AssignmentType::Always || req.kind == AssignmentType::Never);
                if shrinks {
                    crate::model::event::Event::PermissionRevoked { key: &p.key }
                        .record(tx, &now)?;
                }
                if req.kind == AssignmentType::Never {
                    for r in roles.iter().filter(|r| r.permission_ids.contains(&p.id)) {
                        if let Some(mut cur) = tx.get::<Role>(r.id.as_bytes())? {
                            cur.permission_ids.retain(|x| *x != p.id);
                            rbac::put_role(tx, &cur)?;
                        }
                    }
                }
                out.push(p);
            }
            Ok::<_, ApiError>(out)
        })
        .await?;
    let roles = rbac::all_roles(&state.db)?;
    Ok(Json(
        updated
            .into_iter()
            .map(|p| permission_response(p, &roles))
            .collect(),
    ))
}

// === categories ===

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CategoryResponse {
    id: String,
    name: String,
    description: Option<String>,
    fe_category: bool,
    created_at: String,
    /// The ids of the permissions in the category.
    permission_ids: Vec<String>,
}

fn category_response(c: Category, by_category: &HashMap<String, Vec<String>>) -> CategoryResponse {
    let permission_ids = by_category.get(&c.id).cloned().unwrap_or_default();
    CategoryResponse {
        id: c.id,
        name: c.name,
        description: c.description,
        fe_category: c.fe_category,
        created_at: c.created_at,
        permission_ids,
    }
}

fn permissions_by_category(state: &AppState) -> Result<HashMap<String, Vec<String>>, ApiError> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for p in rbac::all_permissions(&state.db)? {
        if let Some(c) = p.category_id {
            map.entry(c).or_default().push(p.id);
        }
    }
    Ok(map)
}

fn category_not_found() -> ApiError {
    ApiError::not_found("Category not found")
}

/// Environment token: every category with its permission ids.
async fn list_categories(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<CategoryResponse>>, ApiError> {
    caller.require(Perm::Environment)?;
    let by = permissions_by_category(&state)?;
    let cats = state.db.scan::<Category>(b"")?;
    Ok(Json(
        cats.into_iter()
            .map(|c| category_response(c, &by))
            .collect(),
    ))
}

#[derive(Clone, Deserialize)]
struct CreateCategoryRequest {
    name: String,
    description: Option<String>,
    id: Option<String>,
}

/// Environment token: create a category (optionally with a chosen UUID; 409 if taken).
async fn create_category(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateCategoryRequest>,
) -> Result<(StatusCode, Json<CategoryResponse>), ApiError> {
    caller.require(Perm::Environment)?;
    let id = match &req.id {
        Some(raw) => crate::model::tenant::parse_id(raw)
            .ok_or_else(|| ApiError::bad_request("id must be a UUID"))?,
        None => new_uuid().to_string(),
    };
    let c = Category {
        id,
        name: validate_text("name", &req.name, 255, true)?,
        description: req
            .description
            .as_deref()
            .map(|d| validate_text("description", d, 1000, false))
            .transpose()?,
        fe_category: false,
        created_at: rfc3339(state.clock.now()),
    };
    state
        .db
        .write(|tx| {
            if tx.get::<Category>(c.id.as_bytes())?.is_some() {
                return Err(ApiError::conflict("a category with this id exists"));
            }
            tx.put(&c)?;
            Ok(())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(category_response(c, &HashMap::new())),
    ))
}

#[derive(Clone, Deserialize)]
struct UpdateCategoryRequest {
    name: Option<String>,
    description: Option<String>,
}

/// Environment token: rename or describe a category; built-in ones keep their name.
async fn update_category(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateCategoryRequest>,
) -> Result<Json<CategoryResponse>, ApiError> {
    caller.require(Perm::Environment)?;
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
    let saved = state
        .db
        .write(|tx| {
            let mut c = tx
                .get::<Category>(id.as_bytes())?
                .ok_or_else(category_not_found)?;
            if c.fe_category && name.as_ref().is_some_and(|n| *n != c.name) {
                return Err(ApiError::forbidden("built-in categories cannot be renamed"));
            }
            c.name = name.clone().unwrap_or(c.name);
            if description.is_some() {
                c.description = description.clone();
            }
            tx.put(&c)?;
            Ok(c)
        })
        .await?;
    Ok(Json(category_response(
        saved,
        &permissions_by_category(&state)?,
    )))
}

/// Environment token: delete a category; its permissions stay, uncategorised.
async fn delete_category(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    let members: Vec<Permission> = rbac::all_permissions(&state.db)?
        .into_iter()
        .filter(|p| p.category_id.as_deref() == Some(id.as_str()))
        .collect();
    state
        .db
        .write(|tx| {
            let c = tx
                .get::<Category>(id.as_bytes())?
                .ok_or_else(category_not_found)?;
            if c.fe_category {
                return Err(ApiError::forbidden("built-in categories cannot be deleted"));
            }
            for p in &members {
                if let Some(mut cur) = tx.get::<Permission>(p.id.as_bytes())?
                    && cur.category_id.as_deref() == Some(id.as_str())
                {
                    cur.category_id = None;
                    rbac::put_permission(tx, &cur)?;
                }
            }
            tx.delete::<Category>(id.as_bytes())?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::OK)
}
