//! Mail and SMS providers end to end (`compat-wave2.md` §9.2, §10.1): the configuration APIs
//! as Terraform calls them (`{"payload": …}`, the secret read back, delete before switching),
//! and every provider client against a loopback stand-in that speaks its API and records what
//! it got — SendGrid v3 (bearer key, JSON), Mailgun (basic auth, form, EU endpoint), Amazon
//! SES v2 (SigV4), Twilio (basic auth, form) — with retries on 5xx and 429 (one delivery),
//! none on another 4xx, and secrets sealed in the store.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::provider::StandIn;
use crate::support::world::World;
use crate::support::{Cp, mail};

const P: &str = "/identity/resources";

/// A world whose providers all live at `stand_in`.
async fn world_at(stand_in: &StandIn) -> World {
    let mut config = control_plane::config::Config::for_test();
    let b = stand_in.base.clone();
    config.provider_endpoints = control_plane::delivery::Endpoints {
        sendgrid: b.clone(),
        mailgun_us: format!("{b}/us"),
        mailgun_eu: format!("{b}/eu"),
        ses: format!("{b}/ses/{{region}}"),
        twilio: b,
        ..Default::default()
    };
    let cp = Cp::start_with(config).await;
    let token = cp.vendor_token().await;
    World { cp, token }
}

