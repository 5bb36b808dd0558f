//! The routes every per-account setting shares (`model::setting`): read the scope's own,
//! read the one in force, read the environment's, create, update, create-or-update. An
//! area declares a setting's permissions and reply shape ([`Routes`]) and mounts these.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::setting::{self, ScopedSetting, SettingError};

/// What a setting's routes need beyond the setting itself.
pub(super) trait Routes:
    ScopedSetting<Change: DeserializeOwned + Send> + Send + 'static
{
    /// The permission reading it takes.
    const READ: Perm;
    /// The permission changing it takes.
    const WRITE: Perm;
    /// What a create-or-update answers (the spec's status for the operation).
    const UPSERTED: StatusCode = StatusCode::CREATED;
    /// Its reply.
    type Reply: Serialize;
    /// The reply for a setting.
    fn reply(&self) -> Self::Reply;
}

/// The setting the scope itself has (404 if it has none).
pub(super) async fn get_own<S: Routes>(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<S::Reply>, ApiError> {
    let scope = caller.scope(&state, S::READ)?;
    let s =
        setting::own::<S>(&state.db, scope.as_deref())?.ok_or(SettingError::Missing(S::NAME))?;
    Ok(Json(s.reply()))
}

/// The setting in force in the scope: its own, else the environment's (else the defaults,
/// or 404 for a setting without defaults).
pub(super) async fn get_in_force<S: Routes>(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<S::Reply>, ApiError> {
    let scope = caller.scope(&state, S::READ)?;
    Ok(Json(
        setting::effective::<S>(&state.db, scope.as_deref())?.reply(),
    ))
}

/// Environment token: the environment's setting.
pub(super) async fn get_environment<S: Routes>(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<S::Reply>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(setting::effective::<S>(&state.db, None)?.reply()))
}

/// Create the scope's setting (409 if it has one).
pub(super) async fn create<S: Routes>(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(change): ApiJson<S::Change>,
) -> Result<(StatusCode, Json<S::Reply>), ApiError> {
    let scope = caller.scope(&state, S::WRITE)?;
    let s = setting::create::<S>(&state.db, &state.clock, scope.as_deref(), &change).await?;
    Ok((StatusCode::CREATED, Json(s.reply())))
}

/// Change the scope's setting (404 if it never had one).
pub(super) async fn update<S: Routes>(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(change): ApiJson<S::Change>,
) -> Result<Json<S::Reply>, ApiError> {
    let scope = caller.scope(&state, S::WRITE)?;
    let s = setting::update::<S>(&state.db, &state.clock, scope.as_deref(), &change).await?;
    Ok(Json(s.reply()))
}

/// Change the scope's setting, creating it if need be.
pub(super) async fn upsert<S: Routes>(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(change): ApiJson<S::Change>,
) -> Result<(StatusCode, Json<S::Reply>), ApiError> {
    let scope = caller.scope(&state, S::WRITE)?;
    let s = setting::upsert::<S>(&state.db, &state.clock, scope.as_deref(), &change).await?;
    Ok((S::UPSERTED, Json(s.reply())))
}
