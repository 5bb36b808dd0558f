//! The application: the API's routes in the HTTP plumbing. The one place that knows both
//! (`http` knows nothing of the areas; `api` builds on `http`).

use axum::Router;

use crate::http::AppState;

/// The public listener's application.
pub fn app(state: AppState) -> Router {
    crate::http::router(state, crate::api::routes())
}

/// The `--metrics-listen` listener's application.
pub fn metrics_app(state: AppState) -> Router {
    crate::http::bare(state, crate::api::metrics_routes())
}
