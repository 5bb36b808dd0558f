//! Signing in through another system's OAuth 2.0 / OpenID Connect login: a custom social
//! provider (`sso/custom/v1`) or a federation user pool (`user-sources/v1/federation`).
//! The one sequence for every way in — the hosted sign-in page's buttons
//! (`pages::social`) and the login box's routes (`auth/v1/user/sso/{provider}/prelogin`,
//! `…/postlogin`, outside the spec):
//!
//! 1. [`begin`]: the authorization request, with `state`, a PKCE challenge (S256) and, for
//!    OIDC, a nonce; the state, verifier and nonce are kept in an HttpOnly cookie of this
//!    browser (`tessera_social`, ten minutes), so nothing is stored for a flow nobody
//!    finishes.
//! 2. [`complete`]: the `state` that came back must be the cookie's (constant-time compare;
//!    otherwise nothing is exchanged: login CSRF), the code is exchanged with the verifier,
//!    the person is read from the verified ID token or the userinfo endpoint, found or
//!    created by `model::social::resolve` (a verified address only links), and then the
//!    pipeline after every first factor (`mfa::after_first_factor`): the account's IP and
//!    address rules, the application, MFA.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Json, routing};
use serde::{Deserialize, Serialize};

use super::issue::{Issued, append_cookies, cookie};
use super::mfa::Stop;
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::guard::ClientIp;
use crate::model::social::{self, Placement};
use crate::model::user_source;
use crate::model::vendor_config::VendorConfig;
use crate::upstream::oauth::{self as upstream_oauth, Endpoints, Provider};

/// The cookie that keeps a flow for the browser that started it.
const FLOW_COOKIE: &str = "tessera_social";
/// How long a started flow may take.
const FLOW_TTL: u32 = 600;
/// The hosted callback every flow started by Tessera's pages returns to.
pub(super) const CALLBACK: &str = "/oauth/account/social/success";

/// Where a flow signs in: the origin's key, how to talk to it, where a new person goes.
pub(super) struct Target {
    /// `custom:{id}` or `source:{id}` (links are kept per origin).
    origin: String,
    provider: Provider,
    /// The user pool, for a federation (its tenant resolver places new users).
    source: Option<user_source::Source>,
    sync: bool,
}

/// The flow target `id`: an active custom provider, or a federation user pool.
pub(super) fn target(state: &AppState, id: &str) -> Result<Target, ApiError> {
    if let Ok(p) = social::get(&state.db, id) {
        if !p.active {
            return Err(social::SocialError::NotFound.into());
        }
        let secret = social::secret(&state.db, &p)?;
        return Ok(Target {
            origin: format!("custom:{}", p.id),
            provider: Provider {
                client_id: p.client_id.clone(),
                secret,
                redirect_url: p.redirect_url.clone(),
                scopes: p.scopes.split_whitespace().map(str::to_owned).collect(),
                pkce: true,
                endpoints: Endpoints::Given {
                    authorization: p.authorization_url.clone(),
                    token: p.token_url.clone(),
                    user_info: p.user_info_url.clone(),
                },
            },
            source: None,
            sync: false,
        });
    }
    let source = user_source::get(&state.db, id)?;
    let fed = user_source::federation(&state.db, &source)?
        .ok_or_else(|| ApiError::not_found("No such provider"))?;
    Ok(Target {
        origin: format!("source:{}", source.id),
        provider: Provider {
            client_id: fed.client_id,
            secret: fed.secret,
            redirect_url: format!("{}{CALLBACK}", state.public_url),
            scopes: fed.scopes,
            pkce: fed.use_pkce,
            endpoints: match fed.wellknown_url {
                Some(w) => Endpoints::Discovered(w),
                None => Endpoints::Given {
                    authorization: fed.endpoints.0,
                    token: fed.endpoints.1,
                    user_info: fed.endpoints.2,
                },
            },
        },
        sync: source.configuration.sync_on_login,
        source: Some(source),
    })
}

/// What a started flow keeps in its cookie.
struct Kept {
    id: String,
    state: String,
    verifier: Option<String>,
    nonce: Option<String>,
}

impl Kept {
    fn value(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.id,
            self.state,
            self.verifier.as_deref().unwrap_or("-"),
            self.nonce.as_deref().unwrap_or("-")
        )
    }

    fn read(headers: &HeaderMap) -> Option<Kept> {
        let v = cookie(headers, FLOW_COOKIE)?;
        let mut parts = v.split('.');
        let (id, state, verifier, nonce) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let opt = |s: &str| (s != "-").then(|| s.to_owned());
        Some(Kept {
            id: id.to_owned(),
            state: state.to_owned(),
            verifier: opt(verifier),
            nonce: opt(nonce),
        })
    }
}

/// The flow's cookie. `SameSite=Lax` at least (the provider sends the browser back with a
/// top-level cross-site GET, which a `Strict` cookie would not accompany); `None` where the
/// environment's refresh cookie is `None`, so a login box on another site can finish the
/// flow with its cross-site `postlogin`.
fn flow_cookie(state: &AppState, value: &str, max_age: u32, same_site: &str) -> String {
    format!(
        "{FLOW_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{}",
        if state.secure_cookies { "; Secure" } else { "" },
    )
}

