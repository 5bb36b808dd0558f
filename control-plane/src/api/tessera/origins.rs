//! The environment's own allowed browser origins (Tessera's route; Frontegg keeps the list in
//! its portal): `GET|PUT /tessera/v1/allowed-origins`, environment token. They join
//! `--allowed-origins` for CORS and the session cookie (`http::cors`).

use axum::Json;
use axum::extract::State;
use axum::routing;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::vendor_config;

/// `{allowedOrigins}`, both ways.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AllowedOrigins {
    allowed_origins: Vec<String>,
}

/// Environment token: the list.
pub(super) async fn get(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<AllowedOrigins>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(AllowedOrigins {
        allowed_origins: vendor_config::current(&state.db)?.allowed_origins,
    }))
}

/// Environment token: replace the list (normalised; 400 and nothing changed on a bad one).
pub(super) async fn put(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AllowedOrigins>,
) -> Result<Json<AllowedOrigins>, ApiError> {
    caller.require(Perm::Environment)?;
    let c = vendor_config::set_allowed_origins(&state.db, &req.allowed_origins).await?;
    Ok(Json(AllowedOrigins {
        allowed_origins: c.allowed_origins,
    }))
}

pub(super) fn ops() -> Ops {
    Ops::default().add_root("/tessera/v1/allowed-origins", routing::get(get).put(put))
}
