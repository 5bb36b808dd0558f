//! Enforcing restrictions at the HTTP edge: the caller's address (the trusted-proxy rule,
//! `shared::net::client_ip`) and the IP and email-domain rules (`model::restrictions`), each
//! refusal logged and counted, answered 403. Login, refresh, API-token login, user-token
//! calls and every path that creates or changes an address go through here.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::http::AppState;
use crate::model::restrictions::Level;

/// The caller's address as an extractor ([`client_ip`]).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl axum::extract::FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        Ok(ClientIp(client_ip(state, peer, &parts.headers)))
    }
}

/// The caller's address: the socket peer, or the one configured forwarding header of a
/// trusted proxy.
pub fn client_ip(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let values: Vec<&str> = headers
        .get_all(state.client_ip_header.name())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    shared::net::client_ip(
        peer.ip(),
        &state.trusted_proxies,
        state.client_ip_header,
        &values,
    )
}

fn denied(state: &AppState, kind: &'static str, level: Level) -> ApiError {
    state
        .metrics
        .restriction_denials
        .with_label_values(&[kind, level.as_str()])
        .inc();
    match kind {
        "ip" => ApiError::forbidden("Access from your IP address is not allowed"),
        _ => ApiError::forbidden("This email domain is not allowed"),
    }
}

/// Enforce the IP rules of the environment and, if given, of the account.
pub fn check_ip(state: &AppState, tenant: Option<&str>, ip: IpAddr) -> Result<(), ApiError> {
    match state.restrictions.ip_refusal(&state.db, tenant, ip)? {
        None => Ok(()),
        Some(level) => {
            tracing::warn!(client.ip = %ip, tenant.id = tenant, level = level.as_str(), "refused by IP restrictions");
            Err(denied(state, "ip", level))
        }
    }
}

/// Enforce the environment's captcha policy on a public flow's request: its
/// `recaptchaToken`, the email it names (if any: `ignoredEmails` skip the check) and the
/// caller's address, before the flow looks anything up. Every refusal is the same 400 (it
/// says nothing about an account); a verifier that cannot be reached is a 503 (fail closed).
pub async fn check_captcha(
    state: &AppState,
    token: Option<&str>,
    email: Option<&str>,
    ip: std::net::IpAddr,
) -> Result<(), ApiError> {
    use crate::model::captcha::{self, Answer, Check};
    let refused = || {
        state.metrics.captcha.with_label_values(&["refused"]).inc();
        ApiError::bad_request("captcha verification failed")
    };
    let (secret, min_score) = match captcha::check_for(&state.db, token, email)? {
        Check::Skip => return Ok(()),
        Check::Missing => return Err(refused()),
        Check::Verify { secret, min_score } => (secret, min_score),
    };
    let form = [
        ("secret", secret.as_str()),
        ("response", token.unwrap_or_default().trim()),
        ("remoteip", &ip.to_string()),
    ];
    let answer = state
        .http
        .post(&state.endpoints.recaptcha)
        .form(&form)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status);
    let answer: Answer = match answer {
        Ok(r) => match crate::delivery::bounded_body(r, 64 * 1024).await {
            // An answer that is not the verifier's JSON passes nothing.
            Ok(b) => shared::json::from_bytes(&b).unwrap_or_default(),
            Err(e) => return Err(unavailable(state, &e)),
        },
        Err(e) => return Err(unavailable(state, &e)),
    };
    if captcha::passes(&answer, min_score) {
        state.metrics.captcha.with_label_values(&["passed"]).inc();
        Ok(())
    } else {
        Err(refused())
    }
}

fn unavailable(state: &AppState, e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "the captcha verifier could not be reached");
    state
        .metrics
        .captcha
        .with_label_values(&["unavailable"])
        .inc();
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "captcha verification is unavailable; try again",
    )
}

/// Enforce the email-domain rules of the environment and of each given account on a
/// normalised address (an address-less user passes).
pub fn check_email(state: &AppState, tenants: &[&str], email_norm: &str) -> Result<(), ApiError> {
    match state
        .restrictions
        .email_refusal(&state.db, tenants, email_norm)?
    {
        None => Ok(()),
        Some(level) => {
            tracing::warn!(
                level = level.as_str(),
                "refused by email-domain restrictions"
            );
            Err(denied(state, "email_domain", level))
        }
    }
}
