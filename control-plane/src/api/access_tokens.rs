//! Access tokens (tags API Tokens, Personal Tokens, M2M Tokens): an account's
//! (`tenants/access-tokens`, with roles) and a user's (`users/access-tokens`, the user's own
//! rights). The `secret` is an RS256 JWT of type `tenantAccessToken` / `userAccessToken`
//! whose `sub` is the token's id, sent as `x-api-key`; it carries no roles: SDKs look the
//! token up in the vendor-only routes here (the active-id lists, no `frontegg-tenant-id`
//! needed, and per-id data), which answer from the current state — a deleted, expired or
//! orphaned token is gone at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::claims::AccessClaims;

use super::Ops;
use super::m2m::{acting_user, expiry, time_of};
use crate::crypto::new_uuid;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::clock::rfc3339;
use crate::model::event::Event;

pub use crate::model::access_token::AccessToken;

pub(super) fn ops() -> Ops {
    Ops::default()
        // The tenant active-id list real clients call though the spec omits it (`compat.md`
        // §2.1).
        .add_extra(
            "/resources/vendor-only/tenants/access-tokens/v1/active",
            axum::routing::get(active_tenant_ids),
        )
        .add(
            "TenantAccessTokensV1Controller_getTenantAccessTokens",
            list_tenant,
        )
        .add(
            "TenantAccessTokensV1Controller_createTenantAccessToken",
            create_tenant,
        )
        .add(
            "TenantAccessTokensV1Controller_deleteTenantAccessToken",
            delete_tenant,
        )
        .add(
            "UserAccessTokensV1Controller_getUserAccessTokens",
            list_user,
        )
        .add(
            "UserAccessTokensV1Controller_createUserAccessToken",
            create_user,
        )
        .add(
            "UserAccessTokensV1Controller_deleteUserAccessToken",
            delete_user,
        )
        .add(
            "VendorOnlyUserAccessTokensV1Controller_getActiveAccessTokens",
            active_user_ids,
        )
        .add(
            "VendorOnlyUserAccessTokensV1Controller_getUserAccessTokenData",
            user_data,
        )
        .add(
            "VendorOnlyTenantAccessTokensV1Controller_getTenantAccessTokenData",
            tenant_data,
        )
}

fn not_found() -> ApiError {
    ApiError::not_found("Access token not found")
}

/// Access tokens are off unless the environment chose them (`machineToMachineAuthStrategy`).
fn enabled(state: &AppState) -> Result<crate::model::vendor_config::VendorConfig, ApiError> {
    let config = crate::model::vendor_config::current(&state.db)?;
    if config.machine_to_machine_auth_strategy != "AccessToken" {
        return Err(ApiError::forbidden("Api tokens are disabled"));
    }
    Ok(config)
}

fn view(t: &AccessToken) -> Value {
    let mut v = json!({
        "id": t.id,
        "description": t.description,
        "createdAt": t.created_at,
        "createdByUserId": t.created_by_user_id,
    });
    if t.user_id.is_none() {
        v["roleIds"] = json!(t.role_ids);
    }
    if let Some(e) = t.expires_at.and_then(time_of) {
        v["expires"] = json!(e);
    }
    v
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    expires_in_minutes: Option<f64>,
    #[serde(default)]
    role_ids: Option<Vec<String>>,
}

/// Store the token and sign its secret.
async fn issue(state: &AppState, t: AccessToken) -> Result<(StatusCode, Json<Value>), ApiError> {
    let claims = AccessClaims {
        sub: t.id.clone(),
        token_type: if t.user_id.is_some() {
            "userAccessToken".into()
        } else {
            "tenantAccessToken".into()
        },
        tenant_id: t.tenant_id.clone(),
        tenant_ids: Vec::new(),
        roles: Vec::new(),
        permissions: Vec::new(),
        application_id: state.env.client_id().to_owned(),
        iss: state.public_url.to_string(),
        aud: state.env.client_id().to_owned(),
        iat: state.clock.unix(),
        exp: t.expires_at,
        sid: None,
        user_id: t.user_id.clone(),
        email: None,
        email_verified: None,
        name: None,
        profile_picture_url: None,
        metadata: None,
        super_user: None,
        acr: None,
        amr: None,
        auth_time: None,
        jti: None,
        nbf: None,
    };
    let secret = state.issuer.sign(&claims).map_err(ApiError::internal)?;
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            tx.put(&t)?;
            Event::AccessTokenCreated {
                tenant: &t.tenant_id,
                user: t.user_id.as_deref(),
                id: &t.id,
            }
            .record(tx, &at)
        })
        .await?;
    let mut v = view(&t);
    v["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(v)))
}

fn description(req: &CreateRequest) -> Result<String, ApiError> {
    Ok(crate::model::text::checked(
        "description",
        req.description.as_deref().unwrap_or(""),
        1000,
        false,
    )?)
}

/// `fe.secure.write.tenantApiTokens`: an account token with roles.
async fn create_tenant(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Perm::WriteTenantApiTokens)?;
    enabled(&state)?;
    let tenant = caller.tenant()?;
    super::users::require_tenant_exists(&state, &tenant)?;
    let role_ids = req.role_ids.clone().unwrap_or_default();
    // Never more than the creator may confer.
    super::users::check_token_rights(&caller, &*state.catalog()?, &tenant, &role_ids, &[])?;
    let now = state.clock.unix();
    let t = AccessToken {
        id: new_uuid().to_string(),
        tenant_id: tenant,
        user_id: None,
        description: description(&req)?,
        role_ids,
        created_by_user_id: caller.user().map(|u| u.user.id.clone()),
        created_at: rfc3339(state.clock.now()),
        expires_at: expiry(now, req.expires_in_minutes)?,
    };
    issue(&state, t).await
}

