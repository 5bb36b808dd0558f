//! The link itself: the push stream read frame by frame, each message decoded and applied,
//! the persist-then-acknowledge loop (the sidecar's heartbeat), reconnection with jittered
//! exponential backoff, and rejections reported to the control plane.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use shared::wire;
use tokio::sync::watch;

use super::apply::apply;
use super::persist::persist;
use super::tls::Endpoint;
use crate::state::Sidecar;

/// The stream is considered dead after this long without a frame (heartbeats come every 5 s).
const SILENCE: Duration = Duration::from_secs(15);

/// The sidecar's own heartbeat (a repeated acknowledgement).
const ACK_EVERY: Duration = Duration::from_secs(5);

pub(super) type ReqBody = BoxBody<Bytes, std::convert::Infallible>;

/// The link to the control plane.
pub struct Link {
    sc: Arc<Sidecar>,
    endpoint: Arc<Endpoint>,
    token: String,
    mac_key: [u8; 32],
    listen: String,
    state_dir: Option<PathBuf>,
    applied: watch::Sender<u64>,
}

impl Link {
    /// Prepare the link (nothing is sent yet).
    pub fn new(sc: Arc<Sidecar>, base: &str, token: &str, listen: String) -> anyhow::Result<Self> {
        let endpoint = Endpoint::new(base, sc.config.control_plane_ca.as_deref())?;
        let state_dir = sc.config.state_dir.clone();
        Ok(Link {
            sc,
            endpoint: Arc::new(endpoint),
            token: token.to_owned(),
            mac_key: wire::mac_key(token),
            listen,
            state_dir,
            applied: watch::channel(0).0,
        })
    }

