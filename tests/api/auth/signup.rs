//! Signup and activation: a new account and its first user, the activation mail, single-use
//! expiring links (also under a race), closed signups, and replies that do not reveal
//! whether an address is registered.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Cp, Reply, link_parts, mail};

const SIGNUP: &str = "/identity/resources/users/v1/signUp";
const ACTIVATE: &str = "/identity/resources/users/v1/activate";
const LOGIN: &str = "/identity/resources/auth/v1/user";

async fn signup(cp: &Cp, body: Value) -> Reply {
    cp.call(Method::POST, SIGNUP, None, Some(&body)).await
}

#[tokio::test]
async fn sign_up_activate_log_in() {
    let cp = Cp::start().await;
    let r = signup(&cp, json!({"email": "Founder@Startup.example", "password": "Found-er-1", "companyName": "Startup", "provider": "local"})).await;
    r.assert_spec("UsersControllerV1_signUpUser", 201);
    assert_eq!(r.body["shouldActivate"], true);
    assert!(r.body["activationToken"].as_str().unwrap().len() >= 43);
    let m = mail(&cp, "activation", 1).await;
    assert_eq!(m.to, "Founder@Startup.example");
    let (uid, token) = link_parts(&m.body);
    // Not verified yet: no login.
    let early = cp
        .call(
            Method::POST,
            LOGIN,
            None,
            Some(&json!({"email": "founder@startup.example", "password": "Found-er-1"})),
        )
        .await;
    early.assert_error(401, "ER-UNAUTHORIZED");
    let strategy = cp
        .call(
            Method::GET,
            &format!("{ACTIVATE}/strategy?userId={uid}&token={token}"),
            None,
            None,
        )
        .await;
    strategy.assert_spec("UsersActivationControllerV1_getActivationStrategy", 200);
    assert_eq!(strategy.body["shouldSetPassword"], false);
    let act = cp
        .call(
            Method::POST,
            ACTIVATE,
            None,
            Some(&json!({"userId": uid, "token": token})),
        )
        .await;
    act.assert_spec("UsersActivationControllerV1_activateUser", 200);
    assert!(
        act.headers["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("fe_refresh_")
    );
    let access = act.body["accessToken"].as_str().unwrap();
    let me = cp
        .client
        .get(cp.url("/identity/resources/users/v2/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let me: Value = me.json().await.unwrap();
    assert_eq!(
        me["roles"][0]["key"], "Admin",
        "the first user of a new account is its admin"
    );
    let tenants = cp
        .client
        .get(cp.url("/identity/resources/users/v2/me/tenants"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let tenants: Value = tenants.json().await.unwrap();
    assert_eq!(tenants[0]["name"], "Startup");
    // The link is single use.
    cp.call(
        Method::POST,
        ACTIVATE,
        None,
        Some(&json!({"userId": uid, "token": token})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let ok = cp
        .call(
            Method::POST,
            LOGIN,
            None,
            Some(&json!({"email": "founder@startup.example", "password": "Found-er-1"})),
        )
        .await;
    assert_eq!(ok.status, 200);

    // Signing up again with the same address (any case) answers alike and makes nothing:
    // the same status and fields, with fresh ids and a token that activates nothing.
    let again = signup(&cp, json!({"email": "FOUNDER@startup.example", "password": "Other-pass-2", "companyName": "Copycat", "provider": "local"})).await;
    assert_eq!(again.status, r.status);
    let shape = |v: &Value| {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::len).unwrap_or(0)))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&again.body), shape(&r.body));
    assert_ne!(again.body["userId"], r.body["userId"]);
    cp.call(
        Method::POST,
        "/identity/resources/users/v1/activate/code",
        None,
        Some(&json!({"userId": again.body["userId"], "token": again.body["activationToken"], "code": "000000"})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let notice = mail(&cp, "signup-existing", 1).await;
    assert_eq!(notice.to, "Founder@Startup.example");
    let token = cp.vendor_token().await;
    let all = cp
        .call(
            Method::GET,
            "/tenants/resources/tenants/v1",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(all.body.as_array().unwrap().len(), 1);
    cp.assert_served(&[
        "UsersControllerV1_signUpUser",
        "UsersActivationControllerV1_activateUser",
        "UsersActivationControllerV1_getActivationStrategy",
    ]);
}

#[tokio::test]
async fn activation_without_a_password_and_expired_links() {
    let cp = Cp::start().await;
    signup(
        &cp,
        json!({"email": "nopass@example.com", "companyName": "NP", "provider": "local"}),
    )
    .await;
    let (uid, token) = link_parts(&mail(&cp, "activation", 1).await.body);
    let s = cp
        .call(
            Method::GET,
            &format!("{ACTIVATE}/strategy?userId={uid}&token={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(s.body["shouldSetPassword"], true);
    cp.call(
        Method::POST,
        ACTIVATE,
        None,
        Some(&json!({"userId": uid, "token": token})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    // The refused attempt changed nothing; a fresh link (resent on request) works too.
    let resent = cp
        .call(
            Method::POST,
            &format!("{ACTIVATE}/reset"),
            None,
            Some(&json!({"email": "NOPASS@example.com"})),
        )
        .await;
    assert_eq!(resent.status, 201);
    let (_, token2) = link_parts(&mail(&cp, "activation", 2).await.body);
    let ok = cp
        .call(
            Method::POST,
            ACTIVATE,
            None,
            Some(&json!({"userId": uid, "token": token2, "password": "Brand-new-3"})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // Unknown addresses get the same reply and no mail.
    let unknown = cp
        .call(
            Method::POST,
            &format!("{ACTIVATE}/reset"),
            None,
            Some(&json!({"email": "ghost@example.com"})),
        )
        .await;
    assert_eq!(unknown.status, 201);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        cp.running
            .state
            .mailer
            .sent()
            .iter()
            .filter(|m| m.kind == "activation")
            .count(),
        2
    );

    // An expired link is refused.
    signup(&cp, json!({"email": "late@example.com", "password": "Late-pass-4", "companyName": "L", "provider": "local"})).await;
    let (uid, token) = link_parts(&mail(&cp, "activation", 3).await.body);
    cp.running.state.clock.advance(24 * 3600 + 1);
    cp.call(
        Method::POST,
        ACTIVATE,
        None,
        Some(&json!({"userId": uid, "token": token})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    cp.assert_served(&["UsersActivationControllerV1_resetActivationToken"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_used_in_parallel_activates_once() {
    let cp = std::sync::Arc::new(Cp::start().await);
    signup(&cp, json!({"email": "race@example.com", "password": "Race-pass-5", "companyName": "R", "provider": "local"})).await;
    let (uid, token) = link_parts(&mail(&cp, "activation", 1).await.body);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (cp, uid, token) = (cp.clone(), uid.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            cp.call(
                Method::POST,
                ACTIVATE,
                None,
                Some(&json!({"userId": uid, "token": token})),
            )
            .await
            .status
            .as_u16()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        if t.await.unwrap() == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn closed_signups_and_vendor_links() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    cp.call(
        Method::POST,
        "/identity/resources/configurations/v1",
        Some(&token),
        Some(&json!({"allowSignups": false})),
    )
    .await;
    signup(
        &cp,
        json!({"email": "closed@example.com", "companyName": "C", "provider": "local"}),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    signup(
        &cp,
        json!({"email": "not-an-email", "companyName": "C", "provider": "local"}),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    cp.call(
        Method::POST,
        "/identity/resources/configurations/v1",
        Some(&token),
        Some(&json!({"allowSignups": true})),
    )
    .await;
    signup(
        &cp,
        json!({"email": "not-an-email", "companyName": "C", "provider": "local"}),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let t = cp
        .call(
            Method::POST,
            "/tenants/resources/tenants/v1",
            Some(&token),
            Some(&json!({"name": "T"})),
        )
        .await
        .body["tenantId"]
        .clone();
    let u = cp
        .client
        .post(cp.url("/identity/resources/users/v1"))
        .header("x-access-token", &token)
        .header("frontegg-tenant-id", t.as_str().unwrap())
        .json(&json!({"email": "invited@example.com"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let uid = u["id"].as_str().unwrap();
    let link = cp
        .call(
            Method::POST,
            &format!("/identity/resources/users/v1/{uid}/links/generate-activation-token"),
            Some(&token),
            None,
        )
        .await;
    link.assert_spec("UsersControllerV1_generateUserActivationLink", 201);
    let ok = cp
        .call(
            Method::POST,
            ACTIVATE,
            None,
            Some(&json!({"userId": uid, "token": link.body["token"], "password": "Invited-Pw-6"})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    cp.call(
        Method::POST,
        &format!("/identity/resources/users/v1/{uid}/links/generate-activation-token"),
        Some(&token),
        None,
    )
    .await
    .assert_error(409, "ER-CONFLICT");
}

/// The activation code from an activation mail.
fn code_of(body: &str) -> String {
    body.lines()
        .find_map(|l| l.strip_prefix("Or enter this activation code: "))
        .expect("a code")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn activation_with_the_reply_token_and_the_mailed_code() {
    let cp = Cp::start().await;
    let code_route = "/identity/resources/users/v1/activate/code";
    let r = signup(&cp, json!({"email": "coder@startup.example", "password": "Found-er-1", "companyName": "Startup", "provider": "local"})).await;
    let (uid, token) = (
        r.body["userId"].as_str().unwrap().to_owned(),
        r.body["activationToken"].as_str().unwrap().to_owned(),
    );
    let code = code_of(&mail(&cp, "activation", 1).await.body);
    assert_eq!(code.len(), 6);
    // The reply token alone activates nothing: whoever signs up holds it.
    cp.call(
        Method::POST,
        ACTIVATE,
        None,
        Some(&json!({"userId": uid, "token": token})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let attempt = |c: String| {
        let cp = &cp;
        let (uid, token) = (uid.clone(), token.clone());
        async move {
            cp.call(
                Method::POST,
                code_route,
                None,
                Some(&json!({"userId": uid, "token": token, "code": c})),
            )
            .await
        }
    };
    let bad = attempt(wrong.into()).await;
    bad.assert_error(400, "ER-INVALID-INPUT");
    assert!(bad.text.contains("code is incorrect"), "{}", bad.text);
    // Another user's id with this token: refused without spending an attempt.
    let ok = attempt(code.clone()).await;
    ok.assert_spec("UsersActivationControllerV1_activateUserWithCode", 200);
    assert!(ok.body["accessToken"].is_string());
    // Single use.
    attempt(code).await.assert_error(400, "ER-INVALID-INPUT");

    // Five wrong codes burn the token: the right one no longer works.
    let r = signup(&cp, json!({"email": "guesser@startup.example", "password": "Found-er-1", "companyName": "Startup", "provider": "local"})).await;
    let code = code_of(&mail(&cp, "activation", 2).await.body);
    let body = |c: &str| json!({"userId": r.body["userId"], "token": r.body["activationToken"], "code": c});
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        cp.call(Method::POST, code_route, None, Some(&body(wrong)))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    let late = cp
        .call(Method::POST, code_route, None, Some(&body(&code)))
        .await;
    late.assert_error(400, "ER-INVALID-INPUT");
    assert!(
        late.text.contains("invalid or has expired"),
        "{}",
        late.text
    );
    cp.assert_served(&["UsersActivationControllerV1_activateUserWithCode"]);
}

#[tokio::test]
async fn sign_up_with_a_username_and_log_in_with_it() {
    let cp = Cp::start().await;
    let route = "/identity/resources/users/v1/signUp/username";
    let r = cp
        .call(
            Method::POST,
            route,
            None,
            Some(&json!({"username": "Ada.L", "password": "Found-er-1", "companyName": "Engines", "provider": "local"})),
        )
        .await;
    r.assert_spec("UsersSignUpControllerV1_signUpUserUsername", 201);
    assert_eq!(r.body["shouldActivate"], false, "no address to verify");
    // Usernames are unique regardless of case.
    cp.call(
        Method::POST,
        route,
        None,
        Some(&json!({"username": "ada.l", "password": "Found-er-1", "companyName": "Other", "provider": "local"})),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    for bad in [
        json!("has space"),
        json!(""),
        json!("a/b"),
        json!("x".repeat(256)),
    ] {
        cp.call(
            Method::POST,
            route,
            None,
            Some(&json!({"username": bad, "password": "Found-er-1", "companyName": "E", "provider": "local"})),
        )
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    }
    let login = |name: &'static str, pw: &'static str| {
        let cp = &cp;
        async move {
            cp.call(
                Method::POST,
                LOGIN,
                None,
                Some(&json!({"username": name, "password": pw})),
            )
            .await
        }
    };
    let ok = login("ADA.L", "Found-er-1").await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let claims = crate::support::claims(ok.body["accessToken"].as_str().unwrap());
    assert_eq!(claims["tenantId"], r.body["tenantId"]);
    let wrong = login("ada.l", "Wrong-pass-1").await;
    let unknown = login("nobody", "Found-er-1").await;
    assert_eq!((wrong.status, &wrong.body), (unknown.status, &unknown.body));

    // With an address: the usual activation.
    let r = cp
        .call(
            Method::POST,
            route,
            None,
            Some(&json!({"username": "grace", "email": "grace@engines.example", "password": "Found-er-1", "companyName": "Engines", "provider": "local"})),
        )
        .await;
    assert_eq!(r.body["shouldActivate"], true, "{}", r.text);
    let m = mail(&cp, "activation", 1).await;
    assert_eq!(m.to, "grace@engines.example");
    login("grace", "Found-er-1")
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    cp.assert_served(&["UsersSignUpControllerV1_signUpUserUsername"]);
}

/// The login box's boot read, without credentials, under both prefixes: it says whether
/// to offer signup (and follows the configuration), and shows nothing an anonymous page
/// should not know.
#[tokio::test]
async fn the_login_box_reads_the_public_configuration_before_anyone_signs_in() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let public = |prefix: &'static str| {
        let cp = &cp;
        async move {
            cp.call(
                Method::GET,
                &format!("{prefix}/resources/configurations/v1/public"),
                None,
                None,
            )
            .await
        }
    };
    let r = public("/frontegg/identity").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["allowSignups"], true);
    assert_eq!(r.body["authStrategy"], "EmailAndPassword");
    for secret in [
        "publicKey",
        "id",
        "cookieSameSite",
        "machineToMachineAuthStrategy",
    ] {
        assert!(r.body.get(secret).is_none(), "{secret} is not public");
    }
    cp.call(
        Method::POST,
        "/identity/resources/configurations/v1",
        Some(&token),
        Some(&json!({"allowSignups": false})),
    )
    .await;
    assert_eq!(public("/identity").await.body["allowSignups"], false);
}
