//! Client-credentials API tokens (tags API Tokens, Personal Tokens, API Token): an account's
//! tokens (`tenants/api-tokens` v1/v2, roles or permissions), a user's tokens
//! (`users/api-tokens`, the user's own rights in the account), and the login with
//! `{clientId, secret}` (`auth/v2/api-token`, snake_case; the v1 camelCase variant real
//! clients also call) with refresh. Deleting a token revokes its JWTs at every sidecar.

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
use crate::model::api_token::{self, ApiToken};
use crate::model::clock::rfc3339;
use crate::model::event::Event;
use crate::model::m2m::{account_rights, user_rights};

pub(super) fn ops() -> Ops {
    Ops::default()
        // The v1 login and refresh real clients call though the spec omits them (`compat.md`
        // §4.5).
        .add_extra(
            "/resources/auth/v1/api-token",
            axum::routing::post(login_v1),
        )
        .add_extra(
            "/resources/auth/v1/api-token/token/refresh",
            axum::routing::post(refresh_v1),
        )
        .add(
            "TenantApiTokensV1Controller_getTenantsApiTokens",
            list_tenant_tokens,
        )
        .add(
            "TenantApiTokensV1Controller_createTenantApiToken",
            create_tenant_token,
        )
        .add(
            "TenantApiTokensV2Controller_createTenantApiToken",
            create_tenant_token,
        )
        .add(
            "TenantApiTokensV1Controller_updateTenantApiToken",
            update_tenant_token,
        )
        .add(
            "TenantApiTokensV1Controller_deleteTenantApiToken",
            delete_tenant_token,
        )
        .add("UserApiTokensV1Controller_getApiTokens", list_user_tokens)
        .add(
            "UserApiTokensV1Controller_createTenantApiToken",
            create_user_token,
        )
        .add(
            "UserApiTokensV1Controller_deleteApiToken",
            delete_user_token,
        )
        .add("AuthenticationApiTokenControllerV2_authApiToken", login_v2)
        .add(
            "AuthenticationApiTokenControllerV2_refreshToken",
            refresh_v2,
        )
}

fn not_found() -> ApiError {
    ApiError::not_found("API token not found")
}

fn view(t: &ApiToken) -> Value {
    let mut v = json!({
        "clientId": t.client_id,
        "description": t.description,
        "tenantId": t.tenant_id,
        "createdByUserId": t.created_by_user_id,
        "metadata": t.metadata,
        "createdAt": t.created_at,
        "permissionIds": t.permission_ids,
        "roleIds": t.role_ids,
    });
    // `null` for a token that never expires (the list reply requires the field).
    v["expires"] = json!(t.expires_at.and_then(time_of));
    if let Some(u) = &t.user_id {
        v["userId"] = json!(u);
    }
    v
}

fn with_secret(t: &ApiToken, secret: &str) -> Value {
    let mut v = view(t);
    v["secret"] = json!(secret);
    v
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    role_ids: Option<Vec<String>>,
    #[serde(default)]
    permission_ids: Option<Vec<String>>,
    #[serde(default)]
    expires_in_minutes: Option<f64>,
}

/// An API token's metadata travels in each of its JWTs: 8 KiB at most.
fn metadata(v: Option<&Value>) -> Result<serde_json::Map<String, Value>, ApiError> {
    Ok(crate::model::json::object("metadata", v, 8 * 1024)?)
}

async fn store_new(state: &AppState, t: &ApiToken) -> Result<(), ApiError> {
    state.db.write(|tx| tx.put(t)).await?;
    Ok(())
}

/// `fe.secure.write.tenantApiTokens`: a token for the account with roles (which win) or
/// permissions; the secret is in this reply only.
async fn create_tenant_token(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Perm::WriteTenantApiTokens)?;
    let tenant = caller.tenant()?;
    super::users::require_tenant_exists(&state, &tenant)?;
    let role_ids = req.role_ids.clone().unwrap_or_default();
    let permission_ids = if role_ids.is_empty() {
        req.permission_ids.clone().unwrap_or_default()
    } else {
        Vec::new()
    };
    // The token holds what its creator gives it: never more than the creator may confer.
    super::users::check_token_rights(
        &caller,
        &*state.catalog()?,
        &tenant,
        &role_ids,
        &permission_ids,
    )?;
    let now = state.clock.unix();
    let secret = crate::crypto::random_secret_hex();
    let t = ApiToken {
        client_id: new_uuid().to_string(),
        secret_sha256: api_token::digest(&secret),
        tenant_id: tenant,
        user_id: None,
        description: crate::model::text::checked(
            "description",
            req.description.as_deref().unwrap_or(""),
            1000,
            false,
        )?,
        metadata: metadata(req.metadata.as_ref())?,
        role_ids,
        permission_ids,
        created_by_user_id: caller.user().map(|u| u.user.id.clone()),
        created_at: rfc3339(state.clock.now()),
        expires_at: expiry(now, req.expires_in_minutes)?,
        refresh: Vec::new(),
        revoked_through: None,
    };
    store_new(&state, &t).await?;
    Ok((StatusCode::CREATED, Json(with_secret(&t, &secret))))
}

