//! The hosted login's authorization server (OAuth 2.0, RFC 6749, authorization code with
//! PKCE, RFC 7636; OpenID Connect Core 1.0), as Frontegg's SDKs in hosted mode call it:
//!
//! - `GET /.well-known/openid-configuration` (discovery; the JWKS is `/.well-known/jwks.json`);
//! - `GET /oauth/authorize`: `response_type=code`, PKCE `S256` required, `state`, `nonce`,
//!   `prompt=none|login`, `login_hint`, `max_age`. A client or redirect URI that is not
//!   registered, exactly, gets an error page and no redirect at all; other refusals go back
//!   to the redirect URI as `error=…&state=…`. Without a signed-in session the browser is sent
//!   to the sign-in page (`pages.rs`), which resumes this request.
//! - `POST /oauth/token`: `authorization_code` (single use, bound to client, redirect URI and
//!   verifier; it opens the application's own session), `refresh_token` (the sessions'
//!   rotation and reuse detection), and RFC 8693 token exchange (`exchange.rs`);
//! - `POST /oauth/authorize/silent` (rest-api's `silentOAuthRefreshToken`: the session cookie);
//! - `GET|POST /oauth/userinfo`; `GET /oauth/logout` (ends the cookie's session and the one
//!   `id_token_hint` names; redirects only to a registered post-logout URI).
//!
//! Tokens: the access token is the user token every other login issues (what sidecars and the
//! SDKs verify); the ID token is the same claims with `aud` the client, `nonce` and
//! `auth_time` (rest-api uses the ID token as its access token, as Frontegg's hosted mode does).
//! Every route is also served under `/frontegg` (Next.js proxies it there).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, LOCATION, PRAGMA, USER_AGENT, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{self, MethodRouter};
use serde::Serialize;
use serde_json::json;

use super::exchange::{self, OAuthError, TokenRequest, invalid_grant, oauth};
use super::issue::{append_cookies, clearing_cookie, refresh_cookie};
use super::pages::{error_page, message};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::guard::ClientIp;
use crate::model::login::{self, LoginError, Opened};
use crate::model::oauth::{self as authz, Client, Grant};
use crate::model::vendor_config::VendorConfig;

const MAX_PARAM: usize = 1024;

/// The authorization request's parameters (`None` when absent, empty or `undefined`).
struct AuthorizeRequest {
    pairs: Vec<(String, String)>,
}

