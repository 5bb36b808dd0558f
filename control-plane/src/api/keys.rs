//! Signing-key rotation, Tessera's own operator API (environment token):
//! `GET /tessera/v1/keys`, `POST /tessera/v1/keys/rotate`, `POST /tessera/v1/keys/{kid}/retire`.
//! The JWKS and the configuration's `publicKey` follow the ring at once.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::http::extract::EnvCaller;
use crate::state::AppState;
use crate::token::{Issuer, KeyRecord, KeyState, TokenError};

pub(super) fn routes() -> Router<AppState> {
    let r = super::route_both(Router::new(), "/tessera/v1/keys", get(list_keys));
    let r = super::route_both(r, "/tessera/v1/keys/rotate", post(rotate_key));
    super::route_both(r, "/tessera/v1/keys/{kid}/retire", post(retire_key))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyResponse {
    kid: String,
    state: KeyState,
    alg: &'static str,
    created_at: String,
    retired_at: Option<String>,
    /// Until when a retired key stays published (every token it signed has expired then).
    published_until: Option<String>,
}

fn time_of(secs: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .map(rfc3339)
}

impl From<KeyRecord> for KeyResponse {
    fn from(k: KeyRecord) -> Self {
        KeyResponse {
            kid: k.kid,
            state: k.state,
            alg: "RS256",
            created_at: k.created_at,
            retired_at: k.retired_at.and_then(time_of),
            published_until: k.publish_until.and_then(time_of),
        }
    }
}

fn key_error(e: TokenError) -> ApiError {
    match e {
        TokenError::Store(s) => s.into(),
        TokenError::StillInUse => ApiError::conflict(
            "the key still signs tokens or may still verify unexpired ones; rotate first, or retire with force",
        ),
        other => ApiError::internal(other),
    }
}

/// Environment token: every signing key with its state, active first.
async fn list_keys(
    _caller: EnvCaller,
    State(state): State<AppState>,
) -> Result<Json<Vec<KeyResponse>>, ApiError> {
    let mut keys = Issuer::list(&state.db).map_err(key_error)?;
    keys.sort_by_key(|k| (k.state != KeyState::Active, k.retired_at.map(|t| -t)));
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

/// Environment token: generate a key and start signing with it; the previous key stays
/// published until every token it signed has expired.
async fn rotate_key(
    _caller: EnvCaller,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<KeyResponse>), ApiError> {
    let lifetime = i64::from(super::configurations::current(&state)?.default_token_expiration);
    let now = state.clock.unix();
    let fresh = state
        .issuer
        .rotate(&state.db, now, &rfc3339(state.clock.now()), lifetime)
        .await
        .map_err(key_error)?;
    tracing::info!(token.kid = %fresh.kid, "signing key rotated");
    Ok((StatusCode::CREATED, Json(fresh.into())))
}

#[derive(Deserialize, Default)]
struct RetireRequest {
    #[serde(default)]
    force: bool,
}

/// Environment token: stop publishing a key that no longer signs. Refused (409) while
/// tokens it signed may still be valid, unless `{"force": true}` (a compromised key).
async fn retire_key(
    _caller: EnvCaller,
    State(state): State<AppState>,
    Path(kid): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let force = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        crate::http::extract::parse_json::<RetireRequest>(&body, state.limits.max_json_depth)?.force
    };
    match state
        .issuer
        .remove(&state.db, &kid, state.clock.unix(), force)
        .await
        .map_err(key_error)?
    {
        Some(_) => Ok(StatusCode::OK),
        None => Err(ApiError::not_found("Key not found")),
    }
}
