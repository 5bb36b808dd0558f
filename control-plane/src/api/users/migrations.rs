//! Data migration (tag Data Migration, `compat-wave2.md` §16), environment token only:
//! import one user now, or many in the background with a status to poll; and pull an Auth0
//! tenant's users through Auth0's management API into such a bulk import. The rules live
//! in `model::migration`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dto::{self, UserResponse};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::migration::{self, Imported, Migration};

/// `POST migrations/v1/local`: the imported user (201).
async fn one(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Imported>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    caller.require(Perm::Environment)?;
    let cat = state.catalog()?;
    let u = migration::import_one(&state.db, &state.clock, &cat.roles, &req).await?;
    let tenant = req.tenant_id.trim().to_owned();
    Ok((
        StatusCode::CREATED,
        Json(dto::full(&state, &u, Some(&tenant))?),
    ))
}

#[derive(Deserialize)]
struct Bulk {
    users: Vec<Value>,
}

/// `MigrationContext`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    migration_id: String,
}

/// `POST migrations/v1/local/bulk` and `…/v2/…`: accepted (202) and worked through in the
/// background; each user is checked then (its errors in the status).
async fn bulk(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Bulk>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    caller.require(Perm::Environment)?;
    if req.users.iter().any(|u| !u.is_object()) {
        return Err(ApiError::bad_request("every user must be an object"));
    }
    let migration_id = migration::submit(&state.db, &state.clock, req.users).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { migration_id })))
}

/// `GET migrations/v1/local/bulk/status/{migrationId}`.
async fn status(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Migration>, ApiError> {
    caller.require(Perm::Environment)?;
    migration::status(&state.db, &id)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("No such migration"))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_migrateUserForVendor", one)
        .add("UsersControllerV1_bulkMigrateUserForVendor", bulk)
        .add("UsersControllerV2_bulkMigrateUserForVendor", bulk)
        .add("UsersControllerV1_checkBulkMigrationStatus", status)
}
