//! The hyper adapter: accept loop (bounded heads, header-read timeout, graceful drain),
//! request facts out of `http::Request`, decisions into responses — forward-auth
//! (`/v1/check[/<path>]`) and reverse proxy (`--upstream`). It knows HTTP and nothing about
//! rules.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use shared::error::ErrorBody;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::decide::{DenyReason, TokenSource};
use crate::facts;
use crate::state::{Facts, Permit, Sidecar, client_ip, unix_now};
use shared::claims::AccessClaims;

/// Response body type of both listeners.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// Request body forwarded upstream (length-limited).
type ProxyBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Identity headers the sidecar sets (in [`facts::IDENTITY_HEADERS`] order); in proxy mode
/// any client-sent copy, in any spelling, is removed first.
pub const IDENTITY_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static(facts::IDENTITY_HEADERS[0]),
    HeaderName::from_static(facts::IDENTITY_HEADERS[1]),
    HeaderName::from_static(facts::IDENTITY_HEADERS[2]),
    HeaderName::from_static(facts::IDENTITY_HEADERS[3]),
    HeaderName::from_static(facts::IDENTITY_HEADERS[4]),
];

/// Time allowed to receive a request head (and to wait idle for the next): a sidecar's
/// clients are proxies on the same host that send whole heads at once, so slow ones are
/// attackers (`security.md` §4.5: slowloris connections closed within 10 s).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest request head read (hyper's read buffer): tokens are capped at 8 KiB and proxies
/// send heads well under this; larger ones get 431 (`security.md` A9, J4).
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// Largest request body forwarded upstream.
const MAX_PROXY_BODY: usize = 16 * 1024 * 1024;

