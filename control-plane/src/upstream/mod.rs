//! Calls to other identity systems: OAuth 2.0 / OIDC providers (custom social login,
//! federation user pools), Auth0, Amazon Cognito and Firebase Authentication (user pools,
//! the Auth0 import). Only the control plane makes them; the sidecar never does.
//!
//! Invariants:
//! - One HTTP client ([`client`]) for all of them: 10 s per request (5 s to connect), no
//!   redirect followed (a reply that redirects is an error, so no call is ever steered to
//!   another host), no proxy from the environment.
//! - Every reply is read through [`json`]: at most [`MAX_REPLY`] bytes, JSON or an error.
//! - What they return is mapped onto [`model::social::Profile`]; only an explicit
//!   `email_verified: true` (or the system's equivalent) vouches for an address.

pub mod auth0;
pub mod cognito;
pub mod firebase;
pub mod oauth;

use std::time::Duration;

/// The largest reply read from another system.
pub const MAX_REPLY: usize = 256 * 1024;

/// Why a call to another system did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// It refused the credentials (the person's or ours).
    #[error("{0}")]
    Refused(String),
    /// It could not be reached, failed, or answered something unreadable (502).
    #[error("{0}")]
    Unavailable(String),
}

/// The client for other identity systems.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap_or_default()
}

fn unavailable(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unavailable(e.to_string())
}

/// A reply's body as JSON (at most [`MAX_REPLY`] bytes) with its status.
pub async fn json(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<(u16, serde_json::Value), UpstreamError> {
    let mut r = sent.map_err(|e| unavailable(format!("unreachable: {e}")))?;
    let status = r.status().as_u16();
    if r.status().is_redirection() {
        return Err(unavailable(format!("answered a redirect ({status})")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > MAX_REPLY {
            return Err(unavailable(format!("a reply over {MAX_REPLY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    if status >= 500 {
        return Err(unavailable(format!("answered {status}")));
    }
    let v = shared::json::from_bytes(&body)
        .map_err(|_| unavailable(format!("answered {status} without JSON")))?;
    Ok((status, v))
}

/// The string at `key` of a JSON object, if any and not empty.
pub fn text(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(|x| x.as_str())
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
}
