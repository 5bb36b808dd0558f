//! MFA end to end (`compat-wave2.md` §2–§6): the policy and configuration APIs, the
//! MFA-required login reply, every second factor during login (authenticator app, SMS,
//! email code), recovery, remembered devices, step-up, self-service enrolment and removal,
//! and the rules that hold them: single use under races, expiry, replay, wrong-code budgets.
//! TOTP codes are computed here independently of the server (RFC 6238 on ring).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::world::{PASSWORD, World};
use crate::support::{Reply, claims, mail};

const P: &str = "/identity/resources";

/// Enrol an authenticator app for the holder of `access` and step up with it: the
/// stepped-up access token (`acr`, `amr`, `auth_time`) and the reply that carried it.
pub async fn stepped_up(w: &World, access: &str) -> Reply {
    let clock = w.cp.running.state.clock.clone();
    let enrol = w
        .as_user(
            access,
            Method::POST,
            &format!("{P}/users/v1/mfa/enroll"),
            None,
        )
        .await;
    let secret = enrol.body["secret"].as_str().unwrap().to_owned();
    let r = w
        .as_user(
            access,
            Method::POST,
            &format!("{P}/users/v1/mfa/enroll/verify"),
            Some(json!({"token": totp(&secret, clock.unix(), 0)})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let up = w
        .as_user(
            access,
            Method::POST,
            &format!("{P}/auth/v1/user/step-up/generate"),
            Some(json!({"maxAge": 300})),
        )
        .await;
    let done =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user/mfa/verify"),
            None,
            Some(
                &json!({"mfaToken": up.body["mfaToken"], "value": totp(&secret, clock.unix(), 1)}),
            ),
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.text);
    done
}

/// RFC 6238 (HMAC-SHA1, 6 digits, 30 s) for the base32 `secret`, at `unix + 30·offset`.
pub fn totp(secret: &str, unix: i64, offset: i64) -> String {
    let key = base32(secret);
    let counter = (unix.div_euclid(30) + offset) as u64;
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let mac = ring::hmac::sign(&k, &counter.to_be_bytes());
    let m = mac.as_ref();
    let o = usize::from(m[19] & 0xf);
    let bin = u32::from_be_bytes([m[o] & 0x7f, m[o + 1], m[o + 2], m[o + 3]]);
    format!("{:06}", bin % 1_000_000)
}

fn base32(s: &str) -> Vec<u8> {
    let mut bits = 0u64;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => panic!("not base32: {s}"),
        };
        bits = (bits << 5) | u64::from(v);
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

fn now(w: &World) -> i64 {
    w.cp.running.state.clock.unix()
}

/// A world whose environment forces MFA, with one verified user; `(world, tenant, user id)`.
async fn forced(email: &str) -> (World, String, String) {
    let w = World::new().await;
    let r = w
        .env(
            Method::POST,
            &format!("{P}/configurations/v1/mfa-policy"),
            None,
            Some(json!({"enforceMFAType": "Force", "allowRememberMyDevice": true, "mfaDeviceExpiration": 3600})),
        )
        .await;
    r.assert_spec("SecurityPolicyController_createMfaPolicy", 201);
    let t = w.tenant("T").await;
    let uid = w.user(&t, email, &[]).await;
    (w, t, uid)
}

async fn post(w: &World, path: &str, body: Value) -> Reply {
    w.cp.call(Method::POST, &format!("{P}{path}"), None, Some(&body))
        .await
}

/// Log in and enrol the offered authenticator; `(secret, login reply after MFA)`.
async fn enrol_at_login(w: &World, email: &str) -> (String, Reply) {
    let r = w.login(email).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let secret = r.body["secret"].as_str().expect("secret").to_owned();
    let done = post(
        w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": r.body["mfaToken"], "value": totp(&secret, now(w), 0)}),
    )
    .await;
    assert_eq!(done.status, 201, "{}", done.text);
    (secret, done)
}

#[tokio::test]
async fn policy_strategies_and_configuration() {
    let w = World::new().await;
    let t = w.tenant("T").await;
    w.user(&t, "admin@mfa.test", &["Admin"]).await;
    let token = w.token_for("admin@mfa.test").await;
    let policy = format!("{P}/configurations/v1/mfa-policy");
    // The portal expects 404 before any policy exists.
    w.env(Method::GET, &policy, None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    let made = w
        .env(
            Method::POST,
            &policy,
            None,
            Some(json!({"enforceMFAType": "DontForce"})),
        )
        .await;
    made.assert_spec("SecurityPolicyController_createMfaPolicy", 201);
    assert_eq!(made.body["allowRememberMyDevice"], false, "spec default");
    assert_eq!(made.body["mfaDeviceExpiration"], 1_209_600);
    // Terraform's create-then-PATCH-on-409.
    let again = w
        .env(
            Method::POST,
            &policy,
            None,
            Some(json!({"enforceMFAType": "Force"})),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    let patched = w
        .env(
            Method::PATCH,
            &policy,
            None,
            Some(json!({"id": made.body["id"], "enforceMFAType": "Force", "createdAt": "x"})),
        )
        .await;
    patched.assert_spec("SecurityPolicyController_updateSecurityPolicy", 200);
    assert_eq!(patched.body["enforceMFAType"], "Force");
    // A bad value changes nothing.
    for bad in [
        json!({"enforceMFAType": "Sometimes"}),
        json!({"mfaDeviceExpiration": 5}),
        json!({"mfaDeviceExpiration": "long"}),
    ] {
        let r = w.env(Method::PATCH, &policy, None, Some(bad.clone())).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let read = w.env(Method::GET, &policy, None, None).await;
    read.assert_spec("SecurityPolicyController_getSecurityPolicy", 200);
    assert_eq!(read.body["enforceMFAType"], "Force");
    // An account's own policy (PUT creates it), and the environment's as the portal reads it.
    let put = w
        .env(
            Method::PUT,
            &policy,
            Some(&t),
            Some(json!({"allowRememberMyDevice": true})),
        )
        .await;
    put.assert_spec("SecurityPolicyController_upsertSecurityPolicy", 200);
    let mine = w.as_user(&token, Method::GET, &policy, None).await;
    assert_eq!(mine.body["allowRememberMyDevice"], true, "{}", mine.text);
    let vendor = w
        .as_user(&token, Method::GET, &format!("{policy}/vendor"), None)
        .await;
    assert_eq!(
        vendor.body["allowRememberMyDevice"], false,
        "{}",
        vendor.text
    );
    // Strategies: all five listed; the configuration mirrors them.
    let strategies = format!("{P}/configurations/v1/mfa/strategies");
    let s = w.as_user(&token, Method::GET, &strategies, None).await;
    s.assert_spec("MFAStrategiesControllerV1_getMFAStrategies", 200);
    assert_eq!(s.body["strategies"].as_array().unwrap().len(), 5);
    let on = w
        .env(
            Method::POST,
            &strategies,
            None,
            Some(json!({"strategy": "EmailCode", "isActive": true})),
        )
        .await;
    assert_eq!(on.status, 201, "{}", on.text);
    let user_write = w
        .as_user(
            &token,
            Method::POST,
            &strategies,
            Some(json!({"strategy": "SMS", "isActive": true})),
        )
        .await;
    assert_eq!(
        user_write.status, 401,
        "environment only: {}",
        user_write.text
    );
    let config = format!("{P}/configurations/v1/mfa");
    let c = w.env(Method::GET, &config, None, None).await;
    c.assert_spec("MfaController_getMfaConfig", 200);
    assert_eq!(c.body["email"]["active"], true, "mirrors the strategy");
    // Terraform posts only the authenticator app.
    let tf = w
        .env(
            Method::POST,
            &config,
            None,
            Some(json!({"authenticationApp": {"active": true, "serviceName": "Acme"}})),
        )
        .await;
    tf.assert_spec("MfaController_upsertMfaConfig", 201);
    assert_eq!(tf.body["authenticationApp"]["serviceName"], "Acme");
    let short = w
        .env(
            Method::POST,
            &config,
            None,
            Some(json!({"sms": {"active": true, "tokenLifetimeSeconds": 60}})),
        )
        .await;
    assert_eq!(short.status, 400, "{}", short.text);
    let c = w.env(Method::GET, &config, None, None).await;
    assert_eq!(c.body["sms"]["active"], false, "unchanged");
    assert_eq!(c.body["sms"]["tokenLifetimeSeconds"], 300);
    w.cp.assert_served(&[
        "SecurityPolicyController_getSecurityPolicy",
        "SecurityPolicyController_createMfaPolicy",
        "SecurityPolicyController_updateSecurityPolicy",
        "SecurityPolicyController_upsertSecurityPolicy",
        "MFAStrategiesControllerV1_getMFAStrategies",
        "MFAStrategiesControllerV1_createOrUpdateMFAStrategy",
        "MfaController_getMfaConfig",
        "MfaController_upsertMfaConfig",
    ]);
}

#[tokio::test]
async fn forced_enrolment_then_login_with_an_authenticator_app() {
    let (w, _t, uid) = forced("app@mfa.test").await;
    // A wrong password reveals nothing about MFA.
    let wrong =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user"),
            None,
            Some(&json!({"email": "app@mfa.test", "password": "nope-nope-1"})),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(!wrong.text.contains("mfa"), "{}", wrong.text);
    let r = w.login("app@mfa.test").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b = &r.body;
    assert_eq!(b["mfaRequired"], true);
    assert!(
        b.get("accessToken").is_none() && b.get("refreshToken").is_none(),
        "{b}"
    );
    assert!(
        !r.headers.contains_key("set-cookie"),
        "no session before the second factor"
    );
    assert_eq!(b["mfaEnrolled"], false);
    for k in ["webauthn", "phones", "authenticators", "emails"] {
        assert!(b["mfaDevices"][k].is_array(), "{k} always present: {b}");
    }
    assert_eq!(b["mfaStrategies"], json!(["AuthenticatorApp"]));
    assert!(
        b["qrCode"]
            .as_str()
            .unwrap()
            .starts_with("data:image/svg+xml;base64,")
    );
    assert_eq!(b["userId"], uid.as_str());
    let token = b["mfaToken"].as_str().unwrap().to_owned();
    assert!(token.len() >= 22, "≥128 bits");
    let remember =
        w.cp.call(
            Method::GET,
            &format!("{P}/configurations/v1/mfa-policy/allow-remember-device?mfaToken={token}"),
            None,
            None,
        )
        .await;
    assert_eq!(remember.status, 200, "{}", remember.text);
    assert_eq!(remember.body["isAllowedToRemember"], true);
    assert_eq!(remember.body["mfaDeviceExpiration"], 3600);
    let secret = b["secret"].as_str().unwrap().to_owned();
    // The v5 force-enrol screen sends the first code to mfa/verify: it completes enrolment.
    let bad = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": token, "value": "000000"}),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let code = totp(&secret, now(&w), 0);
    let done = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": token, "value": code}),
    )
    .await;
    assert_eq!(done.status, 201, "{}", done.text);
    assert!(
        done.headers["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("fe_refresh_")
    );
    let recovery = done.body["recoveryCode"]
        .as_str()
        .expect("recovery code on first enrolment");
    assert!(recovery.len() >= 8);
    let c = claims(done.body["accessToken"].as_str().unwrap());
    assert_eq!(
        c["acr"],
        "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
    );
    assert_eq!(c["amr"], json!(["pwd", "mfa", "otp"]));
    assert!(c["auth_time"].as_i64().unwrap() >= now(&w) - 5);
    // The challenge is spent.
    let again = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": token, "value": code}),
    )
    .await;
    assert_eq!(again.status, 401, "{}", again.text);
    // A refreshed token carries no step-up claims.
    let refreshed =
        w.cp.send(
            Method::POST,
            &format!("{P}/auth/v1/user/token/refresh"),
            None,
            &[("cookie", &done.cookie())],
            Some(&json!({})),
        )
        .await;
    assert_eq!(refreshed.status, 201, "{}", refreshed.text);
    assert!(
        claims(refreshed.body["accessToken"].as_str().unwrap())
            .get("amr")
            .is_none()
    );
    // Enrolled now: the next login asks for the app's code, offers no seed.
    let r = w.login("app@mfa.test").await;
    assert_eq!(r.body["mfaEnrolled"], true);
    assert!(r.body.get("qrCode").is_none() && r.body.get("secret").is_none());
    let devices = r.body["mfaDevices"]["authenticators"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(devices.len(), 1);
    let t2 = r.body["mfaToken"].as_str().unwrap().to_owned();
    // The code just used is refused inside its window (replay).
    let replay = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": t2, "value": code}),
    )
    .await;
    assert_eq!(replay.status, 400, "replayed code: {}", replay.text);
    // The next step's code, at the device route.
    let next = totp(&secret, now(&w), 1);
    let ok = post(
        &w,
        &format!(
            "/auth/v1/user/mfa/authenticator/{}/verify",
            devices[0]["id"].as_str().unwrap()
        ),
        json!({"mfaToken": t2, "value": next}),
    )
    .await;
    ok.assert_spec("AuthenticationMFAControllerV1_verifyAuthenticatorMfa", 201);
    assert!(
        ok.body.get("recoveryCode").is_none(),
        "only on the first enrolment"
    );
    w.cp.assert_served(&[
        "AuthenticationMFAControllerV1_verifyAuthenticatorMfaCode",
        "AuthenticationMFAControllerV1_verifyAuthenticatorMfa",
        "SecurityPolicyController_checkIfAllowToRememberDevice",
    ]);
}

#[tokio::test]
async fn wrong_codes_expiry_and_races() {
    let (w, _t, _) = forced("race@mfa.test").await;
    let (secret, _) = enrol_at_login(&w, "race@mfa.test").await;
    // Five wrong codes void the challenge: even the right code is refused after.
    let r = w.login("race@mfa.test").await;
    let token = r.body["mfaToken"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        let bad = post(
            &w,
            "/auth/v1/user/mfa/verify",
            json!({"mfaToken": token, "value": "123456"}),
        )
        .await;
        assert_eq!(bad.status, 400, "{}", bad.text);
    }
    let right = totp(&secret, now(&w), 1);
    let voided = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": token, "value": right}),
    )
    .await;
    assert_eq!(voided.status, 401, "{}", voided.text);
    // A challenge expires after five minutes.
    let r = w.login("race@mfa.test").await;
    let token = r.body["mfaToken"].as_str().unwrap().to_owned();
    w.cp.running.state.clock.advance(301);
    let late = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": token, "value": totp(&secret, now(&w), 0)}),
    )
    .await;
    assert_eq!(late.status, 401, "{}", late.text);
    // One live challenge per user: a second login retires the first's.
    let first = w.login("race@mfa.test").await.body["mfaToken"].clone();
    let second = w.login("race@mfa.test").await.body["mfaToken"].clone();
    let code = totp(&secret, now(&w), 0);
    let retired = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": first, "value": code}),
    )
    .await;
    assert_eq!(retired.status, 401, "{}", retired.text);
    let _ = second;
    // 20 parallel verifications with the right code: exactly one session.
    let r = w.login("race@mfa.test").await;
    let token = r.body["mfaToken"].as_str().unwrap().to_owned();
    let code = totp(&secret, now(&w), 0);
    let body = json!({"mfaToken": token, "value": code});
    let replies = futures_join(&w, "/auth/v1/user/mfa/verify", &body, 20).await;
    let ok = replies.iter().filter(|s| **s == 201).count();
    assert_eq!(ok, 1, "statuses {replies:?}");
    // Garbage never gets a 5xx.
    for bad in [
        json!({}),
        json!({"mfaToken": 5, "value": "1"}),
        json!({"mfaToken": "x".repeat(5000), "value": "123456"}),
        json!({"mfaToken": token, "value": null}),
    ] {
        let r = post(&w, "/auth/v1/user/mfa/verify", bad.clone()).await;
        assert!(r.status.is_client_error(), "{bad}: {} {}", r.status, r.text);
    }
}