/// Upstream response timeout.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// A full body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A JSON response.
pub fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut res = Response::new(full(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// What a connection beyond the cap is told before it is closed.
const SHED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 79\r\n\r\n\
{\"errors\":[\"too many connections; retry shortly\"],\"errorCode\":\"ER-UNAVAILABLE\"}";

/// Answer a connection over the cap with [`SHED_RESPONSE`] and close it (reading what the
/// client sent first, briefly, so the close does not reset the answer away).
async fn shed(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(SHED_RESPONSE).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// At most how many connections a listener serves, and where refusals are counted.
pub struct ConnectionCap {
    /// Connections served at once.
    pub max: usize,
    /// Counts connections answered 503 at the cap.
    pub shed: Option<prometheus::IntCounter>,
}

/// A listener on `addr` with [`shared::net::LISTEN_BACKLOG`] (tokio's `bind` asks for 128).
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(shared::net::LISTEN_BACKLOG)
}

/// Serve `listener` until `stop`, calling `handler` per request; connections beyond `cap`
/// get an immediate 503 with `Retry-After` instead of queueing (and instead of running the
/// process out of file descriptors).
pub async fn serve<F, Fut>(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    cap: ConnectionCap,
    handler: F,
) where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let mut accept_errors = shared::net::AcceptErrors::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(cap.max));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning,
                    // and log at most once a second.
                    if let Some(unlogged) = accept_errors.record(std::time::Instant::now()) {
                        tracing::warn!(error = %e, unlogged, "accept failed");
                    }
                    tokio::time::sleep(shared::net::AcceptErrors::PAUSE).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if let Some(c) = &cap.shed {
                c.inc();
            }
            tokio::spawn(shed(stream));
            continue;
        };
        let h = handler.clone();
        let service = hyper::service::service_fn(move |req| {
            let fut = h(req, peer);
            async move { Ok::<_, Infallible>(fut.await) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEAD_BYTES)
            .max_headers(100);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(client.addr = %peer, error = %e, "connection error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("drain timeout"),
    }
}

/// The data listener's handler.
#[derive(Clone)]
pub struct DataPlane {
    sidecar: Arc<Sidecar>,
    upstream: Option<(Uri, Client<HttpConnector, ProxyBody>)>,
}

impl DataPlane {
    pub(crate) fn new(sidecar: Arc<Sidecar>) -> anyhow::Result<Self> {
        let upstream = match &sidecar.config.upstream {
            None => None,
            Some(u) => {
                let uri: Uri = u.parse()?;
                if uri.scheme_str() != Some("http") || uri.authority().is_none() {
                    anyhow::bail!("upstream must be an http://host:port URL, not {u:?}");
                }
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(Duration::from_secs(5)));
                let client = Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(60))
                    .pool_max_idle_per_host(256)
                    .build(connector);
                Some((uri, client))
            }
        };
        Ok(DataPlane { sidecar, upstream })
    }

    /// Handle one request.
    pub async fn handle(self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        if let Err(why) = unambiguous_framing(req.headers()) {
            return error(StatusCode::BAD_REQUEST, why, "bad_request");
        }
        let path = req.uri().path();
        if path == "/v1/check" || path.starts_with("/v1/check/") {
            return self.forward_auth(&req, peer);
        }
        if self.upstream.is_some() {
            return self.proxy(req, peer).await;
        }
        error(
            StatusCode::NOT_FOUND,
            "no such route; forward-auth is at /v1/check",
            "not_found",
        )
    }

    /// The client address: the peer, or what the one configured forwarding header of a
    /// trusted proxy says.
    fn client(&self, h: &HeaderMap, peer: SocketAddr) -> std::net::IpAddr {
        let config = &self.sidecar.config;
        if config.trusted_proxies.is_empty() {
            return shared::net::canonical(peer.ip());
        }
        let values: Vec<&str> = h
            .get_all(config.client_ip_header.name())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        client_ip(
            peer.ip(),
            &config.trusted_proxies,
            config.client_ip_header,
            &values,
        )
    }

    /// Count and answer a request refused before a decision could be made.
    fn refuse(&self, reason: DenyReason, method: &str, path: &str) -> Response<Body> {
        self.sidecar.record(&Err(reason), method, path, 0.0);
        denial(reason)
    }

    fn forward_auth(&self, req: &Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let h = req.headers();
        let (method, raw_path) = (req.method().as_str(), req.uri().path());
        let original =
            match facts::forward_auth(self.sidecar.config.integration, method, raw_path, h) {
                Ok(o) => o,
                Err(reason) => return self.refuse(reason, method, raw_path),
            };
        // No proxy overwrites `x_user_roles`; it must not reach the service.
        if facts::has_forged_identity(h) {
            return self.refuse(
                DenyReason::AmbiguousRequest,
                original.method,
                &original.path,
            );
        }
        let token = match token_source(h) {
            Ok(t) => t,
            Err(r) => return self.refuse(r, original.method, &original.path),
        };
        let facts = Facts {
            method: original.method,
            path: &original.path,
            token,
            client_ip: self.client(h, peer),
        };
        match self.decide(&facts) {
            Ok(permit) => {
                let mut res = Response::new(full(Bytes::new()));
                add_identity(res.headers_mut(), &permit);
                res
            }
            Err(reason) => denial(reason),
        }
    }

    fn decide(&self, facts: &Facts<'_>) -> Result<Permit, DenyReason> {
        let started = Instant::now();
        let outcome = self.sidecar.decide(facts, unix_now());
        self.sidecar.record(
            &outcome,
            facts.method,
            facts.path,
            started.elapsed().as_secs_f64(),
        );
        outcome
    }

    async fn proxy(&self, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let Some((upstream, client)) = &self.upstream else {
            return error(StatusCode::NOT_FOUND, "no upstream", "not_found");
        };
        let client_addr = self.client(req.headers(), peer);
        // The path decided on is the path forwarded: one reading for both.
        let path = match crate::path::canonical(req.uri().path()) {
            Ok(p) => p.into_owned(),
            Err(_) => {
                return self.refuse(DenyReason::InvalidPath, req.method().as_str(), "-");
            }
        };
        let permit = {
            let h = req.headers();
            let token = match token_source(h) {
                Ok(t) => t,
                Err(r) => return self.refuse(r, req.method().as_str(), &path),
            };
            let facts = Facts {
                method: req.method().as_str(),
                path: &path,
                token,
                client_ip: client_addr,
            };
            match self.decide(&facts) {
                Ok(p) => p,
                Err(reason) => return denial(reason),
            }
        };
        if req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n > MAX_PROXY_BODY)
        {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
                "body_too_large",
            );
        }
        let h = req.headers_mut();
        strip_hop_by_hop(h);
        strip_identity(h);
        h.remove("x-real-ip");
        h.remove("forwarded");
        h.insert("x-forwarded-for", header_value(&client_addr.to_string()));
        h.insert("x-real-ip", header_value(&client_addr.to_string()));
        add_identity(h, &permit);
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = upstream.clone().into_parts();
        parts.path_and_query = path_and_query.parse().ok();
        let Ok(uri) = Uri::from_parts(parts) else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid request target",
                "bad_request",
            );
        };
        let (mut head, body) = req.into_parts();
        head.uri = uri;
        let body = http_body_util::Limited::new(body, MAX_PROXY_BODY).boxed();
        let fut = client.request(Request::from_parts(head, body));
        match tokio::time::timeout(UPSTREAM_TIMEOUT, fut).await {
            Ok(Ok(res)) => {
                let (mut head, body) = res.into_parts();
                strip_hop_by_hop(&mut head.headers);
                Response::from_parts(head, body.boxed())
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "upstream request failed");
                error(
                    StatusCode::BAD_GATEWAY,
                    "the upstream service is unavailable",
                    "upstream_unavailable",
                )
            }
            Err(_) => error(
                StatusCode::GATEWAY_TIMEOUT,
                "the upstream service timed out",
                "upstream_timeout",
            ),
        }
    }
}

