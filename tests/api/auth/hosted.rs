//! The hosted login: the authorization server (`/oauth/*`, discovery) and its sign-in page,
//! driven as a browser drives them (redirects followed by hand, cookies kept, forms posted)
//! and as an OpenID Connect relying party does (the `openidconnect` crate: discovery, code
//! flow with PKCE, ID-token validation with the nonce, refresh). Tokens are then presented to
//! a real sidecar; the session a replayed code or a logout ends is refused there.

use reqwest::Method;
use serde_json::{Value, json};

use crate::enforcement::distribution::{check, sidecar_for, sidecar_token, until_denied};
use crate::support::browser::{Browser, Page, hidden, param};
use crate::support::world::{PASSWORD, World};
use crate::support::{Cp, reply};

const APP: &str = "http://127.0.0.1:9/app";
const CALLBACK: &str = "http://127.0.0.1:9/app/callback";
const BYE: &str = "http://127.0.0.1:9/app/signed-out";
const APP_ORIGIN: &str = "http://127.0.0.1:9";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

fn authorize_path(client: &str, extra: &str) -> String {
    format!(
        "/oauth/authorize?response_type=code&client_id={client}&redirect_uri={}&scope=openid%20email&state=st-1&nonce=n-1&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        percent(CALLBACK)
    )
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn world() -> World {
    let mut config = control_plane::config::Config::for_test();
    config.allowed_origins = vec![APP_ORIGIN.into()];
    let cp = Cp::start_with(config).await;
    let token = cp.vendor_token().await;
    let w = World { cp, token };
    let client = w.cp.client_id.clone();
    let r = w
        .env(
            Method::PUT,
            &format!("/tessera/v1/applications/{client}"),
            None,
            Some(
                json!({"name": "Web", "redirectUris": [CALLBACK], "postLogoutRedirectUris": [BYE]}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w
}

/// Sign in on the hosted page from an authorization request; the code it ends with.
async fn sign_in(b: &Browser, client: &str, email: &str, password: &str) -> String {
    let start = b.get(&authorize_path(client, "")).await;
    assert_eq!(start.status, 302, "{}", start.text);
    let login = start.location.unwrap();
    assert!(
        login.starts_with("/oauth/account/login?continue="),
        "{login}"
    );
    let page = b.get(&login).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = hidden(&page.text, "csrf");
    let target = hidden(&page.text, "continue");
    let done = b
        .post_form(
            "/oauth/account/login",
            &[
                ("csrf", &csrf),
                ("continue", &target),
                ("email", email),
                ("password", password),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    let back = b.get(&done.location.unwrap()).await;
    assert_eq!(back.status, 302, "{}", back.text);
    let to = back.location.unwrap();
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(param(&to, "state").as_deref(), Some("st-1"));
    param(&to, "code").expect("a code")
}

async fn exchange(b: &Browser, client: &str, code: &str, verifier: &str) -> Page {
    // As rest-api's exchangeOAuthTokensV2 sends it: JSON from the application's origin.
    b.post_json(
        "/oauth/token",
        APP_ORIGIN,
        &json!({"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                "code_verifier": verifier, "client_id": client}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_on_the_hosted_page_and_the_application_gets_tokens_once() {
    let w = world().await;
    let t = w.tenant("Hosted").await;
    let uid = w.user(&t, "ada@hosted.test", &["Admin"]).await;
    let client = w.cp.client_id.clone();
    let sc = sidecar_for(&w.cp, &sidecar_token(&w), None, None).await;
    let b = Browser::new(&w.cp);

    // The sign-in page: its security headers, and a wrong password shown on the page.
    let start = b
        .get(&authorize_path(&client, "&login_hint=ada%40hosted.test"))
        .await;
    let login = start.location.unwrap();
    let page = b.get(&login).await;
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "no script at all: {csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert!(
        page.text.contains("value=\"ada@hosted.test\""),
        "login_hint prefills"
    );
    assert!(
        page.text.contains("<label for=\"password\">"),
        "labelled fields"
    );
    let csrf = hidden(&page.text, "csrf");
    let target = hidden(&page.text, "continue");
    let wrong = b
        .post_form(
            "/oauth/account/login",
            &[
                ("csrf", &csrf),
                ("continue", &target),
                ("email", "ada@hosted.test"),
                ("password", "nope-nope-1"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert!(
        wrong.text.contains("Incorrect email or password"),
        "{}",
        wrong.text
    );
    assert!(
        !wrong.text.contains("nope-nope-1"),
        "the password is not echoed"
    );
    // A form without the browser's CSRF cookie is refused, whatever it carries.
    let forged = Browser::new(&w.cp);
    let r = forged
        .post_form(
            "/oauth/account/login",
            &[
                ("csrf", &csrf),
                ("continue", &target),
                ("email", "ada@hosted.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(!forged.has_cookie("fe_refresh"));

    // Signed in: the code comes back to the registered URI with the state.
    let code = sign_in(&b, &client, "ada@hosted.test", PASSWORD).await;
    // A wrong verifier is refused (and burns nothing the attacker could use later).
    let r = exchange(&b, &client, &code, &"x".repeat(43)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let body: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let r = exchange(&b, &client, &code, VERIFIER).await;
    assert_eq!(r.status, 400, "a burned code: {}", r.text);

    // Again (the hosted session is still there: no page this time), the right verifier.
    let start = b.get(&authorize_path(&client, "")).await;
    let to = start.location.unwrap();
    assert!(to.starts_with(CALLBACK), "single sign-on: {to}");
    let code = param(&to, "code").unwrap();
    let r = exchange(&b, &client, &code, VERIFIER).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(
        r.headers["access-control-allow-origin"], APP_ORIGIN,
        "the application's page may read the reply"
    );
    let tokens: Value = serde_json::from_str(&r.text).unwrap();
    let (access, id_token, refresh) = (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["id_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    );
    let id = claims(&id_token);
    assert_eq!(
        (id["sub"].as_str(), id["aud"].as_str(), id["nonce"].as_str()),
        (Some(uid.as_str()), Some(client.as_str()), Some("n-1"))
    );
    assert!(id["auth_time"].as_i64().is_some());
    assert_eq!(claims(&access)["sid"], id["sid"]);
    // The sidecar accepts both (rest-api uses the ID token as its access token).
    assert_eq!(check(&sc, &access).await.0, 200);
    assert_eq!(check(&sc, &id_token).await.0, 200);
    // userinfo.
    let r = reply(
        reqwest::Client::new()
            .get(w.cp.url("/oauth/userinfo"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["email"].as_str()),
        (200, Some("ada@hosted.test"))
    );

    // The same code again: refused, and the session its first use opened ends everywhere.
    let r = exchange(&b, &client, &code, VERIFIER).await;
    assert_eq!(r.status, 400, "{}", r.text);
    until_denied(std::slice::from_ref(&sc), &access, "token_revoked").await;
    let r = b
        .post_json(
            "/oauth/token",
            APP_ORIGIN,
            &json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client}),
        )
        .await;
    assert_eq!(
        r.status, 400,
        "the ended session's refresh token: {}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_silent_authorization_and_logout() {
    let w = world().await;
    let t = w.tenant("Hosted").await;
    w.user(&t, "bob@hosted.test", &["Admin"]).await;
    let client = w.cp.client_id.clone();
    let sc = sidecar_for(&w.cp, &sidecar_token(&w), None, None).await;
    let b = Browser::new(&w.cp);
    let code = sign_in(&b, &client, "bob@hosted.test", PASSWORD).await;
    // As rest-api's exchangeOAuthTokensV2 sends it: no client id (the default application).
    let r = b
        .post_json(
            "/oauth/token",
            APP_ORIGIN,
            &json!({"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                    "code_verifier": VERIFIER}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let tokens: Value = serde_json::from_str(&r.text).unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // refresh_token grant: rotation, and a replayed refresh token ends the session.
    let refreshed = b
        .post_json(
            "/oauth/token",
            APP_ORIGIN,
            &json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client}),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let refreshed: Value = serde_json::from_str(&refreshed.text).unwrap();
    let rotated_access = refreshed["access_token"].as_str().unwrap().to_owned();
    assert!(refreshed["id_token"].is_string());
    assert_eq!(check(&sc, &rotated_access).await.0, 200);
    let replay = b
        .post_json(
            "/oauth/token",
            APP_ORIGIN,
            &json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client}),
        )
        .await;
    assert_eq!(replay.status, 400, "{}", replay.text);
    until_denied(std::slice::from_ref(&sc), &rotated_access, "token_revoked").await;

    // A reload: silent authorization by the hosted session's cookie (rest-api's
    // silentOAuthRefreshTokenV2), from the application's origin only.
    let silent = b
        .post_json("/oauth/authorize/silent", APP_ORIGIN, &json!({}))
        .await;
    assert_eq!(silent.status, 200, "{}", silent.text);
    let s: Value = serde_json::from_str(&silent.text).unwrap();
    let page_token = s["id_token"].as_str().unwrap().to_owned();
    assert_eq!(check(&sc, &page_token).await.0, 200);
    let r = b
        .post_json("/oauth/authorize/silent", "http://evil.test", &json!({}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Logout: the hosted session ends (the sidecar refuses its token), the browser goes to
    // the registered post-logout URI with its state, and a silent check finds nobody.
    let out = b
        .get(&format!(
            "/oauth/logout?post_logout_redirect_uri={}&state=bye-1&id_token_hint={page_token}",
            percent(BYE)
        ))
        .await;
    assert_eq!(out.status, 302, "{}", out.text);
    let to = out.location.unwrap();
    assert!(to.starts_with(BYE) && to.contains("state=bye-1"), "{to}");
    until_denied(std::slice::from_ref(&sc), &page_token, "token_revoked").await;
    let again = b.get(&authorize_path(&client, "&prompt=none")).await;
    let to = again.location.unwrap();
    assert!(to.starts_with(CALLBACK), "{to}");
    assert_eq!(param(&to, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&to, "state").as_deref(), Some("st-1"));
    // An unregistered post-logout URI: signed out, and no redirect.
    let r = b
        .get(&format!(
            "/oauth/logout?client_id={client}&post_logout_redirect_uri={}",
            percent("https://evil.test/")
        ))
        .await;
    assert_eq!((r.status, r.location), (400, None));
}

/// Every bad authorization request: those that cannot be trusted with a redirect get an
/// error page and no `Location`; the others go back to the registered URI with an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_authorization_requests_are_refused_without_an_open_redirect() {
    let w = world().await;
    let client = w.cp.client_id.clone();
    let b = Browser::new(&w.cp);
    let cb = percent(CALLBACK);
    let pkce = format!("&code_challenge={CHALLENGE}&code_challenge_method=S256");
    let no_redirect = [
        format!("/oauth/authorize?response_type=code&redirect_uri={cb}{pkce}"),
        format!("/oauth/authorize?response_type=code&client_id=unknown&redirect_uri={cb}{pkce}"),
        format!("/oauth/authorize?response_type=code&client_id={client}{pkce}"),
        format!(
            "/oauth/authorize?response_type=code&client_id={client}&redirect_uri={}{pkce}",
            percent("https://evil.test/cb")
        ),
        format!(
            "/oauth/authorize?response_type=code&client_id={client}&redirect_uri={}{pkce}",
            percent(&format!("{CALLBACK}/"))
        ),
        format!(
            "/oauth/authorize?response_type=code&client_id={client}&redirect_uri={}{pkce}",
            percent(APP)
        ),
        format!(
            "/oauth/authorize?response_type=code&client_id={client}&redirect_uri={cb}&redirect_uri={}{pkce}",
            percent("https://evil.test/cb")
        ),
        format!(
            "/oauth/authorize?response_type=code&client_id={client}&client_id=other&redirect_uri={cb}{pkce}"
        ),
        "/oauth/account/login?continue=https%3A%2F%2Fevil.test%2F".to_owned(),
        "/oauth/account/login?continue=%2F%2Fevil.test%2Foauth%2Fauthorize%3Fx".to_owned(),
    ];
    for path in &no_redirect {
        let r = b.get(path).await;
        assert_eq!(
            (r.status, r.location.as_deref()),
            (400, None),
            "{path}: {}",
            r.text
        );
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(
            !r.text.contains("panicked") && !r.text.contains("src/"),
            "{}",
            r.text
        );
    }
    let base = format!("/oauth/authorize?client_id={client}&redirect_uri={cb}&state=s9");
    for (path, error) in [
        (
            format!("{base}&response_type=token{pkce}"),
            "unsupported_response_type",
        ),
        (format!("{base}&response_type=code"), "invalid_request"),
        (
            format!(
                "{base}&response_type=code&code_challenge={CHALLENGE}&code_challenge_method=plain"
            ),
            "invalid_request",
        ),
        (
            format!("{base}&response_type=code&code_challenge=short&code_challenge_method=S256"),
            "invalid_request",
        ),
        (
            format!("{base}&response_type=code&code_challenge=short"),
            "invalid_request",
        ),
        (
            format!("{base}&response_type=code{pkce}&prompt=consent"),
            "invalid_request",
        ),
        (
            format!("{base}&response_type=code{pkce}&prompt=none"),
            "login_required",
        ),
    ] {
        let r = b.get(&path).await;
        assert_eq!(r.status, 302, "{path}");
        let to = r.location.unwrap();
        assert!(to.starts_with(CALLBACK), "{to}");
        assert_eq!(param(&to, "error").as_deref(), Some(error), "{path}");
        assert_eq!(param(&to, "state").as_deref(), Some("s9"), "{path}");
    }
    // The token endpoint: RFC 6749 §5.2 errors for every bad request.
    for (body, status, error) in [
        (
            json!({"grant_type": "password"}),
            400,
            "unsupported_grant_type",
        ),
        (
            json!({"grant_type": "authorization_code", "client_id": client}),
            400,
            "invalid_request",
        ),
        (
            json!({"grant_type": "authorization_code", "client_id": "nobody", "code": "c",
                   "redirect_uri": CALLBACK, "code_verifier": VERIFIER}),
            401,
            "invalid_client",
        ),
        (
            json!({"grant_type": "authorization_code", "client_id": client, "code": "forged",
                   "redirect_uri": CALLBACK, "code_verifier": VERIFIER}),
            400,
            "invalid_grant",
        ),
        (
            json!({"grant_type": "refresh_token", "client_id": client, "refresh_token": "forged"}),
            400,
            "invalid_grant",
        ),
    ] {
        let r = b.post_json("/oauth/token", APP_ORIGIN, &body).await;
        let v: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(
            (r.status, v["error"].as_str()),
            (status, Some(error)),
            "{body}"
        );
    }
    // Applications: redirect URIs are checked when registered (nothing changes on a bad one).
    for bad in [
        "http://evil.test/cb",
        "https://a.test/cb#x",
        "/relative",
        "javascript:alert(1)",
    ] {
        let r = w
            .env(
                Method::PUT,
                &format!("/tessera/v1/applications/{client}"),
                None,
                Some(json!({"redirectUris": [bad]})),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let r = w
        .env(Method::GET, "/tessera/v1/applications", None, None)
        .await;
    assert_eq!(r.body["items"][0]["redirectUris"], json!([CALLBACK]));
}

/// An OpenID Connect relying party's view: the `openidconnect` crate discovers the provider,
/// runs the code flow with PKCE (the browser part by hand), validates the ID token's
/// signature, issuer, audience, expiry and nonce against the published keys, and refreshes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openid_connect_client_library_completes_the_code_flow() {
    use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
    use openidconnect::{
        AuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
    };

    let w = world().await;
    let t = w.tenant("Relying").await;
    let uid = w.user(&t, "carol@rp.test", &["Admin"]).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let issuer = IssuerUrl::new(w.cp.running.url()).unwrap();
    let meta = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("discovery");
    let client =
        CoreClient::from_provider_metadata(meta, ClientId::new(w.cp.client_id.clone()), None)
            .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The browser's part: authorize → sign-in page → back to the callback with a code.
    let b = Browser::new(&w.cp);
    let path = url.as_str().trim_start_matches(&b.base).to_owned();
    let start = b.get(&path).await;
    let page = b.get(&start.location.unwrap()).await;
    let done = b
        .post_form(
            "/oauth/account/login",
            &[
                ("csrf", &hidden(&page.text, "csrf")),
                ("continue", &hidden(&page.text, "continue")),
                ("email", "carol@rp.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let back = b.get(&done.location.unwrap()).await;
    let to = back.location.unwrap();
    assert_eq!(param(&to, "state").as_deref(), Some(csrf.secret().as_str()));
    let code = param(&to, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verified = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the ID token verifies (signature, issuer, audience, expiry, nonce)");
    assert_eq!(verified.subject().as_str(), uid);
    // A different nonce does not verify.
    assert!(
        id_token
            .claims(&client.id_token_verifier(), &Nonce::new("other".into()))
            .is_err()
    );
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    assert!(
        refreshed.id_token().is_some(),
        "a refresh answers an ID token too"
    );
    let info: Value = reqwest::Client::new()
        .get(w.cp.url("/oauth/userinfo"))
        .bearer_auth(refreshed.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], uid);
    // The forget helper keeps the suite honest about cookies: without the hosted session,
    // prompt=none finds nobody.
    b.forget("fe_refresh");
    let r = b.get(&format!("{path}&prompt=none")).await;
    assert_eq!(
        param(&r.location.unwrap(), "error").as_deref(),
        Some("login_required")
    );
}

/// The mailed link's path on this server (the default templates point at the hosted pages).
fn mailed_path(body: &str, base: &str, page: &str) -> String {
    let line = body
        .lines()
        .find(|l| l.contains(page))
        .unwrap_or_else(|| panic!("no {page} link in {body}"));
    let start = line.find("http").expect("a URL");
    let url = line[start..].split_whitespace().next().unwrap();
    url.trim_start_matches(base).to_owned()
}

/// Submit the form of `page` (its hidden values and CSRF token) with `fields`.
async fn submit(b: &Browser, page: &Page, action: &str, fields: &[(&str, &str)]) -> Page {
    let mut form: Vec<(String, String)> = vec![("csrf".into(), hidden(&page.text, "csrf"))];
    for name in [
        "userId",
        "token",
        "continue",
        "mfaToken",
        "factor",
        "otcToken",
        "secret",
        "phone",
        "canEmail",
        "key",
        "webauthnToken",
    ] {
        if page.text.contains(&format!("name=\"{name}\"")) {
            form.push((name.into(), hidden(&page.text, name)));
        }
    }
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    b.post_form(action, &pairs).await
}

/// A mailed link's page, as the class every such page belongs to: opening the link (twice)
/// consumes nothing; its form, submitted with `fields`, succeeds (`ok` in the page) once;
/// the same form again is refused (400). The page of the success.
async fn single_use(
    b: &Browser,
    link: &str,
    action: &str,
    fields: &[(&str, &str)],
    ok: &str,
) -> Page {
    for _ in 0..2 {
        let page = b.get(link).await;
        assert_eq!(
            page.status, 200,
            "opening {link} consumes nothing: {}",
            page.text
        );
    }
    let page = b.get(link).await;
    let done = submit(b, &page, action, fields).await;
    assert_eq!(done.status, 200, "{action}: {}", done.text);
    assert!(done.text.contains(ok), "{action}: {}", done.text);
    let again = submit(b, &page, action, fields).await;
    assert_eq!(again.status, 400, "{action} a second time: {}", again.text);
    done
}

/// A public form that takes an address, as the class every such page belongs to: the
/// known address and one nobody has get the same page (status and length); the known one's.
async fn same_for_nobody(
    b: &Browser,
    page: &Page,
    action: &str,
    known: &[(&str, &str)],
    nobody: &[(&str, &str)],
) -> Page {
    let sent = submit(b, page, action, known).await;
    let other = submit(b, page, action, nobody).await;
    assert_eq!(
        (other.status, other.text.len()),
        (sent.status, sent.text.len()),
        "{action}: the same page for an address nobody has"
    );
    sent
}

/// Sign-up on the hosted page, the mailed activation link (opening it consumes nothing;
/// submitting it activates and signs in, once), then the application's sign-in needs no
/// page; forgot password, the mailed reset link, and the new password signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_pages_sign_up_activate_and_reset_from_the_mailed_links() {
    use crate::support::mail;
    let w = world().await;
    let client = w.cp.client_id.clone();
    let base = w.cp.running.url();
    let b = Browser::new(&w.cp);

    let page = b.get("/oauth/account/sign-up").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let weak = submit(
        &b,
        &page,
        "/oauth/account/sign-up",
        &[
            ("email", "dora@pages.test"),
            ("name", "Dora"),
            ("companyName", "Pages Co"),
            ("password", "x"),
        ],
    )
    .await;
    assert_eq!(
        weak.status, 400,
        "a password the policy refuses: {}",
        weak.text
    );
    assert!(
        weak.text.contains("value=\"dora@pages.test\""),
        "the form keeps the address"
    );
    let done = submit(
        &b,
        &weak,
        "/oauth/account/sign-up",
        &[
            ("email", "dora@pages.test"),
            ("name", "Dora"),
            ("companyName", "Pages Co"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains("Check your email"), "{}", done.text);

    let m = mail(&w.cp, "activation", 1).await;
    let link = mailed_path(&m.body, &base, "/oauth/account/activate?");
    single_use(&b, &link, "/oauth/account/activate", &[], "signed in").await;
    // Signed in by the activation: the application's authorization needs no page.
    let start = b.get(&authorize_path(&client, "")).await;
    let to = start.location.unwrap();
    assert!(
        to.starts_with(CALLBACK) && param(&to, "code").is_some(),
        "{to}"
    );

    // Forgot password → mailed link → a new password that signs in.
    let fresh = Browser::new(&w.cp);
    let page = fresh.get("/oauth/account/forgot-password").await;
    let sent = same_for_nobody(
        &fresh,
        &page,
        "/oauth/account/forgot-password",
        &[("email", "dora@pages.test")],
        &[("email", "nobody@pages.test")],
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let m = mail(&w.cp, "password-reset", 1).await;
    let link = mailed_path(&m.body, &base, "/oauth/account/reset-password?");
    let new_password = "Another-Horse-7";
    single_use(
        &fresh,
        &link,
        "/oauth/account/reset-password",
        &[("password", new_password)],
        "Password changed",
    )
    .await;
    let code = sign_in(&fresh, &client, "dora@pages.test", new_password).await;
    assert_eq!(exchange(&fresh, &client, &code, VERIFIER).await.status, 200);
    let r =
        w.cp.call(
            Method::POST,
            "/identity/resources/auth/v1/user",
            None,
            Some(&json!({"email": "dora@pages.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 401, "the old password is gone: {}", r.text);
}

/// The environment's MFA `policy`, and `strategies` turned on.
async fn mfa_policy(w: &World, policy: Value, strategies: &[&str]) {
    const C: &str = "/identity/resources/configurations/v1";
    let r = w
        .env(Method::POST, &format!("{C}/mfa-policy"), None, Some(policy))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for strategy in strategies {
        let r = w
            .env(
                Method::POST,
                &format!("{C}/mfa/strategies"),
                None,
                Some(json!({"strategy": strategy, "isActive": true})),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
}

/// A second factor on the hosted page: a forced policy enrols an authenticator there (its QR
/// code and key on the page), a wrong code keeps the form, the right one signs in and the
/// application's tokens say so (`acr`, `amr`); the next sign-in asks the enrolled app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hosted_page_asks_for_the_second_factor() {
    use super::mfa::totp;
    let w = world().await;
    mfa_policy(&w, json!({"enforceMFAType": "Force"}), &[]).await;
    let t = w.tenant("Two Steps").await;
    w.user(&t, "fay@mfa.test", &["Admin"]).await;
    let client = w.cp.client_id.clone();
    let now = || w.cp.running.state.clock.unix();

    let b = Browser::new(&w.cp);
    let start = b.get(&authorize_path(&client, "")).await;
    let page = b.get(&start.location.unwrap()).await;
    let step = submit(
        &b,
        &page,
        "/oauth/account/login",
        &[("email", "fay@mfa.test"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(step.status, 200, "{}", step.text);
    assert!(step.text.contains("Two-step verification"), "{}", step.text);
    assert!(
        !step.text.contains("Remember this device"),
        "the policy does not allow it"
    );
    assert!(
        step.text.contains("<img src=\"data:image/svg+xml;base64,"),
        "the QR code"
    );
    let secret = hidden(&step.text, "secret");
    assert!(
        step.text.contains(&format!("<code>{secret}</code>")),
        "the key as text"
    );
    assert!(!b.has_cookie("fe_refresh"), "no session yet");
    let mfa_form = |code: String| {
        vec![
            ("mfaToken".to_owned(), hidden(&step.text, "mfaToken")),
            ("factor".to_owned(), hidden(&step.text, "factor")),
            ("otcToken".to_owned(), String::new()),
            ("secret".to_owned(), secret.clone()),
            ("continue".to_owned(), hidden(&step.text, "continue")),
            ("csrf".to_owned(), hidden(&step.text, "csrf")),
            ("code".to_owned(), code),
        ]
    };
    let wrong = mfa_form("000000".into());
    let wrong: Vec<(&str, &str)> = wrong
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = b.post_form("/oauth/account/mfa", &wrong).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.contains("role=\"alert\""),
        "the error is shown: {}",
        r.text
    );
    let right = mfa_form(totp(&secret, now(), 0));
    let right: Vec<(&str, &str)> = right
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let done = b.post_form("/oauth/account/mfa", &right).await;
    assert_eq!(done.status, 303, "{}", done.text);
    let back = b.get(&done.location.unwrap()).await;
    let code = param(&back.location.unwrap(), "code").expect("a code");
    let tokens: Value =
        serde_json::from_str(&exchange(&b, &client, &code, VERIFIER).await.text).unwrap();
    for name in ["access_token", "id_token"] {
        let c = claims(tokens[name].as_str().unwrap());
        assert_eq!(c["acr"], shared::claims::STEP_UP_ACR, "{name}: {c}");
        assert!(
            c["amr"].as_array().unwrap().contains(&json!("mfa")),
            "{name}: {c}"
        );
    }

    // Enrolled: the next sign-in (another browser) asks the app for its code.
    let b2 = Browser::new(&w.cp);
    let start = b2.get(&authorize_path(&client, "")).await;
    let page = b2.get(&start.location.unwrap()).await;
    let step = submit(
        &b2,
        &page,
        "/oauth/account/login",
        &[("email", "fay@mfa.test"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(step.status, 200, "{}", step.text);
    assert_eq!(hidden(&step.text, "factor"), "app");
    assert!(
        !step.text.contains("<img"),
        "no QR code for an enrolled app"
    );
    // The next 30-second window's code (the enrolment consumed this one's).
    let code = totp(&secret, now(), 1);
    let done = submit(&b2, &step, "/oauth/account/mfa", &[("code", &code)]).await;
    assert_eq!(done.status, 303, "{}", done.text);
}

/// The other mailed links' pages: a magic link (opening it consumes nothing, its form signs
/// in once), an invitation to another account (accepted from its page), an unlock link (after
/// wrong passwords on the sign-in page), and an approval request (the approver decides on the
/// page, once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_link_invitation_and_approval_pages() {
    use crate::support::mail;
    let w = world().await;
    let base = w.cp.running.url();
    const P: &str = "/identity/resources";

    // A magic link, asked for by this browser (the login box's prelogin).
    let r = w
        .env(
            Method::POST,
            &format!("{P}/configurations/v1"),
            None,
            Some(json!({"authStrategy": "MagicLink"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let home = w.tenant("Home").await;
    let team = w.tenant("Team").await;
    w.user(&home, "gil@links.test", &[]).await;
    let b = Browser::new(&w.cp);
    let r = b
        .post_json(
            &format!("{P}/auth/v1/passwordless/magiclink/prelogin"),
            &base,
            &json!({"email": "gil@links.test"}),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let m = mail(&w.cp, "magic-link", 1).await;
    let link = mailed_path(&m.body, &base, "/oauth/account/login/magic-link?");
    single_use(
        &b,
        &link,
        "/oauth/account/login/magic-link",
        &[],
        "You are signed in",
    )
    .await;
    assert!(b.has_cookie("fe_refresh"), "a session");

    // An invitation of an existing user to another account, accepted from its page.
    w.user(&team, "lead@links.test", &["Admin"]).await;
    let lead = w.token_for("lead@links.test").await;
    let r = w
        .as_user(
            &lead,
            Method::POST,
            &format!("{P}/users/v1"),
            Some(json!({"email": "gil@links.test"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let m = mail(&w.cp, "invitation-accept", 1).await;
    let link = mailed_path(&m.body, &base, "/oauth/account/invitation/accept?");
    single_use(
        &b,
        &link,
        "/oauth/account/invitation/accept",
        &[],
        "You joined the account",
    )
    .await;
    let r = w
        .env(Method::GET, &format!("{P}/users/v1"), Some(&team), None)
        .await;
    assert!(
        r.text.contains("gil@links.test"),
        "a member of the team now: {}",
        r.text
    );

    // Locked by wrong passwords on the sign-in page, unlocked from the mailed link's page.
    let r = w
        .env(
            Method::POST,
            &format!("{P}/configurations/v1/lockout-policy"),
            None,
            Some(json!({"enabled": true, "maxAttempts": 2})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let locked = Browser::new(&w.cp);
    for password in ["nope-1-Nope", "nope-2-Nope", PASSWORD] {
        let page = locked.get("/oauth/account/login").await;
        let r = submit(
            &locked,
            &page,
            "/oauth/account/login",
            &[("email", "lead@links.test"), ("password", password)],
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let m = mail(&w.cp, "unlock", 1).await;
    let link = mailed_path(&m.body, &base, "/oauth/account/unlock?");
    single_use(
        &locked,
        &link,
        "/oauth/account/unlock",
        &[],
        "Your account is unlocked",
    )
    .await;
    let page = locked.get("/oauth/account/login").await;
    let r = submit(
        &locked,
        &page,
        "/oauth/account/login",
        &[("email", "lead@links.test"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(r.status, 200, "signed in again: {}", r.text);

    // An approval request, decided on the approver's page.
    let r = w
        .env(
            Method::POST,
            "/identity/resources/approval-flows/v1",
            Some(&team),
            Some(json!({"name": "Refund", "description": "Refunds over 100",
                "channels": {"email": true, "sms": false},
                "configuration": {"timeoutMinutes": 60, "webhookUrl": "https://hooks.invalid/x"},
                "steps": [{"stepOrder": 1, "approverSelectors": {"emails": ["boss@links.test"]},
                           "configuration": {"minApprovals": 1}}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let flow = r.body["id"].as_str().unwrap().to_owned();
    let r = w
        .as_user(
            &lead,
            Method::POST,
            &format!("/identity/resources/approval-flows/v1/{flow}/execute"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m = mail(&w.cp, "approval-request", 1).await;
    let link = mailed_path(&m.body, &base, "/oauth/account/approval-flow?");
    let approver = Browser::new(&w.cp);
    let page = approver.get(&link).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("lead@links.test") && page.text.contains("Refund"),
        "{}",
        page.text
    );
    let mut form = vec![("csrf".to_owned(), hidden(&page.text, "csrf"))];
    for k in [
        "approvalFlowExecutionId",
        "approverId",
        "approvalFlowStepId",
    ] {
        form.push((k.to_owned(), hidden(&page.text, k)));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = approver
        .post_form("/oauth/account/approval-flow", &pairs)
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(
        done.text.contains("You approved the request"),
        "{}",
        done.text
    );
    let again = approver
        .post_form("/oauth/account/approval-flow", &pairs)
        .await;
    assert!(
        again.status >= 400 && again.status < 500,
        "one decision: {} {}",
        again.status,
        again.text
    );
    let page = approver.get(&link).await;
    assert!(page.text.contains("no longer waiting"), "{}", page.text);
}

/// The environment's branding on every page: its name and logo, its colour through the
/// brand style sheet (no inline style under the CSP), and the origins that may frame the
/// pages; a bad field is refused whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_carry_the_environments_branding() {
    let w = world().await;
    let b = Browser::new(&w.cp);
    let page = b.get("/oauth/account/login").await;
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(page.headers["x-frame-options"], "DENY");
    let css = b.get("/oauth/account/assets/brand.css").await;
    assert_eq!(
        (css.status, css.text.as_str()),
        (200, ""),
        "no colours by default"
    );

    let brand = json!({"name": "Acme Cloud", "logoUrl": "https://cdn.acme.test/logo.svg",
        "primaryColor": "#0a7f3c", "frameAncestors": ["https://portal.acme.test"]});
    let r = w
        .env(
            Method::PUT,
            "/tessera/v1/branding",
            None,
            Some(brand.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for bad in [
        json!({"primaryColor": "red;}body{display:none"}),
        json!({"logoUrl": "javascript:alert(1)"}),
        json!({"frameAncestors": ["*"]}),
        json!({"frameAncestors": ["https://portal.acme.test; script-src *"]}),
    ] {
        let r = w
            .env(Method::PUT, "/tessera/v1/branding", None, Some(bad.clone()))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let r = w.env(Method::GET, "/tessera/v1/branding", None, None).await;
    assert_eq!(r.body, brand, "refusals changed nothing");

    let page = b.get("/oauth/account/login").await;
    assert!(
        page.text.contains("<title>Sign in · Acme Cloud</title>"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(
            "<img class=\"logo\" src=\"https://cdn.acme.test/logo.svg\" alt=\"Acme Cloud\">"
        ),
        "{}",
        page.text
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors https://portal.acme.test;"),
        "{csp}"
    );
    assert!(
        page.headers.get("x-frame-options").is_none(),
        "the CSP decides framing"
    );
    let css = b.get("/oauth/account/assets/brand.css").await;
    assert!(css.text.contains("--accent: #0a7f3c"), "{}", css.text);
}

/// Codes sent on the hosted page: a user whose factors are their address and a phone gets a
/// mailed code at once, may ask for a text instead, and signs in with the texted code (the
/// tokens say `sms`); the recovery code saved at enrolment turns the factors off from the
/// recovery page (a wrong code is refused alike).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailed_and_texted_codes_and_the_recovery_page() {
    use super::mfa::six_digits;
    use crate::support::mail;
    const P: &str = "/identity/resources";
    let w = world().await;
    mfa_policy(
        &w,
        json!({"enforceMFAType": "Force"}),
        &["EmailCode", "SMS"],
    )
    .await;
    let t = w.tenant("Codes").await;
    w.user(&t, "hal@codes.test", &["Admin"]).await;
    // A phone enrolled through the login box (its recovery code kept).
    let r = w.login("hal@codes.test").await;
    let token = r.body["mfaToken"].as_str().unwrap().to_owned();
    let sent =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user/mfa/sms/enroll"),
            None,
            Some(&json!({"mfaToken": token, "phoneNumber": "+1 555 010 7777"})),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    let sms = mail(&w.cp, "mfa-sms-code", 1).await;
    let done = w
        .cp
        .call(
            Method::POST,
            &format!("{P}/auth/v1/user/mfa/sms/enroll/verify"),
            None,
            Some(&json!({"mfaToken": token, "otcToken": sent.body["otcToken"], "code": six_digits(&sms.body)})),
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.text);
    let recovery = done.body["recoveryCode"].as_str().unwrap().to_owned();

    let client = w.cp.client_id.clone();
    let b = Browser::new(&w.cp);
    let start = b.get(&authorize_path(&client, "")).await;
    let page = b.get(&start.location.unwrap()).await;
    let step = submit(
        &b,
        &page,
        "/oauth/account/login",
        &[("email", "hal@codes.test"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(step.status, 200, "{}", step.text);
    assert_eq!(hidden(&step.text, "factor"), "email", "{}", step.text);
    mail(&w.cp, "mfa-email-code", 1).await;
    assert!(
        step.text.contains("Text me a code instead"),
        "{}",
        step.text
    );
    let texted = submit(&b, &step, "/oauth/account/mfa", &[("action", "sms")]).await;
    assert_eq!(texted.status, 200, "{}", texted.text);
    assert_eq!(hidden(&texted.text, "factor"), "sms");
    let code = six_digits(&mail(&w.cp, "mfa-sms-code", 2).await.body);
    let wrong = submit(&b, &texted, "/oauth/account/mfa", &[("code", "000000")]).await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    let done = submit(&b, &texted, "/oauth/account/mfa", &[("code", &code)]).await;
    assert_eq!(done.status, 303, "{}", done.text);
    let back = b.get(&done.location.unwrap()).await;
    let code = param(&back.location.unwrap(), "code").expect("a code");
    let tokens: Value =
        serde_json::from_str(&exchange(&b, &client, &code, VERIFIER).await.text).unwrap();
    let c = claims(tokens["access_token"].as_str().unwrap());
    assert!(c["amr"].as_array().unwrap().contains(&json!("sms")), "{c}");

    // The recovery page.
    let page = b.get("/oauth/account/recover").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let wrong = submit(
        &b,
        &page,
        "/oauth/account/recover",
        &[
            ("email", "hal@codes.test"),
            ("recoveryCode", "not-the-code"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    let nobody = submit(
        &b,
        &page,
        "/oauth/account/recover",
        &[("email", "nobody@codes.test"), ("recoveryCode", &recovery)],
    )
    .await;
    assert_eq!(nobody.status, wrong.status, "the same answer for nobody");
    let ok = submit(
        &b,
        &page,
        "/oauth/account/recover",
        &[("email", "hal@codes.test"), ("recoveryCode", &recovery)],
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(
        ok.text.contains("Two-step verification is off"),
        "{}",
        ok.text
    );
}

/// The security-key step without a browser: the page carries the WebAuthn options for the
/// enrolled key; no answer (or a forged one) gets the step again with a fresh ceremony, and a
/// real assertion signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_key_step_takes_only_a_real_assertion() {
    use crate::support::authenticator::{Alg, Authenticator, Tamper};
    const P: &str = "/identity/resources";
    let w = world().await;
    mfa_policy(
        &w,
        json!({"enforceMFAType": "Force"}),
        &["WebAuthnCrossPlatform"],
    )
    .await;
    let t = w.tenant("Keys").await;
    w.user(&t, "kim@key.test", &[]).await;
    let base = w.cp.running.url();
    let mut key = Authenticator::new(Alg::Es256, "127.0.0.1", &base);
    let r = w.login("kim@key.test").await;
    let token = r.body["mfaToken"].clone();
    let pre =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user/mfa/webauthn/enroll"),
            None,
            Some(&json!({"mfaToken": token})),
        )
        .await;
    let cred = key.register(&pre.body["options"], &Tamper::default());
    let done =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user/mfa/webauthn/enroll/verify"),
            None,
            Some(
                &json!({"mfaToken": token, "webauthnToken": pre.body["webauthnToken"],
                "deviceType": "CrossPlatform", "options": cred}),
            ),
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.text);

    let b = Browser::new(&w.cp);
    let page = b.get("/oauth/account/login").await;
    let step = submit(
        &b,
        &page,
        "/oauth/account/login",
        &[("email", "kim@key.test"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(step.status, 200, "{}", step.text);
    assert_eq!(hidden(&step.text, "factor"), "key");
    let csp = step.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let options = |html: &str| -> Value {
        let start = html.find("data-options=\"").unwrap() + "data-options=\"".len();
        let end = html[start..].find('"').unwrap() + start;
        let raw = html[start..end]
            .replace("&quot;", "\"")
            .replace("&#x3D;", "=")
            .replace("&amp;", "&");
        serde_json::from_str(&raw).unwrap()
    };
    for (credential, why) in [
        ("", "no answer"),
        ("{\"id\":\"forged\"}", "a forged answer"),
        ("[1]", "not an object"),
    ] {
        let again = submit(
            &b,
            &step,
            "/oauth/account/mfa",
            &[("credential", credential)],
        )
        .await;
        assert_eq!(again.status, 400, "{why}: {}", again.text);
        assert_eq!(hidden(&again.text, "factor"), "key", "{why}");
        assert!(again.text.contains("role=\"alert\""), "{why}");
    }
    // A fresh step (the failed ones above ended their ceremonies), answered by the key.
    let page = b.get("/oauth/account/login").await;
    let step = submit(
        &b,
        &page,
        "/oauth/account/login",
        &[("email", "kim@key.test"), ("password", PASSWORD)],
    )
    .await;
    let answer = key.assert(&options(&step.text), &Tamper::default());
    let done = submit(
        &b,
        &step,
        "/oauth/account/mfa",
        &[("credential", &answer.to_string())],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains("You are signed in"), "{}", done.text);
}

/// Passwordless sign-in on the hosted page, as the environment's `authStrategy` says: a
/// magic link (the authorization request kept while the mail travels, resumed once the link's
/// page signs in) and an emailed code (a wrong code keeps the form).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwordless_sign_in_on_the_hosted_page() {
    use super::mfa::six_digits;
    use crate::support::mail;
    const P: &str = "/identity/resources";
    let w = world().await;
    let t = w.tenant("Links").await;
    w.user(&t, "ivy@pwl.test", &[]).await;
    let client = w.cp.client_id.clone();
    let base = w.cp.running.url();
    let strategy = |s: &'static str| {
        let w = &w;
        async move {
            let r = w
                .env(
                    Method::POST,
                    &format!("{P}/configurations/v1"),
                    None,
                    Some(json!({"authStrategy": s})),
                )
                .await;
            assert!(r.status.is_success(), "{}", r.text);
        }
    };

    strategy("MagicLink").await;
    let b = Browser::new(&w.cp);
    let start = b.get(&authorize_path(&client, "")).await;
    let page = b.get(&start.location.unwrap()).await;
    assert!(page.text.contains("Email me a link"), "{}", page.text);
    assert!(
        !page.text.contains("type=\"password\""),
        "no password field"
    );
    let sent = same_for_nobody(
        &b,
        &page,
        "/oauth/account/login/passwordless",
        &[("email", "ivy@pwl.test")],
        &[("email", "nobody@pwl.test")],
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert!(sent.text.contains("Check your email"), "{}", sent.text);
    let m = mail(&w.cp, "magic-link", 1).await;
    let link = mailed_path(&m.body, &base, "/oauth/account/login/magic-link?");
    let page = b.get(&link).await;
    let done = submit(&b, &page, "/oauth/account/login/magic-link", &[]).await;
    assert_eq!(
        done.status, 303,
        "resumes the authorization request: {}",
        done.text
    );
    let back = b.get(&done.location.unwrap()).await;
    let to = back.location.unwrap();
    assert!(
        to.starts_with(CALLBACK) && param(&to, "code").is_some(),
        "{to}"
    );

    strategy("Code").await;
    let b = Browser::new(&w.cp);
    let start = b.get(&authorize_path(&client, "")).await;
    let page = b.get(&start.location.unwrap()).await;
    assert!(page.text.contains("Email me a code"), "{}", page.text);
    let form = submit(
        &b,
        &page,
        "/oauth/account/login/passwordless",
        &[("email", "ivy@pwl.test")],
    )
    .await;
    assert_eq!(form.status, 200, "{}", form.text);
    let code = six_digits(&mail(&w.cp, "login-code", 1).await.body);
    let wrong = submit(
        &b,
        &form,
        "/oauth/account/login/code",
        &[("code", "000000")],
    )
    .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    assert!(
        wrong.text.contains("role=\"alert\"") && wrong.text.contains("name=\"code\""),
        "the form again, with the error: {}",
        wrong.text
    );
    let done = submit(&b, &form, "/oauth/account/login/code", &[("code", &code)]).await;
    assert_eq!(done.status, 303, "{}", done.text);
    let back = b.get(&done.location.unwrap()).await;
    let to = back.location.unwrap();
    let code = param(&to, "code").expect("a code");
    assert_eq!(exchange(&b, &client, &code, VERIFIER).await.status, 200);
}

/// The sign-in page, submitted with `email` and the suite's password.
async fn password_sign_in(b: &Browser, email: &str) -> Page {
    let page = b.get("/oauth/account/login").await;
    submit(
        b,
        &page,
        "/oauth/account/login",
        &[("email", email), ("password", PASSWORD)],
    )
    .await
}

/// "Remember this device" on the hosted page: offered only when the policy allows it; a
/// device remembered at the second factor skips it at the next sign-in in that browser, and
/// another browser is still asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_device_skips_the_second_factor() {
    use super::mfa::totp;
    let w = world().await;
    let policy = json!({"enforceMFAType": "Force", "allowRememberMyDevice": true,
        "mfaDeviceExpiration": 30 * 86_400});
    mfa_policy(&w, policy, &[]).await;
    let t = w.tenant("Remember").await;
    w.user(&t, "jon@remember.test", &[]).await;
    let now = || w.cp.running.state.clock.unix();
    let b = Browser::new(&w.cp);
    let step = password_sign_in(&b, "jon@remember.test").await;
    assert!(
        step.text.contains("Remember this device for 30 days"),
        "{}",
        step.text
    );
    let secret = hidden(&step.text, "secret");
    let done = submit(
        &b,
        &step,
        "/oauth/account/mfa",
        &[
            ("code", &totp(&secret, now(), 0)),
            ("rememberDevice", "yes"),
        ],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(b.has_cookie("fe_device_"), "remembered");
    let again = password_sign_in(&b, "jon@remember.test").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert!(
        again.text.contains("You are signed in"),
        "no second factor: {}",
        again.text
    );
    let other = Browser::new(&w.cp);
    let asked = password_sign_in(&other, "jon@remember.test").await;
    assert!(
        asked.text.contains("Two-step verification"),
        "{}",
        asked.text
    );
}

/// An application's own origins join the environment's for CORS (and so for the session
/// cookie): registered, they are allowed; removed with the application, they are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applications_origins_join_cors() {
    let w = world().await;
    let shop = "http://127.0.0.1:8";
    let b = Browser::new(&w.cp);
    let silent = |b: &Browser| {
        let b = b.http.clone();
        let url = w.cp.url("/oauth/authorize/silent");
        async move {
            b.post(url)
                .header("origin", shop)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap()
        }
    };
    let r = silent(&b).await;
    assert_eq!(r.status(), 403, "not yet an allowed origin");
    assert!(r.headers().get("access-control-allow-origin").is_none());

    let bad = w
        .env(
            Method::PUT,
            "/tessera/v1/applications/shop",
            None,
            Some(json!({"name": "Shop", "allowedOrigins": ["not an origin"]})),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let r = w
        .env(
            Method::PUT,
            "/tessera/v1/applications/shop",
            None,
            Some(
                json!({"name": "Shop", "redirectUris": [format!("{shop}/cb")],
                "allowedOrigins": [format!("{shop}/")]}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["allowedOrigins"], json!([shop]), "normalised");
    let r = silent(&b).await;
    assert_eq!(r.status(), 401, "allowed now; no session cookie");
    assert_eq!(r.headers()["access-control-allow-origin"], shop);

    let r = w
        .env(Method::DELETE, "/tessera/v1/applications/shop", None, None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = silent(&b).await;
    assert_eq!(r.status(), 403, "removed with the application");
}
