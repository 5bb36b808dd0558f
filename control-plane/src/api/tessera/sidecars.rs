//! `GET /tessera/v1/sidecars` (environment token): per sidecar what it has applied and how
//! far behind it is — how an operator proves a revocation reached it.

use axum::Json;
use axum::extract::State;
use axum::routing;
use serde::Serialize;
use shared::wire;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::link;
use crate::model::clock::rfc3339_of;

/// One sidecar as the hub knows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SidecarReply {
    id: String,
    address: String,
    listen: Option<String>,
    applied_version: u64,
    last_error: Option<String>,
    connects: u64,
    lag: u64,
    stream: &'static str,
    last_contact: String,
    seconds_since_contact: i64,
    connected_since: Option<String>,
}

/// `{version, epoch, sidecars}`.
#[derive(Serialize)]
pub(super) struct SidecarsReply {
    version: u64,
    epoch: String,
    sidecars: Vec<SidecarReply>,
}

/// Environment token: every sidecar with its applied version and lag behind the current
/// version.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<SidecarsReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let version = state.hub.version();
    let now = state.clock.unix();
    let time_of = |secs: i64| rfc3339_of(secs).unwrap_or_default();
    let sidecars = state
        .sidecars()?
        .into_iter()
        .map(|s| SidecarReply {
            lag: version.saturating_sub(s.applied_version),
            stream: if s.streams > 0 {
                "connected"
            } else {
                "disconnected"
            },
            last_contact: time_of(s.last_contact_unix),
            seconds_since_contact: now - s.last_contact_unix,
            connected_since: s.connected_since_unix.map(time_of),
            id: s.id,
            address: s.address,
            listen: s.listen,
            applied_version: s.applied_version,
            last_error: s.last_error,
            connects: s.connects,
        })
        .collect();
    Ok(Json(SidecarsReply {
        version,
        epoch: state.hub.epoch().to_owned(),
        sidecars,
    }))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root("/tessera/v1/sidecars", routing::get(list))
        .add_root(wire::STREAM_PATH, routing::get(link::stream))
        .add_root(wire::ACK_PATH, routing::post(link::ack))
}
