//! WebAuthn as a second factor end to end, with a software authenticator: enrolment during
//! login and in self-service, assertions, the three key types, `packed` self-attestation, and
//! the class of tampered ceremonies — each refused with a 4xx that changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::authenticator::{Alg, Authenticator, Tamper};
use crate::support::world::World;
use crate::support::{Reply, claims};

const P: &str = "/identity/resources";

async fn post(w: &World, path: &str, body: Value) -> Reply {
    w.cp.call(Method::POST, &format!("{P}{path}"), None, Some(&body))
        .await
}

/// MFA forced, security keys on, one verified user; and an authenticator for this server.
async fn setup(email: &str, alg: Alg) -> (World, Authenticator) {
    let w = World::new().await;
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
            .env(Method::POST, &format!("{P}{path}"), None, Some(body))
            .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    let t = w.tenant("T").await;
    w.user(&t, email, &[]).await;
    let origin = w.cp.running.url();
    let a = Authenticator::new(alg, "127.0.0.1", &origin);
    (w, a)
}

/// Enrol `a` during `email`'s first login; the enrolment reply.
async fn enrol(w: &World, email: &str, a: &mut Authenticator) -> Reply {
    let r = w.login(email).await;
    assert_eq!(r.body["mfaRequired"], true, "{}", r.text);
    assert!(
        r.body["mfaStrategies"]
            .as_array()
            .unwrap()
            .contains(&json!("WebAuthnCrossPlatform"))
    );
    let token = r.body["mfaToken"].clone();
    let pre = post(
        w,
        "/auth/v1/user/mfa/webauthn/enroll",
        json!({"mfaToken": token}),
    )
    .await;
    assert_eq!(pre.status, 201, "{}", pre.text);
    let o = &pre.body["options"];
    for v in [&o["challenge"], &o["user"]["id"]] {
        let s = v.as_str().unwrap();
        assert!(!s.contains(['=', '+', '/']), "unpadded base64url: {s}");
    }
    assert_eq!(o["rp"]["id"], "127.0.0.1");
    assert_eq!(o["attestation"], "none");
    let cred = a.register(o, &Tamper::default());
    post(
        w,
        "/auth/v1/user/mfa/webauthn/enroll/verify",
        json!({"mfaToken": token, "webauthnToken": pre.body["webauthnToken"], "deviceType": "CrossPlatform", "options": cred, "publicKey": {}}),
    )
    .await
}

/// Begin an assertion during a login; `(mfaToken, device id, pre-verify reply)`.
async fn begin_assert(w: &World, email: &str) -> (Value, String, Reply) {
    let r = w.login(email).await;
    let token = r.body["mfaToken"].clone();
    let devices = r.body["mfaDevices"]["webauthn"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 1, "{}", r.text);
    assert_eq!(devices[0]["deviceType"], "CrossPlatform");
    assert!(devices[0]["name"].is_string());
    let id = devices[0]["id"].as_str().unwrap().to_owned();
    let pre = post(
        w,
        &format!("/auth/v1/user/mfa/webauthn/{id}"),
        json!({"mfaToken": token}),
    )
    .await;
    assert_eq!(pre.status, 201, "{}", pre.text);
    (token, id, pre)
}

async fn verify(w: &World, token: &Value, id: &str, pre: &Reply, cred: Value) -> Reply {
    post(
        w,
        &format!("/auth/v1/user/mfa/webauthn/{id}/verify"),
        json!({"mfaToken": token, "webauthnToken": pre.body["webauthnToken"], "options": cred, "publicKey": {}}),
    )
    .await
}

