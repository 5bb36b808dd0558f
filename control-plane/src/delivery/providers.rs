//! The provider clients: each a plain HTTPS request against the provider's documented API
//! (SendGrid v3 `mail/send`; Mailgun `v3/{domain}/messages`; Amazon SES v2
//! `outbound-emails`, signed with SigV4; Twilio `Accounts/{sid}/Messages.json`). An attempt
//! that failed on a 5xx, a 429 (with its `Retry-After`) or a transport error is for retrying
//! (the queue's schedule, `model::outbox`); another 4xx is final.

use std::time::{Duration, SystemTime};

use super::{Failure, Message, address_of, sender_of};
use crate::model::provider::Route;

pub use crate::config::Endpoints;

/// The HTTP client (rustls on ring, webpki roots, 10 s per request).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap_or_default()
}

/// At most `max` bytes of a reply's body (a larger one is an error, not a larger buffer).
pub async fn bounded_body(mut r: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
        if out.len() + chunk.len() > max {
            return Err(format!("the answer exceeds {max} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

async fn outcome(r: Result<reqwest::Response, reqwest::Error>) -> Result<(), Failure> {
    let res = r.map_err(|e| Failure::Retry(None, format!("transport: {e}")))?;
    let status = res.status();
    if status.is_success() {
        return Ok(());
    }
    let after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // The provider's explanation, for the log: its first 300 characters, read from at most
    // 16 KiB of body.
    let text: String = bounded_body(res, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).chars().take(300).collect())
        .unwrap_or_default();
    let e = format!("{status}: {text}");
    if status.is_server_error() || status.as_u16() == 429 {
        Err(Failure::Retry(after, e))
    } else {
        Err(Failure::Fatal(e))
    }
}

/// One attempt to hand `m` to the provider of `route`.
pub async fn send(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    route: &Route,
    from: &str,
    m: &Message,
) -> Result<(), Failure> {
    match route {
        Route::Own | Route::Smtp { .. } => Err(Failure::Fatal("not an HTTP provider route".into())),
        Route::SendGrid { key } => {
            let mut content = vec![serde_json::json!({"type": "text/plain", "value": m.body})];
            if let Some(h) = &m.html {
                content.push(serde_json::json!({"type": "text/html", "value": h}));
            }
            let mut sender = serde_json::json!({"email": address_of(&sender_of(from, m))});
            if let Some(n) = &m.from_name {
                sender["name"] = serde_json::json!(n);
            }
            let body = serde_json::json!({
                "personalizations": [{"to": [{"email": m.to}]}],
                "from": sender,
                "subject": m.subject,
                "content": content,
            });
            outcome(
                http.post(format!("{}/v3/mail/send", endpoints.sendgrid))
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await,
            )
            .await
        }
        Route::Mailgun { key, domain, eu } => {
            let base = if *eu {
                &endpoints.mailgun_eu
            } else {
                &endpoints.mailgun_us
            };
            let sender = sender_of(from, m);
            let mut form = vec![
                ("from", sender.as_str()),
                ("to", m.to.as_str()),
                ("subject", m.subject.as_str()),
                ("text", m.body.as_str()),
            ];
            if let Some(h) = &m.html {
                form.push(("html", h.as_str()));
            }
            outcome(
                http.post(format!("{base}/v3/{domain}/messages"))
                    .basic_auth("api", Some(key))
                    .form(&form)
                    .send()
                    .await,
            )
            .await
        }
        Route::Ses { id, secret, region } => {
            let url = format!(
                "{}/v2/email/outbound-emails",
                endpoints.ses.replace("{region}", region)
            );
            let mut body = serde_json::json!({
                "FromEmailAddress": sender_of(from, m),
                "Destination": {"ToAddresses": [m.to]},
                "Content": {"Simple": {
                    "Subject": {"Data": m.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": m.body, "Charset": "UTF-8"}}
                }}
            });
            if let Some(h) = &m.html {
                body["Content"]["Simple"]["Body"]["Html"] =
                    serde_json::json!({"Data": h, "Charset": "UTF-8"});
            }
            let bytes = serde_json::to_vec(&body).unwrap_or_default();
            let headers = sigv4_headers(&url, &bytes, id, secret, region)
                .map_err(|e| Failure::Fatal(format!("signing: {e}")))?;
            let mut req = http
                .post(&url)
                .header("content-type", "application/json")
                .body(bytes);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            outcome(req.send().await).await
        }
        Route::Twilio {
            account,
            token,
            service,
            from: sender,
        } => {
            let mut form = vec![("To", m.to.as_str()), ("Body", m.body.as_str())];
            match (service, sender, &m.from_name) {
                (Some(s), _, _) => form.push(("MessagingServiceSid", s.as_str())),
                (None, _, Some(n)) => form.push(("From", n.as_str())),
                (None, Some(f), None) => form.push(("From", f.as_str())),
                (None, None, None) => {
                    return Err(Failure::Fatal("no Twilio sender configured".into()));
                }
            }
            outcome(
                http.post(format!(
                    "{}/2010-04-01/Accounts/{account}/Messages.json",
                    endpoints.twilio
                ))
                .basic_auth(account, Some(token))
                .form(&form)
                .send()
                .await,
            )
            .await
        }
    }
}

/// The SigV4 headers (`authorization`, `x-amz-date`, …) of an SES v2 POST of `body` to `url`.
fn sigv4_headers(
    url: &str,
    body: &[u8],
    id: &str,
    secret: &str,
    region: &str,
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let identity = aws_credential_types::Credentials::new(id, secret, None, None, "tessera").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("ses")
        .time(now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/json"),
    ];
    let signable =
        SignableRequest::new("POST", url, headers.into_iter(), SignableBody::Bytes(body))
            .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

fn now() -> SystemTime {
    SystemTime::from(crate::model::clock::Clock::system().now())
}
