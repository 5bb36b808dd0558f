//! Signing in with another identity provider end to end: the custom social OAuth providers
//! (`sso/custom/v1`, `compat-wave2.md` §17) and federation user pools, with **a second
//! Tessera control plane as the upstream provider** (its authorization server from the
//! hosted-login issue, at `localhost`, a different site from the downstream's `127.0.0.1`).
//! A browser is driven by hand across both; the login box's routes (`auth/v1/user/sso/
//! {provider}/prelogin|postlogin`) are called as rest-api calls them.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::Cp;
use crate::support::browser::{Browser, hidden, param};
use crate::support::world::{PASSWORD, World};

const CUSTOM: &str = "/identity/resources/sso/custom/v1";
const SOURCES: &str = "/identity/resources/user-sources/v1";
const CALLBACK_PATH: &str = "/oauth/account/social/success";

/// A control plane at `http://localhost:{port}` (its issuer and every URL it prints).
pub async fn upstream() -> World {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = control_plane::config::Config::for_test();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    config.public_url = Some(format!("http://localhost:{port}"));
    let cp = Cp::start_with(config).await;
    let token = cp.vendor_token().await;
    World { cp, token }
}

pub fn base(w: &World) -> String {
    w.cp.running.state.public_url.to_string()
}

/// Register `down`'s callback at `up`'s default application.
pub async fn allow_callback(up: &World, down: &World) {
    let client = up.cp.client_id.clone();
    let r = up
        .env(
            Method::PUT,
            &format!("/tessera/v1/applications/{client}"),
            None,
            Some(json!({"name": "Downstream", "redirectUris": [format!("{}{CALLBACK_PATH}", base(down))]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// `up` as a custom provider of `down` (a confidential client: the upstream's default
/// application, whose secret is its environment key).
pub async fn provider(up: &World, down: &World, name: &str) -> Value {
    let u = base(up);
    let r = down
        .env(
            Method::POST,
            CUSTOM,
            None,
            Some(json!({
                "type": "custom", "clientId": up.cp.client_id, "secret": up.cp.api_key,
                "redirectUrl": format!("{}{CALLBACK_PATH}", base(down)),
                "authorizationUrl": format!("{u}/oauth/authorize"),
                "tokenUrl": format!("{u}/oauth/token"),
                "userInfoUrl": format!("{u}/oauth/userinfo"),
                "scopes": "openid email profile", "ssoLogoUrl": "", "displayName": name,
                "active": true,
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// An upstream knowing `email` (verified), a downstream with it as the custom provider
/// `name`: `(upstream, downstream, provider id)`.
pub async fn pair(email: &str, name: &str) -> (World, World, String) {
    let up = upstream().await;
    let w = World::new().await;
    allow_callback(&up, &w).await;
    let ut = up.tenant("Upstream Co").await;
    let _ = up.user(&ut, email, &[]).await;
    let p = provider(&up, &w, name).await;
    let id = p["id"].as_str().unwrap().to_owned();
    (up, w, id)
}

/// The provider's part, from its authorization request: its sign-in page, the password, and
/// back with a code; the callback URL (the downstream's) the provider redirects to.
pub async fn at_provider(b: &Browser, authorize: &str, email: &str) -> String {
    let up = reqwest::Url::parse(authorize).unwrap();
    let up_base = format!("{}://{}", up.scheme(), up.host_str().unwrap())
        + &up.port().map(|p| format!(":{p}")).unwrap_or_default();
    let login = b.get(authorize).await;
    assert_eq!(login.status, 302, "{}", login.text);
    let page = b
        .get(&format!("{up_base}{}", login.location.unwrap()))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let done = b
        .post_form(
            &format!("{up_base}/oauth/account/login"),
            &[
                ("csrf", &hidden(&page.text, "csrf")),
                ("continue", &hidden(&page.text, "continue")),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    let back = b.get(&format!("{up_base}{}", done.location.unwrap())).await;
    assert_eq!(back.status, 302, "{}", back.text);
    back.location.unwrap()
}

/// Sign in at the upstream's hosted page, starting from the downstream's `start` link; the
/// last page the downstream answers (its callback's).
pub async fn through(b: &Browser, start: &str, email: &str) -> crate::support::browser::Page {
    let to_upstream = b.get(start).await;
    assert_eq!(to_upstream.status, 303, "{}", to_upstream.text);
    let authorize = to_upstream.location.unwrap();
    assert!(
        param(&authorize, "code_challenge").is_some(),
        "PKCE: {authorize}"
    );
    assert_eq!(
        param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let state = param(&authorize, "state").unwrap();
    let callback = at_provider(b, &authorize, email).await;
    assert_eq!(param(&callback, "state").as_deref(), Some(state.as_str()));
    b.get(&callback).await
}

/// The name of `w`'s refresh cookie (the upstream's has another).
pub fn refresh_cookie(w: &World) -> String {
    format!("fe_refresh_{}", w.cp.client_id.replace('-', ""))
}

fn user_by_email(w: &World, email: &str) -> Option<control_plane::model::user::User> {
    control_plane::model::user::by_email(&w.cp.running.state.db, email).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_providers_are_managed_and_listed_without_secrets() {
    let up = upstream().await;
    let w = World::new().await;
    let created = provider(&up, &w, "Upstream").await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created.get("secret").is_none());
    // Public, on every login-box load: `{providers}` without the secret.
    let r = w.cp.call(Method::GET, CUSTOM, None, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["providers"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["providers"][0]["displayName"], "Upstream");
    assert_eq!(r.body["providers"][0]["clientId"], up.cp.client_id);
    assert!(!r.text.contains(&up.cp.api_key), "{}", r.text);
    // Change and remove.
    let r = w
        .env(
            Method::PATCH,
            &format!("{CUSTOM}/{id}"),
            None,
            Some(json!({"displayName": "Renamed", "active": false, "secret": "rotated"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["displayName"], "Renamed");
    assert_eq!(r.body["active"], false);
    assert!(!r.text.contains("rotated"));
    // Bad input: refused, nothing changes.
    let good = json!({
        "type": "custom", "clientId": "c", "secret": "s",
        "redirectUrl": "https://app.test/cb", "authorizationUrl": "https://idp.test/a",
        "tokenUrl": "https://idp.test/t", "userInfoUrl": "https://idp.test/u",
        "scopes": "openid", "ssoLogoUrl": "", "displayName": "X", "active": true,
    });
    for (field, value) in [
        ("tokenUrl", json!("http://idp.example.com/t")),
        ("authorizationUrl", json!("not a url")),
        ("userInfoUrl", json!("https://user:pw@idp.test/u")),
        ("redirectUrl", json!("https://app.test/cb#x")),
        ("clientId", json!("")),
        ("secret", json!("")),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let r = w.env(Method::POST, CUSTOM, None, Some(body)).await;
        assert_eq!(r.status, 400, "{field}: {}", r.text);
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("tokenUrl");
    assert_eq!(
        w.env(Method::POST, CUSTOM, None, Some(missing))
            .await
            .status,
        400
    );
    let r = w
        .env(
            Method::PATCH,
            &format!("{CUSTOM}/{id}"),
            None,
            Some(json!({"tokenUrl": "ftp://x"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        w.env(
            Method::PATCH,
            &format!("{CUSTOM}/nope"),
            None,
            Some(json!({}))
        )
        .await
        .status,
        404
    );
    // Management is the environment's.
    let t = w.tenant("Acme").await;
    let _ = w.user(&t, "admin@acme.test", &["Admin"]).await;
    let token = w.token_for("admin@acme.test").await;
    assert!(
        w.as_user(&token, Method::POST, CUSTOM, Some(good.clone()))
            .await
            .status
            .is_client_error()
    );
    assert_eq!(
        w.env(Method::DELETE, &format!("{CUSTOM}/{id}"), None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        w.env(Method::DELETE, &format!("{CUSTOM}/{id}"), None, None)
            .await
            .status,
        404
    );
    let r = w.cp.call(Method::GET, CUSTOM, None, None).await;
    assert_eq!(r.body, json!({"providers": []}));
    w.cp.assert_served(&[
        "SsoV2Controller_getSsoProviders",
        "CustomSsoV1Controller_createSsoProvider",
        "CustomSsoV1Controller_updateSsoProvider",
        "CustomSsoV1Controller_deleteCustomSsoConfig",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_with_a_custom_provider_on_the_hosted_page() {
    let (_up, w, id) = pair("grace@social.test", "Upstream").await;

    // The sign-in page offers the provider.
    let b = Browser::new(&w.cp);
    let page = b.get("/oauth/account/login").await;
    assert!(
        page.text.contains("Continue with Upstream"),
        "{}",
        page.text
    );
    let start = format!("/oauth/account/social/{id}");
    assert!(page.text.contains(&start), "{}", page.text);

    // First sign-in: the user is created (verified: the upstream vouches for the address),
    // in an account of its own, and signed in.
    let done = through(&b, &start, "grace@social.test").await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains("You are signed in"), "{}", done.text);
    assert!(b.has_cookie(&refresh_cookie(&w)));
    let u = user_by_email(&w, "grace@social.test").expect("created");
    assert!(u.verified);
    assert!(u.password_hash.is_none());
    assert_eq!(u.memberships.len(), 1);

    // Again, from a fresh browser: the same user (found by its link), no second one.
    let b2 = Browser::new(&w.cp);
    let done = through(&b2, &start, "grace@social.test").await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(user_by_email(&w, "grace@social.test").unwrap().id, u.id);

    // A callback this browser did not start, or with another state, signs nobody in.
    let stranger = Browser::new(&w.cp);
    let r = stranger
        .get(&format!("{CALLBACK_PATH}?code=abc&state=xyz"))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(!stranger.has_cookie(&refresh_cookie(&w)));
    let b3 = Browser::new(&w.cp);
    let to_up = b3.get(&start).await;
    assert_eq!(to_up.status, 303);
    let r = b3
        .get(&format!("{CALLBACK_PATH}?code=abc&state=forged"))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(!b3.has_cookie(&refresh_cookie(&w)));
    // The provider's refusal (`error=`) is said, not mistaken for a code.
    let r = b3
        .get(&format!("{CALLBACK_PATH}?error=access_denied"))
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // An unknown or inactive provider has no flow.
    assert_eq!(b3.get("/oauth/account/social/nope").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_verified_address_links_to_an_existing_user() {
    let up = upstream().await;
    let w = World::new().await;
    allow_callback(&up, &w).await;
    // Downstream users with the addresses the upstream will present.
    let t = w.tenant("Down").await;
    let ada = w.user(&t, "ada@social.test", &["Admin"]).await;
    let _ = w.user(&t, "mallory-target@social.test", &[]).await;
    // Upstream: ada verified; an unverified account claiming the other address (the
    // upstream lets unverified users in).
    let ut = up.tenant("Up").await;
    let _ = up.user(&ut, "ada@social.test", &[]).await;
    let r = up
        .env(
            Method::POST,
            "/identity/resources/users/v1",
            Some(&ut),
            Some(json!({"email": "mallory-target@social.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = up
        .env(
            Method::POST,
            "/identity/resources/configurations/v1",
            None,
            Some(json!({"allowNotVerifiedUsersLogin": true})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let p = provider(&up, &w, "Upstream").await;
    let start = format!("/oauth/account/social/{}", p["id"].as_str().unwrap());

    // Verified: links to the existing user (same id, roles kept).
    let b = Browser::new(&w.cp);
    let done = through(&b, &start, "ada@social.test").await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(user_by_email(&w, "ada@social.test").unwrap().id, ada);

    // Unverified: refused; the existing user is untouched and no session opens.
    let before = user_by_email(&w, "mallory-target@social.test").unwrap();
    let b = Browser::new(&w.cp);
    let done = through(&b, &start, "mallory-target@social.test").await;
    assert_eq!(done.status, 409, "{}", done.text);
    assert!(!b.has_cookie(&refresh_cookie(&w)));
    assert_eq!(
        user_by_email(&w, "mallory-target@social.test").unwrap(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_box_routes_sign_in_and_mfa_applies_after_the_provider() {
    let (_up, w, id) = pair("lin@social.test", "Upstream").await;
    let b = Browser::new(&w.cp);
    let origin = base(&w);

    // prelogin: where to send the browser, and the flow's cookie.
    let pre = b
        .post_json(
            &format!("/identity/resources/auth/v1/user/sso/{id}/prelogin"),
            &origin,
            &json!({}),
        )
        .await;
    assert_eq!(pre.status, 200, "{}", pre.text);
    let url: Value = serde_json::from_str(&pre.text).unwrap();
    let url = url["url"].as_str().unwrap().to_owned();
    // The browser at the provider (by hand), back with a code.
    let callback = at_provider(&b, &url, "lin@social.test").await;
    let (code, state) = (
        param(&callback, "code").unwrap(),
        param(&callback, "state").unwrap(),
    );
    // A wrong state is refused and burns nothing of the real one.
    let wrong = b
        .post_json(
            &format!("/identity/resources/auth/v1/user/sso/{id}/postlogin?code={code}&state=nope"),
            &origin,
            &json!({}),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);

    // MFA enforced downstream: after the provider, the second factor is asked for.
    let r = w
        .env(
            Method::POST,
            "/identity/resources/configurations/v1/mfa-policy",
            None,
            Some(json!({"enforceMFAType": "Force"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // (The wrong attempt spent the flow's cookie: start again.)
    let pre = b
        .post_json(
            &format!("/identity/resources/auth/v1/user/sso/{id}/prelogin"),
            &origin,
            &json!({}),
        )
        .await;
    let url: Value = serde_json::from_str(&pre.text).unwrap();
    let back = b.get(url["url"].as_str().unwrap()).await;
    // Signed in at the upstream already: straight back with a code.
    assert_eq!(back.status, 302, "{}", back.text);
    let callback = back.location.unwrap();
    let r = b
        .post_json(
            &format!(
                "/identity/resources/auth/v1/user/sso/{id}/postlogin?code={}&state={}",
                param(&callback, "code").unwrap(),
                param(&callback, "state").unwrap()
            ),
            &origin,
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(body["mfaRequired"], true, "{body}");
    assert!(body.get("accessToken").is_none_or(Value::is_null), "{body}");
    assert!(!b.has_cookie(&refresh_cookie(&w)));
    let _ = (code, state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_federated_user_signs_in_through_a_user_pool_and_is_imported() {
    let up = upstream().await;
    let w = World::new().await;
    allow_callback(&up, &w).await;
    let ut = up.tenant("Up").await;
    let _ = up.user(&ut, "fed@social.test", &[]).await;
    let t = w.tenant("Federated Co").await;
    let r = w
        .env(
            Method::POST,
            &format!("{SOURCES}/federation"),
            None,
            Some(json!({
                "name": "Partner IdP", "description": "OIDC", "index": 1,
                "appIds": [w.cp.client_id],
                "configuration": {
                    "syncOnLogin": true, "clientId": up.cp.client_id, "secret": up.cp.api_key,
                    "wellknownUrl": format!("{}/.well-known/openid-configuration", base(&up)),
                    "usePkce": true,
                    "tenantConfig": {"tenantResolverType": "static", "tenantId": t},
                },
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let source = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["type"], "federation");

    let b = Browser::new(&w.cp);
    let page = b.get("/oauth/account/login").await;
    assert!(
        page.text.contains("Continue with Partner IdP"),
        "{}",
        page.text
    );
    let done = through(
        &b,
        &format!("/oauth/account/social/{source}"),
        "fed@social.test",
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.text);
    // Imported into the pool's account with its default roles, verified (the ID token's
    // `email_verified`), and listed as the pool's user.
    let u = user_by_email(&w, "fed@social.test").expect("imported");
    assert!(u.verified);
    assert!(u.membership(&t).is_some());
    let r = w
        .env(
            Method::GET,
            &format!("{SOURCES}/{source}/users"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"][0]["email"], "fed@social.test", "{}", r.text);
    let r = w.env(Method::GET, SOURCES, None, None).await;
    assert_eq!(r.body[0]["usersCount"], 1, "{}", r.text);
    assert!(!r.text.contains(&up.cp.api_key), "{}", r.text);
    w.cp.assert_served(&[
        "UserSourcesControllerV1_createFederationUserSource",
        "UserSourcesControllerV1_getUserSourceUsers",
        "UserSourcesControllerV1_getUserSources",
    ]);
}

/// The endpoints a provider's discovery document names are held to the rule configured ones
/// are (`https`, or `http` on loopback): a document naming a token endpoint in clear on
/// another host starts no sign-in; the same document with `https` endpoints does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_document_naming_an_endpoint_in_clear_starts_no_sign_in() {
    use crate::support::provider::StandIn;
    use std::sync::{Arc, Mutex};
    let base = Arc::new(Mutex::new(String::new()));
    let scheme = Arc::new(Mutex::new("http"));
    let (b, sc) = (base.clone(), scheme.clone());
    let idp = StandIn::answering(move |_, s| {
        if s.path.starts_with("/jwks") {
            return (200, json!({"keys": []}).to_string());
        }
        if !s.path.starts_with("/.well-known/openid-configuration") {
            return (404, "{}".into());
        }
        let issuer = b.lock().unwrap().clone();
        // Only the token and userinfo endpoints change scheme; the keys stay on loopback.
        let ext = format!("{}://idp.example.com", sc.lock().unwrap());
        (
            200,
            json!({
                "issuer": issuer,
                "authorization_endpoint": "https://idp.example.com/authorize",
                "token_endpoint": format!("{ext}/token"),
                "userinfo_endpoint": format!("{ext}/userinfo"),
                "jwks_uri": format!("{issuer}/jwks"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })
            .to_string(),
        )
    })
    .await;
    *base.lock().unwrap() = idp.base.clone();
    let w = World::new().await;
    let t = w.tenant("Fed").await;
    let r = w
        .env(
            Method::POST,
            &format!("{SOURCES}/federation"),
            None,
            Some(json!({
                "name": "Cleartext IdP", "index": 1, "appIds": [w.cp.client_id],
                "configuration": {
                    "clientId": "c", "secret": "s",
                    "wellknownUrl": format!("{}/.well-known/openid-configuration", idp.base),
                    "tenantConfig": {"tenantResolverType": "static", "tenantId": t},
                },
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let start = format!("/oauth/account/social/{}", r.body["id"].as_str().unwrap());
    let b = Browser::new(&w.cp);
    let refused = b.get(&start).await;
    assert_eq!(refused.status, 502, "{}", refused.text);
    assert!(refused.location.is_none());
    // The same provider with https endpoints: the browser is sent to it.
    *scheme.lock().unwrap() = "https";
    let sent = b.get(&start).await;
    assert_eq!(sent.status, 303, "{}", sent.text);
    assert!(
        sent.location
            .unwrap()
            .starts_with("https://idp.example.com/authorize?")
    );
}
