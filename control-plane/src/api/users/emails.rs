//! Users by address: the environment's lookup and address change (unique once normalised,
//! to be verified again).

use crate::http::page::Params;
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::dto::{self, UserResponse};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::user::{self, UserError};

#[derive(Deserialize)]
pub(super) struct EmailQuery {
    email: String,
}

/// Environment token: the user with this email (compared as normalised).
pub(super) async fn get_by_email(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<EmailQuery>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let norm = crate::model::email::normalize(&q.email)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let u = user::by_email(&state.db, &norm)?.ok_or(UserError::NotFound)?;
    Ok(Json(dto::user_response(
        &state,
        &*state.catalog()?,
        &u,
        None,
        false,
    )?))
}

#[derive(Clone, Deserialize)]
pub(super) struct EmailRequest {
    email: String,
}

/// Environment token: change a user's email; the address must be verified again.
pub(super) async fn update_email(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<EmailRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let norm = crate::model::email::normalize(&req.email)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Ok(u) = user::get(&state.db, &id) {
        let tenants = u.tenant_ids();
        let tenants: Vec<&str> = tenants.iter().map(String::as_str).collect();
        crate::http::guard::check_email(&state, &tenants, &norm)?;
    }
    let saved = user::change::change_email(&state.db, &id, &req.email).await?;
    Ok(Json(dto::full(&state, &saved, None)?))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_getUserByEmail", get_by_email)
        .add("UsersControllerV1_updateUserEmail", update_email)
}
