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
