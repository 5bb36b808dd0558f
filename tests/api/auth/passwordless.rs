//! Passwordless login end to end (`compat-wave2.md` §7): magic links and email and SMS codes,
//! prelogin and postlogin (and the `usernameand*` aliases), with the rules that hold them —
//! the environment's `authStrategy`, single use under races, a newer link retiring older
//! ones, expiry with the exact text the login box compares, the browser binding of codes
//! (`fe_pwl_…`), `forceSameDeviceOnAuth`, the guessing budget and lockout, unknown users
//! answered alike, the address proven, and MFA after the first factor.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::world::World;
use crate::support::{Reply, claims, mail};

const P: &str = "/identity/resources";

async fn strategy(w: &World, s: &str, extra: Value) {
    let mut body = json!({"authStrategy": s});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let r = w
        .env(
            Method::POST,
            &format!("{P}/configurations/v1"),
            None,
            Some(body),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
}

async fn post(w: &World, path: &str, cookie: Option<&str>, body: Value) -> Reply {
    let headers: Vec<(&str, &str)> = cookie.map(|c| ("cookie", c)).into_iter().collect();
    w.cp.send(
        Method::POST,
        &format!("{P}/auth/v1/passwordless/{path}"),
        None,
        &headers,
        Some(&body),
    )
    .await
}

/// An unverified user (invited, never activated) in a fresh account.
async fn unverified(w: &World, email: &str) -> String {
    let t = w.tenant("P").await;
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/v1"),
            Some(&t),
            Some(json!({"email": email, "skipInviteEmail": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

fn token_of(body: &str) -> String {
    let at = body.find("token=").expect("a link with a token") + 6;
    body[at..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_owned()
}

fn code_of(body: &str) -> String {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|s| s.len() == 6)
        .expect("a six-digit code")
        .to_owned()
}

fn sent(w: &World, kind: &str) -> usize {
    crate::support::sent_count(&w.cp, kind)
}

#[tokio::test]
async fn magic_link_logs_in_once_proves_the_address_and_expires() {
    let w = World::new().await;
    let uid = unverified(&w, "link@pwl.test").await;
    // Not the environment's strategy: 400, nothing sent.
    let r = post(
        &w,
        "magiclink/prelogin",
        None,
        json!({"email": "link@pwl.test"}),
    )
    .await;
    r.assert_error(400, "ER-INVALID-INPUT");
    assert!(r.body["errors"][0].as_str().unwrap().contains("MagicLink"));
    strategy(&w, "MagicLink", json!({})).await;
    // Exactly one identifier (the login box's `username: ""` is absent).
    post(&w, "magiclink/prelogin", None, json!({"username": ""}))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    let r = post(
        &w,
        "magiclink/prelogin",
        None,
        json!({"email": "LINK@pwl.test", "username": ""}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.cookie().starts_with("fe_pwl_"), "{:?}", r.headers);
    assert!(
        r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("HttpOnly")
    );
    let m = mail(&w.cp, "magic-link", 1).await;
    assert_eq!(m.to, "link@pwl.test");
    assert!(m.body.contains("/oauth/account/login/magic-link?token="));
    let first = token_of(&m.body);
    // A newer link retires the older.
    post(
        &w,
        "magiclink/prelogin",
        None,
        json!({"email": "link@pwl.test"}),
    )
    .await;
    let second = token_of(&mail(&w.cp, "magic-link", 2).await.body);
    let r = post(&w, "magiclink/postlogin", None, json!({"token": first})).await;
    r.assert_error(400, "ER-INVALID-INPUT");
    // Two parallel submissions of the live link: one login.
    let (a, b) = tokio::join!(
        post(&w, "magiclink/postlogin", None, json!({"token": second})),
        post(&w, "magiclink/postlogin", None, json!({"token": second})),
    );
    let ok: Vec<&Reply> = [&a, &b].into_iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 1, "{} / {}", a.text, b.text);
    let done = ok[0];
    assert_eq!(
        done.body["emailVerified"], true,
        "the link proved the address"
    );
    assert_eq!(
        claims(done.body["accessToken"].as_str().unwrap())["sub"],
        uid
    );
    assert!(done.cookie().starts_with("fe_refresh_"));
    w.cp.assert_served(&[
        "AuthenticationPasswordlessControllerV1_magicLinkPrelogin",
        "AuthenticationPasswordlessControllerV1_magicLinkPostLogin",
    ]);
    // Expired: the exact text the login box compares.
    post(&w, "magiclink/prelogin", None, json!({"userId": uid})).await;
    let late = token_of(&mail(&w.cp, "magic-link", 3).await.body);
    w.cp.running.state.clock.advance(301);
    let r = post(&w, "magiclink/postlogin", None, json!({"token": late})).await;
    r.assert_error(400, "ER-INVALID-INPUT");
    assert_eq!(r.body["errors"][0], "Magic link has expired");
    // The username alias answers like the plain route.
    let r = post(
        &w,
        "usernameandmagiclink/postlogin",
        None,
        json!({"token": "nope"}),
    )
    .await;
    r.assert_error(400, "ER-INVALID-INPUT");
}

#[tokio::test]
async fn unknown_identifiers_get_the_same_reply_and_nothing_is_sent() {
    let w = World::new().await;
    w.user(&w.tenant("K").await, "known@pwl.test", &[]).await;
    strategy(&w, "Code", json!({})).await;
    let known = post(
        &w,
        "code/prelogin",
        None,
        json!({"email": "known@pwl.test"}),
    )
    .await;
    mail(&w.cp, "login-code", 1).await;
    for who in [
        json!({"email": "nobody@pwl.test"}),
        json!({"username": "nobody"}),
        json!({"userId": "6f1c9d8e-0000-4000-8000-000000000000"}),
        json!({"email": "not an address"}),
    ] {
        let r = post(&w, "code/prelogin", None, who).await;
        assert_eq!(r.status, known.status, "{}", r.text);
        assert_eq!(r.text, known.text);
        assert!(r.cookie().starts_with("fe_pwl_"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(sent(&w, "login-code"), 1, "nothing sent for nobody");
    // A decoy's binding logs nobody in, whatever the code.
    let c = post(
        &w,
        "code/prelogin",
        None,
        json!({"email": "nobody@pwl.test"}),
    )
    .await
    .cookie();
    let r = post(&w, "code/postlogin", Some(&c), json!({"token": "000000"})).await;
    r.assert_error(400, "ER-INVALID-INPUT");
}

#[tokio::test]
async fn codes_are_bound_to_the_browser_and_budgeted() {
    let w = World::new().await;
    let t = w.tenant("C").await;
    let uid = w.user(&t, "code@pwl.test", &[]).await;
    let other = w.user(&t, "other@pwl.test", &[]).await;
    strategy(&w, "Code", json!({})).await;
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1/lockout-policy"),
        None,
        Some(json!({"enabled": true, "maxAttempts": 7})),
    )
    .await;
    let r = post(&w, "code/prelogin", None, json!({"email": "code@pwl.test"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mine = r.cookie();
    let code = code_of(&mail(&w.cp, "login-code", 1).await.body);
    // Another browser (its own pending login) cannot use my code; no browser at all neither.
    let theirs = post(
        &w,
        "code/prelogin",
        None,
        json!({"email": "other@pwl.test"}),
    )
    .await
    .cookie();
    post(&w, "code/postlogin", Some(&theirs), json!({"token": code}))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    post(&w, "code/postlogin", None, json!({"token": code}))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    // Four wrong codes count; the right one still works.
    for _ in 0..4 {
        let r = post(
            &w,
            "code/postlogin",
            Some(&mine),
            json!({"token": "999999"}),
        )
        .await;
        if code == "999999" {
            break;
        }
        r.assert_error(400, "ER-INVALID-INPUT");
    }
    let r = post(&w, "code/postlogin", Some(&mine), json!({"token": code})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(claims(r.body["accessToken"].as_str().unwrap())["sub"], uid);
    assert!(
        r.headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("fe_pwl_")
                && c.to_str().unwrap().contains("Max-Age=0")),
        "the binding is cleared"
    );
    // Used once.
    post(&w, "code/postlogin", Some(&mine), json!({"token": code}))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    // Five wrong codes burn a code.
    let c = post(
        &w,
        "code/prelogin",
        None,
        json!({"email": "other@pwl.test"}),
    )
    .await
    .cookie();
    let right = code_of(&mail(&w.cp, "login-code", 3).await.body);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    for _ in 0..5 {
        post(&w, "code/postlogin", Some(&c), json!({"token": wrong})).await;
    }
    post(&w, "code/postlogin", Some(&c), json!({"token": right}))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    // Wrong codes count toward lockout like wrong passwords: five above plus two more lock
    // the user (maxAttempts 7), and a locked user's right code is refused.
    let c = post(
        &w,
        "code/prelogin",
        None,
        json!({"email": "other@pwl.test"}),
    )
    .await
    .cookie();
    let right = code_of(&mail(&w.cp, "login-code", 4).await.body);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    for _ in 0..2 {
        post(&w, "code/postlogin", Some(&c), json!({"token": wrong})).await;
    }
    let locked =
        w.cp.running
            .state
            .db
            .get::<control_plane::model::user::User>(other.as_bytes())
            .unwrap()
            .unwrap()
            .is_locked;
    assert!(locked, "seven wrong codes lock at maxAttempts 7");
    post(&w, "code/postlogin", Some(&c), json!({"token": right}))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    // A custom client may name the user instead of sending the cookie.
    post(&w, "code/prelogin", None, json!({"email": "code@pwl.test"})).await;
    let code = code_of(&mail(&w.cp, "login-code", 5).await.body);
    let r = post(
        &w,
        "usernameandcode/postlogin",
        None,
        json!({"token": code, "email": "code@pwl.test"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.cp.assert_served(&[
        "AuthenticationPasswordlessControllerV1_emailCodePrelogin",
        "AuthenticationPasswordlessControllerV1_emailCodePostLogin",
    ]);
}

#[tokio::test]
async fn same_device_is_enforced_when_configured() {
    let w = World::new().await;
    w.user(&w.tenant("D").await, "dev@pwl.test", &[]).await;
    strategy(&w, "MagicLink", json!({"forceSameDeviceOnAuth": true})).await;
    let c = post(
        &w,
        "magiclink/prelogin",
        None,
        json!({"email": "dev@pwl.test"}),
    )
    .await
    .cookie();
    let t = token_of(&mail(&w.cp, "magic-link", 1).await.body);
    // Opened elsewhere: refused, and the link still works where it was asked for.
    let r = post(&w, "magiclink/postlogin", None, json!({"token": t})).await;
    r.assert_error(400, "ER-INVALID-INPUT");
    let r = post(&w, "magiclink/postlogin", Some(&c), json!({"token": t})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn mfa_applies_after_a_passwordless_first_factor() {
    let w = World::new().await;
    w.user(&w.tenant("M").await, "mfa@pwl.test", &[]).await;
    strategy(&w, "MagicLink", json!({})).await;
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1/mfa-policy"),
        None,
        Some(json!({"enforceMFAType": "Force"})),
    )
    .await;
    post(
        &w,
        "magiclink/prelogin",
        None,
        json!({"email": "mfa@pwl.test"}),
    )
    .await;
    let t = token_of(&mail(&w.cp, "magic-link", 1).await.body);
    let r = post(&w, "magiclink/postlogin", None, json!({"token": t})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfaRequired"], true, "{}", r.text);
    assert!(r.body["mfaToken"].is_string());
    assert!(r.body.get("accessToken").is_none());
    assert!(
        !r.headers.contains_key("set-cookie"),
        "no session before MFA"
    );
}