fn tokens_of(
    state: &AppState,
    tenant: &str,
    user: Option<&str>,
) -> Result<Vec<AccessToken>, ApiError> {
    let mut all: Vec<AccessToken> = state
        .db
        .scan::<AccessToken>(b"")?
        .into_iter()
        .filter(|t| t.tenant_id == tenant && t.user_id.as_deref() == user)
        .collect();
    all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(all)
}

async fn list_tenant(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Perm::ReadTenantApiTokens)?;
    let tenant = caller.tenant()?;
    let items: Vec<Value> = tokens_of(&state, &tenant, None)?.iter().map(view).collect();
    Ok(Json(json!({"accessTokens": items})))
}

async fn delete(
    state: &AppState,
    id: &str,
    tenant: &str,
    user: Option<&str>,
) -> Result<StatusCode, ApiError> {
    super::m2m::delete_owned::<AccessToken>(state, id, not_found, |t, now| {
        (t.tenant_id == tenant && t.user_id.as_deref() == user)
            .then(|| (t.tenant_id.clone(), t.user_id.clone(), now))
    })
    .await
}

async fn delete_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::DeleteTenantApiTokens)?;
    let tenant = caller.tenant()?;
    delete(&state, &id, &tenant, None).await
}

/// `fe.secure.write.userApiTokens`: a token acting as the user (its current rights).
async fn create_user(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Perm::WriteUserApiTokens)?;
    enabled(&state)?;
    let tenant = caller.tenant()?;
    super::users::require_tenant_exists(&state, &tenant)?;
    let user = acting_user(&state, &caller, &tenant)?;
    let now = state.clock.unix();
    let t = AccessToken {
        id: new_uuid().to_string(),
        tenant_id: tenant,
        user_id: Some(user.clone()),
        description: description(&req)?,
        role_ids: Vec::new(),
        created_by_user_id: Some(user),
        created_at: rfc3339(state.clock.now()),
        expires_at: expiry(now, req.expires_in_minutes)?,
    };
    issue(&state, t).await
}

async fn list_user(caller: Caller, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    caller.require(Perm::ReadUserApiTokens)?;
    let tenant = caller.tenant()?;
    let user = acting_user(&state, &caller, &tenant)?;
    let items: Vec<Value> = tokens_of(&state, &tenant, Some(&user))?
        .iter()
        .map(view)
        .collect();
    Ok(Json(json!({"accessTokens": items})))
}

async fn delete_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::DeleteUserApiTokens)?;
    let tenant = caller.tenant()?;
    let user = acting_user(&state, &caller, &tenant)?;
    delete(&state, &id, &tenant, Some(&user)).await
}

fn rights(
    state: &AppState,
    cat: &crate::model::catalog::Catalog,
    t: &AccessToken,
    now: i64,
) -> Result<Option<(crate::model::m2m::Rights, Option<String>)>, ApiError> {
    Ok(crate::model::access_token::rights(
        &state.db,
        cat,
        &state.restrictions,
        t,
        now,
    )?)
}

fn active_ids(
    state: &AppState,
    headers: &HeaderMap,
    users: bool,
) -> Result<Json<Vec<String>>, ApiError> {
    let narrow = headers
        .get("frontegg-tenant-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    enabled(state)?;
    let cat = state.catalog()?;
    let now = state.clock.unix();
    let mut out = Vec::new();
    for t in state.db.scan::<AccessToken>(b"")? {
        if t.user_id.is_some() != users {
            continue;
        }
        // The header is optional here (the SDKs never send it); when given, it narrows.
        if narrow.as_deref().is_some_and(|h| h != t.tenant_id) {
            continue;
        }
        if rights(state, &cat, &t, now)?.is_some() {
            out.push(t.id);
        }
    }
    Ok(Json(out))
}

/// Environment token: ids of every active user access token.
async fn active_user_ids(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<String>>, ApiError> {
    caller.require(Perm::Environment)?;
    active_ids(&state, &headers, true)
}

/// Environment token: ids of every active account access token.
async fn active_tenant_ids(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<String>>, ApiError> {
    caller.require(Perm::Environment)?;
    active_ids(&state, &headers, false)
}

fn data(state: &AppState, id: &str, users: bool) -> Result<Json<Value>, ApiError> {
    enabled(state)?;
    let t = state
        .db
        .get::<AccessToken>(id.as_bytes())?
        .filter(|t| t.user_id.is_some() == users)
        .ok_or_else(not_found)?;
    let cat = state.catalog()?;
    let ((roles, permissions), _) =
        rights(state, &cat, &t, state.clock.unix())?.ok_or_else(not_found)?;
    let mut v =
        json!({"id": t.id, "tenantId": t.tenant_id, "roles": roles, "permissions": permissions});
    if let Some(u) = &t.user_id {
        v["userId"] = json!(u);
    }
    if let Some(e) = t.expires_at.and_then(time_of) {
        v["expires"] = json!(e);
    }
    Ok(Json(v))
}

/// Environment token: a user access token's current data (404 once it is not active).
async fn user_data(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Perm::Environment)?;
    data(&state, &id, true)
}

/// Environment token: an account access token's current data (404 once it is not active).
async fn tenant_data(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Perm::Environment)?;
    data(&state, &id, false)
}
