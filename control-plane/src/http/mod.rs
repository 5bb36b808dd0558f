//! axum plumbing shared by every area: the router with its fallbacks and layers, the
//! extractors, the caller, the restriction guard, the reply shapes areas share, the
//! observing middleware, the sidecar link and the hyper server loop.

pub mod caller;
pub mod cors;
pub mod extract;
pub mod guard;
pub mod link;
pub mod mfa;
mod middleware;
mod origin;
pub mod page;
pub mod reply;
pub mod server;
pub mod state;

pub use state::AppState;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;

use crate::error::ApiError;

/// A bare application over `routes` (the `--metrics-listen` listener): only a 404 fallback.
pub fn bare(state: AppState, routes: Router<AppState>) -> Router {
    routes
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

/// The public HTTP application over `routes`: the 404/405 fallbacks and the layers every
/// request passes (body limit, the observing middleware, CORS outermost).
pub fn router(state: AppState, routes: Router<AppState>) -> Router {
    routes
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::cors,
        ))
        .with_state(state)
}
