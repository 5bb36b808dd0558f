//! Accounts with environment auth. Shapes follow what Frontegg clients parse: a bare array
//! from list, a one-element array from get-by-id, `metadata` as a JSON-encoded string,
//! RFC 3339 times, an empty 200 body from delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing;
use serde::Deserialize;
use serde_json::Value;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::reply::TenantReply;
use crate::model::tenant::{self, NewTenant, TenantError};

/// An unparseable id names no tenant: 404, like any unknown id.
fn path_id(raw: &str) -> Result<String, ApiError> {
    Ok(tenant::parse_id(raw).ok_or(TenantError::NotFound)?)
}

/// Environment token: every tenant, ordered by tenant id.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<TenantReply>>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(
        tenant::all(&state.db)?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Environment token: create a tenant; 409 when the id exists.
pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<TenantReply>), ApiError> {
    caller.require(Perm::Environment)?;
    let t = tenant::create(&state.db, &state.clock, new).await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// Environment token: one tenant, as a one-element array (what clients parse).
pub(super) async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Vec<TenantReply>>, ApiError> {
    caller.require(Perm::Environment)?;
    let t = tenant::get(&state.db, &path_id(&raw)?)?;
    Ok(Json(vec![t.into()]))
}

/// Environment token: delete a tenant with everything that hangs on it.
pub(super) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    tenant::delete(&state.db, &state.clock, &path_id(&raw)?).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
pub(super) struct MetadataRequest {
    metadata: Value,
}

/// Environment token: merge keys into the tenant's metadata.
pub(super) async fn add_metadata(
    caller: Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<MetadataRequest>,
) -> Result<Json<TenantReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let id = path_id(&raw)?;
    let add = tenant::metadata_object(&req.metadata)?;
    let t =
        tenant::update_metadata(&state.db, &state.clock, &id, |m| m.extend(add.clone())).await?;
    Ok(Json(t.into()))
}

/// Environment token: remove one metadata key (absent keys are fine).
pub(super) async fn delete_metadata(
    caller: Caller,
    State(state): State<AppState>,
    Path((raw, key)): Path<(String, String)>,
) -> Result<Json<TenantReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let id = path_id(&raw)?;
    let t = tenant::update_metadata(&state.db, &state.clock, &id, |m| {
        m.remove(&key);
    })
    .await?;
    Ok(Json(t.into()))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root(
            "/tenants/resources/tenants/v1",
            routing::get(list).post(create),
        )
        .add_root(
            "/tenants/resources/tenants/v1/{tenant_id}",
            routing::get(get).delete(delete),
        )
        .add_root(
            "/tenants/resources/tenants/v1/{tenant_id}/metadata",
            routing::post(add_metadata),
        )
        .add_root(
            "/tenants/resources/tenants/v1/{tenant_id}/metadata/{key}",
            routing::delete(delete_metadata),
        )
}
