//! Message templates end to end (`compat-wave2.md` §9.3, §10): templates upserted by type as
//! Terraform's provider does (POST, then GET by type, an `id` to delete), the built-in
//! defaults, and every flow rendering the environment's template — a customised template
//! changes the mail the flow sends (activation, reset, invitation, magic link, an MFA code,
//! an SMS), a `redirectURL` makes the mailed link point at the application's page, an
//! inactive template sends nothing, variables are HTML-escaped, bad templates are 400.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::world::{PASSWORD, World};
use crate::support::{Reply, mail};

const P: &str = "/identity/resources";

async fn template(w: &World, body: Value) -> Reply {
    w.env(
        Method::POST,
        &format!("{P}/mail/v1/configs/templates"),
        None,
        Some(body),
    )
    .await
}

fn sent(w: &World, kind: &str) -> usize {
    crate::support::sent_count(&w.cp, kind)
}

#[tokio::test]
async fn email_templates_as_terraform_manages_them() {
    let w = World::new().await;
    let r = w
        .env(
            Method::GET,
            &format!("{P}/mail/v1/configs/templates?type=ActivateUser"),
            None,
            None,
        )
        .await;
    r.assert_spec("MailV1Controller_getTemplateConfiguration", 200);
    assert_eq!(r.body, json!([]), "nothing stored: Terraform sees it gone");
    let d = w
        .env(
            Method::GET,
            &format!("{P}/mail/v1/configs/ActivateUser/default"),
            None,
            None,
        )
        .await;
    d.assert_spec("MailV1Controller_getDefaultTemplateConfiguration", 200);
    assert!(
        d.body["htmlTemplate"]
            .as_str()
            .unwrap()
            .contains("{{redirectURL}}")
    );
    w.env(
        Method::GET,
        &format!("{P}/mail/v1/configs/PwnedPassword/default"),
        None,
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    for bad in [
        json!({"type": "Nope", "subject": "x"}),
        json!({"type": "ActivateUser", "htmlTemplate": "{{#if x}}unclosed"}),
        json!({"type": "ActivateUser", "htmlTemplate": "x".repeat(1_000_001)}),
        json!({"type": "ActivateUser", "redirectURL": "javascript:alert(1)"}),
        json!({"type": "ActivateUser", "senderEmail": "not an address"}),
    ] {
        let r = template(&w, bad).await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    let r = template(
        &w,
        json!({
            "type": "ActivateUser",
            "senderEmail": "hello@app.test",
            "fromName": "App",
            "subject": "Welcome to App, {{email}}",
            "htmlTemplate": "<h1>Hi {{email}}</h1><p><a href=\"{{redirectURL}}\">Activate</a></p><p>code {{code}}</p>",
            "redirectURL": "https://app.test/account/activate",
            "successRedirectUrl": "https://app.test/welcome",
            "active": true
        }),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text);
    w.cp.assert_served(&["MailV1Controller_addOrUpdateTemplate"]);
    let r = w
        .env(
            Method::GET,
            &format!("{P}/mail/v1/configs/templates?type=ActivateUser"),
            None,
            None,
        )
        .await;
    assert_eq!(r.body[0]["subject"], "Welcome to App, {{email}}");
    let id = r.body[0]["id"].as_str().unwrap().to_owned();
    // Upserted by type: the second POST changes the same template.
    template(&w, json!({"type": "ActivateUser", "fromName": "App Team"})).await;
    let again = w
        .env(
            Method::GET,
            &format!("{P}/mail/v1/configs/templates"),
            None,
            None,
        )
        .await;
    assert_eq!(again.body.as_array().unwrap().len(), 1);
    assert_eq!(again.body[0]["id"], id.as_str());
    assert_eq!(again.body[0]["fromName"], "App Team");
    // The flow renders it: subject, sender, the link at the application's page.
    let s =
        w.cp.call(
            Method::POST,
            &format!("{P}/users/v1/signUp"),
            None,
            Some(&json!({"email": "new@msg.test", "password": PASSWORD, "companyName": "N"})),
        )
        .await;
    assert_eq!(s.status, 201, "{}", s.text);
    let m = mail(&w.cp, "activation", 1).await;
    assert_eq!(m.subject, "Welcome to App, new@msg.test");
    assert_eq!(m.sender.as_deref(), Some("hello@app.test"));
    assert_eq!(m.from_name.as_deref(), Some("App Team"));
    let html = m.html.as_deref().unwrap();
    let uid = s.body["userId"].as_str().unwrap();
    assert!(
        html.contains(&format!(
            "https://app.test/account/activate?userId={uid}&amp;token="
        )),
        "{html}"
    );
    // The text part: the link kept as a URL.
    assert!(
        m.body.contains(&format!(
            "Activate (https://app.test/account/activate?userId={uid}&token="
        )),
        "{}",
        m.body
    );
    // Deleted by id: the default again.
    let r = w
        .env(
            Method::DELETE,
            &format!("{P}/mail/v1/configs/templates/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.cp.call(
        Method::POST,
        &format!("{P}/users/v1/activate/reset"),
        None,
        Some(&json!({"email": "new@msg.test"})),
    )
    .await;
    let m = mail(&w.cp, "activation", 2).await;
    assert_eq!(m.subject, "Activate your account");
    assert!(m.body.contains("/oauth/account/activate?userId="));
    w.cp.assert_served(&["MailV1Controller_deleteTemplate"]);
}

#[tokio::test]
async fn every_flow_sends_its_customised_template() {
    let w = World::new().await;
    let t = w.tenant("Team <b>A</b>").await;
    let uid = w.user(&t, "flow@msg.test", &["Admin"]).await;
    for (kind, marker) in [
        ("ResetPassword", "CUSTOM-RESET"),
        ("InviteToTenant", "CUSTOM-INVITE {{tenantName}}"),
        ("MagicLink", "CUSTOM-MAGIC"),
        ("MFAOTC", "CUSTOM-MFA {{code}}"),
    ] {
        let r = template(
            &w,
            json!({"type": kind, "subject": marker, "htmlTemplate": format!("<p>{marker}</p><p><a href=\"{{{{redirectURL}}}}\">go</a></p>"), "redirectURL": format!("https://app.test/{kind}")}),
        )
        .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    // Reset.
    w.cp.call(
        Method::POST,
        &format!("{P}/users/v1/passwords/reset"),
        None,
        Some(&json!({"email": "flow@msg.test"})),
    )
    .await;
    let m = mail(&w.cp, "password-reset", 1).await;
    assert_eq!(m.subject, "CUSTOM-RESET");
    assert!(m.body.contains(&format!(
        "go (https://app.test/ResetPassword?userId={uid}&token="
    )));
    // Invitation of an existing user; the account's name is escaped in the HTML.
    let home = w.tenant("Home").await;
    w.user(&home, "guest@msg.test", &[]).await;
    w.env(
        Method::POST,
        &format!("{P}/users/v1"),
        Some(&t),
        Some(json!({"email": "guest@msg.test"})),
    )
    .await;
    let m = mail(&w.cp, "invitation-accept", 1).await;
    assert_eq!(m.subject, "CUSTOM-INVITE Team <b>A</b>");
    assert!(
        m.html
            .as_deref()
            .unwrap()
            .contains("CUSTOM-INVITE Team &lt;b&gt;A&lt;/b&gt;"),
        "{:?}",
        m.html
    );
    assert!(m.body.contains("https://app.test/InviteToTenant?userId="));
    // Magic link.
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1"),
        None,
        Some(json!({"authStrategy": "MagicLink"})),
    )
    .await;
    w.cp.call(
        Method::POST,
        &format!("{P}/auth/v1/passwordless/magiclink/prelogin"),
        None,
        Some(&json!({"email": "flow@msg.test"})),
    )
    .await;
    let m = mail(&w.cp, "magic-link", 1).await;
    assert_eq!(m.subject, "CUSTOM-MAGIC");
    assert!(
        m.body.contains("https://app.test/MagicLink?token="),
        "{}",
        m.body
    );
    // An MFA email code (step-up with the email strategy).
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1"),
        None,
        Some(json!({"authStrategy": "EmailAndPassword"})),
    )
    .await;
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1/mfa/strategies"),
        None,
        Some(json!({"strategy": "EmailCode", "isActive": true})),
    )
    .await;
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1/mfa-policy"),
        None,
        Some(json!({"enforceMFAType": "Force"})),
    )
    .await;
    let login = w.login("flow@msg.test").await;
    let token = login.body["mfaToken"].as_str().unwrap().to_owned();
    let r =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user/mfa/emailcode"),
            None,
            Some(&json!({"mfaToken": token})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let m = mail(&w.cp, "mfa-email-code", 1).await;
    assert!(m.subject.starts_with("CUSTOM-MFA "), "{}", m.subject);
    assert_eq!(m.subject.len(), "CUSTOM-MFA ".len() + 6);
}

#[tokio::test]
async fn inactive_templates_send_nothing() {
    let w = World::new().await;
    let t = w.tenant("I").await;
    w.user(&t, "quiet@msg.test", &[]).await;
    template(&w, json!({"type": "ResetPassword", "active": false})).await;
    let r =
        w.cp.call(
            Method::POST,
            &format!("{P}/users/v1/passwords/reset"),
            None,
            Some(&json!({"email": "quiet@msg.test"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(sent(&w, "password-reset"), 0);
}

#[tokio::test]
async fn sms_templates_render_every_text() {
    let w = World::new().await;
    let base = format!("{P}/configurations/v1/sms/templates");
    let r = w.env(Method::GET, &base, None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 4);
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["isDefault"] == true)
    );
    let d = w
        .env(Method::GET, &format!("{base}/default/all"), None, None)
        .await;
    assert_eq!(d.body["items"].as_array().unwrap().len(), 4);
    w.env(Method::GET, &format!("{base}/Nope"), None, None)
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    for bad in [
        json!({"message": "{{#each}}"}),
        json!({"message": "x".repeat(1601)}),
        json!({"senderName": "way too long a name"}),
    ] {
        w.env(
            Method::POST,
            &format!("{base}/PhoneVerification"),
            None,
            Some(bad),
        )
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    }
    let r = w
        .env(
            Method::POST,
            &format!("{base}/PhoneVerification"),
            None,
            Some(
                json!({"message": "App code: {{code}} ({{ttlMinutes}} min)", "senderName": "App"}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let one = w
        .env(
            Method::GET,
            &format!("{base}/PhoneVerification"),
            None,
            None,
        )
        .await;
    assert_eq!(one.body["isDefault"], false);
    let t = w.tenant("S").await;
    w.user(&t, "sms@msg.test", &[]).await;
    let token = w.token_for("sms@msg.test").await;
    w.as_user(
        &token,
        Method::POST,
        &format!("{P}/users/phone-numbers/v1"),
        Some(json!({"phoneNumber": "+15550123456"})),
    )
    .await;
    let m = mail(&w.cp, "phone-code", 1).await;
    assert!(
        m.body.starts_with("App code: ") && m.body.ends_with(" (10 min)"),
        "{}",
        m.body
    );
    assert_eq!(m.from_name.as_deref(), Some("App"));
    let r = w
        .env(
            Method::DELETE,
            &format!("{base}/PhoneVerification"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.env(
        Method::DELETE,
        &format!("{base}/PhoneVerification"),
        None,
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    let dflt = w
        .env(Method::GET, &format!("{base}/MfaCode/default"), None, None)
        .await;
    assert!(dflt.body["message"].as_str().unwrap().contains("{{code}}"));
    w.cp.assert_served(&[
        "VendorSmsController_getAllSmsTemplates",
        "VendorSmsController_getAllSmsDefaultTemplates",
        "VendorSmsController_getSmsTemplate",
        "VendorSmsController_createSmsTemplate",
        "VendorSmsController_deleteSmsTemplate",
        "VendorSmsController_getSmsDefaultTemplate",
    ]);
}

#[tokio::test]
async fn templates_see_the_profiles_of_recipient_and_inviter() {
    let w = World::new().await;
    let t = w.tenant("Crew").await;
    w.user(&t, "boss@msg.test", &["Admin"]).await;
    let boss = w.token_for("boss@msg.test").await;
    let home = w.tenant("Elsewhere").await;
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/v1"),
            Some(&home),
            Some(json!({"email": "guest@msg.test", "name": "Ada <Lovelace>", "password": PASSWORD,
                "profilePictureUrl": "https://pics.test/ada.png", "metadata": "{\"plan\":\"gold\"}"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = template(
        &w,
        json!({"type": "InviteToTenant",
            "subject": "{{issuerName}} ({{issuerEmail}}) invites {{name}} to {{tenantName}}",
            "htmlTemplate": "<p>Hi {{name}} <img src=\"{{profilePictureUrl}}\"> {{metadata}} {{nobody}}.</p>"}),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text);
    // The admin (a user token) invites the existing user to the admin's account.
    let r = w
        .as_user(
            &boss,
            Method::POST,
            &format!("{P}/users/v1"),
            Some(json!({"email": "guest@msg.test"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let m = mail(&w.cp, "invitation-accept", 1).await;
    assert_eq!(
        m.subject,
        "Test User (boss@msg.test) invites Ada <Lovelace> to Crew"
    );
    let html = m.html.unwrap();
    assert!(
        html.contains("Hi Ada &lt;Lovelace&gt; <img src=\"https://pics.test/ada.png\">"),
        "{html}"
    );
    assert!(
        html.contains("&quot;plan&quot;"),
        "metadata escaped: {html}"
    );
    assert!(html.contains(" ."), "an unknown variable is empty: {html}");
    // Sent by the environment (no inviting user): the issuer's variables are empty.
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/v1/invitation/reset"),
            Some(&t),
            Some(json!({"email": "guest@msg.test"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let m = mail(&w.cp, "invitation-accept", 2).await;
    assert_eq!(m.subject, " () invites Ada <Lovelace> to Crew");
}

#[tokio::test]
async fn generated_links_open_the_templates_page() {
    let w = World::new().await;
    let t = w.tenant("L").await;
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/v1"),
            Some(&t),
            Some(json!({"email": "linked@msg.test", "skipInviteEmail": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let uid = r.body["id"].as_str().unwrap().to_owned();
    let generate = |what: &'static str| {
        let w = &w;
        let uid = uid.clone();
        async move {
            let r = w
                .env(
                    Method::POST,
                    &format!("{P}/users/v1/{uid}/links/generate-{what}-token"),
                    None,
                    None,
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["link"].as_str().unwrap().to_owned()
        }
    };
    // By default, the control plane's own pages.
    let l = generate("activation").await;
    assert!(
        l.contains(&format!("/oauth/account/activate?userId={uid}&token=")),
        "{l}"
    );
    for (kind, page) in [
        ("ActivateUser", "https://app.test/welcome?from=mail"),
        ("ResetPassword", "https://app.test/reset"),
    ] {
        let r = template(&w, json!({"type": kind, "redirectURL": page})).await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    let l = generate("activation").await;
    assert!(
        l.starts_with(&format!(
            "https://app.test/welcome?from=mail&userId={uid}&token="
        )),
        "{l}"
    );
    let l = generate("password-reset").await;
    assert!(
        l.starts_with(&format!("https://app.test/reset?userId={uid}&token=")),
        "{l}"
    );
}
