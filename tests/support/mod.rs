//! Test harness: an in-process control plane with an HTTP client, and helpers to spawn the
//! real binaries.

pub mod authenticator;
pub mod browser;
pub mod cdp;
pub mod minted;
pub mod process;
pub mod provider;
pub mod remote;
pub mod schema;
pub mod smtp;
pub mod world;

use std::path::PathBuf;

use control_plane::config::Config;
use control_plane::model::clock::Clock;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

/// The identity spec, from `../shared/spec/` beside the repository.
pub fn spec() -> Value {
    let path = repo_root().join("../shared/spec/identity-openapi.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the spec must be at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the spec is JSON")
}

/// The Prometheus text a `/metrics` endpoint serves.
pub async fn metrics(url: &str) -> String {
    http_client()
        .get(url)
        .send()
        .await
        .expect("metrics answered")
        .text()
        .await
        .expect("metrics text")
}

/// One sample's value in Prometheus text; `series` is its name with any labels, exactly as
/// exposed (`control_plane_logins_total{result="failure"}`).
pub fn sample<T: std::str::FromStr>(metrics: &str, series: &str) -> Option<T> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// A fresh database on the test PostgreSQL server (`TESSERA_TEST_DATABASE_URL`), or `None`
/// when none is configured and the suites may skip (`store::postgres::test_database`).
pub async fn pg_database() -> Option<String> {
    tokio::task::spawn_blocking(control_plane::store::postgres::test_database)
        .await
        .unwrap()
}

/// A plain HTTP client (no proxies, no redirects followed: a redirect would be a bug).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// A control plane running in this process, with its credentials.
pub struct Cp {
    pub running: control_plane::Running,
    pub client: reqwest::Client,
    pub client_id: String,
    pub api_key: String,
}

/// A response: status, headers and the body parsed as JSON (`Value::Null` if empty/not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// The `name=value` of the reply's (first) `Set-Cookie`.
    #[track_caller]
    pub fn cookie(&self) -> String {
        self.headers["set-cookie"]
            .to_str()
            .expect("ASCII cookie")
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// Assert the error model: the status, `{"errors":[…],"errorCode":code}`, a trace id.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        let body: shared::error::ErrorBody = serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("not an error body ({e}): {}", self.text));
        assert!(
            !body.errors.is_empty() && !body.errors[0].is_empty(),
            "{}",
            self.text
        );
        assert_eq!(body.error_code.as_deref(), Some(code), "{}", self.text);
        assert!(self.headers.contains_key("frontegg-trace-id"));
        assert_eq!(self.headers["content-type"], "application/json");
    }
}

impl Cp {
    /// In memory, on 127.0.0.1:0, with generated credentials.
    pub async fn start() -> Cp {
        Self::start_with(Config::for_test()).await
    }

    /// With a custom configuration (its API key, if set, is used by the helpers). With
    /// `TESSERA_TEST_STORE=postgres` an in-memory configuration gets a fresh PostgreSQL
    /// database instead (`scripts/test` runs the suites that decide races and distribution
    /// a second time so).
    pub async fn start_with(mut config: Config) -> Cp {
        if std::env::var("TESSERA_TEST_STORE").as_deref() == Ok("postgres")
            && config.database_url.is_none()
            && config.data_dir.is_none()
        {
            config.database_url = pg_database().await;
        }
        let given_key = config.api_key.clone();
        let running = control_plane::start(config, Clock::system())
            .await
            .expect("control plane starts");
        let api_key = given_key
            .or_else(|| running.credentials.api_key.clone())
            .expect("a fresh store generates the API key");
        let client_id = running.client_id.clone();
        Cp {
            running,
            client: http_client(),
            client_id,
            api_key,
        }
    }

    /// A second control plane serving this one's store: what a replica sharing a database
    /// is (its own process state — caches, counters — and nothing in common but the store).
    pub async fn replica(&self) -> Cp {
        let running = control_plane::start_on(
            Config::for_test(),
            Clock::system(),
            self.running.state.db.clone(),
        )
        .await
        .expect("the replica starts");
        self.beside(running)
    }

    /// Another running control plane with this one's credentials.
    fn beside(&self, running: control_plane::Running) -> Cp {
        Cp {
            running,
            client: http_client(),
            client_id: self.client_id.clone(),
            api_key: self.api_key.clone(),
        }
    }

    /// A control plane on a fresh PostgreSQL database (`TESSERA_TEST_DATABASE_URL`'s server),
    /// and that database's URL; `None` when no server is configured (the suite skips).
    pub async fn start_postgres() -> Option<(Cp, String)> {
        Self::start_postgres_with(Config::for_test()).await
    }

    /// [`Cp::start_postgres`] with a custom configuration.
    pub async fn start_postgres_with(mut config: Config) -> Option<(Cp, String)> {
        let url = pg_database().await?;
        config.database_url = Some(url.clone());
        Some((Self::start_with(config).await, url))
    }

