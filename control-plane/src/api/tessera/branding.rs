//! The hosted pages' branding (Tessera's route; Frontegg keeps it in its portal's login-box
//! builder): `GET|PUT /tessera/v1/branding`, environment token — the name, logo and accent
//! colour the account pages show, and the origins that may frame them.

use axum::Json;
use axum::extract::State;
use axum::routing;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::oauth::{self, Branding};

async fn get(caller: Caller, State(state): State<AppState>) -> Result<Json<Branding>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(oauth::branding(&state.db)?))
}

/// Replace the branding (checked whole; nothing changes on a bad field).
async fn put(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Branding>,
) -> Result<Json<Branding>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(oauth::set_branding(&state.db, req).await?))
}

pub(super) fn ops() -> Ops {
    Ops::default().add_root("/tessera/v1/branding", routing::get(get).put(put))
}
