//! Delivery of email (and, later, SMS): one module every flow that sends a message uses
//! (activation, password reset, unlock). Sending never blocks the HTTP reply: messages go
//! through a queue to a background task, and a failed send is logged, never reported to the
//! caller (which would reveal whether an address exists).
//!
//! Backends: an outbox directory (each message a `.eml` or `.sms` file; the default), SMTP
//! for email (`--smtp-url`), or memory (in-process tests, which read what was sent) — unless
//! the environment configured a provider (`model::provider`): SendGrid, Mailgun, Amazon SES
//! or Twilio, each called over HTTPS (`providers`), retried with backoff on 5xx, 429 (with
//! `Retry-After`) and transport errors, never after the provider accepted the message.

mod providers;

pub use providers::Endpoints;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::model::provider::Route;

pub use crate::model::message::{Channel, Rendered as Message};

/// Where messages go.
#[derive(Clone, Debug)]
pub enum Backend {
    /// Write each message as an `.eml` file in this directory.
    Outbox(PathBuf),
    /// Keep messages in memory (tests).
    Memory,
    /// Send email through an SMTP server: `smtp://[user:pass@]host[:port]` (STARTTLS when
    /// offered; add `?tls=required` to insist) or `smtps://…` (TLS). SMS still goes to the
    /// outbox directory given here until an SMS provider is configured.
    Smtp {
        /// The server URL.
        url: String,
        /// Where SMS messages are written meanwhile.
        sms_outbox: Option<PathBuf>,
    },
}

/// The sender handle kept in the application state. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::UnboundedSender<(crate::model::template::Prepared, Route)>,
    sent: Arc<Mutex<Vec<Message>>>,
}

impl Mailer {
    /// Start the background sender for `backend`.
    pub fn spawn(
        backend: Backend,
        from: String,
        endpoints: Endpoints,
        counted: prometheus::IntCounterVec,
    ) -> Self {
        let (queue, mut rx) =
            mpsc::unbounded_channel::<(crate::model::template::Prepared, Route)>();
        let sent: Arc<Mutex<Vec<Message>>> = Arc::default();
        let (log, sender): (_, Arc<str>) = (sent.clone(), from.into());
        tokio::spawn(async move {
            let smtp = match &backend {
                Backend::Smtp { url, .. } => {
                    match lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url) {
                        Ok(b) => Some(b.build()),
                        Err(e) => {
                            tracing::error!(error = %e, "invalid SMTP URL; email cannot be delivered");
                            None
                        }
                    }
                }
                _ => None,
            };
            let http = providers::client();
            let count = |m: &Message, result: &str| {
                counted
                    .with_label_values(&[channel_name(m.channel), m.kind, result])
                    .inc();
            };
            while let Some((prepared, route)) = rx.recv().await {
                // Rendered here, in queue order and off the request path: a reply that sends
                // a message takes no longer than one that does not (`security.md` D).
                let m = prepared.render();
                if !matches!(route, Route::Own) {
                    let result =
                        providers::send_with_retries(&http, &endpoints, &route, &sender, &m).await;
                    match result {
                        Ok(()) => {
                            count(&m, "delivered");
                            tracing::info!(mail.kind = m.kind, provider = ?route, "message delivered");
                            if let Ok(mut v) = log.lock() {
                                v.push(m);
                            }
                        }
                        Err(e) => {
                            count(&m, "failed");
                            tracing::error!(
                                mail.kind = m.kind,
                                provider = ?route,
                                error = %e,
                                "message delivery failed"
                            )
                        }
                    }
                    continue;
                }
                let result = match (&backend, m.channel) {
                    (Backend::Outbox(dir), _)
                    | (
                        Backend::Smtp {
                            sms_outbox: Some(dir),
                            ..
                        },
                        Channel::Sms,
                    ) => write_eml(dir, &sender, &m).await,
                    (Backend::Smtp { .. }, Channel::Email) => match &smtp {
                        Some(t) => send_smtp(t, &sender, &m).await,
                        None => Err(std::io::Error::other("no SMTP transport")),
                    },
                    (
                        Backend::Smtp {
                            sms_outbox: None, ..
                        },
                        Channel::Sms,
                    ) => Err(std::io::Error::other(
                        "no SMS provider or outbox configured",
                    )),
                    (Backend::Memory, _) => Ok(()),
                };
                match result {
                    Ok(()) => {
                        count(&m, "delivered");
                        tracing::info!(mail.kind = m.kind, "message delivered");
                        if let Ok(mut v) = log.lock() {
                            v.push(m);
                        }
                    }
                    Err(e) => {
                        count(&m, "failed");
                        tracing::error!(mail.kind = m.kind, error = %e, "message delivery failed")
                    }
                }
            }
        });
        Mailer { queue, sent }
    }

    /// Queue a message for `route`; returns at once.
    pub fn send(&self, m: crate::model::template::Prepared, route: Route) {
        if self.queue.send((m, route)).is_err() {
            tracing::error!("the delivery task has stopped; message dropped");
        }
    }

    /// Messages delivered so far (every backend keeps the list; tests read it).
    pub fn sent(&self) -> Vec<Message> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::Sms => "sms",
    }
}

