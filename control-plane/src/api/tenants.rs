//! Tenants (accounts), outside the identity spec but needed by every area:
//! `/tenants/resources/tenants/v1` with environment auth. Shapes follow what Frontegg
//! clients parse: a bare array from list, a one-element array from get-by-id, `metadata` as
//! a JSON-encoded string, RFC 3339 times, an empty 200 body from delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::crypto::new_uuid;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::clock::rfc3339;
use crate::model::event::Event;
use crate::model::tenant::{self, Tenant, TenantProfile};

const BASE: &str = "/tenants/resources/tenants/v1";
const MAX_NAME: usize = 255;
const MAX_METADATA_KEYS: usize = 100;

pub(super) fn routes() -> Router<AppState> {
    let r = Router::new();
    let r = super::route_both(r, BASE, get(list_tenants).post(create_tenant));
    let r = super::route_both(
        r,
        &format!("{BASE}/{{tenant_id}}"),
        get(get_tenant).delete(delete_tenant),
    );
    let r = super::route_both(
        r,
        &format!("{BASE}/{{tenant_id}}/metadata"),
        post(add_metadata),
    );
    super::route_both(
        r,
        &format!("{BASE}/{{tenant_id}}/metadata/{{key}}"),
        delete(delete_metadata),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateTenantRequest {
    tenant_id: Option<String>,
    name: String,
    metadata: Option<Value>,
    #[serde(flatten)]
    profile: TenantProfile,
}

#[derive(Deserialize)]
struct MetadataRequest {
    metadata: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TenantResponse {
    id: String,
    tenant_id: String,
    name: String,
    /// JSON-encoded object (`compat.md` §5.3).
    metadata: String,
    #[serde(flatten)]
    profile: TenantProfile,
    created_at: String,
    updated_at: String,
    deleted_at: Option<String>,
}

impl From<Tenant> for TenantResponse {
    fn from(t: Tenant) -> Self {
        TenantResponse {
            id: t.id,
            tenant_id: t.tenant_id,
            name: t.name,
            metadata: Value::Object(t.metadata).to_string(),
            profile: t.profile,
            created_at: t.created_at,
            updated_at: t.updated_at,
            deleted_at: None,
        }
    }
}

/// Metadata arrives as an object, or as a string holding a JSON object (the DTO form).
fn metadata_object(v: Value) -> Result<Map<String, Value>, ApiError> {
    let obj =
        crate::model::json::object("metadata", Some(&v), crate::model::json::MAX_STORED_JSON)?;
    if obj.len() > MAX_METADATA_KEYS {
        return Err(ApiError::bad_request(format!(
            "metadata may have at most {MAX_METADATA_KEYS} keys"
        )));
    }
    Ok(obj)
}

/// The profile's texts (URLs, names, an address), each bounded like any other stored text.
fn validate_profile(p: TenantProfile) -> Result<TenantProfile, ApiError> {
    let text = |field: &str, v: Option<String>| -> Result<Option<String>, ApiError> {
        Ok(
            v.map(|v| crate::model::text::checked(field, &v, 2048, false))
                .transpose()?,
        )
    };
    Ok(TenantProfile {
        website: text("website", p.website)?,
        application_url: text("applicationUrl", p.application_url)?,
        logo: text("logo", p.logo)?,
        creator_name: text("creatorName", p.creator_name)?,
        creator_email: text("creatorEmail", p.creator_email)?,
        is_reseller: p.is_reseller,
    })
}

fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "name must be 1 to {MAX_NAME} characters without control characters"
        )));
    }
    Ok(name.to_owned())
}

fn not_found() -> ApiError {
    ApiError::not_found("Tenant not found")
}

/// An unparseable id names no tenant: 404, like any unknown id.
fn path_id(raw: &str) -> Result<String, ApiError> {
    tenant::parse_id(raw).ok_or_else(not_found)
}