impl AuthorizeRequest {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Where an authorization request ends, once its client and redirect URI are known good.
fn back(state: &AppState, redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let mut target = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => {
            return message(
                state,
                StatusCode::BAD_REQUEST,
                "Sign in",
                "The application's redirect URI is not valid.",
            );
        }
    };
    {
        let mut q = target.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    let mut res = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(target.as_str()) {
        res.headers_mut().insert(LOCATION, v);
    }
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// An error sent back to the client's redirect URI (RFC 6749 §4.1.2.1).
fn refuse(
    app: &AppState,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    back(app, redirect_uri, &params)
}

/// Public: the authorization endpoint.
async fn authorize(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> Response {
    let Ok(pairs) = crate::http::page::query_pairs(raw.as_deref()) else {
        return message(
            &state,
            StatusCode::BAD_REQUEST,
            "Sign in",
            "The authorization request could not be read.",
        );
    };
    // A parameter given twice is ambiguous (RFC 6749 §3.1): refused before anything is read,
    // so no two parts of the server can take different values of it.
    let mut names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return message(
            &state,
            StatusCode::BAD_REQUEST,
            "Sign in",
            "The authorization request names a parameter more than once.",
        );
    }
    let req = AuthorizeRequest { pairs };
    // The client and its redirect URI first: until both are known good, nothing redirects.
    let client = match req.get("client_id") {
        Some(id) => authz::client(&state.db, state.env.client_id(), id),
        None => Ok(None),
    };
    let client = match client {
        Ok(Some(c)) => c,
        Ok(None) => {
            return message(
                &state,
                StatusCode::BAD_REQUEST,
                "Sign in",
                "The application is not known (client_id). Start again from the application.",
            );
        }
        Err(e) => return error_page(&state, &ApiError::from(e)),
    };
    let Some(redirect_uri) = req.get("redirect_uri").filter(|u| client.redirects_to(u)) else {
        return message(
            &state,
            StatusCode::BAD_REQUEST,
            "Sign in",
            "The redirect URI is not registered for this application.",
        );
    };
    let st = req.get("state");
    if req
        .pairs
        .iter()
        .any(|(k, v)| v.len() > MAX_PARAM && k != "redirect_uri")
    {
        return refuse(
            &state,
            redirect_uri,
            None,
            "invalid_request",
            "a parameter is too long",
        );
    }
    if req.get("response_type") != Some("code") {
        return refuse(
            &state,
            redirect_uri,
            st,
            "unsupported_response_type",
            "response_type must be code",
        );
    }
    // S256 only; an absent method means S256 (Frontegg's hosted-login samples send none),
    // never RFC 7636's `plain` default: a plain challenge simply fails verification.
    let challenge = req.get("code_challenge");
    let pkce = req.get("code_challenge_method").is_none_or(|m| m == "S256")
        && challenge.is_some_and(authz::pkce_shaped);
    let Some(challenge) = challenge.filter(|_| pkce) else {
        return refuse(
            &state,
            redirect_uri,
            st,
            "invalid_request",
            "PKCE is required: code_challenge with code_challenge_method=S256",
        );
    };
    let prompt = req.get("prompt").unwrap_or_default();
    if !prompt
        .split(' ')
        .all(|p| matches!(p, "" | "none" | "login"))
    {
        return refuse(
            &state,
            redirect_uri,
            st,
            "invalid_request",
            "prompt may be none or login",
        );
    }
    let max_age = match req.get("max_age").map(str::parse::<i64>) {
        None => None,
        Some(Ok(a)) if a >= 0 => Some(a),
        Some(_) => {
            return refuse(
                &state,
                redirect_uri,
                st,
                "invalid_request",
                "max_age is a number of seconds",
            );
        }
    };
    let now = state.clock.unix();
    let signed_in = match refresh_cookie(&headers, state.env.client_id()) {
        Some(token) => login::signed_in(&state.db, &state.clock, &token),
        None => Ok(None),
    };
    let signed_in = match signed_in {
        Ok(s) => s.filter(|(s, _)| {
            !prompt.split(' ').any(|p| p == "login")
                && max_age.is_none_or(|a| now - s.created_at <= a)
        }),
        Err(e) => return error_page(&state, &ApiError::from(e)),
    };
    let Some((session, user)) = signed_in else {
        if prompt.split(' ').any(|p| p == "none") {
            return refuse(
                &state,
                redirect_uri,
                st,
                "login_required",
                "the user is not signed in",
            );
        }
        // To the sign-in page, which resumes this very request (the page's own links are
        // relative to this server: no target elsewhere).
        let target = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let mut page = String::from("/oauth/account/login?");
        page.push_str(&serde_urlencoded::to_string([("continue", target)]).unwrap_or_default());
        let mut res = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(&page) {
            res.headers_mut().insert(LOCATION, v);
        }
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return res;
    };
    // The account's rules and the application's assignment, as any login applies them.
    let allowed = crate::http::guard::check_ip(&state, Some(&session.tenant_id), ip)
        .and_then(|()| {
            crate::http::guard::check_email(&state, &[&session.tenant_id], &user.email_norm)
        })
        .and_then(|()| {
            crate::model::application::for_token(
                &state.db,
                Some(&client.id),
                state.env.client_id(),
                &user.id,
                &session.tenant_id,
            )
            .map(|_| ())
            .map_err(ApiError::from)
        });
    if let Err(e) = allowed {
        if e.status().is_server_error() {
            return error_page(&state, &e);
        }
        return refuse(&state, redirect_uri, st, "access_denied", e.message());
    }
    let grant = Grant {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        challenge: challenge.to_owned(),
        nonce: req.get("nonce").map(str::to_owned),
        scope: req.get("scope").unwrap_or("openid").to_owned(),
        user_id: user.id.clone(),
        tenant_id: session.tenant_id.clone(),
        auth_time: session.created_at,
        amr: session.amr.clone(),
    };
    match authz::issue_code(&state.db, &state.clock, grant).await {
        Ok(code) => {
            let mut params = vec![("code", code.as_str())];
            if let Some(s) = st {
                params.push(("state", s));
            }
            back(&state, redirect_uri, &params)
        }
        Err(e) => error_page(&state, &ApiError::from(e)),
    }
}

/// `{access_token, id_token, refresh_token, token_type, expires_in, scope}`.
#[derive(Serialize)]
struct Tokens {
    access_token: String,
    id_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// The token endpoint's reply.
fn tokens_reply(t: Tokens) -> Response {
    no_store(Json(t).into_response())
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// The access and ID tokens of an opened session, for `client` (its application must be one
/// the user is assigned to). The ID token: the same claims for the client, with `nonce`.
/// `authn`: the second factor of the login a code stands for (`acr`, `amr`, `auth_time` in
/// both tokens); without it the ID token still says when the user authenticated.
fn tokens_for(
    state: &AppState,
    config: &VendorConfig,
    o: &Opened,
    client_id: &str,
    nonce: Option<&str>,
    auth_time: i64,
    authn: Option<&login::Authn>,
) -> Result<(String, String, i64), OAuthError> {
    let app = crate::model::application::for_token(
        &state.db,
        Some(client_id),
        state.env.client_id(),
        &o.user.id,
        &o.session.tenant_id,
    )
    .map_err(|_| invalid_grant("the user is not assigned to this application"))?;
    let signed = super::issue::sign_user_token(
        state,
        config,
        &o.user,
        (&o.session.tenant_id, &o.session.id),
        &app,
        authn,
    )?;
    let mut id = signed.claims;
    client_id.clone_into(&mut id.claims.aud);
    id.claims.auth_time = Some(auth_time);
    match nonce {
        Some(n) => {
            id.extra.insert("nonce".into(), json!(n));
        }
        None => {
            id.extra.remove("nonce");
        }
    }
    let id_token = state.issuer.sign(&id).map_err(ApiError::internal)?;
    Ok((signed.token, id_token, signed.ttl))
}

/// The client a token request names: Basic or `client_id`, else the application the request
/// asks for (`frontegg-requested-application-id`), else the default application (rest-api
/// and Frontegg's hosted-login samples send no client id); a secret, when one is presented,
/// must be the environment's (the only client with one). Public clients prove themselves with
/// PKCE, the code being bound to its client.
fn token_client(
    state: &AppState,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Client, OAuthError> {
    let invalid = || {
        oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    };
    let id = match exchange::client(headers, req) {
        Some((id, secret)) => {
            if !state.env.check_credentials(&id, &secret) {
                return Err(invalid());
            }
            id
        }
        None => req
            .client_id
            .clone()
            .or_else(|| super::issue::requested_app(headers).map(str::to_owned))
            .unwrap_or_else(|| state.env.client_id().to_owned()),
    };
    authz::client(&state.db, state.env.client_id(), &id)
        .map_err(ApiError::from)?
        .ok_or_else(invalid)
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}

async fn code_grant(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    req: TokenRequest,
) -> Result<Response, OAuthError> {
    let client = token_client(state, headers, &req)?;
    let (Some(code), Some(redirect_uri), Some(verifier)) = (
        req.code.as_deref(),
        req.redirect_uri.as_deref(),
        req.code_verifier.as_deref(),
    ) else {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code, redirect_uri and code_verifier are required",
        ));
    };
    let sid = crate::model::session::new_id();
    let grant = authz::redeem(
        &state.db,
        &state.clock,
        code,
        &client.id,
        redirect_uri,
        verifier,
        &sid,
    )
    .await
    .map_err(|e| match e {
        authz::OAuthError::BadCode => invalid_grant(&e.to_string()),
        other => ApiError::from(other).into(),
    })?;
    let refused = || invalid_grant("the user can no longer sign in");
    let user = crate::model::user::get(&state.db, &grant.user_id).map_err(|_| refused())?;
    crate::http::guard::check_ip(state, Some(&grant.tenant_id), ip)?;
    crate::http::guard::check_email(state, &[&grant.tenant_id], &user.email_norm)?;
    let config = crate::model::vendor_config::current(&state.db).map_err(ApiError::from)?;
    let opened = login::open_session_as(
        &state.db,
        &state.clock,
        &config,
        &user,
        &grant.tenant_id,
        (Some(ip.to_string()), user_agent(headers)),
        sid,
        grant.amr.clone(),
    )
    .await
    .map_err(|e| match e {
        LoginError::BadCredentials => refused(),
        other => ApiError::from(other).into(),
    })?;
    let authn = (!grant.amr.is_empty()).then(|| login::Authn {
        amr: grant.amr.clone(),
        auth_time: grant.auth_time,
    });
    let (access, id_token, ttl) = tokens_for(
        state,
        &config,
        &opened,
        &client.id,
        grant.nonce.as_deref(),
        grant.auth_time,
        authn.as_ref(),
    )?;
    Ok(tokens_reply(Tokens {
        access_token: access,
        id_token,
        refresh_token: opened.refresh,
        token_type: "Bearer",
        expires_in: ttl,
        scope: Some(grant.scope),
    }))
}

async fn refresh_grant(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    req: TokenRequest,
) -> Result<Response, OAuthError> {
    let client = token_client(state, headers, &req)?;
    let Some(token) = req.refresh_token.as_deref() else {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is required",
        ));
    };
    let refused = || invalid_grant("the refresh token is invalid or expired");
    let s = login::session_of(&state.db, token).map_err(|_| refused())?;
    let u = crate::model::user::get(&state.db, &s.user_id).map_err(|_| refused())?;
    let tenant = login::refresh_target(&s, &u, None);
    crate::http::guard::check_ip(state, Some(&tenant), ip)?;
    crate::http::guard::check_email(state, &[&tenant], &u.email_norm)?;
    let config = crate::model::vendor_config::current(&state.db).map_err(ApiError::from)?;
    let auth_time = s.created_at;
    let opened = login::refresh(&state.db, &state.clock, &config, &s, token, Some(&tenant))
        .await
        .map_err(|e| match e {
            LoginError::Refused | LoginError::BadCredentials => refused(),
            other => ApiError::from(other).into(),
        })?;
    let (access, id_token, ttl) =
        tokens_for(state, &config, &opened, &client.id, None, auth_time, None)?;
    Ok(tokens_reply(Tokens {
        access_token: access,
        id_token,
        refresh_token: opened.refresh,
        token_type: "Bearer",
        expires_in: ttl,
        scope: None,
    }))
}

/// Public: the token endpoint, every grant type.
async fn token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let req = exchange::parse(&headers, &body)?;
    match req.grant_type.as_deref() {
        Some("authorization_code") => code_grant(&state, ip, &headers, req).await,
        Some("refresh_token") => refresh_grant(&state, ip, &headers, req).await,
        Some(crate::model::delegation::GRANT) => {
            exchange::exchange(&state, ip, &headers, req).await
        }
        _ => Err(oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code, refresh_token or token exchange",
        )),
    }
}

