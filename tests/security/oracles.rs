//! `security.md` M6, M7 over HTTP: every endpoint that checks a secret counts against the
//! same per-user budget and lockout, replies do not tell known accounts from unknown ones,
//! no unauthenticated endpoint reveals per-account state, and cookie-authenticated calls
//! cannot be made by another site's form. (Timing: `enumeration::*`.)
//!
//! Before: a wrong code on `activate/code` answered "The activation link is invalid or has
//! expired" for an existing address's sign-up token and "The activation code is incorrect"
//! for a new one's; `passwords/change` took 150 wrong current passwords with `maxAttempts=3`
//! and the 151st right one; `/metrics` told locked accounts from others
//! (`logins_total{result="locked"}`); a `text/plain` refresh body switched the session's
//! account.

use reqwest::Method;
use serde_json::json;

use crate::support::remote::RemoteCp;
use crate::support::world::{PASSWORD, World};
use crate::support::{Reply, http_client, metrics, reply};

const SIGNUP: &str = "/identity/resources/users/v1/signUp";
const ACTIVATE_CODE: &str = "/identity/resources/users/v1/activate/code";
const CHANGE: &str = "/identity/resources/users/v1/passwords/change";
const POLICY: &str = "/identity/resources/configurations/v1/lockout-policy";
const REFRESH: &str = "/identity/resources/auth/v1/user/token/refresh";
const LOGOUT: &str = "/identity/resources/auth/v1/logout";
const LOGIN: &str = "/identity/resources/auth/v1/user";

/// Finding 10: the sign-up reply's token behaves alike whether or not the address had an
/// account — a wrong code is "incorrect" five times, then the token is spent.
#[tokio::test]
async fn a_sign_up_token_says_nothing_about_the_address() {
    let w = World::new().await;
    let t = w.tenant("Existing").await;
    w.user(&t, "taken@example.com", &[]).await;
    let sign_up = |email: &str| {
        let body = json!({"email": email, "password": "Choose-a-Pass-1", "companyName": "Co"});
        let w = &w;
        async move { w.cp.call(Method::POST, SIGNUP, None, Some(&body)).await }
    };
    let fresh = sign_up("fresh@example.com").await;
    let taken = sign_up("taken@example.com").await;
    assert_eq!(fresh.status, taken.status);
    let keys = |r: &Reply| {
        let mut k: Vec<String> = r.body.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&fresh), keys(&taken));
    let attempt = |r: &Reply, code: &str| {
        let body =
            json!({"userId": r.body["userId"], "token": r.body["activationToken"], "code": code});
        let w = &w;
        async move {
            let r =
                w.cp.call(Method::POST, ACTIVATE_CODE, None, Some(&body))
                    .await;
            (r.status.as_u16(), r.body)
        }
    };
    for i in 0..7 {
        let code = format!("{:06}", 100_000 + i);
        let (a, b) = (attempt(&fresh, &code).await, attempt(&taken, &code).await);
        assert_eq!(a, b, "wrong code #{}", i + 1);
        assert_eq!(a.0, 400);
    }
}

