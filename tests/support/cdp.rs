//! Headless Chromium (Debian's `chromium`) driven over the DevTools protocol: navigate, read
//! and fill the page, wait for it, take screenshots. What a person does with the hosted
//! pages, done by the suite (`tests/clients/chromium.rs`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One browser with one page, killed on drop.
pub struct Chromium {
    _child: tokio::process::Child,
    _profile: tempfile::TempDir,
    ws: Socket,
    next: u64,
}

impl Chromium {
    /// Start the browser (a fresh profile) and attach to its page.
    pub async fn launch(binary: &Path) -> Chromium {
        let profile = tempfile::tempdir().unwrap();
        let child = tokio::process::Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                "--window-size=900,760",
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium starts");
        // The browser writes its DevTools port to the profile once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let started = Instant::now();
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u16>().ok()))
            {
                break p;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromium never listened"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let page_ws = loop {
            let list: Option<Vec<Value>> = async {
                reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()
            }
            .await;
            if let Some(url) = list.into_iter().flatten().find_map(|t| {
                (t["type"] == "page")
                    .then(|| t["webSocketDebuggerUrl"].as_str().map(str::to_owned))
                    .flatten()
            }) {
                break url;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no page target"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (ws, _) = tokio_tungstenite::connect_async(page_ws.as_str())
            .await
            .expect("the DevTools socket");
        let mut c = Chromium {
            _child: child,
            _profile: profile,
            ws,
            next: 0,
        };
        c.call("Page.enable", json!({})).await;
        c
    }

    /// A DevTools command's result (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params).await {
            Ok(v) => v,
            Err(e) => panic!("{method}: {e}"),
        }
    }

    /// A DevTools command's result, or the error it answered.
    async fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::Text(msg.into())).await.expect("send");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer in 30 s"))
                .expect("the socket is open")
                .expect("a frame");
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).expect("JSON");
            if v["id"] == id {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    /// Navigate (the load is not awaited: see [`Chromium::wait_for`]).
    pub async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }

    /// The value of a JavaScript expression in the page (promises awaited); `null` when the
    /// page navigated away meanwhile (polling across a navigation is expected). DevTools'
    /// evaluation is not page script: the pages' `script-src` does not apply to it.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let params = json!({"expression": expression, "returnByValue": true, "awaitPromise": true});
        match self.try_call("Runtime.evaluate", params).await {
            Ok(r) => r["result"]["value"].clone(),
            Err(_) => Value::Null,
        }
    }

    /// Wait (up to 15 s) until the loaded page's URL starts with `prefix` and its text holds
    /// `text`; the page's text.
    pub async fn wait_for(&mut self, prefix: &str, text: &str) -> String {
        let started = Instant::now();
        loop {
            let v = self
                .eval("JSON.stringify([location.href, document.readyState, document.body ? document.body.innerText : ''])")
                .await;
            let v: Vec<String> = v
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            if let [href, state, body] = v.as_slice()
                && href.starts_with(prefix)
                && state == "complete"
                && body.contains(text)
            {
                return body.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "waited for {prefix} with {text:?}; the page is {v:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fill the page's inputs (`#id` → value) and submit its form.
    pub async fn fill_and_submit(&mut self, fields: &[(&str, &str)]) {
        let mut js = String::from("(() => { const f = document.querySelector('form');");
        for (id, value) in fields {
            js.push_str(&format!(
                "f.querySelector({:?}).value = {};",
                format!("#{id}"),
                serde_json::to_string(value).unwrap()
            ));
        }
        // Submitted once this evaluation has answered (a navigation that began first would
        // take its answer with it).
        js.push_str("setTimeout(() => f.submit(), 0); return true; })()");
        assert_eq!(self.eval(&js).await, json!(true), "the form was submitted");
    }

    /// A PNG of the page as shown, written to `path`.
    pub async fn screenshot(&mut self, path: &Path) -> PathBuf {
        use base64::Engine;
        let r = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("image data"))
            .expect("base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
        path.to_path_buf()
    }
}
