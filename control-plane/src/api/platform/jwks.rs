//! `GET /.well-known/jwks.json`: the public signing keys, the active key first (Next.js
//! verifies with `keys[0]`, `compat.md` §1.1). Public, cacheable for a short while.

use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::routing;
use serde::Serialize;

use crate::api::Ops;
use crate::http::AppState;
use crate::token::Jwk;

/// RFC 7517 §5: `{keys}`.
#[derive(Serialize)]
pub(super) struct JwksReply {
    keys: Vec<Jwk>,
}

/// Public: the JWKS.
pub(super) async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, "public, max-age=60")],
        Json(JwksReply {
            keys: state.issuer.jwks(state.clock.unix()),
        }),
    )
}

pub(super) fn ops() -> Ops {
    Ops::default().add_root("/.well-known/jwks.json", routing::get(jwks))
}
