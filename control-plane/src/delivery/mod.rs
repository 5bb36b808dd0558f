//! Delivery of email (and, later, SMS): one module every flow that sends a message uses
//! (activation, password reset, unlock). Sending never blocks the HTTP reply: messages go
//! through a queue to a background task, and a failed send is logged, never reported to the
//! caller (which would reveal whether an address exists).
//!
//! Backends: an outbox directory (each message a `.eml` file; the default), or memory
//! (in-process tests, which read what was sent). SMTP arrives with the email issue's
//! remaining work.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

/// How a message travels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Channel {
    /// Email (`to` is an address).
    #[default]
    Email,
    /// SMS (`to` is a phone number; `subject` is unused).
    Sms,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Email or SMS.
    pub channel: Channel,
    /// Recipient address or phone number (as stored for the user).
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// What flow sent it (`activation`, `password-reset`, …), for logs and tests.
    pub kind: &'static str,
}

/// Where messages go.
#[derive(Clone, Debug)]
pub enum Backend {
    /// Write each message as an `.eml` file in this directory.
    Outbox(PathBuf),
    /// Keep messages in memory (tests).
    Memory,
}

/// The sender handle kept in the application state. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::UnboundedSender<Message>,
    from: Arc<str>,
    sent: Arc<Mutex<Vec<Message>>>,
}

impl Mailer {
    /// Start the background sender for `backend`.
    pub fn spawn(backend: Backend, from: String) -> Self {
        let (queue, mut rx) = mpsc::unbounded_channel::<Message>();
        let sent: Arc<Mutex<Vec<Message>>> = Arc::default();
        let from: Arc<str> = from.into();
        let (log, sender) = (sent.clone(), from.clone());
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let result = match &backend {
                    Backend::Outbox(dir) => write_eml(dir, &sender, &m).await,
                    Backend::Memory => Ok(()),
                };
                match result {
                    Ok(()) => {
                        tracing::info!(mail.kind = m.kind, "message delivered");
                        if let Ok(mut v) = log.lock() {
                            v.push(m);
                        }
                    }
                    Err(e) => {
                        tracing::error!(mail.kind = m.kind, error = %e, "message delivery failed")
                    }
                }
            }
        });
        Mailer { queue, from, sent }
    }

    /// Queue a message; returns at once.
    pub fn send(&self, m: Message) {
        if self.queue.send(m).is_err() {
            tracing::error!("the delivery task has stopped; message dropped");
        }
    }

    /// The sender address.
    pub fn from(&self) -> &str {
        &self.from
    }

    /// Messages delivered so far (every backend keeps the list; tests read it).
    pub fn sent(&self) -> Vec<Message> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Header values must not carry line breaks (header injection).
fn header_safe(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

async fn write_eml(dir: &std::path::Path, from: &str, m: &Message) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let id = crate::crypto::hex(&crate::crypto::random_bytes::<4>());
    let (name, text) = match m.channel {
        Channel::Email => (
            format!("{id}-{}.eml", m.kind),
            format!(
                "From: {}\r\nTo: {}\r\nSubject: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
                header_safe(from),
                header_safe(&m.to),
                header_safe(&m.subject),
                m.body.replace('\n', "\r\n")
            ),
        ),
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