async fn lockout(w: &World, max: u32) {
    let r = w
        .env(
            Method::POST,
            POLICY,
            None,
            Some(json!({"enabled": true, "maxAttempts": max})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
}

/// M6 / finding 15: the current password on `passwords/change` is guessed against the same
/// lockout and budget as a login: at `maxAttempts` wrong ones the account locks, and no
/// later guess — not even the right password — changes it.
#[tokio::test]
async fn changing_a_password_counts_wrong_current_passwords() {
    let w = World::new().await;
    lockout(&w, 3).await;
    let t = w.tenant("Acme").await;
    let uid = w.user(&t, "guessed@acme.test", &[]).await;
    let token = w.token_for("guessed@acme.test").await;
    let change = |current: &str| {
        let body = json!({"password": current, "newPassword": "Another-Pass-77"});
        let (w, token) = (&w, token.clone());
        async move { w.as_user(&token, Method::POST, CHANGE, Some(body)).await }
    };
    let evaluated = w.cp.running.state.hasher.evaluated();
    for i in 0..3 {
        change(&format!("wrong-{i}"))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    assert_eq!(
        w.cp.running.state.hasher.evaluated() - evaluated,
        3,
        "each wrong current password was evaluated once"
    );
    let user = w
        .env(
            Method::GET,
            &format!("/identity/resources/vendor-only/users/v1/{uid}"),
            None,
            None,
        )
        .await;
    assert_eq!(user.body["isLocked"], true, "locked at maxAttempts");
    // Locked: its token is void and the right password changes nothing.
    assert_eq!(change(PASSWORD).await.status, 401);
    assert_eq!(w.login("guessed@acme.test").await.status, 401);
    for _ in 0..50 {
        assert_ne!(change(PASSWORD).await.status, 201);
    }
    assert_eq!(
        w.cp.running.state.hasher.evaluated() - evaluated,
        3,
        "nothing evaluated after the lock"
    );
}

/// Without lockout the hourly budget still bounds guesses at the current password.
#[tokio::test]
async fn changing_a_password_is_bounded_by_the_hourly_budget() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    w.user(&t, "budget@acme.test", &[]).await;
    let token = w.token_for("budget@acme.test").await;
    let evaluated = w.cp.running.state.hasher.evaluated();
    let body = json!({"password": "wrong", "newPassword": "Another-Pass-77"});
    for _ in 0..110 {
        w.as_user(&token, Method::POST, CHANGE, Some(body.clone()))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    let right = json!({"password": PASSWORD, "newPassword": "Another-Pass-77"});
    w.as_user(&token, Method::POST, CHANGE, Some(right))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    assert_eq!(w.cp.running.state.hasher.evaluated() - evaluated, 100);
}

/// M7 / finding 17: the public `/metrics` tells no locked account from another (a refused
/// login of a locked account counts as a failure like any other), and with
/// `--metrics-listen` it is not public at all.
#[tokio::test]
async fn metrics_reveal_no_accounts_state() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr = crate::support::process::free_addr();
    let cp = RemoteCp::spawn_with(
        dir.path(),
        &[
            "--argon2-memory-kib",
            "64",
            "--argon2-iterations",
            "1",
            "--metrics-listen",
            &metrics_addr,
        ],
        &[],
    )
    .await;
    let t = cp.tenant("Acme").await;
    cp.verified_user(&t, "locked@acme.test").await;
    let p = cp
        .admin(POLICY, None, json!({"enabled": true, "maxAttempts": 2}))
        .await;
    assert!(p.status.is_success(), "{}", p.text);
    for _ in 0..5 {
        let r = cp
            .post(
                LOGIN,
                None,
                None,
                json!({"email": "locked@acme.test", "password": "nope"}),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let public = reply(
        http_client()
            .get(format!("{}/metrics", cp.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    public.assert_error(404, "ER-NOT-FOUND");
    let text = metrics(&format!("http://{metrics_addr}/metrics")).await;
    let logins: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("control_plane_logins_total{"))
        .collect();
    assert!(
        logins
            .iter()
            .all(|l| l.contains(r#"result="failure""#) || l.contains(r#"result="success""#)),
        "{logins:?}"
    );
    assert!(
        logins.iter().any(|l| l.ends_with(" 5")),
        "five failures counted alike: {logins:?}"
    );
}

/// M7 / finding 19: a cookie-authenticated POST needs a JSON (or empty) body and, when the
/// browser says where it comes from, an allowed `Origin` — another site's form can send the
/// cookie but neither of those.
#[tokio::test]
async fn cookie_calls_refuse_forms_and_foreign_origins() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    let other = w.tenant("Other").await;
    let uid = w.user(&t, "cookie@acme.test", &[]).await;
    w.env(
        Method::POST,
        &format!("/identity/resources/users/v1/{uid}/tenant"),
        None,
        Some(json!({"tenantId": other})),
    )
    .await;
    let login = w.login("cookie@acme.test").await;
    let cookie = login.cookie();
    let own_origin = w.cp.running.url();
    let send = |path: &str, content_type: Option<&str>, origin: Option<&str>, body: &str| {
        let mut req = http_client()
            .post(w.cp.url(path))
            .header("cookie", &cookie)
            .body(body.to_owned());
        if let Some(c) = content_type {
            req = req.header("content-type", c);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        async move { reply(req.send().await.unwrap()).await }
    };
    let switch = json!({"tenantId": other}).to_string();
    // A form's body (text/plain is what a cross-site form can send without a preflight).
    send(REFRESH, Some("text/plain"), None, &switch)
        .await
        .assert_error(415, "ER-UNSUPPORTED-MEDIA-TYPE");
    send(
        REFRESH,
        Some("application/x-www-form-urlencoded"),
        None,
        "tenantId=x",
    )
    .await
    .assert_error(415, "ER-UNSUPPORTED-MEDIA-TYPE");
    send(
        REFRESH,
        Some("application/json"),
        Some("https://evil.example"),
        &switch,
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    send(LOGOUT, None, Some("https://evil.example"), "")
        .await
        .assert_error(403, "ER-FORBIDDEN");
    // Nothing changed: the session is still the first account's and still alive.
    let same_origin = send(REFRESH, Some("application/json"), Some(&own_origin), "").await;
    assert_eq!(same_origin.status, 201, "{}", same_origin.text);
    let c = crate::support::claims(same_origin.body["accessToken"].as_str().unwrap());
    assert_eq!(c["tenantId"], t.as_str());
}
