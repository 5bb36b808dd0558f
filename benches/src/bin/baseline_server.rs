//! The baseline of every sidecar budget: a bare hyper server (the sidecar's own accept loop,
//! `sidecar::http::serve`) answering every request 200 with a small header. Prints
//! `listening on http://ADDR`; stops on SIGTERM or when stdin closes.
//!
//! `baseline-server [ADDR]` (default `127.0.0.1:0`).

#![allow(clippy::expect_used)]

use bytes::Bytes;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind(&addr).await.expect("bind");
        println!("listening on http://{}", l.local_addr().expect("addr"));
        let (_stop, rx) = tokio::sync::watch::channel(false);
        // The sidecar's accept loop with its default cap, so the ceiling pays for it too.
        let cap = sidecar::http::ConnectionCap {
            max: 10_000,
            shed: None,
        };
        let server = tokio::spawn(sidecar::http::serve(l, rx, cap, |_req, _peer| async {
            let mut res = http::Response::new(sidecar::http::full(Bytes::new()));
            res.headers_mut()
                .insert("x-user-id", http::HeaderValue::from_static("baseline"));
            res
        }));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = server => {}
        }
    });
}
