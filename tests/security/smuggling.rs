//! `security.md` J4 in proxy mode: ambiguous framing and malformed heads sent with a valid
//! token are refused (400/431) and never reach the upstream — no request hidden in a body
//! is ever forwarded as a request of its own. One exception is hyper's, per RFC 9112 §6.3:
//! `Content-Length` with `Transfer-Encoding: chunked` is read as chunked (hyper drops the
//! length before any handler sees it), answered once and the connection closed; the
//! upstream gets a freshly framed request and the bytes after it are never parsed.

use std::io::{Read, Write};
use std::time::Duration;

use crate::enforcement::distribution::{check, recording_upstream, sidecar_for, sidecar_token};
use crate::support::world::World;

/// Send raw bytes on a fresh connection; the status codes of every reply read back.
fn exchange(addr: std::net::SocketAddr, raw: &[u8]) -> Vec<u16> {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let _ = s.write_all(raw);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(i, _)| text[i + 9..].get(..3)?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_framing_never_reaches_the_upstream() {
    let w = World::new().await;
    let (up, _hits, seen) = recording_upstream().await;
    let sc = sidecar_for(
        &w.cp,
        &sidecar_token(&w),
        None,
        Some(format!("http://{up}")),
    )
    .await;
    let t = w.tenant("Acme").await;
    w.user(&t, "smuggler@acme.test", &["Admin"]).await;
    let access = w.token_for("smuggler@acme.test").await;
    for _ in 0..500 {
        if check(&sc, &access).await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let auth = format!("Authorization: Bearer {access}\r\n");
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let many_headers: String = (0..10_000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(&str, String)> = vec![
        (
            "J4 Content-Length and Transfer-Encoding",
            format!(
                "POST /orders HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "J4 Transfer-Encoding: chunked, identity",
            format!(
                "POST /orders HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "J4 Transfer-Encoding: xchunked",
            format!(
                "POST /orders HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "J4 two different Content-Lengths",
            format!(
                "POST /orders HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nContent-Length: {}\r\n\r\n{smuggled}",
                smuggled.len()
            ),
        ),
        (
            "J4 obsolete line folding",
            format!("GET /orders HTTP/1.1\r\nHost: x\r\n{auth}X-Folded: a\r\n b\r\n\r\n"),
        ),
        (
            "J4 header name with a space",
            format!("GET /orders HTTP/1.1\r\nHost: x\r\n{auth}Bad Header: x\r\n\r\n"),
        ),
        (
            "J4 bare CR in a header value",
            format!("GET /orders HTTP/1.1\r\nHost: x\r\n{auth}X-A: a\rGET /smuggled\r\n\r\n"),
        ),
        (
            "J4 10k headers",
            format!("GET /orders HTTP/1.1\r\nHost: x\r\n{auth}{many_headers}\r\n"),
        ),
        (
            "J4 64 kB header",
            format!(
                "GET /orders HTTP/1.1\r\nHost: x\r\n{auth}X-Big: {}\r\n\r\n",
                "a".repeat(65_536)
            ),
        ),
    ];
    let mut report = Vec::new();
    let mut forwarded = 0;
    for (name, raw) in &cases {
        let addr = sc.addr;
        let raw = raw.clone().into_bytes();
        let statuses = tokio::task::spawn_blocking(move || exchange(addr, &raw))
            .await
            .expect("exchange");
        let first = statuses.first().copied().unwrap_or(0);
        let read_as_chunked = name.contains("Content-Length and") && statuses == [200];
        assert!(
            [400, 431, 0].contains(&first) || read_as_chunked,
            "{name}: answered {statuses:?}"
        );
        if read_as_chunked {
            forwarded += 1;
        }
        report.push(format!("{name}: {statuses:?}"));
    }
    // A well-formed request still goes through, and nothing smuggled ever arrived.
    let r = crate::support::http_client()
        .get(format!("http://{}/orders/1", sc.addr))
        .bearer_auth(&access)
        .send()
        .await
        .expect("answered");
    assert_eq!(r.status(), 200);
    let seen = seen.lock().expect("not poisoned").clone();
    assert!(
        seen.iter().all(|l| !l.contains("smuggled")),
        "the upstream received {seen:?}"
    );
    assert_eq!(
        seen.len(),
        1 + forwarded,
        "only well-framed requests were forwarded: {seen:?}"
    );
    println!(
        "smuggling: {}; upstream saw only {:?}",
        report.join(", "),
        seen
    );
    sc.shutdown().await;
}