/// Refuse framing two parsers could read differently (`security.md` J4): a body length
/// given both ways, or a transfer coding other than plain `chunked`. Such a request is never
/// decided on nor forwarded (hyper would pick one reading; an upstream might pick the other).
fn unambiguous_framing(h: &HeaderMap) -> Result<(), &'static str> {
    let mut codings = h.get_all(header::TRANSFER_ENCODING).iter();
    let Some(te) = codings.next() else {
        return Ok(());
    };
    if h.contains_key(header::CONTENT_LENGTH) {
        return Err("Content-Length and Transfer-Encoding together are refused");
    }
    if codings.next().is_some() || !te.as_bytes().eq_ignore_ascii_case(b"chunked") {
        return Err("only Transfer-Encoding: chunked is accepted");
    }
    Ok(())
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The credential: `Authorization: Bearer` or `x-api-key`. Two of either, or both, are
/// ambiguous and refused.
fn token_source(h: &HeaderMap) -> Result<TokenSource<'_>, DenyReason> {
    let mut auth = h.get_all(header::AUTHORIZATION).iter();
    let mut keys = h.get_all("x-api-key").iter();
    let (a, a2, k, k2) = (auth.next(), auth.next(), keys.next(), keys.next());
    if a2.is_some() || k2.is_some() || (a.is_some() && k.is_some()) {
        return Err(DenyReason::AmbiguousCredentials);
    }
    if let Some(a) = a {
        let s = a.to_str().map_err(|_| DenyReason::AmbiguousCredentials)?;
        let (scheme, token) = s.split_once(' ').ok_or(DenyReason::AmbiguousCredentials)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(DenyReason::AmbiguousCredentials);
        }
        return Ok(TokenSource::Bearer(token.trim()));
    }
    if let Some(k) = k {
        return Ok(TokenSource::ApiKey(
            k.to_str()
                .map_err(|_| DenyReason::AmbiguousCredentials)?
                .trim(),
        ));
    }
    Ok(TokenSource::None)
}

/// Remove every client-sent identity header, in every spelling (`x-user-roles`,
/// `x_user_roles`, `X_User_Roles`), before the sidecar's own are added.
fn strip_identity(h: &mut HeaderMap) {
    let forged: Vec<HeaderName> = h
        .keys()
        .filter(|k| facts::is_identity_spelling(k.as_str()))
        .cloned()
        .collect();
    for name in forged {
        h.remove(name);
    }
}

/// The identity header values, in [`IDENTITY_HEADERS`] order (`None`: unrepresentable as a
/// header value, not sent).
fn identity_values(
    c: &AccessClaims,
    roles: &[String],
    permissions: &[String],
) -> Box<[Option<HeaderValue>]> {
    let user = c.user_id.as_deref().unwrap_or(&c.sub);
    [
        user.to_owned(),
        c.tenant_id.clone(),
        roles.join(","),
        permissions.join(","),
        c.token_type.as_str().to_owned(),
    ]
    .into_iter()
    .map(|v| HeaderValue::from_str(&v).ok())
    .collect()
}

fn add_identity(h: &mut HeaderMap, permit: &Permit) {
    let Some(id) = permit else { return };
    let c = &id.verified.claims;
    // An access token's rights are its record's, never the token's.
    let per_record;
    let values: &[Option<HeaderValue>] = match &id.record {
        Some(r) => {
            per_record = identity_values(c, &r.roles, &r.permissions);
            &per_record
        }
        None => id
            .verified
            .identity_headers
            .get_or_init(|| identity_values(c, &c.roles, &c.permissions)),
    };
    h.reserve(IDENTITY_HEADERS.len());
    for (name, value) in IDENTITY_HEADERS.iter().zip(values) {
        if let Some(v) = value {
            h.insert(name.clone(), v.clone());
        }
    }
}

fn error(status: StatusCode, message: &str, reason: &str) -> Response<Body> {
    json(
        status,
        serde_json::to_string(&ErrorBody::denial(message, reason)).unwrap_or_default(),
    )
}

/// A denial: 401 with `WWW-Authenticate`, 400, 403, or 503 without state.
pub fn denial(reason: DenyReason) -> Response<Body> {
    let status = StatusCode::from_u16(reason.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut res = error(status, reason.message(), reason.as_str());
    if status == StatusCode::UNAUTHORIZED {
        let v = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            reason.as_str()
        );
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, header_value(&v));
    }
    res
}

fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        h.remove(n);
    }
    for n in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        h.remove(n);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shed_response_is_well_formed() {
        let text = std::str::from_utf8(super::SHED_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
        let parsed: shared::error::ErrorBody = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.error_code.as_deref(), Some("ER-UNAVAILABLE"));
    }
}
