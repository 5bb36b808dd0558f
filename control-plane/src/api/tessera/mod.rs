//! Tessera's own operator API (environment token): signing keys, the sidecars and what
//! each has applied, the security-event log; and the sidecar link itself (sidecar token).

mod events;
mod keys;
mod sidecars;

use axum::routing::{get, post};
use shared::wire;

use crate::api::Ops;
use crate::http::link;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root("/tessera/v1/keys", get(keys::list))
        .add_root("/tessera/v1/keys/rotate", post(keys::rotate))
        .add_root("/tessera/v1/keys/{kid}/retire", post(keys::retire))
        .add_root("/tessera/v1/sidecars", get(sidecars::list))
        .add_root("/tessera/v1/events", get(events::list))
        .add_root(wire::STREAM_PATH, get(link::stream))
        .add_root(wire::ACK_PATH, post(link::ack))
}
