//! A small JSON-over-HTTP/1.1 client for the harness's setup calls (one connection each).

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Full};

/// A reply: status, headers, the body parsed as JSON (`Null` if it is not).
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: serde_json::Value,
}

/// Send one request to `addr` and read the whole reply.
pub async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the server accepts");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let bytes = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(v).expect("json"))
        }
        None => Bytes::new(),
    };
    let res = send
        .send_request(b.body(Full::new(bytes)).expect("request"))
        .await
        .expect("the server answers");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let raw = res.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        headers,
        body: serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
    }
}