async fn configure(w: &World, payload: Value) {
    let r = w
        .env(
            Method::POST,
            &format!("{P}/mail/v2/configurations"),
            None,
            Some(json!({ "payload": payload })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// A reset mail to a fresh user (the flow every provider test sends).
async fn reset_mail(w: &World, email: &str) {
    let t = w.tenant("P").await;
    let u = w
        .env(
            Method::POST,
            &format!("{P}/users/v1"),
            Some(&t),
            Some(json!({"email": email, "skipInviteEmail": true})),
        )
        .await;
    assert_eq!(u.status, 201, "{}", u.text);
    let r =
        w.cp.call(
            Method::POST,
            &format!("{P}/users/v1/passwords/reset"),
            None,
            Some(&json!({"email": email})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
}

#[tokio::test]
async fn the_mail_configuration_as_terraform_uses_it() {
    let w = World::new().await;
    let path = format!("{P}/mail/v1/configurations");
    w.env(Method::GET, &path, None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    for bad in [
        json!({"payload": {"provider": "sendgrid", "secret": ""}}),
        json!({"payload": {"provider": "mailgun", "secret": "k"}}),
        json!({"payload": {"provider": "mailgun", "secret": "k", "domain": "mg.app.test", "region": "mars"}}),
        json!({"payload": {"provider": "ses", "secret": "k", "region": "eu-west-1"}}),
        json!({"payload": {"provider": "ses-role", "secret": "k", "region": "eu-west-1"}}),
        json!({"payload": {"provider": "pigeon", "secret": "k"}}),
        json!({"provider": "sendgrid", "secret": "k"}),
    ] {
        let r = w
            .env(
                Method::POST,
                &format!("{P}/mail/v2/configurations"),
                None,
                Some(bad.clone()),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    configure(
        &w,
        json!({"provider": "mailgun", "secret": "key-123", "domain": "mg.app.test", "region": "eu"}),
    )
    .await;
    let r = w.env(Method::GET, &path, None, None).await;
    r.assert_spec("MailConfigController_getMailConfig", 200);
    assert_eq!(
        (r.body["provider"].as_str(), r.body["secret"].as_str()),
        (Some("mailgun"), Some("key-123"))
    );
    assert!(r.body["extension"].to_string().contains("mg.app.test"));
    // Sealed at rest: the key is nowhere in the record.
    let stored = format!(
        "{:?}",
        control_plane::model::provider::mail(&w.cp.running.state.db).unwrap()
    );
    assert!(!stored.contains("key-123"), "{stored}");
    // The deprecated v1 sets SendGrid; deleting goes back to the outbox (200 either way).
    let r = w
        .env(Method::POST, &path, None, Some(json!({"secret": "SG.abc"})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        w.env(Method::GET, &path, None, None).await.body["provider"],
        "sendgrid"
    );
    for _ in 0..2 {
        assert_eq!(w.env(Method::DELETE, &path, None, None).await.status, 200);
    }
    w.env(Method::GET, &path, None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    // A user token cannot touch it.
    let t = w.tenant("U").await;
    w.user(&t, "admin@prov.test", &["Admin"]).await;
    let user = w.token_for("admin@prov.test").await;
    assert_eq!(w.as_user(&user, Method::GET, &path, None).await.status, 401);
    w.cp.assert_served(&[
        "MailConfigController_createOrUpdateMailConfigV2",
        "MailConfigController_createOrUpdateMailConfig",
        "MailConfigController_deleteMailConfig",
    ]);
}

#[tokio::test]
async fn sendgrid_gets_the_rendered_mail_once_after_transient_failures() {
    let s = StandIn::start(&[503, 429, 202]).await;
    let w = world_at(&s).await;
    configure(&w, json!({"provider": "sendgrid", "secret": "SG.key"})).await;
    reset_mail(&w, "sg@prov.test").await;
    let got = s.wait_for(3, 10).await;
    let m = mail(&w.cp, "password-reset", 1).await;
    assert_eq!(m.to, "sg@prov.test");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let got_after = s.requests();
    assert_eq!(
        got_after.len(),
        3,
        "accepted once, never sent again: {got:?}"
    );
    let last = &got_after[2];
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("POST", "/v3/mail/send")
    );
    assert_eq!(last.header("authorization"), Some("Bearer SG.key"));
    let body: Value = serde_json::from_str(&last.body).unwrap();
    assert_eq!(
        body["personalizations"][0]["to"][0]["email"],
        "sg@prov.test"
    );
    assert_eq!(body["subject"], "Reset your password");
    assert_eq!(body["content"][0]["type"], "text/plain");
    assert_eq!(body["content"][1]["type"], "text/html");
    assert!(
        body["content"][0]["value"]
            .as_str()
            .unwrap()
            .contains("reset-password?userId=")
    );
    assert_eq!(body["from"]["email"], "no-reply@localhost");
    let m = crate::support::metrics(&w.cp.url("/metrics")).await;
    assert!(
        m.contains(r#"control_plane_messages_total{channel="email",result="delivered",type="password-reset"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn an_smtp_server_configured_through_the_api_gets_the_mail() {
    let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (port, inbox) = crate::support::smtp::sink(down.clone()).await;
    let w = World::new().await;
    let path = format!("{P}/mail/v2/configurations");
    for bad in [
        "http://127.0.0.1:25",
        "smtp://",
        "smtp://host:notaport",
        "smtp://host:25 x",
    ] {
        let r = w
            .env(
                Method::POST,
                &path,
                None,
                Some(json!({"payload": {"provider": "smtp", "secret": bad}})),
            )
            .await;
        r.assert_error(400, "ER-INVALID-INPUT");
    }
    let url = format!("smtp://127.0.0.1:{port}");
    configure(&w, json!({"provider": "smtp", "secret": url})).await;
    let r = w
        .env(
            Method::GET,
            &format!("{P}/mail/v1/configurations"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (r.body["provider"].as_str(), r.body["secret"].as_str()),
        (Some("smtp"), Some(url.as_str()))
    );
    // The server refuses for now (451): the mail waits and arrives once it is back.
    reset_mail(&w, "smtp@prov.test").await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(inbox.lock().unwrap().is_empty());
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    let m = mail(&w.cp, "password-reset", 1).await;
    assert_eq!(m.to, "smtp@prov.test");
    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].rcpt, "smtp@prov.test");
    assert!(
        got[0].data.contains("reset-password?userId="),
        "{}",
        got[0].data
    );
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_nothing_is_delivered() {
    let s = StandIn::start(&[400]).await;
    let w = world_at(&s).await;
    configure(&w, json!({"provider": "sendgrid", "secret": "SG.bad"})).await;
    reset_mail(&w, "refused@prov.test").await;
    s.wait_for(1, 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(s.requests().len(), 1);
    assert!(
        w.cp.running
            .state
            .mailer
            .sent()
            .iter()
            .all(|m| m.kind != "password-reset")
    );
    let m = crate::support::metrics(&w.cp.url("/metrics")).await;
    assert!(
        m.contains(r#"control_plane_messages_total{channel="email",result="failed",type="password-reset"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn mailgun_and_ses_speak_their_apis() {
    let s = StandIn::start(&[200]).await;
    let w = world_at(&s).await;
    configure(
        &w,
        json!({"provider": "mailgun", "secret": "key-mg", "domain": "mg.app.test", "region": "eu"}),
    )
    .await;
    reset_mail(&w, "mg@prov.test").await;
    let got = s.wait_for(1, 5).await;
    let r = &got[0];
    assert_eq!(r.path, "/eu/v3/mg.app.test/messages");
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("api:key-mg");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Basic {auth}").as_str())
    );
    assert_eq!(r.form("to").as_deref(), Some("mg@prov.test"));
    assert_eq!(r.form("subject").as_deref(), Some("Reset your password"));
    assert!(r.form("html").unwrap().contains("<a href="));
    // SES v2, signed with SigV4.
    configure(
        &w,
        json!({"provider": "ses", "secret": "sesSecret", "id": "AKIDEXAMPLE", "region": "eu-west-1"}),
    )
    .await;
    w.cp.call(
        Method::POST,
        &format!("{P}/users/v1/passwords/reset"),
        None,
        Some(&json!({"email": "mg@prov.test"})),
    )
    .await;
    let got = s.wait_for(2, 5).await;
    let r = &got[1];
    assert_eq!(r.path, "/ses/eu-west-1/v2/email/outbound-emails");
    let auth = r.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && auth.contains("/eu-west-1/ses/aws4_request")
            && auth.contains("SignedHeaders=")
            && auth.contains("Signature="),
        "{auth}"
    );
    assert!(r.header("x-amz-date").is_some());
    assert!(!auth.contains("sesSecret"));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["Destination"]["ToAddresses"][0], "mg@prov.test");
    assert!(body["Content"]["Simple"]["Body"]["Html"]["Data"].is_string());
}

#[tokio::test]
async fn twilio_texts_through_the_configured_service() {
    let s = StandIn::start(&[201]).await;
    let w = world_at(&s).await;
    let path = format!("{P}/configurations/v1/sms");
    w.env(Method::GET, &path, None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    let account = format!("AC{}", "0123456789abcdef".repeat(2));
    for bad in [
        json!({"accountId": "nope", "token": "t", "serviceId": "MG1"}),
        json!({"accountId": account, "token": "", "serviceId": "MG1"}),
        json!({"accountId": account, "token": "t"}),
        json!({"accountId": account, "token": "t", "serviceId": "MG1", "provider": "pigeon"}),
    ] {
        w.env(Method::POST, &path, None, Some(bad))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    let r = w
        .env(
            Method::POST,
            &path,
            None,
            Some(json!({"accountId": account, "token": "twilio-token", "serviceId": "MG0001"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = w.env(Method::GET, &path, None, None).await;
    assert_eq!(r.body["accountId"], account.as_str());
    assert!(
        !r.text.contains("twilio-token"),
        "the token is never read back"
    );
    let t = w.tenant("S").await;
    w.user(&t, "sms@prov.test", &[]).await;
    let user = w.token_for("sms@prov.test").await;
    w.as_user(
        &user,
        Method::POST,
        &format!("{P}/users/phone-numbers/v1"),
        Some(json!({"phoneNumber": "+15550134567"})),
    )
    .await;
    let got = s.wait_for(1, 5).await;
    let r = &got[0];
    assert_eq!(
        r.path,
        format!("/2010-04-01/Accounts/{account}/Messages.json")
    );
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{account}:twilio-token"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Basic {auth}").as_str())
    );
    assert_eq!(r.form("To").as_deref(), Some("+15550134567"));
    assert_eq!(r.form("MessagingServiceSid").as_deref(), Some("MG0001"));
    assert!(r.form("Body").unwrap().contains("verification code is"));
    assert_eq!(w.env(Method::DELETE, &path, None, None).await.status, 200);
    w.cp.assert_served(&[
        "VendorSmsController_createSmsVendorConfig",
        "VendorSmsController_getSmsVendorConfig",
        "VendorSmsController_deleteSmsVendorConfig",
    ]);
}