async fn send_smtp(
    transport: &lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: &str,
    m: &Message,
) -> std::io::Result<()> {
    use lettre::AsyncTransport;
    let invalid = |e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
    };
    let from = sender_of(from, m);
    let email = lettre::Message::builder()
        .from(from.parse().map_err(|e| invalid(&e))?)
        .to(m.to.parse().map_err(|e| invalid(&e))?)
        .subject(header_safe(&m.subject));
    let email = match &m.html {
        Some(html) => email.multipart(lettre::message::MultiPart::alternative_plain_html(
            m.body.clone(),
            html.clone(),
        )),
        None => email
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(m.body.clone()),
    }
    .map_err(|e| invalid(&e))?;
    transport
        .send(email)
        .await
        .map(drop)
        .map_err(std::io::Error::other)
}

/// The `From` of a mail: the template's sender and name, else the environment's sender.
pub(crate) fn sender_of(default: &str, m: &Message) -> String {
    let address = match &m.sender {
        Some(a) => a.as_str(),
        None if m.from_name.is_some() => address_of(default),
        None => default,
    };
    match &m.from_name {
        Some(name) => format!(
            "\"{}\" <{}>",
            header_safe(name).replace('"', "'"),
            header_safe(address)
        ),
        None => header_safe(address),
    }
}

/// The bare address of a `Name <address>` sender.
pub(crate) fn address_of(sender: &str) -> &str {
    match (sender.find('<'), sender.rfind('>')) {
        (Some(a), Some(b)) if a < b => &sender[a + 1..b],
        _ => sender.trim(),
    }
}

/// The boundary of the outbox's multipart mails (no digits: readers grep codes).
const BOUNDARY: &str = "=_tessera_alternative";

/// Header values must not carry line breaks (header injection).
fn header_safe(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

async fn write_eml(dir: &std::path::Path, from: &str, m: &Message) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let id = crate::crypto::hex(&crate::crypto::random_bytes::<4>());
    let (name, text) = match m.channel {
        Channel::Email => {
            let head = format!(
                "From: {}\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\n",
                sender_of(from, m),
                header_safe(&m.to),
                header_safe(&m.subject),
            );
            let text = m.body.replace('\n', "\r\n");
            let body = match &m.html {
                Some(html) => format!(
                    "{head}Content-Type: multipart/alternative; boundary=\"{BOUNDARY}\"\r\n\r\n\
                     --{BOUNDARY}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
                     --{BOUNDARY}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{}\r\n\
                     --{BOUNDARY}--\r\n",
                    html.replace('\n', "\r\n")
                ),
                None => format!("{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"),
            };
            (format!("{id}-{}.eml", m.kind), body)
        }
        Channel::Sms => (
            format!("{id}-{}.sms", m.kind),
            format!("To: {}\n\n{}\n", header_safe(&m.to), m.body),
        ),
    };
    // Write then rename, so a reader never sees half a message.
    let tmp = dir.join(format!(".{name}.tmp"));
    tokio::fs::write(&tmp, text).await?;
    tokio::fs::rename(&tmp, dir.join(name)).await
}
