//! The control link: open the push stream, apply each message whole or not at all, persist
//! the last good state atomically, acknowledge what is applied and persisted, heartbeat,
//! and reconnect with jittered exponential backoff.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use shared::wire::{self, PushMessage};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::snapshot;
use crate::state::{Sidecar, unix_now};

/// The stream is considered dead after this long without a frame (heartbeats come every 5 s).
const SILENCE: Duration = Duration::from_secs(15);

/// The sidecar's own heartbeat (a repeated acknowledgement).
const ACK_EVERY: Duration = Duration::from_secs(5);

const STATE_FILE: &str = "state.json";
const ID_FILE: &str = "sidecar-id";

type ReqBody = BoxBody<Bytes, std::convert::Infallible>;

/// The persisted last good state.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Persisted {
    saved_at: i64,
    last_contact: i64,
    snapshot: wire::Snapshot,
}

/// A random hex id.
fn random_id() -> String {
    let mut b = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The sidecar id: configured, or kept in the state directory, or fresh.
pub fn sidecar_id(configured: Option<&str>, dir: Option<&Path>) -> std::io::Result<String> {
    if let Some(id) = configured {
        return Ok(id.to_owned());
    }
    let Some(dir) = dir else {
        return Ok(format!("sidecar-{}", random_id()));
    };
    std::fs::create_dir_all(dir)?;
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => {
            let id = format!("sidecar-{}", random_id());
            write_atomic(&path, id.as_bytes())?;
            Ok(id)
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent()
        && let Ok(d) = std::fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Load the persisted state, if any and valid, into `sc`. A damaged file is reported and
/// ignored: the sidecar then fails closed until the control plane answers.
pub fn load_persisted(sc: &Sidecar, dir: &Path) {
    let path = dir.join(STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the persisted state");
            return;
        }
    };
    let parsed: Result<Persisted, String> =
        serde_json::from_slice(&bytes).map_err(|e| e.to_string());
    match parsed.and_then(|p| {
        snapshot::from_wire(&p.snapshot)
            .map(|s| (p, s))
            .map_err(|e| e.to_string())
    }) {
        Ok((p, snap)) => {
            let now = unix_now();
            let live: Vec<_> = p
                .snapshot
                .revocations
                .into_iter()
                // Kept through the leeway: a token is accepted until exp + leeway.
                .filter(|r| r.expires_at.saturating_add(sc.config.leeway) >= now)
                .collect();
            sc.revocations.replace(&live);
            sc.access_tokens.replace(&p.snapshot.access_tokens);
            tracing::info!(
                version = snap.version,
                revocations = live.len(),
                "serving from the persisted state"
            );
            sc.current.store(Some(Arc::new(snap)));
            sc.restore_contact(p.last_contact);
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "the persisted state is unusable; ignoring it");
        }
    }
}

fn persist(sc: &Sidecar, dir: &Path) -> std::io::Result<Option<(u64, String)>> {
    let Some(cur) = sc.current.load_full() else {
        return Ok(None);
    };
    let now = unix_now();
    let p = Persisted {
        saved_at: now,
        last_contact: sc.last_contact.load(Ordering::Relaxed),
        snapshot: snapshot::to_wire(&cur, &sc.revocations, &sc.access_tokens, now),
    };
    let bytes = serde_json::to_vec(&p).map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    write_atomic(&dir.join(STATE_FILE), &bytes)?;
    Ok(Some((cur.version, cur.epoch.clone())))
}

/// Apply one message. `Ok(Some(v))`: state moved to version `v`; `Ok(None)`: heartbeat.
pub fn apply(sc: &Sidecar, msg: PushMessage) -> Result<Option<u64>, String> {
    let now = unix_now();
    match msg {
        PushMessage::Snapshot(s) => {
            // Within one control-plane epoch versions only grow: an older snapshot is a
            // replay (a new epoch — the control plane restarted — may start lower).
            if let Some(cur) = sc.current.load_full()
                && cur.epoch == s.epoch
                && s.version < cur.version
            {
                return Err(format!(
                    "snapshot version {} rolls back the applied {} of the same epoch",
                    s.version, cur.version
                ));
            }
            let snap = snapshot::from_wire(&s).map_err(|e| e.to_string())?;
            sc.revocations.replace(&s.revocations);
            sc.access_tokens.replace(&s.access_tokens);
            let v = snap.version;
            sc.current.store(Some(Arc::new(snap)));
            sc.touch(now);
            Ok(Some(v))
        }
        PushMessage::Delta(d) => {
            let cur = sc
                .current
                .load_full()
                .ok_or("a delta arrived before any snapshot")?;
            if d.version <= cur.version {
                return Err(format!(
                    "delta to version {} is not newer than the applied {}",
                    d.version, cur.version
                ));
            }
            if d.base != cur.version {
                return Err(format!(
                    "delta from version {} does not apply to version {}",
                    d.base, cur.version
                ));
            }
            let next = snapshot::next(&cur, &d).map_err(|e| e.to_string())?;
            for r in &d.revocations {
                sc.revocations.insert(r);
            }
            if let Some(records) = &d.access_tokens {
                sc.access_tokens.replace(records);
            }
            sc.current.store(Some(Arc::new(next)));
            sc.touch(now);
            Ok(Some(d.version))
        }
        PushMessage::Heartbeat { now: theirs, .. } => {
            sc.touch(now);
            let skew = now.saturating_sub(theirs);
            let before = sc.clock_skew.swap(skew, Ordering::Relaxed);
            let leeway = sc.config.leeway;
            if skew.abs() > leeway && before.abs() <= leeway {
                tracing::warn!(
                    skew_seconds = skew,
                    leeway_seconds = leeway,
                    "this host's clock and the control plane's differ by more than the leeway: \
                     fresh tokens are refused (clock behind) or expired ones accepted (ahead)"
                );
            }
            Ok(None)
        }
    }
}

/// A byte stream to the control plane: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where the control plane is and how to reach it: `http://host:port[/prefix]` over TCP,
/// `https://…` over TLS (rustls on ring; the public web roots plus `--control-plane-ca`).
pub struct Endpoint {
    host: String,
    port: u16,
    prefix: String,
    authority: String,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl Endpoint {
    /// Parse the control-plane URL and prepare TLS when it is `https`.
    pub fn new(url: &str, extra_ca: Option<&Path>) -> anyhow::Result<Self> {
        let uri: http::Uri = url.parse()?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => anyhow::bail!("control-plane must be an http:// or https:// URL"),
        };
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("control-plane URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_else(|| host.clone());
        let tls = if https {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(path) = extra_ca {
                use rustls::pki_types::pem::PemObject;
                let mut added = 0;
                for cert in rustls::pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                {
                    let cert = cert.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    roots.add(cert)?;
                    added += 1;
                }
                if added == 0 {
                    anyhow::bail!("{}: no certificate found", path.display());
                }
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from(host.clone())?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            if extra_ca.is_some() {
                anyhow::bail!("control-plane-ca needs an https:// control-plane URL");
            }
            None
        };
        Ok(Endpoint {
            host,
            port,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            authority,
            tls,
        })
    }

    /// Open one HTTP/1.1 connection.
    async fn connect(&self) -> Result<SendRequest<ReqBody>, String> {
        let tcp = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| "connection timed out".to_owned())?
        .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(
                tokio::time::timeout(Duration::from_secs(5), connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| "TLS handshake timed out".to_owned())?
                    .map_err(|e| format!("TLS: {e}"))?,
            ),
        };
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "control-plane connection ended");
            }
        });
        Ok(send)
    }

    fn request(&self, method: http::Method, path: &str, auth: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(header::HOST, &self.authority)
            .header(header::AUTHORIZATION, auth)
    }
}

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
        let cur = self.sc.current.load_full();
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
                self.reject(&e);
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
        self.sc
            .current
            .load()
            .as_ref()
            .map(|s| (s.version, s.epoch.clone()))
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod fuzz {
    //! `security.md` §4: 100 % of corrupted, rolled-back or unsigned push messages rejected,
    //! the last good state unchanged, over a 10k-mutation run.

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use rsa::traits::PublicKeyParts;
    use shared::wire::{
        self, KeyState, Policy, PublicKey, PushMessage, Revocation, RevocationKind,
    };

    use super::apply;
    use crate::routes::Routes;
    use crate::state::Sidecar;

    const MAC: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn snapshot(version: u64, epoch: &str, revoked: usize) -> wire::Snapshot {
        static KEY: std::sync::OnceLock<PublicKey> = std::sync::OnceLock::new();
        let key = KEY.get_or_init(|| {
            let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("key");
            PublicKey {
                kid: "k0".into(),
                alg: "RS256".into(),
                n: B64.encode(private.n().to_bytes_be()),
                e: B64.encode(private.e().to_bytes_be()),
                state: KeyState::Active,
            }
        });
        wire::Snapshot {
            protocol: wire::PROTOCOL,
            version,
            epoch: epoch.into(),
            issued_at: 1_800_000_000,
            keys: vec![key.clone()],
            policy: Policy {
                issuer: "https://issuer".into(),
                audience: "aud".into(),
                access_token_ttl: 3600,
            },
            revocations: (0..revoked)
                .map(|i| Revocation {
                    kind: RevocationKind::Session,
                    id: format!("s{i}"),
                    tenant_id: None,
                    not_before: 1_800_000_000,
                    expires_at: i64::MAX / 2,
                })
                .collect(),
            restrictions: vec![],
            access_tokens: vec![],
        }
    }

    /// The observable state: version, epoch, key ids, revocation count.
    fn state(sc: &Sidecar) -> (u64, String, Vec<String>, usize) {
        let cur = sc.current.load_full().expect("state");
        let mut kids: Vec<String> = cur.keys.keys().cloned().collect();
        kids.sort();
        (cur.version, cur.epoch.clone(), kids, sc.revocations.len())
    }

    /// What the link does with a frame: decode (size, MAC, shape, protocol), then apply.
    fn receive(sc: &Sidecar, frame: &[u8]) -> Result<(), String> {
        let msg = wire::decode(MAC, frame).map_err(|e| e.to_string())?;
        apply(sc, msg).map(drop)
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
        }
    }

    #[test]
    fn ten_thousand_mutations_are_all_rejected_and_change_nothing() {
        let config = crate::Config::from_args(crate::config::Args::default()).unwrap();
        let sc = Sidecar::new(config, "fuzz".into(), Routes::default()).unwrap();
        let good = wire::encode(MAC, &PushMessage::Snapshot(snapshot(5, "e1", 3)));
        receive(&sc, &good[..good.len() - 1]).expect("the genuine snapshot applies");
        let lkg = state(&sc);
        let delta = wire::encode(
            MAC,
            &PushMessage::Delta(wire::Delta {
                protocol: wire::PROTOCOL,
                base: 5,
                version: 6,
                issued_at: 1_800_000_001,
                keys: None,
                policy: None,
                revocations: vec![],
                restrictions: vec![],
                access_tokens: None,
            }),
        );
        let sources = [good.clone(), delta];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut tried, mut rejected) = (0, 0);
        while tried < 10_000 {
            let src = &sources[rng.below(sources.len())];
            let mut f = src[..src.len() - 1].to_vec();
            match rng.below(6) {
                // Bit flips anywhere (MAC, JSON).
                0 | 1 => {
                    for _ in 0..=rng.below(8) {
                        let i = rng.below(f.len());
                        f[i] ^= 1 << rng.below(8);
                    }
                }
                // Truncation at a random byte.
                2 => f.truncate(rng.below(f.len())),
                // Random bytes inserted.
                3 => {
                    let i = rng.below(f.len());
                    let junk: Vec<u8> = (0..=rng.below(16)).map(|_| rng.next() as u8).collect();
                    f.splice(i..i, junk);
                }
                // Unsigned: a zero MAC, or no MAC at all.
                4 => {
                    if rng.below(2) == 0 {
                        f[..64].fill(b'0');
                    } else {
                        f.drain(..65);
                    }
                }
                // Signed but rolled back or for another base: a genuine MAC over a replay.
                _ => {
                    let old = if rng.below(2) == 0 {
                        PushMessage::Snapshot(snapshot(rng.below(5) as u64, "e1", 1))
                    } else {
                        PushMessage::Delta(wire::Delta {
                            protocol: wire::PROTOCOL,
                            base: rng.below(5) as u64,
                            version: 1 + rng.below(5) as u64,
                            issued_at: 1_800_000_001,
                            keys: None,
                            policy: None,
                            revocations: vec![],
                            restrictions: vec![],
                            access_tokens: None,
                        })
                    };
                    let e = wire::encode(MAC, &old);
                    f = e[..e.len() - 1].to_vec();
                }
            }
            if f == src[..src.len() - 1] {
                continue; // the mutation changed nothing
            }
            tried += 1;
            if receive(&sc, &f).is_err() {
                rejected += 1;
            }
            assert_eq!(state(&sc), lkg, "mutation {tried} changed the state");
        }
        println!("push fuzz: {tried} mutated messages, {rejected} rejected, state unchanged");
        assert_eq!(rejected, tried);
        // The genuine delta still applies afterwards.
        let next = wire::encode(
            MAC,
            &PushMessage::Delta(wire::Delta {
                protocol: wire::PROTOCOL,
                base: 5,
                version: 6,
                issued_at: 1_800_000_002,
                keys: None,
                policy: None,
                revocations: vec![],
                restrictions: vec![],
                access_tokens: None,
            }),
        );
        receive(&sc, &next[..next.len() - 1]).unwrap();
        assert_eq!(state(&sc).0, 6);
        // A new epoch may start lower (the control plane restarted).
        let fresh = wire::encode(MAC, &PushMessage::Snapshot(snapshot(2, "e2", 1)));
        receive(&sc, &fresh[..fresh.len() - 1]).unwrap();
        assert_eq!(state(&sc).0, 2);
    }
}