/// Public (session cookie): new tokens for the browser's session, OAuth-shaped
/// (`silentOAuthRefreshToken`); the cookie rotates as the login box's refresh rotates it.
async fn silent(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (issued, config) = super::session::refresh_with_cookie(&state, ip, &headers, &body).await?;
    let cookies = issued.set_cookies(&state, &config);
    let mut res = tokens_reply(Tokens {
        access_token: issued.access_token().to_owned(),
        id_token: issued.access_token().to_owned(),
        refresh_token: issued.refresh_token().to_owned(),
        token_type: "Bearer",
        expires_in: issued.expires_in(),
        scope: None,
    });
    append_cookies(&mut res, &cookies);
    Ok(res)
}

/// Bearer (a user token): the standard claims of its user (OpenID Connect Core §5.3).
async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = crate::http::extract::bearer(&headers).ok().flatten();
    let ctx =
        token.and_then(|t| crate::http::caller::user_context(&state, t, state.clock.unix()).ok());
    let Some(ctx) = ctx else {
        let mut res = (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_token", "error_description": "a valid user access token is required"})),
        )
            .into_response();
        res.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        );
        return res;
    };
    let u = &ctx.user;
    no_store(
        Json(json!({
            "sub": u.id,
            "email": u.email,
            "email_verified": u.verified,
            "name": u.name,
            "picture": u.profile_picture_url,
            "tenantId": ctx.tenant_id,
            "tenantIds": u.tenant_ids(),
        }))
        .into_response(),
    )
}

