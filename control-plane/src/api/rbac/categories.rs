//! Permission categories (tag Permissions Categories), environment token.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::rbac::Category;
use crate::model::rbac::categories::{self, CategoryChange, NewCategory};

/// `PermissionCategoryResponse` with the ids of its permissions.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CategoryReply {
    id: String,
    name: String,
    description: Option<String>,
    fe_category: bool,
    created_at: String,
    permission_ids: Vec<String>,
}

fn reply(c: Category, members: &HashMap<String, Vec<String>>) -> CategoryReply {
    CategoryReply {
        permission_ids: members.get(&c.id).cloned().unwrap_or_default(),
        id: c.id,
        name: c.name,
        description: c.description,
        fe_category: c.fe_category,
        created_at: c.created_at,
    }
}

/// `fe.secure.read.permissions` (the portal's roles page) or environment token: every
/// category with its permission ids.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<CategoryReply>>, ApiError> {
    caller.require(Perm::ReadPermissions)?;
    let members = categories::members(&state.db)?;
    Ok(Json(
        categories::all(&state.db)?
            .into_iter()
            .map(|c| reply(c, &members))
            .collect(),
    ))
}

/// Create a category (optionally with a chosen UUID; 409 if taken).
pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewCategory>,
) -> Result<(StatusCode, Json<CategoryReply>), ApiError> {
    caller.require(Perm::Environment)?;
    let c = categories::create(&state.db, &state.clock, &new).await?;
    Ok((StatusCode::CREATED, Json(reply(c, &HashMap::new()))))
}

/// Rename or describe a category; built-in ones keep their name.
pub(super) async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<CategoryChange>,
) -> Result<Json<CategoryReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let c = categories::update(&state.db, &id, &change).await?;
    Ok(Json(reply(c, &categories::members(&state.db)?)))
}

/// Delete a category; its permissions stay, uncategorised.
pub(super) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    categories::delete(&state.db, &id).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "PermissionsCategoriesController_getAllCategoriesWithPermissions",
            list,
        )
        .add(
            "PermissionsCategoriesController_createPermissionCategory",
            create,
        )
        .add("PermissionsCategoriesController_updateCategory", update)
        .add("PermissionsCategoriesController_deleteCategory", delete)
}
