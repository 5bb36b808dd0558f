//! The hyper server loop: HTTP/1.1 with bounded request heads, a header-read timeout that also
//! closes idle keep-alive connections, and graceful shutdown that drains in-flight requests.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::config::Limits;

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

/// Serve `app` on `listener` until `shutdown` resolves, then drain for at most
/// `limits.drain_timeout`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut accept_errors = shared::net::AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
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
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size((limits.max_header_bytes * 2).max(8192))
            .max_headers(limits.max_headers);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(client.addr = %peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(limits.drain_timeout) => tracing::warn!("drain timeout; closing remaining connections"),
    }
}
