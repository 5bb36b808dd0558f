//! `GET /tessera/v1/events`: the security-event log (environment auth), oldest first.

use crate::http::page::Params;
use axum::Json;
use axum::extract::State;
use axum::routing;
use serde::Deserialize;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::model::event::{self, EventRecord};

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    /// Only events with a larger sequence number.
    #[serde(default)]
    after: u64,
    /// At most this many (1..=1000, default 100).
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

/// Environment token: the events after `after`.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    Params(q): Params<EventsQuery>,
) -> Result<Json<Vec<EventRecord>>, ApiError> {
    caller.require(Perm::Environment)?;
    if !(1..=1000).contains(&q.limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    Ok(Json(event::after(&state.db, q.after, q.limit)?))
}

pub(super) fn ops() -> Ops {
    Ops::default().add_root("/tessera/v1/events", routing::get(list))
}
