//! CORS and the session cookie as a real browser enforces them: headless Chromium (Debian's
//! `chromium`) loads a page from one loopback origin that logs in against the control plane
//! on another with `credentials: 'include'`, refreshes by the cookie the browser kept, and
//! reports what it saw to the page's own server; the same page from an origin that is not
//! allowed must not be able to read any reply.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use control_plane::config::Config;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::support::world::{PASSWORD, World};
use crate::support::{Cp, system_tool};

/// The page: three calls to the control plane, each result posted back to `/result`.
fn page(cp: &str, email: &str) -> String {
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>login box</title><script>
const CP = {cp:?};
const out = {{}};
async function call(name, path, body) {{
  try {{
    const r = await fetch(CP + path, {{
      method: 'POST', credentials: 'include',
      headers: {{ 'content-type': 'application/json', 'frontegg-source': 'login-box' }},
      body: JSON.stringify(body),
    }});
    const j = await r.json().catch(() => ({{}}));
    out[name] = {{ status: r.status, hasAccessToken: !!j.accessToken, traceId: r.headers.get('frontegg-trace-id') }};
  }} catch (e) {{
    out[name] = {{ error: String(e) }};
  }}
}}
(async () => {{
  await call('login', '/frontegg/identity/resources/auth/v1/user', {{ email: {email:?}, password: {PASSWORD:?} }});
  await call('refresh', '/frontegg/identity/resources/auth/v1/user/token/refresh', {{ tenantId: null }});
  await call('logout', '/frontegg/identity/resources/auth/v1/logout', {{}});
  await call('after_logout', '/frontegg/identity/resources/auth/v1/user/token/refresh', {{}});
  out.cookieVisibleToPage = document.cookie.includes('fe_refresh');
  await fetch('/result', {{ method: 'POST', body: JSON.stringify(out) }});
}})();
</script>"#
    )
}

/// Serve `html` at every GET; the body of a `POST /result` is kept in the returned slot.
async fn page_server(html: Arc<Mutex<String>>) -> (u16, Arc<Mutex<Option<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let result: Arc<Mutex<Option<Value>>> = Arc::default();
    let sink = result.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (html, sink) = (html.clone(), sink.clone());
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                let mut head = Vec::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push(line);
                }
                let len = head
                    .iter()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body).await;
                let (ctype, reply) = if head.first().is_some_and(|l| l.starts_with("POST /result"))
                {
                    *sink.lock().unwrap() = serde_json::from_slice(&body).ok();
                    ("text/plain", String::new())
                } else {
                    ("text/html; charset=utf-8", html.lock().unwrap().clone())
                };
                let _ = w
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                            reply.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    (port, result)
}

/// Load `url` in headless Chromium until the page reported (or 30 s).
async fn visit(chromium: &std::path::Path, url: &str, result: &Arc<Mutex<Option<Value>>>) -> Value {
    let profile = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--remote-debugging-port=0",
            &format!("--user-data-dir={}", profile.path().display()),
            url,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium starts");
    let mut got = None;
    for _ in 0..300 {
        if let Some(v) = result.lock().unwrap().take() {
            got = Some(v);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill().await;
    got.unwrap_or_else(|| panic!("the page at {url} never reported"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_logs_in_across_origins_only_from_an_allowed_one() {
    let Some(chromium) = system_tool(&["/usr/bin/chromium"], "chromium") else {
        return;
    };
    // The page is served from localhost:<port> (allowed) and 127.0.0.1:<port> (not); the
    // page calls the control plane at localhost:<other port>: another origin of the same
    // site, as an application and its identity server on one domain are (a cross-site
    // cookie would be a third-party cookie, which browsers may block whatever it says).
    let html: Arc<Mutex<String>> = Arc::default();
    let (port, result) = page_server(html.clone()).await;
    let mut config = Config::for_test();
    config.allowed_origins = vec![format!("http://localhost:{port}")];
    let cp = Cp::start_with(config).await;
    let w = World {
        token: cp.vendor_token().await,
        cp,
    };
    let t = w.tenant("Acme").await;
    w.user(&t, "ada@example.com", &[]).await;
    let cp_url = format!("http://localhost:{}", w.cp.running.addr.port());
    *html.lock().unwrap() = page(&cp_url, "ada@example.com");

    let seen = visit(&chromium, &format!("http://localhost:{port}/"), &result).await;
    println!("allowed origin: {seen}");
    assert_eq!(seen["login"]["status"], 200, "{seen}");
    assert_eq!(seen["login"]["hasAccessToken"], true, "{seen}");
    assert!(
        seen["login"]["traceId"].is_string(),
        "the exposed header: {seen}"
    );
    assert_eq!(
        seen["refresh"]["status"], 201,
        "the cookie went back: {seen}"
    );
    assert_eq!(seen["refresh"]["hasAccessToken"], true, "{seen}");
    assert_eq!(seen["logout"]["status"], 201, "{seen}");
    assert_eq!(seen["after_logout"]["status"], 401, "{seen}");
    assert_eq!(seen["cookieVisibleToPage"], false, "HttpOnly: {seen}");

    // The same page from an origin that is not allowed reads nothing: every call fails in
    // the browser (the preflight is refused), and no session was opened for it.
    let seen = visit(&chromium, &format!("http://127.0.0.1:{port}/"), &result).await;
    println!("disallowed origin: {seen}");
    for call in ["login", "refresh", "logout", "after_logout"] {
        assert!(
            seen[call]["error"]
                .as_str()
                .is_some_and(|e| e.contains("TypeError")),
            "{call}: {seen}"
        );
    }
}
