//! The API-token login (tag API Token): `{clientId, secret}` → tokens, and refresh with the
//! single-use refresh token. v2 answers snake_case; the v1 routes real clients also call
//! answer camelCase. The environment's IP rules are checked before anything about the token
//! is looked at, the account's once the token is known.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::extract::ApiJson;
use crate::http::guard::ClientIp;
use crate::model::api_token::{self, Granted, Issuance};
use crate::model::clock::rfc3339_of;

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LoginRequest {
    client_id: String,
    secret: String,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefreshRequest {
    refresh_token: String,
}

/// What a login or refresh hands out (v2: snake_case).
#[derive(Serialize)]
pub(super) struct TokensSnake {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
    expires: String,
}

/// The v1 shape (camelCase).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TokensCamel {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
    expires: String,
}

/// Sign a JWT for what a login or refresh granted, once the account's IP rules allow the
/// caller.
fn issue(state: &AppState, g: Granted, ip: ClientIp) -> Result<TokensSnake, ApiError> {
    crate::http::guard::check_ip(state, Some(&g.token.tenant_id), ip.0)?;
    let config = crate::model::vendor_config::current(&state.db)?;
    let now = state.clock.unix();
    let who = Issuance {
        issuer: &state.public_url,
        audience: state.env.client_id(),
        application: state.env.client_id(),
        ttl: i64::from(config.default_token_expiration),
    };
    let cat = state.catalog()?;
    let claims = api_token::claims(&state.db, &cat, &state.restrictions, &g.token, now, who)?;
    let exp = claims.claims.exp.unwrap_or(now + who.ttl);
    Ok(TokensSnake {
        access_token: state.issuer.sign(&claims).map_err(ApiError::internal)?,
        refresh_token: format!("{}.{}", g.token.client_id, g.refresh),
        expires_in: exp - now,
        expires: rfc3339_of(exp).unwrap_or_default(),
    })
}

async fn login(state: &AppState, req: LoginRequest, ip: ClientIp) -> Result<TokensSnake, ApiError> {
    crate::http::guard::check_ip(state, None, ip.0)?;
    let g = api_token::login(&state.db, &state.clock, &req.client_id, &req.secret).await?;
    issue(state, g, ip)
}

async fn refresh(
    state: &AppState,
    req: RefreshRequest,
    ip: ClientIp,
) -> Result<TokensSnake, ApiError> {
    crate::http::guard::check_ip(state, None, ip.0)?;
    let g = api_token::refresh(&state.db, &state.clock, &req.refresh_token).await?;
    issue(state, g, ip)
}

fn camel(t: TokensSnake) -> TokensCamel {
    TokensCamel {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        expires_in: t.expires_in,
        expires: t.expires,
    }
}

/// Public: `{clientId, secret}` → snake_case tokens.
pub(super) async fn login_v2(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(login(&state, req, ip).await?).into_response())
}

/// Public: a refresh token (single use) → new tokens.
pub(super) async fn refresh_v2(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(refresh(&state, req, ip).await?).into_response())
}

/// Public, outside the spec: the v1 login (camelCase).
pub(super) async fn login_v1(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(camel(login(&state, req, ip).await?)).into_response())
}

/// Public, outside the spec: the v1 refresh (camelCase).
pub(super) async fn refresh_v1(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    Ok(Json(camel(refresh(&state, req, ip).await?)).into_response())
}

pub(super) fn ops() -> Ops {
    Ops::default()
        // The v1 login and refresh and the account active-id list real clients call though
        // the spec omits them (`compat.md` §4.5, §2.1).
        .add_extra("/resources/auth/v1/api-token", routing::post(login_v1))
        .add_extra(
            "/resources/auth/v1/api-token/token/refresh",
            routing::post(refresh_v1),
        )
        .add("AuthenticationApiTokenControllerV2_authApiToken", login_v2)
        .add(
            "AuthenticationApiTokenControllerV2_refreshToken",
            refresh_v2,
        )
}
