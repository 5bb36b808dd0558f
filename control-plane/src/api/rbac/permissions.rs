//! Permissions (tag Permissions): listed with `fe.secure.read.permissions`, changed with an
//! environment token. Built-in `fe.*` permissions cannot be deleted or renamed.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::{ApiJson, RoleIds};
use crate::http::reply::{self, PermissionReply};
use crate::model::rbac::permissions::{self as change, NewPermission, PermissionChange};
use crate::model::rbac::{self, AssignmentType, Permission};

fn replies(state: &AppState, ps: Vec<Permission>) -> Result<Vec<PermissionReply>, ApiError> {
    let roles = rbac::all_roles(&state.db)?;
    Ok(ps
        .into_iter()
        .map(|p| reply::permission(p, &roles))
        .collect())
}

/// `fe.secure.read.permissions` (or environment token): every permission.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<PermissionReply>>, ApiError> {
    caller.require(Perm::ReadPermissions)?;
    Ok(Json(replies(&state, rbac::all_permissions(&state.db)?)?))
}

/// Environment token: create permissions (all or none); 409 when a key is taken.
pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<Vec<NewPermission>>,
) -> Result<(StatusCode, Json<Vec<PermissionReply>>), ApiError> {
    caller.require(Perm::Environment)?;
    let created = change::create(&state.db, &state.clock, &new).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            created
                .into_iter()
                .map(|p| reply::permission(p, &[]))
                .collect(),
        ),
    ))
}

/// Environment token: change key, name, description or category.
pub(super) async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<PermissionChange>,
) -> Result<Json<PermissionReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let p = change::update(&state.db, &state.clock, &id, &c).await?;
    Ok(Json(reply::permission(p, &rbac::all_roles(&state.db)?)))
}

/// Environment token: delete a permission and take it out of every role.
pub(super) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    change::delete(&state.db, &state.clock, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Environment token: put the permission in each listed role.
pub(super) async fn add_to_roles(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleIds>,
) -> Result<Json<PermissionReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let p = change::add_to_roles(&state.db, &state.clock, &id, &req.role_ids).await?;
    Ok(Json(reply::permission(p, &rbac::all_roles(&state.db)?)))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Classify {
    permission_ids: Vec<String>,
    #[serde(rename = "type")]
    kind: AssignmentType,
}

/// Environment token: set the assignment type of permissions (`NEVER` takes them out of
/// every role); replies with them.
pub(super) async fn classify(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Classify>,
) -> Result<Json<Vec<PermissionReply>>, ApiError> {
    caller.require(Perm::Environment)?;
    let ps = change::classify(&state.db, &state.clock, &req.permission_ids, req.kind).await?;
    Ok(Json(replies(&state, ps)?))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("PermissionsControllerV1_getAllPermissions", list)
        .add("PermissionsControllerV1_addPermissions", create)
        .add("PermissionsControllerV1_updatePermission", update)
        .add("PermissionsControllerV1_deletePermission", delete)
        .add("PermissionsControllerV1_setRolesToPermission", add_to_roles)
        .add(
            "PermissionsControllerV1_updatePermissionsAssignmentType",
            classify,
        )
}