async fn futures_join(w: &World, path: &str, body: &Value, n: usize) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let client = w.cp.client.clone();
        let url = w.cp.url(&format!("{P}{path}"));
        let body = body.clone();
        set.spawn(async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out
}

#[tokio::test]
async fn email_and_sms_codes() {
    let (w, _t, _) = forced("codes@mfa.test").await;
    for strategy in ["EmailCode", "SMS"] {
        let r = w
            .env(
                Method::POST,
                &format!("{P}/configurations/v1/mfa/strategies"),
                None,
                Some(json!({"strategy": strategy, "isActive": true})),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    // Email counts as enrolled: the login box goes to the email-code screen.
    let r = w.login("codes@mfa.test").await;
    assert_eq!(r.body["mfaEnrolled"], true, "{}", r.text);
    assert_eq!(
        r.body["mfaDevices"]["emails"],
        json!([{"email": "codes@mfa.test"}])
    );
    let token = r.body["mfaToken"].as_str().unwrap().to_owned();
    let sent = post(
        &w,
        "/auth/v1/user/mfa/emailcode",
        json!({"mfaToken": token}),
    )
    .await;
    sent.assert_spec("AuthenticationMFAControllerV1_preVerifyEmailOtcMfa", 201);
    let otc = sent.body["otcToken"].as_str().unwrap().to_owned();
    let m = mail(&w.cp, "mfa-email-code", 1).await;
    assert_eq!(m.to, "codes@mfa.test");
    let code = six_digits(&m.body);
    // An SMS verify route does not take an email code.
    let cross = post(
        &w,
        "/auth/v1/user/mfa/sms/enroll/verify",
        json!({"mfaToken": token, "otcToken": otc, "code": code}),
    )
    .await;
    assert_eq!(cross.status, 400, "{}", cross.text);
    let done = post(
        &w,
        "/auth/v1/user/mfa/emailcode/verify",
        json!({"mfaToken": token, "otcToken": otc, "code": code}),
    )
    .await;
    done.assert_spec("AuthenticationMFAControllerV1_verifyEmailOtcMfa", 201);
    assert_eq!(
        claims(done.body["accessToken"].as_str().unwrap())["amr"],
        json!(["pwd", "mfa", "otp"])
    );
    // SMS enrolment during login: the texted code enrols the phone.
    let r = w.login("codes@mfa.test").await;
    let token = r.body["mfaToken"].as_str().unwrap().to_owned();
    let bad_number = post(
        &w,
        "/auth/v1/user/mfa/sms/enroll",
        json!({"mfaToken": token, "phoneNumber": "12"}),
    )
    .await;
    assert_eq!(bad_number.status, 400);
    let sent = post(
        &w,
        "/auth/v1/user/mfa/sms/enroll",
        json!({"mfaToken": token, "phoneNumber": "+1 555 010 9999"}),
    )
    .await;
    assert_eq!(sent.status, 201, "{}", sent.text);
    assert_eq!(sent.body["phoneNumber"], "+*********99");
    let sms = mail(&w.cp, "mfa-sms-code", 1).await;
    assert_eq!(sms.to, "+15550109999");
    assert_eq!(sms.channel, control_plane::delivery::Channel::Sms);
    let done = post(
        &w,
        "/auth/v1/user/mfa/sms/enroll/verify",
        json!({"mfaToken": token, "otcToken": sent.body["otcToken"], "code": six_digits(&sms.body)}),
    )
    .await;
    done.assert_spec("AuthenticationMFAControllerV1_enrollSmsMfa", 201);
    assert!(
        done.body["recoveryCode"].is_string(),
        "the first real factor"
    );
    assert_eq!(
        claims(done.body["accessToken"].as_str().unwrap())["amr"],
        json!(["pwd", "mfa", "sms"])
    );
    // Login with the enrolled phone; a new code retires the previous one.
    let r = w.login("codes@mfa.test").await;
    let phones = r.body["mfaDevices"]["phones"].as_array().unwrap().clone();
    assert_eq!(
        phones[0]["phoneNumber"], "+*********99",
        "masked before the second factor"
    );
    let id = phones[0]["id"].as_str().unwrap();
    let token = r.body["mfaToken"].as_str().unwrap().to_owned();
    let first = post(
        &w,
        &format!("/auth/v1/user/mfa/sms/{id}"),
        json!({"mfaToken": token}),
    )
    .await;
    first.assert_spec("AuthenticationMFAControllerV1_preVerifySmsMfa", 201);
    let first_code = six_digits(&mail(&w.cp, "mfa-sms-code", 2).await.body);
    let second = post(
        &w,
        &format!("/auth/v1/user/mfa/sms/{id}"),
        json!({"mfaToken": token}),
    )
    .await;
    let second_code = six_digits(&mail(&w.cp, "mfa-sms-code", 3).await.body);
    let stale = post(
        &w,
        &format!("/auth/v1/user/mfa/sms/{id}/verify"),
        json!({"mfaToken": token, "otcToken": first.body["otcToken"], "code": first_code}),
    )
    .await;
    assert_eq!(stale.status, 400, "the retired code: {}", stale.text);
    let ok = post(
        &w,
        &format!("/auth/v1/user/mfa/sms/{id}/verify"),
        json!({"mfaToken": token, "otcToken": second.body["otcToken"], "code": second_code}),
    )
    .await;
    ok.assert_spec("AuthenticationMFAControllerV1_verifySmsMfa", 201);
    // Sends per challenge are bounded.
    let r = w.login("codes@mfa.test").await;
    let token = r.body["mfaToken"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            post(
                &w,
                &format!("/auth/v1/user/mfa/sms/{id}"),
                json!({"mfaToken": token}),
            )
            .await
            .status
            .as_u16(),
        );
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429]);
    // And per user and hour, whatever the challenge: nine sent so far, one more allowed.
    let mut per_hour = Vec::new();
    for _ in 0..2 {
        let r = w.login("codes@mfa.test").await;
        let t = r.body["mfaToken"].clone();
        per_hour.push(
            post(
                &w,
                &format!("/auth/v1/user/mfa/sms/{id}"),
                json!({"mfaToken": t}),
            )
            .await
            .status
            .as_u16(),
        );
    }
    assert_eq!(per_hour, [201, 429]);
    w.cp.running.state.clock.advance(3601);
    let r = w.login("codes@mfa.test").await;
    let t = r.body["mfaToken"].clone();
    let later = post(
        &w,
        &format!("/auth/v1/user/mfa/sms/{id}"),
        json!({"mfaToken": t}),
    )
    .await;
    assert_eq!(later.status, 201, "a new hour: {}", later.text);
    w.cp.assert_served(&[
        "AuthenticationMFAControllerV1_preVerifyEmailOtcMfa",
        "AuthenticationMFAControllerV1_verifyEmailOtcMfa",
        "AuthenticationMFAControllerV1_preEnrollSmsMfa",
        "AuthenticationMFAControllerV1_enrollSmsMfa",
        "AuthenticationMFAControllerV1_preVerifySmsMfa",
        "AuthenticationMFAControllerV1_verifySmsMfa",
    ]);
}

