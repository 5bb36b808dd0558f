//! The captcha policy end to end (`compat-wave2.md` §12.1): the policy API as Terraform calls
//! it (POST, 409 then PUT, the secret read back), the login box's public read (no secret, no
//! ignored addresses), and the check of every public flow that carries a `recaptchaToken`
//! against a loopback stand-in for reCAPTCHA's `siteverify`: a missing or low-scoring token
//! is the same 400 for known and unknown accounts, a passing one lets the flow run, ignored
//! addresses skip it, a verifier that fails is a 503, a disabled policy checks nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::provider::StandIn;
use crate::support::world::{PASSWORD, World};
use crate::support::{Cp, Reply};

const P: &str = "/identity/resources";
const POLICY: &str = "/identity/resources/configurations/v1/captcha-policy";

/// A verifier: `good` scores 0.9, `low` 0.3, `down` is a 500, `huge` answers 100 kB,
/// `garbled` is not JSON, anything else unsuccessful.
async fn verifier() -> StandIn {
    StandIn::answering(|_, seen| match seen.form("response").as_deref() {
        Some("good") => (200, json!({"success": true, "score": 0.9}).to_string()),
        Some("low") => (200, json!({"success": true, "score": 0.3}).to_string()),
        Some("down") => (500, "{}".into()),
        Some("huge") => (
            200,
            format!(
                "{{\"success\": true, \"pad\": \"{}\"}}",
                "x".repeat(100_000)
            ),
        ),
        Some("garbled") => (200, "<html>not json</html>".into()),
        _ => (
            200,
            json!({"success": false, "error-codes": ["invalid-input-response"]}).to_string(),
        ),
    })
    .await
}

async fn world_with(v: &StandIn) -> World {
    let mut config = control_plane::config::Config::for_test();
    config.provider_endpoints.recaptcha = format!("{}/recaptcha/api/siteverify", v.base);
    let cp = Cp::start_with(config).await;
    let token = cp.vendor_token().await;
    World { cp, token }
}

fn policy(enabled: bool) -> Value {
    json!({"enabled": enabled, "siteKey": "site-key-1", "secretKey": "secret-key-1",
        "minScore": 0.5, "ignoredEmails": ["VIP@cap.test"]})
}

fn refused(r: &Reply) -> bool {
    r.status == 400 && r.text.contains("captcha verification failed")
}

#[tokio::test]
async fn the_policy_as_terraform_and_the_login_box_use_it() {
    let v = verifier().await;
    let w = world_with(&v).await;
    w.env(Method::GET, POLICY, None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    w.cp.call(Method::GET, &format!("{POLICY}/public"), None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    for (field, value) in [
        ("minScore", json!(1.5)),
        ("minScore", json!(-0.1)),
        ("secretKey", json!("")),
        ("siteKey", json!("has space")),
        ("ignoredEmails", json!(["not-an-address"])),
    ] {
        let mut p = policy(true);
        p[field] = value;
        let r = w.env(Method::POST, POLICY, None, Some(p.clone())).await;
        assert_eq!(r.status, 400, "{p}: {}", r.text);
    }
    let r = w.env(Method::POST, POLICY, None, Some(policy(true))).await;
    r.assert_spec("CaptchaPolicyController_createCaptchaPolicy", 201);
    assert_eq!(r.body["secretKey"], "secret-key-1");
    assert_eq!(r.body["ignoredEmails"], json!(["vip@cap.test"]));
    w.env(Method::POST, POLICY, None, Some(policy(true)))
        .await
        .assert_error(409, "ER-CONFLICT");
    let mut changed = policy(true);
    changed["minScore"] = json!(0.7);
    let r = w.env(Method::PUT, POLICY, None, Some(changed)).await;
    r.assert_spec("CaptchaPolicyController_updateCaptchaPolicy", 200);
    let r = w.env(Method::GET, POLICY, None, None).await;
    r.assert_spec("CaptchaPolicyController_getCaptchaPolicy", 200);
    assert_eq!(
        (r.body["minScore"].as_f64(), r.body["secretKey"].as_str()),
        (Some(0.7), Some("secret-key-1"))
    );
    // Sealed at rest.
    let stored = format!(
        "{:?}",
        control_plane::model::captcha::policy(&w.cp.running.state.db).unwrap()
    );
    assert!(!stored.contains("secret-key-1"), "{stored}");
    // The login box's read: no secret, no addresses.
    let r =
        w.cp.call(Method::GET, &format!("{POLICY}/public"), None, None)
            .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["siteKey"].as_str(), r.body["enabled"].as_bool()),
        (Some("site-key-1"), Some(true))
    );
    assert!(
        !r.text.contains("secret") && !r.text.contains("vip@"),
        "{}",
        r.text
    );
    // A user token cannot read the secret.
    w.env(Method::PUT, POLICY, None, Some(policy(false))).await;
    let t = w.tenant("U").await;
    w.user(&t, "admin@cap.test", &["Admin"]).await;
    let user = w.token_for("admin@cap.test").await;
    assert_eq!(
        w.as_user(&user, Method::GET, POLICY, None).await.status,
        401
    );
}

