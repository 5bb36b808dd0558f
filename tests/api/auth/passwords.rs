//! Passwords: the complexity policy (at creation, signup, change, reset), its public read,
//! the history policy, change (other sessions end), reset by mail (single use, expiring,
//! unlocks), vendor links and the vendor password check.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Cp, Reply, link_parts, reply};

const POLICY: &str = "/identity/resources/configurations/v1/password";
const HISTORY: &str = "/identity/resources/configurations/v1/password-history-policy";
const LOGIN: &str = "/identity/resources/auth/v1/user";
const CHANGE: &str = "/identity/resources/users/v1/passwords/change";
const RESET: &str = "/identity/resources/users/v1/passwords/reset";
const VERIFY_RESET: &str = "/identity/resources/users/v1/passwords/reset/verify";
const PW: &str = "First-Pass-11";

struct Env {
    cp: Cp,
    token: String,
    tenant: String,
}

impl Env {
    async fn new() -> Env {
        let cp = Cp::start().await;
        let token = cp.vendor_token().await;
        let tenant = cp
            .call(
                Method::POST,
                "/tenants/resources/tenants/v1",
                Some(&token),
                Some(&json!({"name": "T"})),
            )
            .await
            .body["tenantId"]
            .as_str()
            .unwrap()
            .to_owned();
        Env { cp, token, tenant }
    }
    async fn env(&self, m: Method, path: &str, tenant: bool, body: Option<Value>) -> Reply {
        let tenant = tenant.then_some(self.tenant.as_str());
        self.cp
            .call_in(m, path, &self.token, tenant, body.as_ref())
            .await
    }
    async fn user(&self, email: &str, password: &str) -> Reply {
        self.env(
            Method::POST,
            "/identity/resources/users/v1",
            true,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }
    async fn verified_user(&self, email: &str) -> String {
        let id = self.user(email, PW).await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.env(
            Method::POST,
            &format!("/identity/resources/users/v1/{id}/verify"),
            false,
            None,
        )
        .await;
        id
    }
    async fn login(&self, email: &str, password: &str) -> Reply {
        self.cp
            .call(
                Method::POST,
                LOGIN,
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await
    }
    async fn access(&self, email: &str, password: &str) -> String {
        let r = self.login(email, password).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["accessToken"].as_str().unwrap().to_owned()
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
    /// Set a new password with a mailed reset token.
    async fn verify_reset(&self, user_id: &str, token: &str, password: &str) -> Reply {
        self.cp
            .call(
                Method::POST,
                VERIFY_RESET,
                None,
                Some(&json!({"userId": user_id, "token": token, "password": password})),
            )
            .await
    }
    async fn mail(&self, kind: &str, n: usize) -> control_plane::delivery::Message {
        crate::support::mail(&self.cp, kind, n).await
    }
}

#[tokio::test]
async fn the_complexity_policy_applies_everywhere_a_password_is_set() {
    let e = Env::new().await;
    let policy = e.env(Method::GET, POLICY, false, None).await;
    policy.assert_spec("PasswordPolicyController_getPasswordConfig", 200);
    assert_eq!(
        (
            policy.body["minLength"].as_u64(),
            policy.body["allowPassphrases"].as_bool()
        ),
        (Some(10), Some(true))
    );
    let public =
        e.cp.call(
            Method::GET,
            "/identity/resources/users/v1/passwords/config",
            None,
            None,
        )
        .await;
    public.assert_spec("UsersPasswordControllerV1_getUserPasswordConfig", 200);
    for weak in ["short", "alllowercase-1", "NoDigitsHere!", "Baaad-pass-1x"] {
        let r = e.user(&format!("{}@example.com", weak.len()), weak).await;
        r.assert_error(400, "ER-INVALID-INPUT");
    }
    assert_eq!(
        e.user("phrase@example.com", "a long and simple passphrase")
            .await
            .status,
        201,
        "passphrases pass"
    );
    e.cp.call(Method::POST, "/identity/resources/users/v1/signUp", None, Some(&json!({"email": "s@example.com", "password": "weak", "companyName": "S", "provider": "local"})))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    // The account relaxes its policy: two optional tests are enough there.
    let set = e
        .env(
            Method::POST,
            POLICY,
            true,
            Some(json!({"minOptionalTestsToPass": 2, "minLength": 8})),
        )
        .await;
    set.assert_spec("PasswordPolicyController_addOrUpdatePasswordConfig", 201);
    assert_eq!(
        e.user("relaxed@example.com", "lowercase11").await.status,
        201
    );
    for bad in [
        json!({"minLength": 0}),
        json!({"minLength": 300}),
        json!({"minOptionalTestsToPass": 5}),
        json!({"minLength": "ten"}),
    ] {
        e.env(Method::POST, POLICY, true, Some(bad))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    // The environment policy is unchanged.
    assert_eq!(
        e.env(Method::GET, POLICY, false, None).await.body["minLength"],
        10
    );
    e.cp.assert_served(&[
        "PasswordPolicyController_getPasswordConfig",
        "PasswordPolicyController_addOrUpdatePasswordConfig",
        "UsersPasswordControllerV1_getUserPasswordConfig",
    ]);
}

#[tokio::test]
async fn change_requires_the_current_password_and_ends_other_sessions() {
    let e = Env::new().await;
    e.verified_user("chg@example.com").await;
    let a1 = e.access("chg@example.com", PW).await;
    let a2 = e.access("chg@example.com", PW).await;
    e.as_user(
        &a1,
        Method::POST,
        CHANGE,
        Some(json!({"password": "Wrong-Pass-11", "newPassword": "Second-Pass-22"})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    e.as_user(
        &a1,
        Method::POST,
        CHANGE,
        Some(json!({"password": PW, "newPassword": "weak"})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let ok = e
        .as_user(
            &a1,
            Method::POST,
            CHANGE,
            Some(json!({"password": PW, "newPassword": "Second-Pass-22"})),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(
        e.as_user(&a1, Method::GET, "/identity/resources/users/v2/me", None)
            .await
            .status,
        200,
        "the current session stays"
    );
    assert_eq!(
        e.as_user(&a2, Method::GET, "/identity/resources/users/v2/me", None)
            .await
            .status,
        401,
        "other sessions end"
    );
    e.login("chg@example.com", PW)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    assert_eq!(
        e.login("chg@example.com", "Second-Pass-22").await.status,
        200
    );
    e.cp.assert_served(&["UsersPasswordControllerV1_changePassword"]);
}

#[tokio::test]
async fn history_policy_refuses_recent_passwords() {
    let e = Env::new().await;
    e.env(Method::GET, HISTORY, false, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    e.env(
        Method::PATCH,
        HISTORY,
        false,
        Some(json!({"historySize": 2})),
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    let made = e
        .env(
            Method::POST,
            HISTORY,
            false,
            Some(json!({"enabled": true, "historySize": 2})),
        )
        .await;
    made.assert_spec("PasswordHistoryPolicyController_createPolicy", 201);
    e.env(
        Method::POST,
        HISTORY,
        false,
        Some(json!({"enabled": true, "historySize": 2})),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    for bad in [
        json!({"enabled": true, "historySize": 0}),
        json!({"enabled": true, "historySize": 11}),
    ] {
        e.env(Method::PATCH, HISTORY, false, Some(bad))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    e.verified_user("hist@example.com").await;
    let a = e.access("hist@example.com", PW).await;
    let change = |from: &str, to: &str| json!({"password": from, "newPassword": to});
    e.as_user(&a, Method::POST, CHANGE, Some(change(PW, PW)))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    assert_eq!(
        e.as_user(&a, Method::POST, CHANGE, Some(change(PW, "Second-Pass-22")))
            .await
            .status,
        201
    );
    e.as_user(&a, Method::POST, CHANGE, Some(change("Second-Pass-22", PW)))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    assert_eq!(
        e.as_user(
            &a,
            Method::POST,
            CHANGE,
            Some(change("Second-Pass-22", "Third-Pass-33"))
        )
        .await
        .status,
        201
    );
    // With a history of 2, the first password is free again.
    assert_eq!(
        e.as_user(&a, Method::POST, CHANGE, Some(change("Third-Pass-33", PW)))
            .await
            .status,
        201
    );
    let upd = e
        .env(
            Method::PATCH,
            HISTORY,
            false,
            Some(json!({"historySize": 5})),
        )
        .await;
    upd.assert_spec("PasswordHistoryPolicyController_updatePolicy", 200);
    let got = e.env(Method::GET, HISTORY, false, None).await;
    got.assert_spec("PasswordHistoryPolicyController_getPolicy", 200);
    assert_eq!(got.body["historySize"], 5);
}

#[tokio::test]
async fn reset_by_mail_is_single_use_expires_and_unlocks() {
    let e = Env::new().await;
    let uid = e.verified_user("Reset.Me@Example.com").await;
    let a = e.access("reset.me@example.com", PW).await;
    e.env(
        Method::POST,
        &format!("/identity/resources/users/v1/{uid}/lock"),
        false,
        None,
    )
    .await;
    // Any case of the address; the mail goes to the stored address.
    assert_eq!(
        e.cp.call(
            Method::POST,
            RESET,
            None,
            Some(&json!({"email": "RESET.ME@example.com"}))
        )
        .await
        .status,
        201
    );
    let unknown =
        e.cp.call(
            Method::POST,
            RESET,
            None,
            Some(&json!({"email": "ghost@example.com"})),
        )
        .await;
    assert_eq!(unknown.status, 201);
    let m = e.mail("password-reset", 1).await;
    assert_eq!(m.to, "Reset.Me@Example.com");
    let (user_id, token) = link_parts(&m.body);
    assert_eq!(user_id, uid);
    e.verify_reset(&uid, &token, "weak")
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    let ok = e.verify_reset(&uid, &token, "After-Reset-44").await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    e.verify_reset(&uid, &token, "Again-Reset-55")
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    assert_eq!(
        e.login("reset.me@example.com", "After-Reset-44")
            .await
            .status,
        200,
        "the reset unlocked the account"
    );
    assert_eq!(
        e.as_user(&a, Method::GET, "/identity/resources/users/v2/me", None)
            .await
            .status,
        401,
        "sessions ended"
    );
    // Vendor links, and expiry.
    let link = e
        .env(
            Method::POST,
            &format!("/identity/resources/users/v1/{uid}/links/generate-password-reset-token"),
            false,
            None,
        )
        .await;
    link.assert_spec("UsersControllerV1_generateUserPasswordResetLink", 201);
    // The vendor password check.
    let v = e
        .env(
            Method::POST,
            "/identity/resources/vendor-only/users/v1/passwords/verify",
            false,
            Some(json!({"email": "reset.me@example.com", "password": "After-Reset-44"})),
        )
        .await;
    assert_eq!(
        (v.status.as_u16(), v.body["valid"].as_bool()),
        (200, Some(true))
    );
    let v = e
        .env(
            Method::POST,
            "/identity/resources/vendor-only/users/v1/passwords/verify",
            false,
            Some(json!({"email": "ghost@example.com", "password": "x"})),
        )
        .await;
    assert_eq!(v.body["valid"], false);
    e.cp.running.state.clock.advance(3601);
    e.verify_reset(&uid, link.body["token"].as_str().unwrap(), "Late-Reset-66")
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    e.cp.assert_served(&[
        "UsersPasswordControllerV1_resetPassword",
        "UsersPasswordControllerV1_verifyResetPassword",
        "VendorOnlyUsers_verifyUserPassword",
    ]);
}

#[tokio::test]
async fn expired_passwords_must_be_reset_and_expiry_is_announced() {
    let e = Env::new().await;
    let rotation = "/identity/resources/configurations/v1/password-rotation";
    e.env(Method::GET, rotation, false, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    e.env(Method::GET, &format!("{rotation}/vendor"), false, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    e.env(
        Method::POST,
        rotation,
        false,
        Some(json!({"rotationPeriod": 0})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let set = e
        .env(
            Method::POST,
            rotation,
            false,
            Some(json!({"isActive": true, "rotationPeriod": 60, "notificationPeriod": 30})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    e.env(Method::GET, &format!("{rotation}/vendor"), false, None)
        .await
        .assert_spec(
            "PasswordRotationConfigControllerV1_getVendorPasswordRotationConfiguration",
            200,
        );
    let got = e.env(Method::GET, rotation, true, None).await;
    assert_eq!(
        (got.status.as_u16(), got.body["rotationPeriod"].as_u64()),
        (200, Some(60))
    );
    let uid = e.verified_user("old@example.com").await;
    let fresh = e.login("old@example.com", PW).await;
    assert!(
        fresh.body.get("passwordExpiresIn").is_none(),
        "{}",
        fresh.text
    );
    let clock = &e.cp.running.state.clock;
    clock.advance(40 * 60);
    let soon = e.login("old@example.com", PW).await;
    assert_eq!(soon.status, 200);
    assert_eq!(
        (
            soon.body["passwordExpiresIn"].as_i64(),
            soon.body["notificationPeriod"].as_u64()
        ),
        (Some(20), Some(30))
    );
    assert!(soon.body["accessToken"].is_string());
    clock.advance(25 * 60);
    let expired = e.login("old@example.com", PW).await;
    assert_eq!(expired.status, 200);
    assert!(
        expired.body.get("accessToken").is_none(),
        "no tokens for an expired password: {}",
        expired.text
    );
    let reset_token = expired.body["resetPasswordToken"].as_str().unwrap();
    let ok =
        e.cp.call(
            Method::POST,
            "/identity/resources/users/v1/passwords/reset/verify",
            None,
            Some(&json!({"userId": uid, "token": reset_token, "password": "Renewed-Pass-77"})),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let after = e.login("old@example.com", "Renewed-Pass-77").await;
    assert!(after.body["accessToken"].is_string() && after.body.get("passwordExpiresIn").is_none());
    // The v2 reset by email.
    let v2 =
        e.cp.call(
            Method::POST,
            "/identity/resources/users/v2/passwords/reset/email",
            None,
            Some(&json!({"identifier": "OLD@example.com", "identifierType": "email"})),
        )
        .await;
    v2.assert_spec("UsersPasswordControllerV2_resetPasswordViaEmail", 200);
    e.mail("password-reset", 1).await;
    e.cp.assert_served(&[
        "PasswordRotationConfigControllerV1_getPasswordRotationConfiguration",
        "PasswordRotationConfigControllerV1_upsertPasswordRotationConfiguration",
        "PasswordRotationConfigControllerV1_getVendorPasswordRotationConfiguration",
    ]);
}

#[tokio::test]
async fn reset_by_sms_code_with_bounded_attempts() {
    let e = Env::new().await;
    let uid = e.verified_user("sms@example.com").await;
    e.env(
        Method::PUT,
        &format!("/identity/resources/users/v1/{uid}"),
        false,
        Some(json!({"phoneNumber": "+1 (555) 010-0100"})),
    )
    .await;
    let start = "/identity/resources/users/v2/passwords/reset/sms";
    let verify = "/identity/resources/users/v2/passwords/reset/sms/verify";
    let ask = |number: &'static str| {
        let cp = &e.cp;
        async move {
            cp.call(
                Method::POST,
                start,
                None,
                Some(&json!({"identifier": number, "identifierType": "phoneNumber"})),
            )
            .await
        }
    };
    let unknown = ask("+44 20 7946 0000").await;
    unknown.assert_spec("UsersPasswordControllerV2_resetPasswordViaSms", 200);
    e.cp.call(
        Method::POST,
        start,
        None,
        Some(&json!({"identifier": "x", "identifierType": "email"})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    // Five wrong codes void the session, even for the right code afterwards.
    let first = ask("+15550100100").await;
    let code1 = crate::support::mail(&e.cp, "sms-password-reset", 1).await;
    assert_eq!(code1.channel, control_plane::delivery::Channel::Sms);
    assert_eq!(code1.to, "+1 (555) 010-0100");
    let code1: String = code1
        .body
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    let wrong = if code1 == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        e.cp.call(
            Method::POST,
            verify,
            None,
            Some(&json!({"sessionId": first.body["sessionId"], "otcToken": wrong})),
        )
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    }
    e.cp.call(
        Method::POST,
        verify,
        None,
        Some(&json!({"sessionId": first.body["sessionId"], "otcToken": code1})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    // A fresh session: the right code gives a reset token, once.
    let second = ask("+1 555 010 0100").await;
    let code2: String = crate::support::mail(&e.cp, "sms-password-reset", 2)
        .await
        .body
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    let ok =
        e.cp.call(
            Method::POST,
            verify,
            None,
            Some(&json!({"sessionId": second.body["sessionId"], "otcToken": code2})),
        )
        .await;
    ok.assert_spec(
        "UsersPasswordControllerV2_verifyResetPasswordViaSmsOtc",
        200,
    );
    assert_eq!(ok.body["userId"], uid.as_str());
    e.cp.call(
        Method::POST,
        verify,
        None,
        Some(&json!({"sessionId": second.body["sessionId"], "otcToken": code2})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let reset =
        e.cp.call(
            Method::POST,
            "/identity/resources/users/v1/passwords/reset/verify",
            None,
            Some(&json!({"userId": uid, "token": ok.body["token"], "password": "By-Sms-Pass-88"})),
        )
        .await;
    assert_eq!(reset.status, 201, "{}", reset.text);
    assert_eq!(
        e.login("sms@example.com", "By-Sms-Pass-88").await.status,
        200
    );
    assert_eq!(
        e.cp.running
            .state
            .mailer
            .sent()
            .iter()
            .filter(|m| m.kind == "sms-password-reset")
            .count(),
        2,
        "no text for unknown numbers"
    );
}

/// E1 under a race: one reset link used by 20 requests at once (each setting a different
/// password) resets once — exactly one 201, and exactly that password logs in — in each of 10
/// trials; the link never works for another user's id, and a newer link retires the older.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_raced_twenty_ways_resets_exactly_once() {
    const TRIALS: usize = 10;
    const WAYS: usize = 20;
    let e = std::sync::Arc::new(Env::new().await);
    let other = e.verified_user("bystander@example.com").await;
    for trial in 0..TRIALS {
        let email = format!("race{trial}@example.com");
        let uid = e.verified_user(&email).await;
        // Two links: the newer one retires the older.
        for _ in 0..2 {
            let r =
                e.cp.call(Method::POST, RESET, None, Some(&json!({"email": email})))
                    .await;
            assert_eq!(r.status, 201);
        }
        e.mail("password-reset", 2 * trial + 2).await; // delivery is asynchronous
        let sent: Vec<_> =
            e.cp.running
                .state
                .mailer
                .sent()
                .into_iter()
                .filter(|m| m.kind == "password-reset" && m.to == email)
                .collect();
        let (_, older) = link_parts(&sent[sent.len() - 2].body);
        let (_, token) = link_parts(&sent[sent.len() - 1].body);
        e.verify_reset(&uid, &older, "Older-Link-77")
            .await
            .assert_error(400, "ER-INVALID-INPUT");
        e.verify_reset(&other, &token, "Other-User-77")
            .await
            .assert_error(400, "ER-INVALID-INPUT");
        let tasks: Vec<_> = (0..WAYS)
            .map(|i| {
                let (e, uid, token) = (e.clone(), uid.clone(), token.clone());
                tokio::spawn(async move {
                    let pw = format!("Raced-Reset-{i:02}-x");
                    let r = e.verify_reset(&uid, &token, &pw).await;
                    (r.status.as_u16(), pw)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            let (status, pw) = t.await.unwrap();
            match status {
                201 => winners.push(pw),
                400 => {}
                s => panic!("trial {trial}: a raced reset answered {s}"),
            }
        }
        assert_eq!(winners.len(), 1, "trial {trial}: {winners:?}");
        let mut logins = 0;
        for i in 0..WAYS {
            let pw = format!("Raced-Reset-{i:02}-x");
            if e.login(&email, &pw).await.status == 200 {
                logins += 1;
                assert_eq!(pw, winners[0], "trial {trial}: a losing password works");
            }
        }
        assert_eq!(logins, 1, "trial {trial}");
    }
    println!(
        "reset races: {TRIALS} trials × {WAYS} parallel uses of one link, exactly one reset each"
    );
    assert_eq!(
        e.login("bystander@example.com", PW).await.status,
        200,
        "the other user's password is untouched"
    );
}
