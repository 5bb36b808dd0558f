//! Operational endpoints: `/healthz` (alive), `/readyz` (the store answers and accepts
//! durable writes), `/metrics` (Prometheus text; on its own listener with `--metrics-listen`,
//! and then absent from the public one).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::http::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Public: the process is alive.
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// Public: ready to serve correctly.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let ok = state.db.is_healthy();
    state.metrics.store_healthy.set(i64::from(ok));
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({"status": if ok { "ready" } else { "store unavailable" }})),
    )
}

/// The metrics listener's routes (`--metrics-listen`).
pub(crate) fn metrics_routes() -> Router<AppState> {
    Router::new().route("/metrics", get(render_metrics))
}

/// Public listener: the metrics, unless they have a listener of their own.
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    if state.metrics_elsewhere {
        return crate::error::ApiError::not_found("no such route").into_response();
    }
    render_metrics(State(state)).await.into_response()
}

/// Prometheus metrics. No label splits accounts by their state (a locked account's failed
/// login counts as a failure), so the public listener is no oracle.
async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    state
        .metrics
        .store_healthy
        .set(i64::from(state.db.is_healthy()));
    let version = state.hub.version();
    for s in state.hub.sidecars.list() {
        let applied = i64::try_from(s.applied_version).unwrap_or(i64::MAX);
        let lag = i64::try_from(version.saturating_sub(s.applied_version)).unwrap_or(i64::MAX);
        state
            .metrics
            .sidecar_applied
            .with_label_values(&[&s.id])
            .set(applied);
        state
            .metrics
            .sidecar_lag
            .with_label_values(&[&s.id])
            .set(lag);
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
