//! The sidecar link over HTTP: the push stream (`wire::STREAM_PATH`) and acknowledgements
//! (`wire::ACK_PATH`), authenticated by the sidecar token. The transport of `push`, as the
//! server loop is of the API.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use bytes::Bytes;
use serde::Deserialize;
use shared::wire;
use tokio::sync::{broadcast, mpsc};

use crate::error::ApiError;
use crate::http::AppState;
use crate::http::extract::{ApiJson, bearer};
use crate::push::{self, Frame};

/// How often an idle stream carries a heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match bearer(headers)? {
        Some(t) if state.env.check_sidecar_token(t) => Ok(()),
        _ => Err(ApiError::unauthorized("a valid sidecar token is required")),
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[derive(Deserialize)]
pub struct StreamQuery {
    id: String,
    #[serde(default)]
    since: Option<u64>,
    #[serde(default)]
    epoch: Option<String>,
    #[serde(default)]
    listen: Option<String>,
}

/// A response body fed by a channel of frames.
struct FrameBody(mpsc::Receiver<Bytes>);

impl http_body::Body for FrameBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// Sidecar token: the push stream. The first frame is a heartbeat when the sidecar names this
/// epoch's current version, a catch-up delta when it names an older one the store can still
/// serve, else a snapshot; then every published delta, and heartbeats.
pub async fn stream(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    super::page::Params(q): super::page::Params<StreamQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    if !valid_id(&q.id) {
        return Err(ApiError::bad_request(
            "id must be 1-128 characters of letters, digits, '-', '_' and '.'",
        ));
    }
    // Subscribe before reading the version, so nothing published in between is missed.
    let frames = state.hub.subscribe();
    let same_epoch = q.epoch.as_deref() == Some(state.hub.epoch());
    let first = match q.since.filter(|_| same_epoch) {
        // Already current (a reconnect with nothing missed): a heartbeat, not an empty
        // delta the sidecar would have to refuse as not newer.
        Some(since) if since == state.hub.version() => Some((since, push::heartbeat(&state.push))),
        Some(since) => push::catch_up(&state.push, since)?,
        None => None,
    };
    let (sent, first) = match first {
        Some(f) => f,
        None => push::snapshot(&state.push)?,
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tx.try_send(first)
        .map_err(|_| ApiError::internal("stream channel"))?;
    if state.db.shared() {
        crate::model::sidecar::opened(
            &state.db,
            &q.id,
            &peer.to_string(),
            q.listen.clone(),
            state.clock.unix(),
        )
        .await?;
    }
    state
        .hub
        .sidecars
        .connected(&q.id, peer.to_string(), q.listen, state.clock.unix());
    state.metrics.sidecars_connected.inc();
    tracing::info!(sidecar.id = %q.id, client.addr = %peer, version = sent, "sidecar stream opened");
    tokio::spawn(forward(state, q.id, sent, frames, tx));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::new(FrameBody(rx)),
    )
        .into_response())
}

/// Forward published frames to one stream, in order, filling gaps; heartbeat when idle.
async fn forward(
    state: AppState,
    id: String,
    mut sent: u64,
    mut frames: broadcast::Receiver<Arc<Frame>>,
    tx: mpsc::Sender<Bytes>,
) {
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.tick().await;
    let closed = state.hub.closed();
    tokio::pin!(closed);
    loop {
        let out = tokio::select! {
            f = frames.recv() => match f {
                Ok(f) if f.version <= sent => continue,
                Ok(f) if f.base == sent => Some((f.version, f.bytes.clone())),
                // A gap (published before we subscribed) or a lag: catch up from the store.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    match push::catch_up(&state.push, sent) {
                        Ok(Some(c)) => Some(c),
                        Ok(None) => push::snapshot(&state.push).ok(),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot build a catch-up delta");
                            break;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = beat.tick() => {
                if tx.send(push::heartbeat(&state.push)).await.is_err() {
                    break;
                }
                // The replicas sharing the store learn this stream is still open.
                if state.db.shared()
                    && let Err(e) = crate::model::sidecar::alive(&state.db, &id, state.clock.unix()).await
                {
                    tracing::warn!(sidecar.id = %id, error = %e, "cannot record a sidecar's stream as alive");
                }
                continue;
            }
            () = tx.closed() => break,
            () = &mut closed => break,
        };
        let Some((version, bytes)) = out else { break };
        if tx.send(bytes).await.is_err() {
            break;
        }
        sent = version;
        beat.reset();
    }
    state.hub.sidecars.disconnected(&id);
    if state.db.shared()
        && let Err(e) = crate::model::sidecar::closed(&state.db, &id).await
    {
        tracing::warn!(sidecar.id = %id, error = %e, "cannot record a sidecar's stream as closed");
    }
    state.metrics.sidecars_connected.dec();
    tracing::info!(sidecar.id = %id, "sidecar stream closed");
}

/// Sidecar token: an acknowledgement (the version applied and persisted) or a nack.
pub async fn ack(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(a): ApiJson<wire::Ack>,
) -> Result<StatusCode, ApiError> {
    authorize(&state, &headers)?;
    if !valid_id(&a.sidecar_id) {
        return Err(ApiError::bad_request("invalid sidecarId"));
    }
    let error = a.error.map(|e| e.chars().take(500).collect::<String>());
    if let Some(e) = &error {
        tracing::warn!(sidecar.id = %a.sidecar_id, version = a.version, error = %e, "sidecar rejected a push message");
        state.metrics.push_nacks.inc();
    }
    let here =
        state
            .hub
            .sidecars
            .acked(&a.sidecar_id, a.version, error.clone(), state.clock.unix());
    // Behind one address the acknowledgement may reach another replica than the stream's:
    // every replica records it in the shared store.
    let anywhere = state.db.shared()
        && crate::model::sidecar::acked(
            &state.db,
            &a.sidecar_id,
            a.version,
            error,
            state.clock.unix(),
        )
        .await?;
    if here || anywhere {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no stream is open for this sidecar"))
    }
}