    /// Run until `stop`: the stream loop and the persist-and-acknowledge loop.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let link = Arc::new(self);
        let acker = tokio::spawn(link.clone().ack_loop(stop.clone()));
        let mut backoff = Duration::from_millis(200);
        loop {
            let received = tokio::select! {
                r = link.session() => r,
                _ = stop.changed() => break,
            };
            link.sc.connected.store(false, Ordering::Relaxed);
            match received {
                Ok(true) => backoff = Duration::from_millis(200),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "control-plane stream failed"),
            }
            link.sc.metrics.reconnects.inc();
            // Full jitter: sidecars restarted together spread out.
            let wait = backoff.mul_f64(jitter());
            backoff = (backoff * 2).min(Duration::from_secs(30));
            tokio::select! {
                () = tokio::time::sleep(wait) => {},
                _ = stop.changed() => break,
            }
        }
        // Let an in-flight persist finish: nothing may write the state file after stop.
        let _ = acker.await;
    }

    /// One stream: returns whether any message was applied (the backoff resets then).
    async fn session(&self) -> Result<bool, String> {
        let cur = self.sc.snapshot();
        let mut path = format!(
            "{}?id={}&listen={}",
            wire::STREAM_PATH,
            self.sc.id,
            self.listen
        );
        if let Some(c) = &cur {
            path.push_str(&format!("&since={}&epoch={}", c.version, c.epoch));
        }
        let req = self
            .endpoint
            .request(http::Method::GET, &path, &self.auth())
            .body(empty())
            .map_err(|e| e.to_string())?;
        let mut send = self.endpoint.connect().await?;
        let res = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
            .await
            .map_err(|_| "timed out opening the stream".to_owned())?
            .map_err(|e| e.to_string())?;
        if res.status() != StatusCode::OK {
            return Err(format!("the control plane answered {}", res.status()));
        }
        self.sc.connected.store(true, Ordering::Relaxed);
        tracing::info!(control_plane = %self.endpoint.authority, "push stream open");
        let mut body = res.into_body();
        let mut buf = BytesMut::new();
        let mut applied_any = false;
        loop {
            let frame = match tokio::time::timeout(SILENCE, body.frame()).await {
                Err(_) => return Err("the stream went silent".into()),
                Ok(None) => return Ok(applied_any),
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(Some(Ok(f))) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line = buf.split_to(pos + 1);
                self.handle(&line[..pos])?;
                applied_any = true;
            }
            if buf.len() > wire::MAX_FRAME_BYTES {
                self.reject("frame too large");
                return Err("frame too large".into());
            }
        }
    }

    fn handle(&self, line: &[u8]) -> Result<(), String> {
        let msg = match wire::decode(&self.mac_key, line) {
            Ok(m) => m,
            Err(e) => {
                self.reject(&e.to_string());
                // A damaged stream is not trusted further: reconnect and resume.
                return Err(format!("rejected a push message: {e}"));
            }
        };
        match apply(&self.sc, msg) {
            Ok(Some(v)) => {
                self.applied.send_replace(v);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                self.reject(&e.to_string());
                Err(format!("rejected a push message: {e}"))
            }
        }
    }

    fn reject(&self, why: &str) {
        self.sc.metrics.rejected_messages.inc();
        tracing::warn!(
            error = why,
            "push message rejected; the last good state stays"
        );
        let version = self.sc.version().unwrap_or(0);
        let ack = wire::Ack {
            sidecar_id: self.sc.id.clone(),
            version,
            error: Some(why.to_owned()),
        };
        let (endpoint, auth) = (self.endpoint.clone(), self.auth());
        tokio::spawn(async move {
            let mut conn = None;
            let _ = post_ack(&endpoint, &mut conn, &auth, &ack).await;
        });
    }

    /// The applied (version, epoch).
    fn applied_state(&self) -> Option<(u64, String)> {
        self.sc.snapshot().map(|s| (s.version, s.epoch.clone()))
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Persist what is applied (coalescing bursts), then acknowledge it; repeat the
    /// acknowledgement every few seconds as the sidecar's heartbeat.
    async fn ack_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut rx = self.applied.subscribe();
        let mut beat = tokio::time::interval(ACK_EVERY);
        let mut conn = None;
        let mut persisted = None;
        loop {
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = beat.tick() => {},
                _ = stop.changed() => return,
            }
            let version = match &self.state_dir {
                // Unchanged since the last write: just repeat the acknowledgement.
                Some(_) if persisted.is_some() && persisted == self.applied_state() => {
                    persisted.as_ref().map(|p| p.0)
                }
                Some(dir) => {
                    let (sc, dir) = (self.sc.clone(), dir.clone());
                    match tokio::task::spawn_blocking(move || persist(&sc, &dir)).await {
                        Ok(Ok(v)) => {
                            persisted = v;
                            persisted.as_ref().map(|p| p.0)
                        }
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "cannot persist the state; not acknowledging");
                            continue;
                        }
                        Err(_) => continue,
                    }
                }
                None => self.sc.version(),
            };
            let Some(version) = version else { continue };
            if !self.sc.connected.load(Ordering::Relaxed) {
                continue;
            }
            let ack = wire::Ack {
                sidecar_id: self.sc.id.clone(),
                version,
                error: None,
            };
            if let Err(e) = post_ack(&self.endpoint, &mut conn, &self.auth(), &ack).await {
                tracing::debug!(error = %e, "acknowledgement failed");
            }
        }
    }
}

fn empty() -> ReqBody {
    Full::new(Bytes::new()).boxed()
}

/// Post an acknowledgement on `conn` (kept open between calls; reopened when closed).
async fn post_ack(
    endpoint: &Endpoint,
    conn: &mut Option<SendRequest<ReqBody>>,
    auth: &str,
    ack: &wire::Ack,
) -> Result<(), String> {
    let body = serde_json::to_vec(ack).map_err(|e| e.to_string())?;
    let req = endpoint
        .request(http::Method::POST, wire::ACK_PATH, auth)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)).boxed())
        .map_err(|e| e.to_string())?;
    let mut send = match conn.take() {
        Some(s) if !s.is_closed() => s,
        _ => endpoint.connect().await?,
    };
    let _ = send.ready().await;
    let res = tokio::time::timeout(Duration::from_secs(5), send.send_request(req))
        .await
        .map_err(|_| "acknowledgement timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let _ = res.into_body().collect().await;
    *conn = Some(send);
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("acknowledgement answered {status}"))
    }
}

/// A factor in [0.5, 1.0) (bounded full jitter).
fn jitter() -> f64 {
    let mut b = [0u8; 2];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    0.5 + f64::from(u16::from_be_bytes(b)) / f64::from(u16::MAX) / 2.0
}
