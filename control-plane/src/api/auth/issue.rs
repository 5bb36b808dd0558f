//! What every login-like flow hands out: the login reply (`AuthenticationResponseDto`
//! without the MFA fields, which arrive with MFA) with an access token signed for the
//! session, and the `fe_refresh_<clientId>` cookie.

use axum::Json;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::http::AppState;
use crate::model::api_token::Issuance;
use crate::model::clock::rfc3339_of;
use crate::model::login::{self, Opened};
use crate::model::vendor_config::VendorConfig;

/// `AuthenticationResponseDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LoginReply {
    token_type: &'static str,
    mfa_required: bool,
    access_token: String,
    refresh_token: String,
    /// Seconds.
    expires_in: i64,
    /// RFC 3339 expiry of the access token.
    expires: String,
    user_id: String,
    user_email: String,
    email_verified: bool,
    /// Minutes until the password expires, when within the notification period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) password_expires_in: Option<i64>,
    /// The notification period, minutes, alongside `passwordExpiresIn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) notification_period: Option<u32>,
    /// The recovery code, in the reply that completes a first MFA enrolment (shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) recovery_code: Option<String>,
}

/// A login issued: the reply and how long its cookie lives.
pub(super) struct Issued {
    pub(super) body: LoginReply,
    refresh_max_age: u32,
    /// Further cookies (`Set-Cookie` values), e.g. a remembered MFA device.
    pub(super) cookies: Vec<String>,
}

/// The application a request asks a token for (`frontegg-requested-application-id`).
pub(super) fn requested_app(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("frontegg-requested-application-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Refuse, before a session opens or rotates, a request for an application `user` is not
/// assigned to in `tenant` (`issue` decides the same again).
pub(super) fn check_app(
    state: &AppState,
    headers: &HeaderMap,
    user: &str,
    tenant: &str,
) -> Result<(), ApiError> {
    crate::model::application::for_token(
        &state.db,
        requested_app(headers),
        state.env.client_id(),
        user,
        tenant,
    )?;
    Ok(())
}

/// A user token signed for `user`'s session `sid` in `tenant`, for application `app`: its
/// claims (what an ID token repeats), the token, and how long it lives. The one place every
/// login-like flow signs a user token.
pub(super) struct Signed {
    pub(super) claims: crate::model::jwt_template::Shaped,
    pub(super) token: String,
    pub(super) ttl: i64,
}

pub(super) fn sign_user_token(
    state: &AppState,
    config: &VendorConfig,
    user: &crate::model::user::User,
    (tenant, sid): (&str, &str),
    app: &str,
    authn: Option<&login::Authn>,
) -> Result<Signed, ApiError> {
    let now = state.clock.unix();
    let who = Issuance {
        issuer: &state.public_url,
        audience: state.env.client_id(),
        application: app,
        ttl: i64::from(config.default_token_expiration),
    };
    let claims = login::user_claims(&state.db, config, user, tenant, sid, now, who, authn)?;
    let token = state.issuer.sign(&claims).map_err(ApiError::internal)?;
    let ttl = claims.claims.exp.map_or(who.ttl, |e| e - now);
    Ok(Signed { claims, token, ttl })
}

/// Sign an access token for an opened (or refreshed) session and build the reply: for the
/// application the request names, if the user is assigned to it in the session's account.
pub(super) fn issue(
    state: &AppState,
    config: &VendorConfig,
    headers: &HeaderMap,
    o: Opened,
    authn: Option<&login::Authn>,
) -> Result<Issued, ApiError> {
    let now = state.clock.unix();
    let app = crate::model::application::for_token(
        &state.db,
        requested_app(headers),
        state.env.client_id(),
        &o.user.id,
        &o.session.tenant_id,
    )?;
    let signed = sign_user_token(
        state,
        config,
        &o.user,
        (&o.session.tenant_id, &o.session.id),
        &app,
        authn,
    )?;
    Ok(Issued {
        body: LoginReply {
            token_type: "bearer",
            mfa_required: false,
            access_token: signed.token,
            refresh_token: o.refresh,
            expires_in: signed.ttl,
            expires: rfc3339_of(now + signed.ttl).unwrap_or_default(),
            user_id: o.user.id,
            user_email: o.user.email,
            email_verified: o.user.verified,
            password_expires_in: None,
            notification_period: None,
            recovery_code: None,
        },
        refresh_max_age: config.default_refresh_token_expiration,
        cookies: Vec::new(),
    })
}

/// A new access token for the caller's own session, with the step-up claims it already
/// had (a step-up already satisfied): the login reply without a refresh token or cookie.
pub(super) fn reissue(
    state: &AppState,
    config: &VendorConfig,
    user: &crate::model::user::User,
    tenant: &str,
    sid: &str,
    authn: &login::Authn,
) -> Result<Response, ApiError> {
    let now = state.clock.unix();
    let app = state.env.client_id();
    let signed = sign_user_token(state, config, user, (tenant, sid), app, Some(authn))?;
    Ok(Json(serde_json::json!({
        "tokenType": "bearer",
        "mfaRequired": false,
        "accessToken": signed.token,
        "expiresIn": signed.ttl,
        "expires": rfc3339_of(now + signed.ttl).unwrap_or_default(),
        "userId": user.id,
        "userEmail": user.email,
        "emailVerified": user.verified,
    }))
    .into_response())
}

/// The refresh cookie's name: `fe_refresh_` + the client id without dashes.
pub(super) fn cookie_name(client_id: &str) -> String {
    format!("fe_refresh_{}", client_id.replace('-', ""))
}

impl Issued {
    /// The reply with its refresh cookie.
    pub(super) fn respond(self, state: &AppState, config: &VendorConfig) -> Response {
        let cookies = self.set_cookies(state, config);
        let mut res = Json(self.body).into_response();
        append_cookies(&mut res, &cookies);
        res
    }

    /// The `Set-Cookie` values of this login: the refresh cookie, then any others.
    pub(super) fn set_cookies(&self, state: &AppState, config: &VendorConfig) -> Vec<String> {
        let cookie = login_cookie(
            state,
            config,
            &cookie_name(state.env.client_id()),
            &self.body.refresh_token,
            self.refresh_max_age,
        );
        std::iter::once(cookie)
            .chain(self.cookies.iter().cloned())
            .collect()
    }

    /// The access token issued.
    pub(super) fn access_token(&self) -> &str {
        &self.body.access_token
    }

    /// The refresh token issued.
    pub(super) fn refresh_token(&self) -> &str {
        &self.body.refresh_token
    }

    /// Seconds the access token lives.
    pub(super) fn expires_in(&self) -> i64 {
        self.body.expires_in
    }

    /// The `SameSite` attribute every cookie of a login carries.
    pub(super) fn same_site(state: &AppState, config: &VendorConfig) -> &'static str {
        match (config.cookie_same_site.as_str(), state.secure_cookies) {
            ("STRICT", _) => "Strict",
            ("LAX", _) | (_, false) => "Lax",
            _ => "None",
        }
    }
}

/// Append `Set-Cookie` values to a reply (a value that is no header value is dropped).
pub(super) fn append_cookies(res: &mut Response, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            res.headers_mut().append(SET_COOKIE, v);
        }
    }
}

