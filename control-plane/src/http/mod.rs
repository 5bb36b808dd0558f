//! axum plumbing shared by every area: the router with its fallbacks and layers, the
//! extractors, the observing middleware and the hyper server loop.

pub mod caller;
pub mod extract;
mod middleware;
pub mod page;
pub mod server;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::state::AppState;

/// The `--metrics-listen` application: `/metrics` only.
pub fn metrics_router(state: AppState) -> Router {
    crate::api::metrics_routes()
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

/// The whole HTTP application: every route, the 404/405 fallbacks and the layers.
pub fn router(state: AppState) -> Router {
    crate::api::routes()
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .with_state(state)
}