#[tokio::test]
async fn every_public_flow_checks_the_token() {
    let v = verifier().await;
    let w = world_with(&v).await;
    let t = w.tenant("Cap").await;
    w.user(&t, "known@cap.test", &["Admin"]).await;
    w.user(&t, "vip@cap.test", &["Admin"]).await;
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1"),
        None,
        Some(json!({"authStrategy": "EmailAndPassword", "allowSignups": true})),
    )
    .await;
    assert_eq!(
        w.env(Method::POST, POLICY, None, Some(policy(true)))
            .await
            .status,
        201
    );

    // Every flow: no token and a low score are refused alike; a good token passes the check.
    let flows: Vec<(&str, String, Value)> = vec![
        (
            "login",
            format!("{P}/auth/v1/user"),
            json!({"email": "known@cap.test", "password": PASSWORD}),
        ),
        (
            "sign-up",
            format!("{P}/users/v1/signUp"),
            json!({"email": "new@cap.test", "password": PASSWORD, "companyName": "N"}),
        ),
        (
            "sign-up with a username",
            format!("{P}/users/v1/signUp/username"),
            json!({"username": "newbie", "password": PASSWORD, "companyName": "N"}),
        ),
        (
            "activate",
            format!("{P}/users/v1/activate"),
            json!({"userId": "u", "token": "t"}),
        ),
        (
            "activate with code",
            format!("{P}/users/v1/activate/code"),
            json!({"userId": "u", "token": "t", "code": "123456"}),
        ),
        (
            "passwordless prelogin",
            format!("{P}/auth/v1/passwordless/magiclink/prelogin"),
            json!({"email": "known@cap.test"}),
        ),
        (
            "magic-link postlogin",
            format!("{P}/auth/v1/passwordless/magiclink/postlogin"),
            json!({"token": "t"}),
        ),
    ];
    for (name, path, body) in &flows {
        let strategy = if path.contains("passwordless") {
            "MagicLink"
        } else {
            "EmailAndPassword"
        };
        w.env(
            Method::POST,
            &format!("{P}/configurations/v1"),
            None,
            Some(json!({"authStrategy": strategy})),
        )
        .await;
        for token in [None, Some("low"), Some("forged")] {
            let mut b = body.clone();
            if let Some(t) = token {
                b["recaptchaToken"] = json!(t);
            }
            let r = w.cp.call(Method::POST, path, None, Some(&b)).await;
            assert!(
                refused(&r),
                "{name} with {token:?}: {} {}",
                r.status,
                r.text
            );
        }
        let mut b = body.clone();
        b["recaptchaToken"] = json!("good");
        let r = w.cp.call(Method::POST, path, None, Some(&b)).await;
        assert!(
            !refused(&r),
            "{name} with a good token: {} {}",
            r.status,
            r.text
        );
    }
    // The verifier was asked with the secret, the token and the caller's address.
    let asked = v.requests();
    let last = asked.last().unwrap();
    assert_eq!(
        (
            last.form("secret").as_deref(),
            last.form("response").as_deref(),
            last.form("remoteip").as_deref()
        ),
        (Some("secret-key-1"), Some("good"), Some("127.0.0.1"))
    );
    // A good token and the right password log in.
    let r =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user"),
            None,
            Some(
                &json!({"email": "known@cap.test", "password": PASSWORD, "recaptchaToken": "good"}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The refusal says nothing about the account.
    let known =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user"),
            None,
            Some(
                &json!({"email": "known@cap.test", "password": PASSWORD, "recaptchaToken": "low"}),
            ),
        )
        .await;
    let unknown =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user"),
            None,
            Some(
                &json!({"email": "nobody@cap.test", "password": PASSWORD, "recaptchaToken": "low"}),
            ),
        )
        .await;
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    // An ignored address skips the check (any case).
    let r =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user"),
            None,
            Some(&json!({"email": "VIP@Cap.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A verifier in trouble: fail closed, 503.
    let r =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user"),
            None,
            Some(
                &json!({"email": "known@cap.test", "password": PASSWORD, "recaptchaToken": "down"}),
            ),
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.text);
    // An oversized answer is the verifier failing (503); one that is not JSON passes nothing.
    for (token, status) in [("huge", 503), ("garbled", 400)] {
        let r = w
            .cp
            .call(
                Method::POST,
                &format!("{P}/auth/v1/user"),
                None,
                Some(&json!({"email": "known@cap.test", "password": PASSWORD, "recaptchaToken": token})),
            )
            .await;
        assert_eq!(r.status, status, "{token}: {}", r.text);
    }
    let m = crate::support::metrics(&w.cp.url("/metrics")).await;
    assert!(
        m.contains(r#"control_plane_captcha_checks_total{result="unavailable"} 2"#),
        "{m}"
    );
    // Disabled: nothing is checked.
    w.env(Method::PUT, POLICY, None, Some(policy(false))).await;
    let before = v.requests().len();
    let r =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user"),
            None,
            Some(&json!({"email": "known@cap.test", "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(v.requests().len(), before);
}