#[tokio::test]
async fn every_key_type_enrols_and_logs_in() {
    for (i, alg) in [Alg::Es256, Alg::EdDsa, Alg::Rs256].into_iter().enumerate() {
        let email = format!("key{i}@webauthn.test");
        let (w, mut a) = setup(&email, alg).await;
        let done = enrol(&w, &email, &mut a).await;
        done.assert_spec("AuthenticationMFAControllerV1_enrollWebauthnMfa", 201);
        assert!(done.body["recoveryCode"].is_string(), "{alg:?}");
        assert_eq!(
            claims(done.body["accessToken"].as_str().unwrap())["amr"],
            json!(["pwd", "mfa", "hwk"])
        );
        let (token, id, pre) = begin_assert(&w, &email).await;
        let o = &pre.body["options"];
        assert_eq!(o["rpId"], "127.0.0.1");
        assert_eq!(
            o["allowCredentials"][0]["id"].as_str().unwrap(),
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                &a.credential_id
            )
        );
        let cred = a.assert(o, &Tamper::default());
        let ok = verify(&w, &token, &id, &pre, cred).await;
        ok.assert_spec("AuthenticationMFAControllerV1_verifyWebauthnMfa", 201);
        w.cp.assert_served(&[
            "AuthenticationMFAControllerV1_preEnrollWebauthnMfa",
            "AuthenticationMFAControllerV1_enrollWebauthnMfa",
            "AuthenticationMFAControllerV1_preVerifyWebauthnMfa",
            "AuthenticationMFAControllerV1_verifyWebauthnMfa",
        ]);
    }
}

#[tokio::test]
async fn tampered_assertions_are_refused_and_change_nothing() {
    let email = "tamper@webauthn.test";
    let (w, mut a) = setup(email, Alg::Es256).await;
    assert_eq!(enrol(&w, email, &mut a).await.status, 201);
    let other = Authenticator::new(Alg::Es256, "127.0.0.1", &w.cp.running.url());
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "another challenge",
            Tamper {
                challenge: Some("AAAAAAAAAAAAAAAAAAAAAA".into()),
                ..Tamper::default()
            },
        ),
        (
            "a foreign origin",
            Tamper {
                origin: Some("https://evil.example".into()),
                ..Tamper::default()
            },
        ),
        (
            "another relying party",
            Tamper {
                rp_id: Some("evil.example".into()),
                ..Tamper::default()
            },
        ),
        (
            "a registration's type",
            Tamper {
                ceremony_type: Some("webauthn.create".into()),
                ..Tamper::default()
            },
        ),
        (
            "no user presence",
            Tamper {
                no_user_presence: true,
                ..Tamper::default()
            },
        ),
        (
            "a broken signature",
            Tamper {
                bad_signature: true,
                ..Tamper::default()
            },
        ),
        (
            "another credential",
            Tamper {
                credential_id: Some(other.credential_id.clone()),
                ..Tamper::default()
            },
        ),
        (
            "another user's handle",
            Tamper {
                user_handle: Some(json!("b3RoZXItdXNlcg")),
                ..Tamper::default()
            },
        ),
        (
            "a counter gone back (a cloned key)",
            Tamper {
                count: Some(0),
                ..Tamper::default()
            },
        ),
    ];
    // A first good assertion moves the counter past zero, so a zero counter is a regression.
    let (token, id, pre) = begin_assert(&w, email).await;
    let cred = a.assert(&pre.body["options"], &Tamper::default());
    assert_eq!(verify(&w, &token, &id, &pre, cred).await.status, 201);
    for (what, t) in cases {
        let (token, id, pre) = begin_assert(&w, email).await;
        let cred = a.assert(&pre.body["options"], &t);
        let r = verify(&w, &token, &id, &pre, cred.clone()).await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        // The ceremony was single use: even a good answer to it now fails.
        let good = a.assert(&pre.body["options"], &Tamper::default());
        let again = verify(&w, &token, &id, &pre, good).await;
        assert_eq!(again.status, 400, "{what} (replayed token): {}", again.text);
    }
    // The device is unchanged and still logs in.
    let (token, id, pre) = begin_assert(&w, email).await;
    let cred = a.assert(&pre.body["options"], &Tamper::default());
    let ok = verify(&w, &token, &id, &pre, cred).await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    // A ceremony of one device cannot verify another's path; garbage is a 4xx.
    let (token, _, pre) = begin_assert(&w, email).await;
    let cred = a.assert(&pre.body["options"], &Tamper::default());
    let wrong_path = verify(
        &w,
        &token,
        "00000000-0000-0000-0000-000000000000",
        &pre,
        cred,
    )
    .await;
    assert_eq!(wrong_path.status, 400, "{}", wrong_path.text);
    for junk in [
        json!({}),
        json!({"response": {"clientDataJSON": "!!"}}),
        json!("x"),
        json!({"id": 5}),
    ] {
        let (token, id, pre) = begin_assert(&w, email).await;
        let r = verify(&w, &token, &id, &pre, junk.clone()).await;
        assert_eq!(r.status, 400, "{junk}: {}", r.text);
    }
}