/// Public: end the browser's session (the cookie's) and the one `id_token_hint` names, then
/// go to a registered post-logout URI (with `state`), or show that the user is signed out.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = crate::http::page::query_pairs(raw.as_deref()).unwrap_or_default();
    let req = AuthorizeRequest { pairs };
    let hint: Option<shared::claims::AccessClaims> = req
        .get("id_token_hint")
        .and_then(|t| state.issuer.verify(t).ok())
        .filter(|c: &shared::claims::AccessClaims| {
            c.token_type == shared::claims::TokenType::UserToken
        });
    let mut ended = Ok(());
    if let Some(token) = refresh_cookie(&headers, state.env.client_id()) {
        ended = login::logout(&state.db, &state.clock, &token)
            .await
            .map_err(ApiError::from);
    }
    if let Some(c) = &hint
        && let Some(sid) = c.sid.clone()
        && ended.is_ok()
    {
        ended = crate::model::session::end_where(&state.db, &state.clock, &c.sub, |s| s.id != sid)
            .await
            .map(|_| ())
            .map_err(ApiError::from);
    }
    let mut res = match ended {
        Err(e) => error_page(&state, &e),
        Ok(()) => {
            let client_id = req
                .get("client_id")
                .map(str::to_owned)
                .or_else(|| hint.as_ref().map(|c| c.aud.clone()));
            let client = client_id.and_then(|id| {
                authz::client(&state.db, state.env.client_id(), &id)
                    .ok()
                    .flatten()
            });
            match req.get("post_logout_redirect_uri") {
                Some(uri) if client.as_ref().is_some_and(|c| c.logs_out_to(uri)) => {
                    let mut params = Vec::new();
                    if let Some(s) = req.get("state") {
                        params.push(("state", s));
                    }
                    back(&state, uri, &params)
                }
                Some(_) => message(
                    &state,
                    StatusCode::BAD_REQUEST,
                    "Signed out",
                    "You are signed out. (The address to return to is not registered for the \
                     application, so you stay here.)",
                ),
                None => message(&state, StatusCode::OK, "Signed out", "You are signed out."),
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&clearing_cookie(&state)) {
        res.headers_mut().append(axum::http::header::SET_COOKIE, v);
    }
    res
}

/// Public: OpenID Connect Discovery 1.0.
async fn discovery(State(state): State<AppState>) -> Response {
    let base = state.public_url.trim_end_matches('/');
    Json(json!({
        "issuer": &*state.public_url,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "userinfo_endpoint": format!("{base}/oauth/userinfo"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{base}/oauth/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", crate::model::delegation::GRANT],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email",
            "email_verified", "name", "tenantId", "tenantIds", "roles", "permissions", "sid"],
        "prompt_values_supported": ["none", "login"],
    }))
    .into_response()
}

fn both(
    ops: Ops,
    path: &'static str,
    frontegg: &'static str,
    route: MethodRouter<AppState>,
) -> Ops {
    ops.add_root(path, route.clone()).add_root(frontegg, route)
}

pub(super) fn ops() -> Ops {
    let mut ops =
        Ops::default().add_root("/.well-known/openid-configuration", routing::get(discovery));
    ops = both(
        ops,
        "/oauth/authorize",
        "/frontegg/oauth/authorize",
        routing::get(authorize),
    );
    ops = both(
        ops,
        "/oauth/token",
        "/frontegg/oauth/token",
        routing::post(token),
    );
    ops = both(
        ops,
        "/oauth/authorize/silent",
        "/frontegg/oauth/authorize/silent",
        routing::post(silent),
    );
    ops = both(
        ops,
        "/oauth/userinfo",
        "/frontegg/oauth/userinfo",
        routing::get(userinfo).post(userinfo),
    );
    both(
        ops,
        "/oauth/logout",
        "/frontegg/oauth/logout",
        routing::get(logout),
    )
}
