//! Email over SMTP: a real SMTP conversation with a minimal server on loopback started by
//! the test (greeting, EHLO, MAIL, RCPT, DATA, QUIT).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::support::Cp;

/// Accept SMTP sessions on 127.0.0.1:0; every message's DATA is pushed to the returned list.
async fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = inbox.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 sink.test ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink.test\r\n",
                        "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                        "DATA" => {
                            w.write_all(b"354 go ahead\r\n").await.unwrap();
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(&l);
                                data.push('\n');
                            }
                            sink.lock().unwrap().push(data);
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            w.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"502 not implemented\r\n",
                    };
                    w.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, inbox)
}

#[tokio::test]
async fn activation_mail_goes_through_smtp() {
    let (port, inbox) = smtp_sink().await;
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
        if let Some(m) = inbox.lock().unwrap().first().cloned() {
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