pub fn six_digits(body: &str) -> String {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a six-digit code")
        .to_owned()
}

#[tokio::test]
async fn the_newer_enrol_path_and_its_pre_enrol() {
    let (w, _t, _) = forced("new@mfa.test").await;
    let r = w.login("new@mfa.test").await;
    let token = r.body["mfaToken"].as_str().unwrap().to_owned();
    let pre = post(
        &w,
        "/auth/v1/user/mfa/authenticator/enroll",
        json!({"mfaToken": token}),
    )
    .await;
    pre.assert_spec(
        "AuthenticationMFAControllerV1_preEnrollAuthenticatorMfa",
        201,
    );
    assert_eq!(
        pre.body["secret"], r.body["secret"],
        "the seed the login offered"
    );
    let secret = pre.body["secret"].as_str().unwrap();
    let done = post(
        &w,
        "/auth/v1/user/mfa/authenticator/enroll/verify",
        json!({"mfaToken": token, "token": totp(secret, now(&w), 0)}),
    )
    .await;
    done.assert_spec("AuthenticationMFAControllerV1_enrollAuthenticatorMfa", 201);
    assert!(done.body["recoveryCode"].is_string());
    w.cp.assert_served(&[
        "AuthenticationMFAControllerV1_preEnrollAuthenticatorMfa",
        "AuthenticationMFAControllerV1_enrollAuthenticatorMfa",
    ]);
}