fn tokens_of(
    state: &AppState,
    tenant: &str,
    user: Option<&str>,
) -> Result<Vec<ApiToken>, ApiError> {
    let mut all: Vec<ApiToken> = state
        .db
        .scan::<ApiToken>(b"")?
        .into_iter()
        .filter(|t| t.tenant_id == tenant && t.user_id.as_deref() == user)
        .collect();
    all.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then(a.client_id.cmp(&b.client_id))
    });
    Ok(all)
}

async fn list_tenant_tokens(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<Value>>, ApiError> {
    caller.require(Perm::ReadTenantApiTokens)?;
    let tenant = caller.tenant()?;
    Ok(Json(
        tokens_of(&state, &tenant, None)?.iter().map(view).collect(),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateRequest {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    role_ids: Option<Vec<String>>,
    #[serde(default)]
    permission_ids: Option<Vec<String>>,
}

/// `fe.secure.write.tenantApiTokens`: change description, metadata, roles or permissions;
/// they apply from the token's next login or refresh.
async fn update_tenant_token(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Perm::WriteTenantApiTokens)?;
    let tenant = caller.tenant()?;
    super::users::check_token_rights(
        &caller,
        &*state.catalog()?,
        &tenant,
        req.role_ids.as_deref().unwrap_or_default(),
        req.permission_ids.as_deref().unwrap_or_default(),
    )?;
    let at = rfc3339(state.clock.now());
    let now = state.clock.unix();
    let description = req
        .description
        .as_deref()
        .map(|d| crate::model::text::checked("description", d, 1000, false))
        .transpose()?;
    let meta = req
        .metadata
        .as_ref()
        .map(|m| metadata(Some(m)))
        .transpose()?;
    let saved = state
        .db
        .write(|tx| {
            let mut t = tx
                .get::<ApiToken>(id.as_bytes())?
                .filter(|t| t.tenant_id == tenant && t.user_id.is_none())
                .ok_or_else(not_found)?;
            if let Some(d) = &description {
                t.description = d.clone();
            }
            if let Some(m) = &meta {
                t.metadata = m.clone();
            }
            let before = (t.role_ids.clone(), t.permission_ids.clone());
            if let Some(r) = &req.role_ids {
                t.role_ids = r.clone();
            }
            if let Some(p) = &req.permission_ids {
                t.permission_ids = p.clone();
            }
            // Rights taken away: the JWTs already issued carry them, so they are void at
            // every sidecar (the next login or refresh gets the new rights).
            let shrinks = before.0.iter().any(|r| !t.role_ids.contains(r))
                || before.1.iter().any(|p| !t.permission_ids.contains(p));
            if shrinks {
                let through = t.revoke_issued(now);
                Event::ApiTokenRightsReduced {
                    tenant: &t.tenant_id,
                    client_id: &t.client_id,
                }
                .record(
                    tx,
                    &crate::model::clock::rfc3339_of(through).unwrap_or_else(|| at.clone()),
                )?;
            }
            tx.put(&t)?;
            Ok::<_, ApiError>(t)
        })
        .await?;
    Ok(Json(view(&saved)))
}

/// Delete a token: its refresh tokens die with it and its JWTs are revoked at every
/// sidecar.
async fn delete_token(
    state: &AppState,
    id: &str,
    tenant: &str,
    user: Option<&str>,
) -> Result<StatusCode, ApiError> {
    super::m2m::delete_owned::<ApiToken>(state, id, not_found, |t, now| {
        (t.tenant_id == tenant && t.user_id.as_deref() == user).then(|| {
            (
                t.tenant_id.clone(),
                t.user_id.clone(),
                t.clone().revoke_issued(now),
            )
        })
    })
    .await
}

async fn delete_tenant_token(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::DeleteTenantApiTokens)?;
    let tenant = caller.tenant()?;
    delete_token(&state, &id, &tenant, None).await
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateUserRequest {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    expires_in_minutes: Option<f64>,
}

/// `fe.secure.write.userApiTokens`: a token acting as the user in the account, never with
/// more than the user's own rights (they are read at each login and refresh).
async fn create_user_token(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Perm::WriteUserApiTokens)?;
    let tenant = caller.tenant()?;
    super::users::require_tenant_exists(&state, &tenant)?;
    let user = acting_user(&state, &caller, &tenant)?;
    let now = state.clock.unix();
    let secret = crate::crypto::random_secret_hex();
    let t = ApiToken {
        client_id: new_uuid().to_string(),
        secret_sha256: api_token::digest(&secret),
        tenant_id: tenant,
        user_id: Some(user.clone()),
        description: crate::model::text::checked(
            "description",
            req.description.as_deref().unwrap_or(""),
            1000,
            false,
        )?,
        metadata: metadata(req.metadata.as_ref())?,
        role_ids: Vec::new(),
        permission_ids: Vec::new(),
        created_by_user_id: Some(user),
        created_at: rfc3339(state.clock.now()),
        expires_at: expiry(now, req.expires_in_minutes)?,
        refresh: Vec::new(),
        revoked_through: None,
    };
    store_new(&state, &t).await?;
    Ok((StatusCode::CREATED, Json(with_secret(&t, &secret))))
}

async fn list_user_tokens(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<Value>>, ApiError> {
    caller.require(Perm::ReadUserApiTokens)?;
    let tenant = caller.tenant()?;
    let user = acting_user(&state, &caller, &tenant)?;
    Ok(Json(
        tokens_of(&state, &tenant, Some(&user))?
            .iter()
            .map(view)
            .collect(),
    ))
}

async fn delete_user_token(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::DeleteUserApiTokens)?;
    let tenant = caller.tenant()?;
    let user = acting_user(&state, &caller, &tenant)?;
    delete_token(&state, &id, &tenant, Some(&user)).await
}

// ---- Login and refresh ----

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginRequest {
    client_id: String,
    secret: String,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest {
    refresh_token: String,
}

fn refused() -> ApiError {
    ApiError::unauthorized("Invalid client credentials")
}

/// What a login or refresh hands out.
struct Granted {
    access: String,
    refresh: String,
    expires_in: i64,
    expires: String,
}

fn granted(g: Granted, snake: bool) -> Response {
    let body = if snake {
        json!({"access_token": g.access, "refresh_token": g.refresh, "expires_in": g.expires_in, "expires": g.expires})
    } else {
        json!({"accessToken": g.access, "refreshToken": g.refresh, "expiresIn": g.expires_in, "expires": g.expires})
    };
    Json(body).into_response()
}

fn strategy_allows(
    state: &AppState,
) -> Result<crate::model::vendor_config::VendorConfig, ApiError> {
    let config = crate::model::vendor_config::current(&state.db)?;
    if config.machine_to_machine_auth_strategy == "AccessToken" {
        // Real clients match this exact text.
        return Err(ApiError::forbidden("Api tokens are disabled"));
    }
    Ok(config)
}

/// The claims of a token: an account token carries its roles' (or its own) permissions; a
/// user token the user's current rights in the account (refused when the user is locked,
/// gone or no longer an enabled member).
fn claims(state: &AppState, t: &ApiToken, now: i64, ttl: i64) -> Result<AccessClaims, ApiError> {
    let cat = state.catalog()?;
    let (token_type, (roles, permissions), user) = match &t.user_id {
        None => (
            "tenantApiToken",
            account_rights(
                &state.db,
                &cat,
                &t.tenant_id,
                &t.role_ids,
                &t.permission_ids,
            )?
            .ok_or_else(refused)?,
            None,
        ),
        Some(uid) => {
            let (rights, u) = user_rights(&state.db, &cat, &state.restrictions, uid, &t.tenant_id)?
                .ok_or_else(refused)?;
            ("userApiToken", rights, Some(u))
        }
    };
    let exp = match t.expires_at {
        Some(e) => (now + ttl).min(e),
        None => now + ttl,
    };
    Ok(AccessClaims {
        sub: t.client_id.clone(),
        token_type: token_type.into(),
        tenant_id: t.tenant_id.clone(),
        tenant_ids: Vec::new(),
        roles,
        permissions,
        application_id: state.env.client_id().to_owned(),
        iss: state.public_url.to_string(),
        aud: state.env.client_id().to_owned(),
        iat: t.issued_at(now),
        exp: Some(exp),
        sid: None,
        user_id: user.as_ref().map(|u| u.id.clone()),
        email: user
            .as_ref()
            .map(|u| u.email.clone())
            .filter(|e| !e.is_empty()),
        email_verified: None,
        name: None,
        profile_picture_url: None,
        metadata: Some(t.metadata.clone()),
        super_user: None,
        acr: None,
        amr: None,
        auth_time: None,
        jti: None,
        nbf: None,
    })
}

/// Sign the claims and attach the new refresh token (`<clientId>.<random>`).
fn grant(
    state: &AppState,
    t: &ApiToken,
    random: &str,
    now: i64,
    ttl: i64,
) -> Result<Granted, ApiError> {
    let c = claims(state, t, now, ttl)?;
    let exp = c.exp.unwrap_or(now + ttl);
    let access = state.issuer.sign(&c).map_err(ApiError::internal)?;
    Ok(Granted {
        access,
        refresh: format!("{}.{random}", t.client_id),
        expires_in: exp - now,
        expires: time_of(exp).unwrap_or_default(),
    })
}

/// The caller's address, checked against the environment's IP rules before anything about
/// the token is looked at (the account's come once the token is known).
fn client_address(
    state: &AppState,
    peer: std::net::SocketAddr,
    headers: &axum::http::HeaderMap,
) -> Result<std::net::IpAddr, ApiError> {
    let ip = crate::http::guard::client_ip(state, peer, headers);
    crate::http::guard::check_ip(state, None, ip)?;
    Ok(ip)
}

async fn login(
    state: &AppState,
    req: LoginRequest,
    ip: std::net::IpAddr,
) -> Result<Granted, ApiError> {
    let config = strategy_allows(state)?;
    let now = state.clock.unix();
    let ttl = i64::from(config.default_token_expiration);
    let random = crate::model::otp::new_token();
    let id = crate::model::tenant::parse_id(&req.client_id).ok_or_else(refused)?;
    let stored = state
        .db
        .write(|tx| {
            let Some(mut t) = tx.get::<ApiToken>(id.as_bytes())? else {
                return Ok(None);
            };
            if !t.secret_matches(&req.secret) || t.expired(now) {
                return Ok(None);
            }
            t.add_refresh(&random, now);
            tx.put(&t)?;
            Ok::<_, ApiError>(Some(t))
        })
        .await?
        .ok_or_else(refused)?;
    crate::http::guard::check_ip(state, Some(&stored.tenant_id), ip)?;
    grant(state, &stored, &random, now, ttl)
}

async fn refresh(
    state: &AppState,
    req: RefreshRequest,
    ip: std::net::IpAddr,
) -> Result<Granted, ApiError> {
    let config = strategy_allows(state)?;
    let now = state.clock.unix();
    let ttl = i64::from(config.default_token_expiration);
    let (id, old) = req.refresh_token.split_once('.').ok_or_else(refused)?;
    let id = crate::model::tenant::parse_id(id).ok_or_else(refused)?;
    let random = crate::model::otp::new_token();
    let stored = state
        .db
        .write(|tx| {
            let Some(mut t) = tx.get::<ApiToken>(id.as_bytes())? else {
                return Ok(None);
            };
            if t.expired(now) || !t.take_refresh(old) {
                return Ok(None);
            }
            t.add_refresh(&random, now);
            tx.put(&t)?;
            Ok::<_, ApiError>(Some(t))
        })
        .await?
        .ok_or_else(refused)?;
    crate::http::guard::check_ip(state, Some(&stored.tenant_id), ip)?;
    grant(state, &stored, &random, now, ttl)
}

/// Public: `{clientId, secret}` → snake_case tokens. Each login adds a refresh token; the
/// 101st live one evicts the oldest.
async fn login_v2(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let ip = client_address(&state, peer, &headers)?;
    Ok(granted(login(&state, req, ip).await?, true))
}

/// Public: a refresh token (single use) → new tokens.
async fn refresh_v2(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let ip = client_address(&state, peer, &headers)?;
    Ok(granted(refresh(&state, req, ip).await?, true))
}

async fn login_v1(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let ip = client_address(&state, peer, &headers)?;
    Ok(granted(login(&state, req, ip).await?, false))
}

async fn refresh_v1(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let ip = client_address(&state, peer, &headers)?;
    Ok(granted(refresh(&state, req, ip).await?, false))
}
