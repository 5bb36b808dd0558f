//! The hyper accept loop shared by the data and admin listeners: bounded request heads, a
//! header-read timeout (slow clients), graceful drain on stop.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub(crate) async fn serve<F>(listener: TcpListener, mut stop: watch::Receiver<bool>, handler: F)
where
    F: Fn(Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let h = handler.clone();
        let service = hyper::service::service_fn(move |req| {
            let h = h.clone();
            async move { h(req) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .max_buf_size(64 * 1024)
            .max_headers(100);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(client.addr = %peer, error = %e, "connection error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("drain timeout"),
    }
}
