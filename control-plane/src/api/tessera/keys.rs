//! Signing-key rotation, Tessera's own operator API (environment token):
//! `GET /tessera/v1/keys`, `POST /tessera/v1/keys/rotate`, `POST /tessera/v1/keys/{kid}/retire`.
//! The JWKS and the configuration's `publicKey` follow the ring at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::model::clock::rfc3339;
use crate::token::{Issuer, KeyRecord, KeyState, TokenError};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KeyResponse {
    kid: String,
    state: KeyState,
    alg: &'static str,
    created_at: String,
    retired_at: Option<String>,
    /// Until when a retired key stays published (every token it signed has expired then).
    published_until: Option<String>,
}

use crate::model::clock::rfc3339_of as time_of;

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
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<KeyResponse>>, ApiError> {
    caller.require(Perm::Environment)?;
    let mut keys = Issuer::list(&state.db).map_err(key_error)?;
    keys.sort_by_key(|k| (k.state != KeyState::Active, k.retired_at.map(|t| -t)));
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

/// How a rotation's next key reached the sidecars before it started signing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Propagation {
    /// Sidecars connected while waiting.
    sidecars: usize,
    /// Of those, how many had applied the version carrying the next key.
    acknowledged: usize,
    /// How long the rotation waited.
    waited_ms: u128,
    /// Whether every connected sidecar acknowledged (else the wait timed out).
    complete: bool,
}

#[derive(Serialize)]
pub(super) struct RotateResponse {
    #[serde(flatten)]
    key: KeyResponse,
    propagation: Propagation,
}

/// Environment token: rotate the signing key. The next key is published first; signing
/// switches to it once every connected sidecar has acknowledged a version holding it (or
/// after `--key-rotation-wait`, reported in `propagation`), so no sidecar ever sees a token
/// signed by a key it does not know. The previous key stays published until every token it
/// signed has expired.
pub(super) async fn rotate(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<RotateResponse>), ApiError> {
    caller.require(Perm::Environment)?;
    let lifetime =
        i64::from(crate::model::vendor_config::current(&state.db)?.default_token_expiration);
    let started = std::time::Instant::now();
    let (next, version) = state
        .issuer
        .publish_next(&state.db, &rfc3339(state.clock.now()))
        .await
        .map_err(key_error)?;
    // Every replica's sidecars when several share the store.
    let (sidecars, acknowledged) = state.wait_applied(version).await;
    let fresh = state
        .issuer
        .promote(
            &state.db,
            &next.kid,
            state.clock.unix(),
            &rfc3339(state.clock.now()),
            lifetime,
        )
        .await
        .map_err(key_error)?;
    let propagation = Propagation {
        sidecars,
        acknowledged,
        waited_ms: started.elapsed().as_millis(),
        complete: acknowledged == sidecars,
    };
    if propagation.complete {
        tracing::info!(token.kid = %fresh.kid, sidecars, "signing key rotated");
    } else {
        tracing::warn!(token.kid = %fresh.kid, sidecars, acknowledged, "signing key rotated before every sidecar acknowledged it");
    }
    Ok((
        StatusCode::CREATED,
        Json(RotateResponse {
            key: fresh.into(),
            propagation,
        }),
    ))
}

#[derive(Deserialize, Default)]
pub(super) struct RetireRequest {
    #[serde(default)]
    force: bool,
}

/// Environment token: stop publishing a key that no longer signs. Refused (409) while
/// tokens it signed may still be valid, unless `{"force": true}` (a compromised key).
pub(super) async fn retire(
    caller: Caller,
    State(state): State<AppState>,
    Path(kid): Path<String>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
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

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root("/tessera/v1/keys", routing::get(list))
        .add_root("/tessera/v1/keys/rotate", routing::post(rotate))
        .add_root("/tessera/v1/keys/{kid}/retire", routing::post(retire))
}
