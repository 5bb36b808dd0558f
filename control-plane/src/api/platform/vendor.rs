//! Environment (vendor) authentication: `POST /auth/vendor` (`compat.md` §3).

use axum::Json;
use axum::extract::State;
use axum::routing;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::extract::ApiJson;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VendorAuthRequest {
    client_id: String,
    secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VendorAuthResponse {
    token: String,
    /// Seconds.
    expires_in: i64,
}

/// Public: exchange the environment's clientId and API key for an environment token.
/// Answers 200 (the Go SDK treats anything else as failure); a wrong clientId and a wrong
/// secret get the same 401 after the same work.
pub(super) async fn authenticate(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VendorAuthRequest>,
) -> Result<Json<VendorAuthResponse>, ApiError> {
    if !state.env.check_credentials(&req.client_id, &req.secret) {
        state
            .metrics
            .vendor_auth
            .with_label_values(&["failure"])
            .inc();
        return Err(ApiError::unauthorized("Invalid authentication"));
    }
    state
        .metrics
        .vendor_auth
        .with_label_values(&["success"])
        .inc();
    let (token, expires_in) = state.env.issue(state.clock.unix());
    Ok(Json(VendorAuthResponse { token, expires_in }))
}

pub(super) fn ops() -> Ops {
    Ops::default().add_root("/auth/vendor", routing::post(authenticate))
}
