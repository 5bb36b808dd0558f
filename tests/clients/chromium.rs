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

/// One thing a page server serves: `(path prefix, content type, body)`.
type Served = (String, &'static str, String);

/// What a page server serves: `(path prefix, content type, body)`, the longest prefix first
/// wins; the body of a `POST /result` is kept in `result`.
#[derive(Clone, Default)]
struct Site {
    files: Arc<Mutex<Vec<Served>>>,
    result: Arc<Mutex<Option<Value>>>,
}

impl Site {
    fn serve(&self, prefix: &str, content_type: &'static str, body: String) {
        let mut f = self.files.lock().unwrap();
        f.retain(|(p, _, _)| p != prefix);
        f.push((prefix.to_owned(), content_type, body));
        f.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.len()));
    }

    fn lookup(&self, target: &str) -> (&'static str, String) {
        let path = target.split('?').next().unwrap_or_default();
        self.files
            .lock()
            .unwrap()
            .iter()
            .find(|(p, _, _)| path.starts_with(p.as_str()))
            .map(|(_, t, b)| (*t, b.clone()))
            .unwrap_or(("text/plain", String::new()))
    }

    /// Wait (up to 30 s) for the next report.
    async fn report(&self) -> Value {
        for _ in 0..300 {
            if let Some(v) = self.result.lock().unwrap().take() {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never reported")
    }
}

/// Serve `site` on a loopback port; its port.
async fn page_server(site: Site) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let site = site.clone();
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
                let request_line = head.first().cloned().unwrap_or_default();
                let (ctype, reply) = if request_line.starts_with("POST /result") {
                    *site.result.lock().unwrap() = serde_json::from_slice(&body).ok();
                    ("text/plain", String::new())
                } else {
                    let target = request_line.split(' ').nth(1).unwrap_or("/");
                    site.lookup(target)
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
    port
}

/// Load `url` in headless Chromium until the page reported (or 30 s).
async fn visit(chromium: &std::path::Path, url: &str, site: &Site) -> Value {
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
    let got = site.report().await;
    let _ = child.kill().await;
    got
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
    let site = Site::default();
    let port = page_server(site.clone()).await;
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
    site.serve(
        "/",
        "text/html; charset=utf-8",
        page(&cp_url, "ada@example.com"),
    );

    let seen = visit(&chromium, &format!("http://localhost:{port}/"), &site).await;
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
    let seen = visit(&chromium, &format!("http://127.0.0.1:{port}/"), &site).await;
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

/// The application page of the hosted-login test: `tests/js/hosted-app.mjs` (the real
/// rest-api) bundled for the browser by esbuild, and the HTML that loads it.
fn hosted_app(site: &Site, cp: &str, client_id: &str, app: &str) {
    let (_, dir) = super::rest_api::node_with_packages().expect("node and the packages");
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("app.js");
    let status = std::process::Command::new(dir.join("node_modules/.bin/esbuild"))
        .args([
            "hosted-app.mjs",
            "--bundle",
            "--format=esm",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", bundle.display()))
        .current_dir(&dir)
        .status()
        .expect("esbuild runs");
    assert!(
        status.success(),
        "esbuild could not bundle tests/js/hosted-app.mjs"
    );
    site.serve(
        "/app.js",
        "text/javascript",
        std::fs::read_to_string(&bundle).unwrap(),
    );
    let cfg = serde_json::json!({"base": cp, "clientId": client_id, "redirect": format!("{app}/app/callback")});
    site.serve(
        "/app/",
        "text/html; charset=utf-8",
        format!(
            "<!doctype html><meta charset=\"utf-8\"><title>An application</title>\
             <script>window.TESSERA = {cfg};</script><script type=\"module\" src=\"/app.js\"></script>\
             <p>The application.</p>"
        ),
    );
}

/// The hosted login in a real browser, against the running control plane and a sidecar:
/// sign-up → the mailed activation link → activated and signed in; forgot password → the
/// mailed link → the new password works; an application on another origin sends the browser
/// to `/oauth/authorize`, the user signs in on the hosted page, the application's rest-api
/// `exchangeOAuthTokensV2` gets tokens the sidecar accepts; a reload uses
/// `authorize/silent`; logout ends the session at the sidecar. Each page is photographed
/// (`target/screenshots/hosted-*.png`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosted_login_in_a_real_browser() {
    use crate::enforcement::distribution::{check, sidecar_for, sidecar_token, until_denied};
    use crate::support::cdp::Chromium;
    use crate::support::mail;

    let Some(chromium) = system_tool(&["/usr/bin/chromium"], "chromium") else {
        return;
    };
    if super::rest_api::node_with_packages().is_none() {
        return;
    }
    let site = Site::default();
    let port = page_server(site.clone()).await;
    let app = format!("http://localhost:{port}");
    let mut config = Config::for_test();
    config.allowed_origins = vec![app.clone()];
    let cp = Cp::start_with(config).await;
    let w = World {
        token: cp.vendor_token().await,
        cp,
    };
    let client = w.cp.client_id.clone();
    let r = w
        .env(
            reqwest::Method::PUT,
            &format!("/tessera/v1/applications/{client}"),
            None,
            Some(
                serde_json::json!({"name": "Shop", "redirectUris": [format!("{app}/app/callback")],
                "postLogoutRedirectUris": [format!("{app}/app/bye")]}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sc = sidecar_for(&w.cp, &sidecar_token(&w), None, None).await;
    // The pages as mailed (the public URL), and as the application calls them (another origin
    // of the application's site).
    let public = w.cp.running.url();
    let cp_site = format!("http://localhost:{}", w.cp.running.addr.port());
    hosted_app(&site, &cp_site, &client, &app);
    site.serve(
        "/app/bye",
        "text/html; charset=utf-8",
        "<p>Signed out of the application.</p>".into(),
    );
    let shots = crate::support::repo_root().join("target/screenshots");
    let mut b = Chromium::launch(&chromium).await;

    // Sign up, then the activation mail's link.
    b.goto(&format!("{public}/oauth/account/sign-up")).await;
    b.wait_for(&public, "Create an account").await;
    b.screenshot(&shots.join("hosted-sign-up.png")).await;
    b.fill_and_submit(&[
        ("email", "eve@browser.test"),
        ("name", "Eve"),
        ("companyName", "Eve Co"),
        ("password", PASSWORD),
    ])
    .await;
    b.wait_for(&public, "Check your email").await;
    let m = mail(&w.cp, "activation", 1).await;
    let link = m
        .body
        .split_whitespace()
        .find(|t| t.contains("/oauth/account/activate?"))
        .expect("the activation link")
        .to_owned();
    b.goto(&link).await;
    b.wait_for(&public, "Activate your account").await;
    b.screenshot(&shots.join("hosted-activate.png")).await;
    b.fill_and_submit(&[]).await;
    b.wait_for(&public, "signed in").await;

    // Forgot password, then the reset mail's link; the new password works below.
    b.goto(&format!("{public}/oauth/account/forgot-password"))
        .await;
    b.wait_for(&public, "Reset your password").await;
    b.fill_and_submit(&[("email", "eve@browser.test")]).await;
    b.wait_for(&public, "Check your email").await;
    let m = mail(&w.cp, "password-reset", 1).await;
    let link = m
        .body
        .split_whitespace()
        .find(|t| t.contains("/oauth/account/reset-password?"))
        .expect("the reset link")
        .to_owned();
    b.goto(&link).await;
    b.wait_for(&public, "Choose a new password").await;
    b.screenshot(&shots.join("hosted-reset-password.png")).await;
    let new_password = "Browser-Horse-42";
    b.fill_and_submit(&[("password", new_password)]).await;
    b.wait_for(&public, "Password changed").await;

    // The application sends the browser to the hosted login; the user signs in there.
    b.goto(&format!("{app}/app/")).await;
    b.wait_for(&format!("{cp_site}/oauth/account/login"), "Sign in")
        .await;
    b.screenshot(&shots.join("hosted-login.png")).await;
    b.fill_and_submit(&[("email", "eve@browser.test"), ("password", new_password)])
        .await;
    let got = site.report().await;
    println!("exchanged: {got}");
    assert_eq!(got["step"], "exchanged", "{got}");
    assert_eq!(got["email"], "eve@browser.test", "{got}");
    let token = got["accessToken"].as_str().expect("a token").to_owned();
    assert_eq!(
        check(&sc, &token).await.0,
        200,
        "the sidecar accepts the hosted login's token"
    );

    // A reload: silent authorization by the hosted session's cookie.
    b.goto(&format!("{app}/app/reload")).await;
    let got = site.report().await;
    println!("reload: {got}");
    assert_eq!(got["step"], "silent", "{got}");
    let silent = got["accessToken"].as_str().expect("a token").to_owned();
    assert_eq!(check(&sc, &silent).await.0, 200);

    // Logout: the session ends at the sidecar, the browser lands on the application.
    b.goto(&format!(
        "{cp_site}/oauth/logout?post_logout_redirect_uri={app}/app/bye&id_token_hint={silent}"
    ))
    .await;
    b.wait_for(&format!("{app}/app/bye"), "Signed out").await;
    until_denied(std::slice::from_ref(&sc), &silent, "token_revoked").await;
    b.goto(&format!("{app}/app/reload")).await;
    let got = site.report().await;
    assert!(got["error"].is_string(), "no session after logout: {got}");
}

/// A security key on the hosted page, in a real browser: the page's own script answers the
/// WebAuthn challenge with Chromium's virtual authenticator (holding the credential enrolled
/// through the login box), and the user is signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_key_signs_in_on_the_hosted_page() {
    use crate::support::authenticator::{Alg, Authenticator, Tamper};
    use crate::support::cdp::Chromium;
    use base64::Engine;
    use serde_json::json;

    let Some(chromium) = system_tool(&["/usr/bin/chromium"], "chromium") else {
        return;
    };
    const P: &str = "/identity/resources";
    let cp = Cp::start_with(Config::for_test()).await;
    let w = World {
        token: cp.vendor_token().await,
        cp,
    };
    for (path, body) in [
        (
            "/configurations/v1/mfa-policy",
            json!({"enforceMFAType": "Force"}),
        ),
        (
            "/configurations/v1/mfa/strategies",
            json!({"strategy": "WebAuthnCrossPlatform", "isActive": true}),
        ),
    ] {
        let r = w
            .env(
                reqwest::Method::POST,
                &format!("{P}{path}"),
                None,
                Some(body),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    let t = w.tenant("Keys").await;
    w.user(&t, "ida@key.test", &[]).await;
    // WebAuthn takes no IP address for a relying party: the pages are opened at localhost.
    let site = format!("http://localhost:{}", w.cp.running.addr.port());
    let r = w
        .env(
            reqwest::Method::PUT,
            "/tessera/v1/allowed-origins",
            None,
            Some(json!({"allowedOrigins": [site]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut key = Authenticator::new(Alg::Es256, "localhost", &site);
    let r = w.login("ida@key.test").await;
    let token = r.body["mfaToken"].clone();
    let origin = [("origin", site.as_str())];
    let pre =
        w.cp.send(
            reqwest::Method::POST,
            &format!("{P}/auth/v1/user/mfa/webauthn/enroll"),
            None,
            &origin,
            Some(&json!({"mfaToken": token})),
        )
        .await;
    assert_eq!(pre.status, 201, "{}", pre.text);
    assert_eq!(pre.body["options"]["rp"]["id"], "localhost");
    let cred = key.register(&pre.body["options"], &Tamper::default());
    let done =
        w.cp.send(
            reqwest::Method::POST,
            &format!("{P}/auth/v1/user/mfa/webauthn/enroll/verify"),
            None,
            &origin,
            Some(
                &json!({"mfaToken": token, "webauthnToken": pre.body["webauthnToken"],
                "deviceType": "CrossPlatform", "options": cred}),
            ),
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.text);

    let mut b = Chromium::launch(&chromium).await;
    b.call("WebAuthn.enable", json!({"enableUI": false})).await;
    let v = b
        .call(
            "WebAuthn.addVirtualAuthenticator",
            json!({"options": {"protocol": "ctap2", "transport": "usb", "hasResidentKey": false,
                "hasUserVerification": true, "isUserVerified": true,
                "automaticPresenceSimulation": true}}),
        )
        .await;
    let b64 = base64::engine::general_purpose::STANDARD;
    b.call(
        "WebAuthn.addCredential",
        json!({"authenticatorId": v["authenticatorId"], "credential": {
            "credentialId": b64.encode(&key.credential_id), "isResidentCredential": false,
            "rpId": "localhost", "privateKey": b64.encode(key.pkcs8.as_ref().unwrap()),
            "signCount": key.count}}),
    )
    .await;

    b.goto(&format!("{site}/oauth/account/login")).await;
    b.wait_for(&site, "Sign in").await;
    b.fill_and_submit(&[("email", "ida@key.test"), ("password", PASSWORD)])
        .await;
    b.wait_for(&site, "Use your security key").await;
    let shots = crate::support::repo_root().join("target/screenshots");
    b.screenshot(&shots.join("hosted-security-key.png")).await;
    let clicked = b
        .eval("setTimeout(() => document.getElementById('webauthn-go').click(), 0); true")
        .await;
    assert_eq!(clicked, serde_json::json!(true));
    let text = b.wait_for(&site, "signed in").await;
    assert!(text.contains("You are signed in"), "{text}");
}

/// Signing in with a custom OAuth provider in a real browser: the hosted sign-in page offers
/// "Continue with Upstream IdP" (a second Tessera control plane at `localhost`, another site
/// than this one's `127.0.0.1`); the browser follows it to the provider's own sign-in page,
/// signs in there, comes back with a code, and is signed in here as a user created from the
/// provider's verified address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_oauth_provider_signs_in_on_the_hosted_page() {
    use crate::api::social::pair;
    use crate::support::cdp::Chromium;

    let Some(chromium) = system_tool(&["/usr/bin/chromium"], "chromium") else {
        return;
    };
    let (up, w, _) = pair("ida@browser.test", "Upstream IdP").await;
    let here = w.cp.running.url();
    let there = up.cp.running.state.public_url.to_string();
    let shots = crate::support::repo_root().join("target/screenshots");
    let mut b = Chromium::launch(&chromium).await;

    b.goto(&format!("{here}/oauth/account/login")).await;
    b.wait_for(&here, "Continue with Upstream IdP").await;
    b.screenshot(&shots.join("hosted-social-buttons.png")).await;
    let clicked = b
        .eval("(() => { const a = [...document.querySelectorAll('a')].find(a => a.textContent.includes('Upstream IdP')); setTimeout(() => a.click(), 0); return !!a; })()")
        .await;
    assert_eq!(clicked, Value::Bool(true));
    // The provider's own page.
    b.wait_for(&format!("{there}/oauth/account/login"), "Sign in")
        .await;
    b.fill_and_submit(&[("email", "ida@browser.test"), ("password", PASSWORD)])
        .await;
    // Back here, signed in.
    b.wait_for(&format!("{here}/oauth/account/social/success"), "signed in")
        .await;
    b.screenshot(&shots.join("hosted-social-signed-in.png"))
        .await;
    let u = control_plane::model::user::by_email(&w.cp.running.state.db, "ida@browser.test")
        .unwrap()
        .expect("created at the first sign-in");
    assert!(u.verified);
    let cookies = b
        .call("Network.getCookies", serde_json::json!({"urls": [here]}))
        .await;
    let refresh = format!("fe_refresh_{}", w.cp.client_id.replace('-', ""));
    assert!(
        cookies["cookies"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == refresh.as_str())),
        "the session cookie is set here: {cookies}"
    );
}