/// A `Set-Cookie` value of a login (the refresh cookie, a remembered device): `HttpOnly`,
/// `Secure` unless `--dev` over plain HTTP, the environment's `SameSite` (browsers refuse
/// `None` without `Secure`: `Lax` then), `--cookie-domain`.
pub(super) fn login_cookie(
    state: &AppState,
    config: &VendorConfig,
    name: &str,
    value: &str,
    max_age: u32,
) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly{}; SameSite={}{}",
        if state.secure_cookies { "; Secure" } else { "" },
        Issued::same_site(state, config),
        state.cookie_domain_attr,
    )
}

/// The cookie that clears the refresh cookie.
pub(super) fn clearing_cookie(state: &AppState) -> String {
    format!(
        "{}=; Path=/; Max-Age=0; HttpOnly{}{}",
        cookie_name(state.env.client_id()),
        if state.secure_cookies { "; Secure" } else { "" },
        state.cookie_domain_attr,
    )
}

/// The value of cookie `name` (at most 256 characters), if sent.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty() && v.len() <= 256)
        .map(|(_, v)| v.to_owned())
}

/// The refresh token from the `fe_refresh_…` cookie. The name is the client id without
/// dashes; the un-stripped and single-dash-stripped variants Next.js tolerates are read too.
pub(super) fn refresh_cookie(headers: &HeaderMap, client_id: &str) -> Option<String> {
    let names = [
        cookie_name(client_id),
        format!("fe_refresh_{client_id}"),
        format!("fe_refresh_{}", client_id.replacen('-', "", 1)),
    ];
    names.iter().find_map(|n| cookie(headers, n))
}
