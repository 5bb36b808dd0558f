//! Operational endpoints: `/healthz` (alive), `/readyz` (the store answers and accepts
//! durable writes), `/metrics` (Prometheus text; on its own listener with `--metrics-listen`,
//! and then absent from the public one).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing;
use axum::routing::get;
use serde::Serialize;

use crate::api::Ops;
use crate::http::AppState;

/// `{status}`.
#[derive(Serialize)]
pub(super) struct StatusReply {
    status: &'static str,
}

/// Public: the process is alive.
pub(super) async fn healthz() -> axum::Json<StatusReply> {
    axum::Json(StatusReply { status: "ok" })
}

/// Public: ready to serve correctly; 503 with the error model's body (and `Retry-After`)
/// while the store does not answer or take durable writes.
pub(super) async fn readyz(
    State(state): State<AppState>,
) -> Result<axum::Json<StatusReply>, crate::error::ApiError> {
    let ok = state.db.is_healthy();
    state.metrics.store_healthy.set(i64::from(ok));
    if ok {
        Ok(axum::Json(StatusReply { status: "ready" }))
    } else {
        Err(crate::error::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store unavailable",
        ))
    }
}

/// The metrics listener's routes (`--metrics-listen`).
pub(crate) fn metrics_routes() -> Router<AppState> {
    Router::new().route("/metrics", get(render_metrics))
}

/// Public listener: the metrics, unless they have a listener of their own.
pub(super) async fn metrics(State(state): State<AppState>) -> axum::response::Response {
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
    if let Some((idle, total)) = state.db.pool() {
        let c = &state.metrics.db_connections;
        c.with_label_values(&["idle"]).set(idle as i64);
        c.with_label_values(&["busy"])
            .set(total.saturating_sub(idle) as i64);
    }
    let sidecars = state.sidecars().unwrap_or_default();
    for s in sidecars {
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

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root("/healthz", routing::get(healthz))
        .add_root("/readyz", routing::get(readyz))
        .add_root("/metrics", routing::get(metrics))
}