#[tokio::test]
async fn remembered_devices_expire_and_are_forgotten_on_password_change() {
    let (w, _t, uid) = forced("keep@mfa.test").await;
    let (secret, _) = enrol_at_login(&w, "keep@mfa.test").await;
    let r = w.login("keep@mfa.test").await;
    let done = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": r.body["mfaToken"], "value": totp(&secret, now(&w), 1), "rememberDevice": true}),
    )
    .await;
    assert_eq!(done.status, 201, "{}", done.text);
    let device = done
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("fe_device_"))
        .expect("a remembered-device cookie");
    assert!(
        device.contains("HttpOnly") && device.contains("Max-Age=3600"),
        "{device}"
    );
    let cookie = device.split(';').next().unwrap().to_owned();
    let login_with = |cookie: String| {
        let w = &w;
        async move {
            w.cp.send(
                Method::POST,
                &format!("{P}/auth/v1/user"),
                None,
                &[("cookie", &cookie)],
                Some(&json!({"email": "keep@mfa.test", "password": PASSWORD})),
            )
            .await
        }
    };
    let skipped = login_with(cookie.clone()).await;
    assert!(
        skipped.body["accessToken"].is_string(),
        "remembered: {}",
        skipped.text
    );
    // Another value, or another user's browser, proves nothing.
    let forged =
        login_with("fe_device_x=forged".replace("x", &w.cp.client_id.replace('-', ""))).await;
    assert_eq!(forged.body["mfaRequired"], true);
    // Expiry.
    w.cp.running.state.clock.advance(3601);
    assert_eq!(login_with(cookie.clone()).await.body["mfaRequired"], true);
    // Remember again, then change the password: forgotten.
    let r = w.login("keep@mfa.test").await;
    let done = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": r.body["mfaToken"], "value": totp(&secret, now(&w), 0), "rememberDevice": true}),
    )
    .await;
    let cookie = done
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("fe_device_"))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(login_with(cookie.clone()).await.body["accessToken"].is_string());
    let access = done.body["accessToken"].as_str().unwrap();
    let changed = w
        .as_user(
            access,
            Method::POST,
            &format!("{P}/users/v1/passwords/change"),
            Some(json!({"password": PASSWORD, "newPassword": "Another-Pass-77"})),
        )
        .await;
    assert!(changed.status.is_success(), "{uid}: {}", changed.text);
    let after =
        w.cp.send(
            Method::POST,
            &format!("{P}/auth/v1/user"),
            None,
            &[("cookie", &cookie)],
            Some(&json!({"email": "keep@mfa.test", "password": "Another-Pass-77"})),
        )
        .await;
    assert_eq!(after.body["mfaRequired"], true, "{}", after.text);
}

