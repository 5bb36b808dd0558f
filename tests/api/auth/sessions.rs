//! Sessions: refresh with rotation and reuse detection (also under a parallel race),
//! account switching, logout, the session limits (driven by the injected clock) and users
//! managing their own sessions.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Cp, Reply, claims, reply};

const LOGIN: &str = "/identity/resources/auth/v1/user";
const REFRESH: &str = "/frontegg/identity/resources/auth/v1/user/token/refresh";
const LOGOUT: &str = "/identity/resources/auth/v1/logout";
const POLICY: &str = "/identity/resources/configurations/sessions/v1";
const MY_SESSIONS: &str = "/identity/resources/users/sessions/v1/me";
const PASSWORD: &str = "Session-Pass-1";

struct Env {
    cp: Cp,
    token: String,
    cookie_name: String,
}

impl Env {
    async fn new() -> Env {
        let cp = Cp::start().await;
        let token = cp.vendor_token().await;
        let cookie_name = format!("fe_refresh_{}", cp.client_id.replace('-', ""));
        Env {
            cp,
            token,
            cookie_name,
        }
    }
    async fn env(&self, m: Method, path: &str, tenant: Option<&str>, body: Option<Value>) -> Reply {
        self.cp
            .call_in(m, path, &self.token, tenant, body.as_ref())
            .await
    }
    async fn tenant(&self) -> String {
        self.env(
            Method::POST,
            "/tenants/resources/tenants/v1",
            None,
            Some(json!({"name": "T"})),
        )
        .await
        .body["tenantId"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    async fn user(&self, tenant: &str, email: &str) -> String {
        let r = self
            .env(
                Method::POST,
                "/identity/resources/users/v1",
                Some(tenant),
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        let id = r.body["id"].as_str().unwrap().to_owned();
        self.env(
            Method::POST,
            &format!("/identity/resources/users/v1/{id}/verify"),
            None,
            None,
        )
        .await;
        id
    }
    /// Log in: (access token, refresh token).
    async fn login(&self, email: &str) -> (String, String) {
        let r = self
            .cp
            .call(
                Method::POST,
                LOGIN,
                None,
                Some(&json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        (
            r.body["accessToken"].as_str().unwrap().to_owned(),
            r.body["refreshToken"].as_str().unwrap().to_owned(),
        )
    }
    async fn refresh(&self, refresh: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .cp
            .client
            .post(self.cp.url(REFRESH))
            .header("cookie", format!("other=1; {}={refresh}", self.cookie_name))
            .header("frontegg-vendor-host", "localhost");
        if let Some(b) = body {
            req = req.json(&b);
        }
        reply(req.send().await.unwrap()).await
    }
    async fn me(&self, access: &str) -> u16 {
        let r = self
            .cp
            .client
            .get(self.cp.url("/identity/resources/users/v2/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    }
    async fn as_user(&self, access: &str, m: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .cp
            .client
            .request(m, self.cp.url(path))
            .bearer_auth(access);
        if let Some(b) = body {
            req = req.json(&b);
        }
        reply(req.send().await.unwrap()).await
    }
}

#[tokio::test]
async fn refresh_rotates_and_a_replayed_token_revokes_the_session() {
    let e = Env::new().await;
    let t = e.tenant().await;
    e.user(&t, "rot@example.com").await;
    let (access, rt1) = e.login("rot@example.com").await;
    let r = e.refresh(&rt1, None).await;
    r.assert_spec("AuthenticatioAuthenticationControllerV1_refreshToken", 201);
    let rt2 = r.body["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("{}={rt2};", e.cookie_name)) && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let c = claims(r.body["accessToken"].as_str().unwrap());
    assert_eq!(c["sid"], claims(&access)["sid"]);
    // Replaying the rotated token revokes the whole session: rt2 and the access tokens die.
    e.refresh(&rt1, None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    e.refresh(&rt2, None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    assert_eq!(e.me(&access).await, 401);
    let events = e
        .env(Method::GET, "/tessera/v1/events", None, None)
        .await
        .body;
    let revoked = events
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "sessionRevoked")
        .expect("recorded");
    assert_eq!(revoked["sessionId"], c["sid"]);
    // No cookie, or a made-up one: 401.
    let bare = reply(e.cp.client.post(e.cp.url(REFRESH)).send().await.unwrap()).await;
    bare.assert_error(401, "ER-UNAUTHORIZED");
    e.refresh("made-up", None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    e.cp.assert_served(&["AuthenticatioAuthenticationControllerV1_refreshToken"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_refreshes_never_leave_two_live_tokens() {
    let e = std::sync::Arc::new(Env::new().await);
    let t = e.tenant().await;
    e.user(&t, "race@example.com").await;
    for trial in 0..3 {
        let (_, rt) = e.login("race@example.com").await;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (e, rt) = (e.clone(), rt.clone());
            tasks.push(tokio::spawn(async move { e.refresh(&rt, None).await }));
        }
        let mut issued = Vec::new();
        for task in tasks {
            let r = task.await.unwrap();
            assert!(r.status == 201 || r.status == 401, "{}", r.text);
            if r.status == 201 {
                issued.push(r.body["refreshToken"].as_str().unwrap().to_owned());
            }
        }
        assert!(
            issued.len() <= 1,
            "trial {trial}: {} refreshes succeeded",
            issued.len()
        );
        let mut live = 0;
        for rt in issued.iter().chain(std::iter::once(&rt)) {
            if e.refresh(rt, None).await.status == 201 {
                live += 1;
            }
        }
        assert!(live <= 1, "trial {trial}: {live} live refresh tokens");
    }
}

#[tokio::test]
async fn refresh_switches_account_and_rotation_can_be_off() {
    let e = Env::new().await;
    let a = e.tenant().await;
    let b = e.tenant().await;
    let other = e.tenant().await;
    let uid = e.user(&a, "two@example.com").await;
    e.env(
        Method::POST,
        &format!("/identity/resources/users/v1/{uid}/tenant"),
        None,
        Some(json!({"tenantId": b})),
    )
    .await;
    let (_, rt) = e.login("two@example.com").await;
    let r = e.refresh(&rt, Some(json!({"tenantId": b}))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        claims(r.body["accessToken"].as_str().unwrap())["tenantId"],
        b.as_str()
    );
    let rt = r.body["refreshToken"].as_str().unwrap().to_owned();
    e.refresh(&rt, Some(json!({"tenantId": other})))
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    e.refresh(&rt, Some(json!({"tenantId": "nope"})))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    // Without rotation the same refresh token keeps working.
    e.env(
        Method::POST,
        "/identity/resources/configurations/v1",
        None,
        Some(json!({"rotateRefreshTokens": false})),
    )
    .await;
    let (_, fixed) = e.login("two@example.com").await;
    for _ in 0..3 {
        let r = e.refresh(&fixed, None).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.body["refreshToken"], fixed.as_str());
    }
}

#[tokio::test]
async fn logout_ends_only_the_named_session() {
    let e = Env::new().await;
    let t = e.tenant().await;
    e.user(&t, "out@example.com").await;
    let (a1, r1) = e.login("out@example.com").await;
    let (a2, r2) = e.login("out@example.com").await;
    let forged = reply(
        e.cp.client
            .post(e.cp.url(LOGOUT))
            .header("cookie", format!("{}=forged", e.cookie_name))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(forged.status, 201);
    let out = reply(
        e.cp.client
            .post(e.cp.url(LOGOUT))
            .header("cookie", format!("{}={r1}", e.cookie_name))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, 201);
    assert!(
        out.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    e.refresh(&r1, None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    assert_eq!(e.me(&a1).await, 401);
    assert_eq!(e.me(&a2).await, 200);
    assert_eq!(e.refresh(&r2, None).await.status, 201);
    e.cp.assert_served(&["AuthenticatioAuthenticationControllerV1_logout"]);
}

#[tokio::test]
async fn session_limits_are_enforced_at_login_and_refresh() {
    let e = Env::new().await;
    let t = e.tenant().await;
    e.user(&t, "lim@example.com").await;
    for bad in [
        json!({"sessionIdleTimeoutConfiguration": {"isActive": true, "timeout": 59}}),
        json!({"sessionIdleTimeoutConfiguration": {"isActive": true, "timeout": 2_073_601}}),
        json!({"sessionTimeoutConfiguration": {"isActive": true, "timeout": 10}}),
        json!({"sessionConcurrentConfiguration": {"isActive": true, "maxSessions": 0}}),
        json!({"sessionConcurrentConfiguration": {"isActive": "yes", "maxSessions": 1}}),
    ] {
        e.env(Method::POST, POLICY, Some(&t), Some(bad))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    // Environment default: idle 120 s; the account adds an absolute limit of 600 s.
    let set = e
        .env(
            Method::POST,
            POLICY,
            None,
            Some(json!({"sessionIdleTimeoutConfiguration": {"isActive": true, "timeout": 120}})),
        )
        .await;
    assert_eq!(set.status, 201, "{}", set.text);
    let vendor = e
        .env(Method::GET, &format!("{POLICY}/vendor"), None, None)
        .await;
    assert_eq!(
        vendor.body["sessionIdleTimeoutConfiguration"]["timeout"],
        120
    );
    let (_, rt) = e.login("lim@example.com").await;
    let clock = &e.cp.running.state.clock;
    clock.advance(100);
    let rt = e.refresh(&rt, None).await.body["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(100);
    let rt = e.refresh(&rt, None).await.body["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    clock.advance(121);
    e.refresh(&rt, None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");

    e.env(
        Method::POST,
        POLICY,
        Some(&t),
        Some(json!({
            "sessionTimeoutConfiguration": {"isActive": true, "timeout": 600},
            "sessionConcurrentConfiguration": {"isActive": true, "maxSessions": 2}
        })),
    )
    .await;
    let got = e.env(Method::GET, POLICY, Some(&t), None).await;
    assert_eq!(got.body["sessionTimeoutConfiguration"]["timeout"], 600);
    assert_eq!(
        got.body["sessionIdleTimeoutConfiguration"]["isActive"], false,
        "the account's own policy replaces the default"
    );
    // Absolute: refreshed every 100 s, still ends at 600 s.
    let (_, mut rt) = e.login("lim@example.com").await;
    for _ in 0..5 {
        clock.advance(100);
        let r = e.refresh(&rt, None).await;
        assert_eq!(r.status, 201);
        rt = r.body["refreshToken"].as_str().unwrap().to_owned();
    }
    clock.advance(101);
    e.refresh(&rt, None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    // Concurrency: a third login ends the oldest session.
    let (_, first) = e.login("lim@example.com").await;
    let (_, second) = e.login("lim@example.com").await;
    let (third_access, third) = e.login("lim@example.com").await;
    e.refresh(&first, None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    assert_eq!(e.refresh(&second, None).await.status, 201);
    assert_eq!(e.refresh(&third, None).await.status, 201);
    let mine = e
        .as_user(&third_access, Method::GET, MY_SESSIONS, None)
        .await;
    assert_eq!(mine.body.as_array().unwrap().len(), 2);
    e.cp.assert_served(&[
        "SessionConfigurationControllerV1_getSessionConfiguration",
        "SessionConfigurationControllerV1_createSessionConfiguration",
        "SessionConfigurationControllerV1_getVendorSessionConfiguration",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_logins_never_exceed_the_session_limit() {
    let e = std::sync::Arc::new(Env::new().await);
    let t = e.tenant().await;
    e.user(&t, "burst@example.com").await;
    e.env(
        Method::POST,
        POLICY,
        Some(&t),
        Some(json!({"sessionConcurrentConfiguration": {"isActive": true, "maxSessions": 3}})),
    )
    .await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let e = e.clone();
        tasks.push(tokio::spawn(
            async move { e.login("burst@example.com").await },
        ));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap());
    }
    let mut live = 0;
    for (access, _) in &tokens {
        if e.me(access).await == 200 {
            live += 1;
        }
    }
    assert_eq!(
        live, 3,
        "exactly maxSessions sessions survive a burst of logins"
    );
}

#[tokio::test]
async fn users_list_and_revoke_their_own_sessions() {
    let e = Env::new().await;
    let t = e.tenant().await;
    e.user(&t, "own@example.com").await;
    e.user(&t, "else@example.com").await;
    let (a1, _) = e.login("own@example.com").await;
    let (a2, _) = e.login("own@example.com").await;
    let (a3, _) = e.login("own@example.com").await;
    let (other, _) = e.login("else@example.com").await;
    let list = e.as_user(&a1, Method::GET, MY_SESSIONS, None).await;
    assert_eq!(list.status, 200);
    let sessions = list.body.as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    let sid2 = claims(&a2)["sid"].as_str().unwrap().to_owned();
    // Another user's session is not found.
    e.as_user(
        &other,
        Method::DELETE,
        &format!("{MY_SESSIONS}/{sid2}"),
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    assert_eq!(
        e.as_user(&a1, Method::DELETE, &format!("{MY_SESSIONS}/{sid2}"), None)
            .await
            .status,
        200
    );
    assert_eq!(e.me(&a2).await, 401);
    assert_eq!(
        e.as_user(&a1, Method::DELETE, &format!("{MY_SESSIONS}/all"), None)
            .await
            .status,
        200
    );
    assert_eq!(e.me(&a3).await, 401);
    assert_eq!(e.me(&a1).await, 200, "the current session stays");
    assert_eq!(e.me(&other).await, 200);
    e.cp.assert_served(&[
        "UserSessionsControllerV1_getActiveSessions",
        "UserSessionsControllerV1_deleteUserSession",
        "UserSessionsControllerV1_deleteAllUserActiveSessions",
    ]);
}
