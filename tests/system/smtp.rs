//! Email over SMTP: a real SMTP conversation with a minimal server on loopback started by
//! the test (`support::smtp`).

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::support::Cp;

#[tokio::test]
async fn activation_mail_goes_through_smtp() {
    let (port, inbox) = crate::support::smtp::sink(Default::default()).await;
    let mut config = control_plane::config::Config::for_test();
    config.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    config.email_from = "Acme Login <login@acme.test>".into();
    let cp = Cp::start_with(config).await;
    let r = cp
        .call(
            Method::POST,
            "/identity/resources/users/v1/signUp",
            None,
            Some(&json!({"email": "smtp-user@example.com", "password": "Smtp-Pass-99", "companyName": "S", "provider": "local"})),
        )
        .await;
    assert_eq!(r.status, 201);
    let mut got = None;
    for _ in 0..300 {
        if let Some(m) = inbox.lock().unwrap().first().map(|m| m.data.clone()) {
            got = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let message = got.expect("the SMTP server received the activation mail");
    assert!(message.contains("To: smtp-user@example.com"), "{message}");
    assert!(
        message.contains("From: \"Acme Login\" <login@acme.test>")
            || message.contains("From: Acme Login <login@acme.test>"),
        "{message}"
    );
    assert!(
        message.contains("Subject: Activate your account"),
        "{message}"
    );
    assert!(
        message.contains("/oauth/account/activate?userId="),
        "{message}"
    );
}

#[test]
fn smtp_urls_are_checked_at_start() {
    let args = control_plane::config::Args {
        smtp_url: Some("mail.example.com:25".into()),
        ..Default::default()
    };
    assert!(control_plane::config::Config::from_args(args).is_err());
}
