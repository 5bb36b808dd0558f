//! `GET /.well-known/jwks.json`: the public signing keys, the active key first (Next.js
//! verifies with `keys[0]`, `compat.md` §1.1). Public, cacheable for a short while.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::http::AppState;

pub(super) fn routes() -> Router<AppState> {
    super::route_both(Router::new(), "/.well-known/jwks.json", get(jwks))
}

/// Public: the JWKS.
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, "public, max-age=60")],
        Json(json!({ "keys": state.issuer.jwks(state.clock.unix()) })),
    )
}
