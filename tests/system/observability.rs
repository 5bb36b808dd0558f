//! Health, readiness, metrics, request ids, and listener timeouts.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use control_plane::config::Config;
use reqwest::Method;

use crate::support::Cp;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let cp = Cp::start().await;
    let h = cp.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (h.status.as_u16(), h.body["status"].as_str()),
        (200, Some("ok"))
    );
    let r = cp.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (r.status.as_u16(), r.body["status"].as_str()),
        (200, Some("ready"))
    );
    let token = cp.vendor_token().await;
    cp.call(
        Method::GET,
        "/tenants/resources/tenants/v1/",
        Some(&token),
        None,
    )
    .await;
    cp.call(
        Method::POST,
        "/identity/resources/migrations/v1/local/bulk",
        None,
        None,
    )
    .await;
    let m = cp.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(m.status, 200);
    assert!(
        m.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    for needle in [
        r#"control_plane_http_requests_total{method="GET",route="/tenants/resources/tenants/v1/",status="200"} 1"#,
        r#"control_plane_http_requests_total{method="POST",route="/identity/resources/migrations/v1/local/bulk",status="401"} 1"#,
        r#"control_plane_http_requests_total{method="POST",route="/auth/vendor",status="200"} 1"#,
        r#"control_plane_vendor_auth_total{result="success"} 1"#,
        "control_plane_http_request_duration_seconds_bucket",
        "control_plane_store_healthy 1",
    ] {
        assert!(m.text.contains(needle), "missing {needle} in:\n{}", m.text);
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let cp = Cp::start().await;
    let res = cp
        .client
        .get(cp.url("/healthz"))
        .header("frontegg-trace-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["frontegg-trace-id"], "abc-123");
    // A hostile incoming id is replaced, not reflected.
    let res = cp
        .client
        .get(cp.url("/nope"))
        .header("frontegg-trace-id", "<script>")
        .send()
        .await
        .unwrap();
    let id = res.headers()["frontegg-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!id.contains('<') && id.len() >= 16);
    let res2 = cp.client.get(cp.url("/nope")).send().await.unwrap();
    assert_ne!(res2.headers()["frontegg-trace-id"].to_str().unwrap(), id);
}

#[tokio::test]
async fn slow_and_idle_clients_are_disconnected() {
    let mut config = Config::for_test();
    config.limits.header_read_timeout = Duration::from_millis(500);
    let cp = Cp::start_with(config).await;
    let addr = cp.running.addr;
    tokio::task::spawn_blocking(move || {
        // Slowloris: a request head that never completes.
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap_or(0);
        let waited = start.elapsed();
        assert!(
            waited < Duration::from_secs(3),
            "slow header kept open {waited:?}"
        );
        assert!(
            n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        // Idle keep-alive: one request, then silence.
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let n = s.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let start = Instant::now();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "idle connection kept open"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let cp = Cp::start().await;
    // Just over the 64 KiB limit: an exact 431 in the error shape.
    let res = cp
        .client
        .get(cp.url("/healthz"))
        .header("x-big", "a".repeat(65 * 1024))
        .send()
        .await
        .unwrap();
    crate::support::reply(res)
        .await
        .assert_error(431, "ER-HEADERS-TOO-LARGE");
    // Far over it: hyper refuses before buffering it all (431 or a closed connection).
    let res = cp
        .client
        .get(cp.url("/healthz"))
        .header("x-big", "a".repeat(1024 * 1024))
        .send()
        .await;
    if let Ok(r) = res {
        assert_eq!(r.status(), 431);
    }
    let ok = cp
        .client
        .get(cp.url("/healthz"))
        .header("x-fine", "a".repeat(8 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The server is still fine.
    assert_eq!(
        cp.call(Method::GET, "/healthz", None, None).await.status,
        200
    );
}

/// J2: a body trickled a byte at a time (R.U.D.Y.) is cut off at the body-read timeout with
/// 408 and the connection closed; many such clients hold nothing for long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_bodies_are_cut_off() {
    let mut config = Config::for_test();
    config.limits.body_read_timeout = Duration::from_millis(800);
    let cp = Cp::start_with(config).await;
    let addr = cp.running.addr;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            tokio::task::spawn_blocking(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                s.write_all(
                    b"POST /identity/resources/auth/v1/user HTTP/1.1\r\nHost: x\r\n\
                      Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
                )
                .unwrap();
                let start = Instant::now();
                let mut got = Vec::new();
                let mut buf = [0u8; 512];
                // One more byte every 100 ms until the server answers or hangs up.
                while start.elapsed() < Duration::from_secs(5) {
                    if s.write_all(b" ").is_err() {
                        break;
                    }
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => break,
                    }
                    if !got.is_empty() {
                        // Answered: the rest must be a close, not a kept-alive connection.
                        let _ = s.read_to_end(&mut got);
                        break;
                    }
                }
                (start.elapsed(), String::from_utf8_lossy(&got).into_owned())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for t in tasks {
        let (took, reply) = t.await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
        assert!(reply.contains("ER-TIMEOUT"), "{reply}");
        slowest = slowest.max(took);
    }
    println!("slow bodies: 50 trickling clients answered 408 and closed within {slowest:?}");
    assert!(slowest < Duration::from_secs(3), "{slowest:?}");
    // The server is fine.
    let ok = cp.client.get(cp.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

/// The metric names a PromQL expression mentions (Tessera's: `control_plane_*`,
/// `sidecar_*`), a histogram's series named by their family.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &expr[i..];
        let starts = (rest.starts_with("control_plane_") || rest.starts_with("sidecar_"))
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'));
        if starts {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            i += name.len();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name)
                .to_owned();
            out.push(family);
        } else {
            i += 1;
        }
    }
    out
}

/// Every metric the Grafana dashboard (`deploy/grafana/tessera.json`) and the alert rules
/// (`deploy/prometheus/alerts.yml`) name is exported by a running control plane (on
/// PostgreSQL, for the pool's) or sidecar; and `promtool` accepts the rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_alerts_name_is_exported() {
    use crate::enforcement::distribution::{check, sidecar_for};
    let root = crate::support::repo_root();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/tessera.json")).unwrap(),
    )
    .unwrap();
    let mut named = std::collections::BTreeSet::new();
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            named.extend(metric_names(t["expr"].as_str().unwrap()));
        }
    }
    let rules = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    for line in rules.lines() {
        if let Some(expr) = line.trim().strip_prefix("expr:") {
            named.extend(metric_names(expr));
        }
    }
    assert!(named.len() >= 20, "{named:?}");

    let cp = match Cp::start_postgres().await {
        Some((cp, _)) => cp,
        None => Cp::start().await,
    };
    let token = cp.vendor_token().await;
    let sc = sidecar_for(
        &cp,
        cp.running.credentials.sidecar_token.as_deref().unwrap(),
        None,
        None,
    )
    .await;
    // Some activity: a failed login, a decision of each kind.
    let _ = cp
        .call(
            Method::POST,
            "/identity/resources/auth/v1/user",
            None,
            Some(&serde_json::json!({"email": "nobody@metrics.test", "password": "x"})),
        )
        .await;
    let _ = check(&sc, "not.a.token").await;
    let _ = token;
    for _ in 0..200 {
        if sc.sidecar.version().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let scrape =
        |url: String| async move { reqwest::get(url).await.unwrap().text().await.unwrap() };
    let exported = format!(
        "{}\n{}",
        scrape(cp.url("/metrics")).await,
        scrape(format!("http://{}/metrics", sc.admin_addr)).await
    );
    let families: std::collections::BTreeSet<&str> = exported
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut missing: Vec<&String> = named
        .iter()
        .filter(|n| !families.contains(n.as_str()))
        .collect();
    if !cp.running.state.db.shared() {
        // Only a PostgreSQL store has a pool.
        missing.retain(|n| n.as_str() != "control_plane_db_connections");
    }
    assert!(missing.is_empty(), "named but not exported: {missing:?}");

    // promtool (Debian's `prometheus` package) accepts the rules.
    if let Some(promtool) = crate::support::system_tool(&["/usr/bin/promtool"], "prometheus") {
        let out = std::process::Command::new(promtool)
            .args(["check", "rules"])
            .arg(root.join("deploy/prometheus/alerts.yml"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }
}