/// The cookie that ends a flow.
pub(super) fn clear_flow(state: &AppState) -> String {
    flow_cookie(state, "", 0, "Lax")
}

/// Start a flow at `id`: the provider's authorization URL and the cookie to set (`cross_site`:
/// for a login box, whose site may be another).
pub(super) async fn begin(
    state: &AppState,
    id: &str,
    cross_site: bool,
) -> Result<(String, String), ApiError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ApiError::not_found("No such provider"));
    }
    let t = target(state, id)?;
    let started = upstream_oauth::start(&state.upstream, &t.provider).await?;
    let kept = Kept {
        id: id.to_owned(),
        state: started.state,
        verifier: started.verifier,
        nonce: started.nonce,
    };
    let same_site = if cross_site {
        let config = crate::model::vendor_config::current(&state.db)?;
        match Issued::same_site(state, &config) {
            "None" => "None",
            _ => "Lax",
        }
    } else {
        "Lax"
    };
    Ok((
        started.url,
        flow_cookie(state, &kept.value(), FLOW_TTL, same_site),
    ))
}

/// Finish the flow this browser started: who signed in, then the pipeline after every first
/// factor. The flow's cookie is spent either way (the clearing cookie is returned).
pub(super) async fn complete(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    code: &str,
    returned_state: &str,
) -> Result<(Result<Issued, Stop>, VendorConfig), ApiError> {
    let kept = Kept::read(headers)
        .ok_or_else(|| ApiError::bad_request("No sign-in is in progress in this browser"))?;
    if !social::same_state(&kept.state, returned_state) {
        return Err(ApiError::bad_request(
            "The sign-in does not match the one this browser started",
        ));
    }
    if code.is_empty() || code.len() > 2048 {
        return Err(ApiError::bad_request("code is required"));
    }
    crate::http::guard::check_ip(state, None, ip)?;
    let t = target(state, &kept.id)?;
    let profile = upstream_oauth::finish(
        &state.upstream,
        &t.provider,
        code,
        kept.verifier.as_deref(),
        kept.nonce.as_deref(),
    )
    .await?;
    let placement = match &t.source {
        Some(s) => s.placement_for(&profile.claims)?,
        None => Placement::SignUp,
    };
    let (user, created) = social::resolve(
        &state.db,
        &state.clock,
        &t.origin,
        &profile,
        &placement,
        t.sync,
    )
    .await?;
    if created {
        tracing::info!(user.id = %user.id, origin = %t.origin, "user created at first sign-in from elsewhere");
    }
    finish_login(state, ip, headers, user).await
}

/// The pipeline after a first factor proven elsewhere (a social provider, a user pool).
pub(super) async fn finish_login(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    user: crate::model::user::User,
) -> Result<(Result<Issued, Stop>, VendorConfig), ApiError> {
    if user.is_locked || user.expired(state.clock.unix()) {
        return Err(crate::model::login::LoginError::BadCredentials.into());
    }
    let config = crate::model::vendor_config::current(&state.db)?;
    let tenant = crate::model::login::admit(&config, &user)?;
    crate::http::guard::check_ip(state, Some(&tenant), ip)?;
    crate::http::guard::check_email(state, &[&tenant], &user.email_norm)?;
    state.metrics.logins.with_label_values(&["success"]).inc();
    let ended = super::mfa::after_first_factor(state, &config, headers, user, tenant, ip).await;
    Ok((ended, config))
}

/// `{url}`: where the login box sends the browser.
#[derive(Serialize)]
struct Prelogin {
    url: String,
}

/// Public: start signing in at provider `{provider}` (the flow's cookie is set).
async fn prelogin(
    State(state): State<AppState>,
    Path(provider): Path<String>,
) -> Result<Response, ApiError> {
    let (url, cookie) = begin(&state, &provider, true).await?;
    let mut res = Json(Prelogin { url }).into_response();
    append_cookies(&mut res, &[cookie]);
    Ok(res)
}

#[derive(Deserialize)]
struct PostloginQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
}

/// Public: finish signing in with the provider's `code` and `state` (rest-api's
/// `loginViaSocialLogin`): the login reply, or the MFA-required one.
async fn postlogin(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(_provider): Path<String>,
    Query(q): Query<PostloginQuery>,
) -> Result<Response, ApiError> {
    let ended = complete(&state, ip, &headers, &q.code, &q.state).await;
    let mut res = match ended {
        Ok((Ok(issued), config)) => issued.respond(&state, &config),
        Ok((Err(stop), _)) => stop.into_response(),
        Err(e) => e.into_response(),
    };
    append_cookies(&mut res, &[clear_flow(&state)]);
    Ok(res)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_extra(
            "/resources/auth/v1/user/sso/{provider}/prelogin",
            routing::post(prelogin),
        )
        .add_extra(
            "/resources/auth/v1/user/sso/{provider}/postlogin",
            routing::post(postlogin),
        )
}
