//! Refresh and logout with the refresh cookie (tag General). Both are cookie-authenticated,
//! so both pass the cross-site checks first (`http::extract::check_cookie_request`).

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::issue::{Issued, clearing_cookie, issue, refresh_cookie};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::guard::ClientIp;
use crate::model::login::{self, LoginError};
use crate::model::vendor_config::VendorConfig;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest {
    tenant_id: Option<String>,
}

/// Refresh the session the cookie names (its cross-site checks first; `{tenantId}` moves it
/// to another of the user's accounts): what the login box's refresh and the hosted login's
/// silent authorization both do.
pub(super) async fn refresh_with_cookie(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Issued, VendorConfig), ApiError> {
    crate::http::extract::check_cookie_request(state, headers, body)?;
    crate::http::guard::check_ip(state, None, ip)?;
    let req: RefreshRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RefreshRequest::default()
    } else {
        crate::http::extract::parse_json(body, state.limits.max_json_depth)?
    };
    let target = req
        .tenant_id
        .as_deref()
        .map(|t| crate::model::tenant::id_of("tenantId", t))
        .transpose()?;
    let token = refresh_cookie(headers, state.env.client_id()).ok_or(LoginError::Refused)?;
    // The target account's rules and the user's address, before anything is issued.
    let s = login::session_of(&state.db, &token)?;
    let u = crate::model::user::get(&state.db, &s.user_id).map_err(|_| LoginError::Refused)?;
    let tenant = login::refresh_target(&s, &u, target.as_deref());
    crate::http::guard::check_ip(state, Some(&tenant), ip)?;
    crate::http::guard::check_email(state, &[&tenant], &u.email_norm)?;
    super::issue::check_app(state, headers, &u.id, &tenant)?;
    let config = crate::model::vendor_config::current(&state.db)?;
    let opened =
        login::refresh(&state.db, &state.clock, &config, &s, &token, Some(&tenant)).await?;
    let issued = issue(state, &config, headers, opened, None)?;
    Ok((issued, config))
}

/// Public (refresh cookie): a new access token for the session; with rotation on, a new
/// refresh token too. `{tenantId}` moves the session to another of the user's accounts. A
/// rotated-out refresh token presented again ends its whole session.
pub(super) async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let (issued, config) = refresh_with_cookie(&state, ip, &headers, &body).await?;
    let mut res = issued.respond(&state, &config);
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

/// Public (refresh cookie): end the session the cookie names; the cookie is cleared. An
/// unknown or forged cookie changes nothing and gets the same reply.
pub(super) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    crate::http::extract::check_cookie_request(&state, &headers, &body)?;
    if let Some(token) = refresh_cookie(&headers, state.env.client_id()) {
        login::logout(&state.db, &state.clock, &token).await?;
    }
    let mut res = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&clearing_cookie(&state)) {
        res.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(res)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "AuthenticatioAuthenticationControllerV1_refreshToken",
            refresh,
        )
        .add("AuthenticatioAuthenticationControllerV1_logout", logout)
}
