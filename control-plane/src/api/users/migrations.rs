//! Data migration (tag Data Migration, `compat-wave2.md` §16), environment token only:
//! import one user now, or many in the background with a status to poll; and pull an Auth0
//! tenant's users through Auth0's management API into such a bulk import. The rules live
//! in `model::migration`; Auth0 is called through `upstream::auth0`.

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FromAuth0 {
    domain: String,
    client_id: String,
    secret: String,
    tenant_id_field_name: String,
    #[serde(default)]
    is_tenant_id_on_user_metadata: bool,
}

/// An Auth0 user (Management API v2) as a migration user: its account from its app (or
/// user) metadata's `field`; Auth0 exports no password hashes, so the user sets a password
/// with a reset link (or signs in another way).
fn from_auth0(u: &Value, field: &str, user_metadata: bool) -> Value {
    let meta = if user_metadata {
        "user_metadata"
    } else {
        "app_metadata"
    };
    let mut out = serde_json::json!({
        "tenantId": u.pointer(&format!("/{meta}/{field}")).and_then(Value::as_str).unwrap_or_default(),
        "email": u.get("email").and_then(Value::as_str).unwrap_or_default(),
        "verifyUser": u.get("email_verified").and_then(Value::as_bool).unwrap_or(false),
        "provider": "local",
    });
    for (from, to) in [
        ("name", "name"),
        ("picture", "profilePictureUrl"),
        ("user_id", "externalId"),
    ] {
        if let Some(v) = u.get(from).and_then(Value::as_str) {
            out[to] = Value::String(v.to_owned());
        }
    }
    if let Some(m) = u.get("user_metadata").filter(|m| m.is_object()) {
        out["metadata"] = Value::String(m.to_string());
    }
    out
}

/// `POST migrations/v1/auth0`: the Auth0 tenant's users (up to 1,000, through its
/// Management API) imported as a bulk migration; `{migrationId}` to follow it.
async fn auth0(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<FromAuth0>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    caller.require(Perm::Environment)?;
    let domain = req.domain.trim();
    if !domain.contains('.')
        || domain.starts_with('.')
        || !domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':')
    {
        return Err(ApiError::bad_request(
            "domain is a host name, like tenant.auth0.com",
        ));
    }
    for (field, v) in [
        ("clientId", &req.client_id),
        ("secret", &req.secret),
        ("tenantIdFieldName", &req.tenant_id_field_name),
    ] {
        if v.trim().is_empty() {
            return Err(ApiError::bad_request(format!("{field} is required")));
        }
    }
    let base = state.endpoints.auth0.replace("{domain}", domain);
    let a = crate::upstream::auth0::Auth0 {
        base: &base,
        domain,
        client_id: req.client_id.trim(),
        secret: &req.secret,
    };
    // The domain is the caller's: an Auth0 that cannot be reached there is a bad request.
    let found = crate::upstream::auth0::users(&state.upstream, &a, migration::MAX_BATCH)
        .await
        .map_err(|e| match e {
            crate::upstream::UpstreamError::Unavailable(why) => ApiError::bad_request(format!(
                "Auth0 at {domain} could not be reached or answered wrongly: {why}"
            )),
            refused => refused.into(),
        })?;
    if found.is_empty() {
        return Err(ApiError::bad_request("the Auth0 tenant has no users"));
    }
    let users = found
        .iter()
        .map(|u| {
            from_auth0(
                u,
                req.tenant_id_field_name.trim(),
                req.is_tenant_id_on_user_metadata,
            )
        })
        .collect();
    let migration_id = migration::submit(&state.db, &state.clock, users).await?;
    Ok((StatusCode::CREATED, Json(Accepted { migration_id })))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_migrateUserForVendor", one)
        .add("UsersControllerV1_bulkMigrateUserForVendor", bulk)
        .add("UsersControllerV2_bulkMigrateUserForVendor", bulk)
        .add("UsersControllerV1_checkBulkMigrationStatus", status)
        .add("UsersControllerV1_migrateUserFromAuth0", auth0)
}