    /// Another control plane on the same PostgreSQL database as this one: a replica that
    /// shares nothing with it but the database (its own connections, caches and hub) and the
    /// public URL (replicas sit behind one address: tokens name it as their issuer).
    pub async fn replica_on(&self, url: &str) -> Cp {
        self.replica_with(url, Config::for_test()).await
    }

    /// [`Cp::replica_on`] with a custom configuration.
    pub async fn replica_with(&self, url: &str, mut config: Config) -> Cp {
        config.database_url = Some(url.to_owned());
        config.public_url = Some(self.running.state.public_url.to_string());
        let running = control_plane::start(config, Clock::system())
            .await
            .expect("the replica starts");
        self.beside(running)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    /// Send a request; `body` (if any) as JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        self.send(method, path, token, &[], body).await
    }

    /// The one request builder of the suite: `token` as `x-access-token`, extra `headers`
    /// (`frontegg-tenant-id`, `frontegg-user-id`, …), `body` (if any) as JSON.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.header("x-access-token", t);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        reply(req.send().await.expect("request is answered")).await
    }

    /// With an account header.
    pub async fn call_in(
        &self,
        method: Method,
        path: &str,
        token: &str,
        tenant: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let headers: Vec<(&str, &str)> = tenant
            .map(|t| ("frontegg-tenant-id", t))
            .into_iter()
            .collect();
        self.send(method, path, Some(token), &headers, body).await
    }

    /// A fresh environment token.
    pub async fn vendor_token(&self) -> String {
        let r = self
            .call(
                Method::POST,
                "/auth/vendor",
                None,
                Some(&serde_json::json!({"clientId": self.client_id, "secret": self.api_key})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["token"].as_str().expect("token").to_owned()
    }

    /// Assert that each spec operation was answered by a real handler (not 501) at least
    /// once. Naming an operation here is what marks it "tested" in docs/api-coverage.md.
    #[track_caller]
    pub fn assert_served(&self, operation_ids: &[&str]) {
        for id in operation_ids {
            assert!(
                self.running.state.served.count(id) > 0,
                "operation {id} was never served"
            );
        }
    }
}

impl Reply {
    /// Assert the status and that the body is a valid reply of `operation_id` per the spec.
    #[track_caller]
    pub fn assert_spec(&self, operation_id: &str, status: u16) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{operation_id}: {}",
            self.text
        );
        schema::assert_valid(&spec(), operation_id, status, &self.body);
    }
}

/// Read a reqwest response into a [`Reply`].
pub async fn reply(res: reqwest::Response) -> Reply {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body is readable");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// The claims of a JWT (decoded, not verified: the server's reply is trusted here).
pub fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("three segments");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims")
}

/// Wait (up to 2 s) for the `n`-th message of `kind` the server sent (delivery is
/// asynchronous).
pub async fn mail(cp: &Cp, kind: &str, n: usize) -> control_plane::delivery::Message {
    for _ in 0..200 {
        let sent: Vec<_> = cp
            .running
            .state
            .mailer
            .sent()
            .into_iter()
            .filter(|m| m.kind == kind)
            .collect();
        if sent.len() >= n {
            return sent[n - 1].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no {kind} message #{n}");
}

/// How many messages of `kind` the server has delivered so far.
pub fn sent_count(cp: &Cp, kind: &str) -> usize {
    cp.running
        .state
        .mailer
        .sent()
        .iter()
        .filter(|m| m.kind == kind)
        .count()
}

/// `(userId, token)` from the first link with both in a mail body.
pub fn link_parts(body: &str) -> (String, String) {
    let link = body
        .lines()
        .find(|l| l.contains("?userId="))
        .expect("a link");
    let query = link.split_once('?').expect("a query").1;
    let get = |k: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{k}=")))
            .expect("the parameter")
            .to_owned()
    };
    (get("userId"), get("token"))
}

/// A reply read off a raw connection: status and body.
pub struct RawReply {
    pub status: u16,
    pub body: String,
}

impl RawReply {
    /// The body's `reason` (sidecar denials), or "".
    pub fn reason(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Send `request` (a whole HTTP/1.1 request, `Connection: close` included) as bytes on a
/// fresh connection: no client library normalises the target on the way (`url` would
/// remove dot segments).
pub fn raw_http(addr: &str, request: &str) -> RawReply {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let _ = s.write_all(request.as_bytes());
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    RawReply {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        body: body.to_owned(),
    }
}

/// `GET target` with extra header lines, raw.
pub fn raw_get(addr: &str, target: &str, headers: &[(&str, &str)]) -> RawReply {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    raw_http(addr, &req)
}

/// Whether a system tool a suite needs is installed (the first of `paths` that exists). CI
/// installs them (`.ci/run`) and sets `TESSERA_REQUIRE_SYSTEM_TOOLS`, which turns a missing
/// one into a failure; elsewhere the suite prints SKIPPED and passes.
pub fn system_tool(paths: &[&str], package: &str) -> Option<PathBuf> {
    let found = paths.iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("TESSERA_REQUIRE_SYSTEM_TOOLS").is_none(),
            "{paths:?} is required here (apt-get install {package})"
        );
        println!("SKIPPED: {paths:?} missing (apt-get install {package})");
    }
    found
}