#[tokio::test]
async fn recovery_turns_mfa_off_once() {
    let (w, _t, _) = forced("lost@mfa.test").await;
    let (_, done) = enrol_at_login(&w, "lost@mfa.test").await;
    let code = done.body["recoveryCode"].as_str().unwrap().to_owned();
    // Unknown address and wrong code: one answer.
    let a = post(
        &w,
        "/auth/v1/user/mfa/recover",
        json!({"email": "nobody@mfa.test", "recoveryCode": code}),
    )
    .await;
    let b = post(
        &w,
        "/auth/v1/user/mfa/recover",
        json!({"email": "lost@mfa.test", "recoveryCode": "WRONGWRONGWRONG"}),
    )
    .await;
    assert_eq!((a.status, &a.body["errors"]), (b.status, &b.body["errors"]));
    assert_eq!(a.status, 400);
    let ok = post(
        &w,
        "/auth/v1/user/mfa/recover",
        json!({"email": "lost@mfa.test", "recoveryCode": code}),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    mail(&w.cp, "mfa-recovered", 1).await;
    // The session the enrolment opened is over.
    let refresh =
        w.cp.send(
            Method::POST,
            &format!("{P}/auth/v1/user/token/refresh"),
            None,
            &[("cookie", &done.cookie())],
            Some(&json!({})),
        )
        .await;
    assert_eq!(refresh.status, 401);
    let reuse = post(
        &w,
        "/auth/v1/user/mfa/recover",
        json!({"email": "lost@mfa.test", "recoveryCode": code}),
    )
    .await;
    assert_eq!(reuse.status, 400, "single use");
    // The policy still forces MFA: the user enrols afresh.
    let r = w.login("lost@mfa.test").await;
    assert_eq!(r.body["mfaEnrolled"], false);
    assert!(r.body["qrCode"].is_string());
    w.cp.assert_served(&["AuthenticationMFAControllerV1_recoverMfa"]);
}

#[tokio::test]
async fn bypass_and_vendor_unenrol() {
    let (w, t, uid) = forced("vendor@mfa.test").await;
    enrol_at_login(&w, "vendor@mfa.test").await;
    let r = w
        .env(
            Method::POST,
            &format!("{P}/vendor-only/users/v1/{uid}/mfa/unenroll"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(w.login("vendor@mfa.test").await.body["mfaEnrolled"], false);
    let made = w
        .env(
            Method::POST,
            &format!("{P}/vendor-only/users/v1"),
            Some(&t),
            Some(json!({"email": "bypass@mfa.test", "password": PASSWORD, "mfaBypass": true, "tenantId": t})),
        )
        .await;
    assert!(made.status.is_success(), "{}", made.text);
    let id = made.body["id"].as_str().unwrap();
    w.env(
        Method::POST,
        &format!("{P}/users/v1/{id}/verify"),
        None,
        None,
    )
    .await;
    let r = w.login("bypass@mfa.test").await;
    assert!(r.body["accessToken"].is_string(), "mfaBypass: {}", r.text);
    w.cp.assert_served(&["VendorOnlyUsers_MFAUnenroll"]);
}

#[tokio::test]
async fn self_service_enrolment_and_removal() {
    let w = World::new().await;
    let t = w.tenant("T").await;
    w.user(&t, "self@mfa.test", &[]).await;
    let access = w.token_for("self@mfa.test").await;
    let call = |m: Method, path: &str, body: Option<Value>| {
        let (w, access) = (&w, access.clone());
        let path = format!("{P}{path}");
        async move { w.as_user(&access, m, &path, body).await }
    };
    let d = call(Method::GET, "/users/v1/mfa/devices", None).await;
    assert_eq!(
        d.body,
        json!({"webauthn": [], "phones": [], "authenticators": [], "emails": []})
    );
    // Bodiless, as rest-api sends it.
    let enrol =
        w.cp.send(
            Method::POST,
            &format!("{P}/users/v1/mfa/enroll"),
            None,
            &[
                ("authorization", &format!("Bearer {access}")),
                ("content-type", "application/json"),
            ],
            None,
        )
        .await;
    enrol.assert_spec("UsersMfaControllerV1_enrollAuthAppMfa", 200);
    let secret = enrol.body["secret"].as_str().unwrap().to_owned();
    let wrong = call(
        Method::POST,
        "/users/v1/mfa/enroll/verify",
        Some(json!({"token": "000000"})),
    )
    .await;
    assert_eq!(wrong.status, 400);
    let ok = call(
        Method::POST,
        "/users/v1/mfa/enroll/verify",
        Some(json!({"token": totp(&secret, now(&w), 0)})),
    )
    .await;
    ok.assert_spec("UsersMfaControllerV1_verifyAuthAppMfaEnrollment", 200);
    // Enrolled under DontForce: the next login asks for it.
    let r = w.login("self@mfa.test").await;
    assert_eq!(r.body["mfaRequired"], true, "{}", r.text);
    // The twin routes: a second authenticator is refused; the device route removes it.
    let twin = call(Method::POST, "/users/v1/mfa/authenticator/enroll", None).await;
    assert_eq!(twin.status, 400, "{}", twin.text);
    let d = call(Method::GET, "/users/v1/mfa/devices", None).await;
    let id = d.body["authenticators"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = call(
        Method::POST,
        &format!("/users/v1/mfa/authenticator/{id}/disable/verify"),
        Some(json!({"token": "111111"})),
    )
    .await;
    assert_eq!(bad.status, 400);
    let off = call(
        Method::POST,
        &format!("/users/v1/mfa/authenticator/{id}/disable/verify"),
        Some(json!({"token": totp(&secret, now(&w), 1)})),
    )
    .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert!(
        w.login("self@mfa.test").await.body["accessToken"].is_string(),
        "no MFA left"
    );
    // The other twins: enrol through the newer path, remove with the deprecated one.
    let enrol = call(Method::POST, "/users/v1/mfa/authenticator/enroll", None).await;
    enrol.assert_spec("UsersMfaControllerV1_enrollAuthenticatorMfa", 200);
    let secret = enrol.body["secret"].as_str().unwrap().to_owned();
    let ok = call(
        Method::POST,
        "/users/v1/mfa/authenticator/enroll/verify",
        Some(json!({"token": totp(&secret, now(&w), 0)})),
    )
    .await;
    ok.assert_spec("UsersMfaControllerV1_verifyAuthenticatorMfaEnrollment", 200);
    // SMS: enrol a phone, then remove it with the texted code.
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1/mfa/strategies"),
        None,
        Some(json!({"strategy": "SMS", "isActive": true})),
    )
    .await;
    let sent = call(
        Method::POST,
        "/users/v1/mfa/sms/enroll",
        Some(json!({"phoneNumber": "+442071838750"})),
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let code = six_digits(&mail(&w.cp, "mfa-sms-code", 1).await.body);
    let ok = call(
        Method::POST,
        "/users/v1/mfa/sms/enroll/verify",
        Some(json!({"otcToken": sent.body["otcToken"], "code": code})),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(
        ok.body.get("recoveryCode").is_none(),
        "not the first factor"
    );
    let d = call(Method::GET, "/users/v1/mfa/devices", None).await;
    assert_eq!(
        d.body["phones"][0]["phoneNumber"], "+442071838750",
        "unmasked to its owner"
    );
    let pid = d.body["phones"][0]["id"].as_str().unwrap().to_owned();
    let pre = call(
        Method::POST,
        &format!("/users/v1/mfa/sms/{pid}/disable"),
        None,
    )
    .await;
    assert_eq!(pre.status, 200, "{}", pre.text);
    let code = six_digits(&mail(&w.cp, "mfa-sms-code", 2).await.body);
    let off = call(
        Method::POST,
        &format!("/users/v1/mfa/sms/{pid}/disable/verify"),
        Some(json!({"otcToken": pre.body["otcToken"], "code": code})),
    )
    .await;
    assert_eq!(off.status, 200, "{}", off.text);
    // Under Force the last factor stays.
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1/mfa-policy"),
        None,
        Some(json!({"enforceMFAType": "Force"})),
    )
    .await;
    let last = call(
        Method::POST,
        "/users/v1/mfa/disable",
        Some(json!({"token": totp(&secret, now(&w), 1)})),
    )
    .await;
    assert_eq!(last.status, 400, "{}", last.text);
    assert_eq!(
        call(Method::GET, "/users/v1/mfa/devices", None).await.body["authenticators"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    w.env(
        Method::PATCH,
        &format!("{P}/configurations/v1/mfa-policy"),
        None,
        Some(json!({"enforceMFAType": "DontForce"})),
    )
    .await;
    let off = call(
        Method::POST,
        "/users/v1/mfa/disable",
        Some(json!({"token": totp(&secret, now(&w), 1)})),
    )
    .await;
    assert_eq!(off.status, 200, "{}", off.text);
    // Unauthenticated callers get nothing.
    let anon =
        w.cp.call(
            Method::GET,
            &format!("{P}/users/v1/mfa/devices"),
            None,
            None,
        )
        .await;
    assert_eq!(anon.status, 401);
    w.cp.assert_served(&[
        "UsersMfaControllerV1_enrollAuthAppMfa",
        "UsersMfaControllerV1_enrollAuthenticatorMfa",
        "UsersMfaControllerV1_verifyAuthAppMfaEnrollment",
        "UsersMfaControllerV1_verifyAuthenticatorMfaEnrollment",
        "UsersMfaControllerV1_disableAuthAppMfa",
        "UsersMfaControllerV1_disableAuthenticatorMfa",
        "UsersMfaControllerV1_preEnrollSmsMfa",
        "UsersMfaControllerV1_enrollSmsMfa",
        "UsersMfaControllerV1_preDisableSMSMfa",
        "UsersMfaControllerV1_disableSMSMfa",
    ]);
}

#[tokio::test]
async fn step_up_issues_a_multi_factor_token() {
    let w = World::new().await;
    let t = w.tenant("T").await;
    w.user(&t, "up@mfa.test", &[]).await;
    let access = w.token_for("up@mfa.test").await;
    let generate = format!("{P}/auth/v1/user/step-up/generate");
    let none = w
        .as_user(
            &access,
            Method::POST,
            &generate,
            Some(json!({"maxAge": 60})),
        )
        .await;
    assert_eq!(none.status, 400);
    assert_eq!(
        none.body["errors"],
        json!(["MFA is not enrolled"]),
        "the literal the login box compares"
    );
    let enrol = w
        .as_user(
            &access,
            Method::POST,
            &format!("{P}/users/v1/mfa/enroll"),
            None,
        )
        .await;
    let secret = enrol.body["secret"].as_str().unwrap().to_owned();
    w.as_user(
        &access,
        Method::POST,
        &format!("{P}/users/v1/mfa/enroll/verify"),
        Some(json!({"token": totp(&secret, now(&w), 0)})),
    )
    .await;
    let c = claims(&access);
    assert!(c.get("acr").is_none());
    let up = w
        .as_user(
            &access,
            Method::POST,
            &generate,
            Some(json!({"maxAge": 60})),
        )
        .await;
    assert_eq!(up.status, 200, "{}", up.text);
    assert_eq!(up.body["mfaEnrolled"], true);
    assert_eq!(
        up.body["mfaDevices"]["authenticators"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The MFA routes complete it with the JWT still attached (public routes ignore it).
    let done = w
        .as_user(
            &access,
            Method::POST,
            &format!("{P}/auth/v1/user/mfa/verify"),
            Some(json!({"mfaToken": up.body["mfaToken"], "value": totp(&secret, now(&w), 1)})),
        )
        .await;
    assert_eq!(done.status, 201, "{}", done.text);
    let stepped = claims(done.body["accessToken"].as_str().unwrap());
    assert_eq!(
        stepped["acr"],
        "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
    );
    assert_eq!(stepped["sub"], c["sub"]);
    // Within maxAge the stepped-up token is already enough: a fresh token, same auth_time.
    let fresh = done.body["accessToken"].as_str().unwrap().to_owned();
    let again = w
        .as_user(&fresh, Method::POST, &generate, Some(json!({"maxAge": 60})))
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    let c2 = claims(
        again.body["accessToken"]
            .as_str()
            .expect("satisfied: a token"),
    );
    assert_eq!(c2["auth_time"], stepped["auth_time"]);
    assert_eq!(c2["sid"], stepped["sid"]);
    w.cp.running.state.clock.advance(61);
    let later = w
        .as_user(&fresh, Method::POST, &generate, Some(json!({"maxAge": 60})))
        .await;
    assert!(
        later.body["mfaToken"].is_string(),
        "past maxAge: {}",
        later.text
    );
    // The stepped-up session replaced the old one.
    let old = w
        .as_user(&access, Method::GET, &format!("{P}/users/v2/me"), None)
        .await;
    assert_eq!(old.status, 401);
    let anon =
        w.cp.call(Method::POST, &generate, None, Some(&json!({})))
            .await;
    assert_eq!(anon.status, 401);
}

#[tokio::test]
async fn wrong_codes_count_toward_lockout_and_bind_to_their_user() {
    let (w, t, _) = forced("lock@mfa.test").await;
    w.user(&t, "other@mfa.test", &[]).await;
    let (secret, _) = enrol_at_login(&w, "lock@mfa.test").await;
    let (other_secret, _) = enrol_at_login(&w, "other@mfa.test").await;
    // A's challenge never verifies with B's code (security.md E4).
    let r = w.login("lock@mfa.test").await;
    let a_token = r.body["mfaToken"].as_str().unwrap().to_owned();
    let cross = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": a_token, "value": totp(&other_secret, now(&w), 1)}),
    )
    .await;
    assert_eq!(cross.status, 400, "{}", cross.text);
    // With a lockout policy of 3, wrong codes lock the user like wrong passwords.
    let r = w
        .env(
            Method::POST,
            &format!("{P}/configurations/v1/lockout-policy"),
            None,
            Some(json!({"enabled": true, "maxAttempts": 3})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let mut pending = Value::Null;
    for _ in 0..2 {
        let r = w.login("lock@mfa.test").await;
        pending = r.body["mfaToken"].clone();
        let bad = post(
            &w,
            "/auth/v1/user/mfa/verify",
            json!({"mfaToken": pending, "value": "999999"}),
        )
        .await;
        assert_eq!(bad.status, 400);
    }
    // Locked now (one wrong code above, two here): the right password no longer logs in,
    // and the right code of a challenge opened before is not evaluated.
    let r = w.login("lock@mfa.test").await;
    assert_eq!(r.status, 401, "{}", r.text);
    let right = post(
        &w,
        "/auth/v1/user/mfa/verify",
        json!({"mfaToken": pending, "value": totp(&secret, now(&w), 1)}),
    )
    .await;
    assert_eq!(
        right.status, 400,
        "a locked user's code is not evaluated: {}",
        right.text
    );
    // The lock mailed its unlock link, which lets the user in again.
    let unlock = mail(&w.cp, "unlock", 1).await;
    assert_eq!(unlock.to, "lock@mfa.test");
    let token = unlock
        .body
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let r =
        w.cp.call(
            Method::POST,
            &format!("{P}/users/v3/me/unlock"),
            None,
            Some(&json!({"token": token})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(w.login("lock@mfa.test").await.body["mfaRequired"], true);
}