#[tokio::test]
async fn self_service_registration_with_packed_attestation_and_removal() {
    let w = World::new().await;
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1/mfa/strategies"),
        None,
        Some(json!({"strategy": "WebAuthnPlatform", "isActive": true})),
    )
    .await;
    let t = w.tenant("T").await;
    w.user(&t, "self@webauthn.test", &[]).await;
    let access = w.token_for("self@webauthn.test").await;
    let mut a = Authenticator::new(Alg::Es256, "127.0.0.1", &w.cp.running.url());
    let call = |path: String, body: Option<Value>| {
        let (w, access) = (&w, access.clone());
        async move {
            w.as_user(&access, Method::POST, &format!("{P}{path}"), body)
                .await
        }
    };
    // A broken self-attestation is refused.
    let pre = call("/users/v1/mfa/webauthn/enroll".into(), None).await;
    assert_eq!(pre.status, 200, "{}", pre.text);
    let bad = a.register(
        &pre.body["options"],
        &Tamper {
            packed: true,
            bad_signature: true,
            ..Tamper::default()
        },
    );
    let r = call(
        "/users/v1/mfa/webauthn/enroll/verify".into(),
        Some(json!({"webauthnToken": pre.body["webauthnToken"], "deviceType": "Platform", "options": bad, "publicKey": {}})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // A strategy that is off is refused.
    let pre = call("/users/v1/mfa/webauthn/enroll".into(), None).await;
    let cred = a.register(
        &pre.body["options"],
        &Tamper {
            packed: true,
            ..Tamper::default()
        },
    );
    let off = call(
        "/users/v1/mfa/webauthn/enroll/verify".into(),
        Some(json!({"webauthnToken": pre.body["webauthnToken"], "deviceType": "CrossPlatform", "options": cred, "publicKey": {}})),
    )
    .await;
    assert_eq!(off.status, 400, "{}", off.text);
    let pre = call("/users/v1/mfa/webauthn/enroll".into(), None).await;
    let cred = a.register(
        &pre.body["options"],
        &Tamper {
            packed: true,
            ..Tamper::default()
        },
    );
    let ok = call(
        "/users/v1/mfa/webauthn/enroll/verify".into(),
        Some(json!({"webauthnToken": pre.body["webauthnToken"], "deviceType": "Platform", "options": cred, "publicKey": {}})),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(ok.body["recoveryCode"].is_string());
    let devices = w
        .as_user(
            &access,
            Method::GET,
            &format!("{P}/users/v1/mfa/devices"),
            None,
        )
        .await;
    let list = devices.body["webauthn"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["deviceType"], "Platform");
    let id = list[0]["id"].as_str().unwrap().to_owned();
    // The same credential twice is refused (excludeCredentials names it).
    let pre = call("/users/v1/mfa/webauthn/enroll".into(), None).await;
    assert_eq!(
        pre.body["options"]["excludeCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let dup = a.register(&pre.body["options"], &Tamper::default());
    let r = call(
        "/users/v1/mfa/webauthn/enroll/verify".into(),
        Some(json!({"webauthnToken": pre.body["webauthnToken"], "deviceType": "Platform", "options": dup, "publicKey": {}})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Removal takes an assertion of that device.
    let pre = call(format!("/users/v1/mfa/webauthn/{id}/disable"), None).await;
    assert_eq!(pre.status, 200, "{}", pre.text);
    let forged = a.assert(
        &pre.body["options"],
        &Tamper {
            bad_signature: true,
            ..Tamper::default()
        },
    );
    let r = call(
        format!("/users/v1/mfa/webauthn/{id}/disable/verify"),
        Some(
            json!({"webauthnToken": pre.body["webauthnToken"], "options": forged, "publicKey": {}}),
        ),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let pre = call(format!("/users/v1/mfa/webauthn/{id}/disable"), None).await;
    let cred = a.assert(&pre.body["options"], &Tamper::default());
    let r = call(
        format!("/users/v1/mfa/webauthn/{id}/disable/verify"),
        Some(json!({"webauthnToken": pre.body["webauthnToken"], "options": cred, "publicKey": {}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let devices = w
        .as_user(
            &access,
            Method::GET,
            &format!("{P}/users/v1/mfa/devices"),
            None,
        )
        .await;
    assert_eq!(devices.body["webauthn"], json!([]));
}