/// Environment token: every tenant, ordered by tenant id.
async fn list_tenants(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<TenantResponse>>, ApiError> {
    caller.require(Perm::Environment)?;
    let tenants = state.db.scan::<Tenant>(b"")?;
    Ok(Json(tenants.into_iter().map(Into::into).collect()))
}

/// Environment token: create a tenant; 409 when the id exists.
async fn create_tenant(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateTenantRequest>,
) -> Result<(StatusCode, Json<TenantResponse>), ApiError> {
    caller.require(Perm::Environment)?;
    let tenant_id = match req.tenant_id.as_deref() {
        Some(raw) => {
            tenant::parse_id(raw).ok_or_else(|| ApiError::bad_request("tenantId must be a UUID"))?
        }
        None => new_uuid().to_string(),
    };
    let now = rfc3339(state.clock.now());
    let record = Tenant {
        id: new_uuid().to_string(),
        tenant_id,
        name: validate_name(&req.name)?,
        metadata: metadata_object(req.metadata.unwrap_or(Value::Null))?,
        profile: validate_profile(req.profile)?,
        created_at: now.clone(),
        updated_at: now,
    };
    state
        .db
        .write(|tx| {
            if tx.get::<Tenant>(record.tenant_id.as_bytes())?.is_some() {
                return Err(ApiError::conflict(
                    "a tenant with this tenantId already exists",
                ));
            }
            tx.put(&record)?;
            Ok(())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// Environment token: one tenant, as a one-element array (what clients parse).
async fn get_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Vec<TenantResponse>>, ApiError> {
    caller.require(Perm::Environment)?;
    let id = path_id(&raw)?;
    let t = state
        .db
        .get::<Tenant>(id.as_bytes())?
        .ok_or_else(not_found)?;
    Ok(Json(vec![t.into()]))
}

/// Environment token: delete a tenant; every token of the account becomes void (event).
async fn delete_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    let id = path_id(&raw)?;
    let at = rfc3339(state.clock.now());
    let snapshot = crate::model::cascade::TenantSnapshot::read(&state.db, &id)?;
    let restrictions = crate::model::restrictions::ScopeKeys::read(&state.db, &id)?;
    state
        .db
        .write(|tx| {
            if tx.get::<Tenant>(id.as_bytes())?.is_none() {
                return Err(not_found());
            }
            crate::model::cascade::delete_tenant(tx, &id, &snapshot, &at)?;
            // The account's restrictions go with it (sidecars drop the scope).
            crate::model::restrictions::delete_scope(tx, &restrictions)?;
            tx.delete::<Tenant>(id.as_bytes())?;
            Event::TenantDeleted { tenant: &id }.record(tx, &at)?;
            if !restrictions.is_empty() {
                Event::RestrictionsChanged { tenant: Some(&id) }.record(tx, &at)?;
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::OK)
}

/// Apply `change` to a stored tenant in one transaction and return the result.
async fn update_tenant(
    state: &AppState,
    id: &str,
    change: impl Fn(&mut Tenant),
) -> Result<Json<TenantResponse>, ApiError> {
    let now = rfc3339(state.clock.now());
    let updated = state
        .db
        .write(|tx| {
            let mut t = tx.get::<Tenant>(id.as_bytes())?.ok_or_else(not_found)?;
            change(&mut t);
            if t.metadata.len() > MAX_METADATA_KEYS {
                return Err(ApiError::bad_request(format!(
                    "metadata may have at most {MAX_METADATA_KEYS} keys"
                )));
            }
            // Merged metadata is bounded as a whole, like any stored value.
            crate::model::json::bounded(
                "metadata",
                &t.metadata,
                crate::model::json::MAX_STORED_JSON,
            )?;
            t.updated_at = now.clone();
            tx.put(&t)?;
            Ok(t)
        })
        .await?;
    Ok(Json(updated.into()))
}

/// Environment token: merge keys into the tenant's metadata.
async fn add_metadata(
    caller: Caller,
    State(state): State<AppState>,
    Path(raw): Path<String>,
    ApiJson(req): ApiJson<MetadataRequest>,
) -> Result<Json<TenantResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let id = path_id(&raw)?;
    let add = metadata_object(req.metadata)?;
    update_tenant(&state, &id, |t| t.metadata.extend(add.clone())).await
}

/// Environment token: remove one metadata key (absent keys are fine).
async fn delete_metadata(
    caller: Caller,
    State(state): State<AppState>,
    Path((raw, key)): Path<(String, String)>,
) -> Result<Json<TenantResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let id = path_id(&raw)?;
    update_tenant(&state, &id, |t| {
        t.metadata.remove(&key);
    })
    .await
}
