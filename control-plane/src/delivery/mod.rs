//! Delivery of email and SMS: the task that empties the durable queue (`model::outbox`),
//! which every flow fills inside its own transaction. Sending never blocks the HTTP reply,
//! and a failed send is logged and counted, never reported to the caller (which would
//! reveal whether an address exists).
//!
//! The task wakes on every durable commit (and when a retry is due), takes the due messages
//! in queue order, one at a time: renders each with the environment's template (looked up
//! now: an edited template applies to what is still queued), hands it to its route, and
//! removes it once accepted. A transient failure (a provider's 5xx, 429 with `Retry-After`,
//! a transport error, an SMTP 4xx) is rescheduled with backoff; anything else drops it.
//!
//! Routes: an outbox directory (each message a `.eml` or `.sms` file; the default), SMTP
//! for email (`--smtp-url`), or memory (in-process tests, which read what was sent) — unless
//! the environment configured a provider (`model::provider`): SendGrid, Mailgun, Amazon SES
//! or Twilio, each called over HTTPS (`providers`).

pub mod migrations;
pub mod outcomes;
mod providers;

pub use providers::{Endpoints, bounded_body, client as http_client};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::model::outbox::{self, Queued};
use crate::model::provider::Route;
use crate::store::{Db, WeakDb};

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

/// Why an attempt failed: retry later (after the wait the other side named, if any), or
/// give up.
pub(crate) enum Failure {
    Retry(Option<Duration>, String),
    Fatal(String),
}

/// The handle kept in the application state: what was delivered (tests read it). Cheap to
/// clone.
#[derive(Clone)]
pub struct Mailer {
    sent: Arc<Mutex<Vec<Message>>>,
}

/// Everything the delivery task needs.
struct Worker {
    /// The store, without keeping it open: the task ends when the control plane does.
    db: WeakDb,
    backend: Backend,
    sender: String,
    endpoints: Endpoints,
    counted: prometheus::IntCounterVec,
    http: reqwest::Client,
    smtp: Option<Smtp>,
    /// The transport of the SMTP server the environment configured, by its URL (rebuilt
    /// when the URL changes; kept so its connection pool is reused).
    configured_smtp: Mutex<Option<(String, Smtp)>>,
    sent: Arc<Mutex<Vec<Message>>>,
}

type Smtp = lettre::AsyncSmtpTransport<lettre::Tokio1Executor>;

impl Mailer {
    /// Start the delivery task for the queue of `db`.
    pub fn spawn(
        db: Db,
        backend: Backend,
        from: String,
        endpoints: Endpoints,
        counted: prometheus::IntCounterVec,
    ) -> Self {
        let sent: Arc<Mutex<Vec<Message>>> = Arc::default();
        let smtp = match &backend {
            Backend::Smtp { url, .. } => match Smtp::from_url(url) {
                Ok(b) => Some(b.build()),
                Err(e) => {
                    tracing::error!(error = %e, "invalid SMTP URL; email cannot be delivered");
                    None
                }
            },
            _ => None,
        };
        let worker = Worker {
            db: db.downgrade(),
            backend,
            sender: from,
            endpoints,
            counted,
            http: providers::client(),
            smtp,
            configured_smtp: Mutex::new(None),
            sent: sent.clone(),
        };
        tokio::spawn(worker.run());
        Mailer { sent }
    }

    /// Messages delivered so far (every backend keeps the list; tests read it).
    pub fn sent(&self) -> Vec<Message> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// The longest the task sleeps without looking at the queue (a commit it missed, a clock
/// jump).
const IDLE: Duration = Duration::from_secs(30);

impl Worker {
    async fn run(self) {
        let Some(mut commits) = self.db.upgrade().map(|db| db.commits()) else {
            return;
        };
        loop {
            let Some(db) = self.db.upgrade() else { return };
            let wait = match self.pass(&db).await {
                Ok(Some(next)) => Duration::from_millis(next.saturating_sub(outbox::now_ms())),
                Ok(None) => IDLE,
                Err(e) => {
                    tracing::error!(error = %e, "the message queue cannot be read; retrying");
                    Duration::from_secs(1)
                }
            };
            drop(db);
            tokio::select! {
                changed = commits.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(wait.min(IDLE)) => {}
            }
        }
    }

    /// Deliver every due message; the time the next one falls due, if any is waiting.
    async fn pass(&self, db: &Db) -> Result<Option<u64>, crate::store::StoreError> {
        let mut next: Option<u64> = None;
        let mut after: Option<String> = None;
        loop {
            let page = outbox::pending(db, after.as_deref())?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            for q in page {
                let now = outbox::now_ms();
                let due = if q.next_at_ms > now && q.until_ms > now {
                    Some(q.next_at_ms)
                } else {
                    self.one(db, q, now).await
                };
                if let Some(at) = due {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
        }
        Ok(next)
    }

    fn count(&self, channel: Channel, kind: &str, result: &str) {
        self.counted
            .with_label_values(&[channel_name(channel), kind, result])
            .inc();
    }

    /// Remove `q` from the queue (logged: a failure here means it may be sent again).
    fn remove(&self, db: &Db, q: &Queued) {
        if let Err(e) = outbox::remove(db, &q.id) {
            tracing::error!(mail.kind = %q.kind, request.id = ?q.request_id, error = %e, "could not remove a sent message from the queue; it may be sent again");
        }
    }

    /// Deliver (or drop) `q`; when it is due again, if it was rescheduled.
    async fn one(&self, db: &Db, q: Queued, now: u64) -> Option<u64> {
        let (kind, rid) = (q.kind.as_str(), q.request_id.as_deref().unwrap_or("-"));
        // Replicas sharing the store share the queue: whichever claims a message sends it.
        if db.shared() {
            match outbox::claim(db, &q.id, now).await {
                Ok(true) => {}
                Ok(false) => return Some(now + outbox::CLAIM_MS),
                Err(e) => {
                    tracing::error!(mail.kind = kind, request.id = rid, error = %e, "cannot claim a queued message; retrying");
                    return Some(now + 1000);
                }
            }
        }
        if q.until_ms <= now {
            self.count(q.channel, kind, "expired");
            tracing::error!(
                mail.kind = kind,
                request.id = rid,
                attempts = q.attempts,
                "message not delivered within its lifetime; dropped"
            );
            self.remove(db, &q);
            return None;
        }
        let message = match outbox::open(db, &q) {
            Ok(Some(m)) => m,
            Ok(None) => {
                self.count(q.channel, kind, "failed");
                tracing::error!(
                    mail.kind = kind,
                    request.id = rid,
                    "a queued message does not open; dropped"
                );
                self.remove(db, &q);
                return None;
            }
            Err(e) => {
                tracing::error!(mail.kind = kind, request.id = rid, error = %e, "queued message unreadable; retrying");
                return Some(self.later(db, &q, now, None));
            }
        };
        let looked_up = crate::model::provider::route(db, message.channel)
            .and_then(|r| Ok((crate::model::template::render(db, message)?, r)));
        let (m, route) = match looked_up {
            Ok((Some(m), route)) => (m, route),
            Ok((None, _)) => {
                self.count(q.channel, kind, "inactive");
                tracing::info!(
                    mail.kind = kind,
                    request.id = rid,
                    "template inactive; not sent"
                );
                self.remove(db, &q);
                return None;
            }
            Err(e) => {
                tracing::error!(mail.kind = kind, request.id = rid, error = %e, "template or provider unreadable; retrying");
                return Some(self.later(db, &q, now, None));
            }
        };
        if q.decoy {
            drop(m);
            self.remove(db, &q);
            return None;
        }
        match self.attempt(&route, &m).await {
            Ok(()) => {
                self.remove(db, &q);
                self.count(m.channel, kind, "delivered");
                tracing::info!(
                    mail.kind = kind,
                    request.id = rid,
                    provider = route.name(),
                    attempts = q.attempts + 1,
                    "message delivered"
                );
                if let Ok(mut v) = self.sent.lock() {
                    v.push(m);
                }
                None
            }
            Err(Failure::Retry(after, e)) => {
                tracing::warn!(mail.kind = kind, request.id = rid, provider = route.name(), attempt = q.attempts + 1, error = %e, "delivery failed for now; retrying later");
                Some(self.later(db, &q, now, after))
            }
            Err(Failure::Fatal(e)) => {
                self.count(m.channel, kind, "failed");
                tracing::error!(mail.kind = kind, request.id = rid, provider = route.name(), error = %e, "message delivery failed");
                self.remove(db, &q);
                None
            }
        }
    }

    fn later(&self, db: &Db, q: &Queued, now: u64, after: Option<Duration>) -> u64 {
        let at = outbox::next_attempt(now, q.attempts + 1, after.map(|d| d.as_millis() as u64));
        if let Err(e) = outbox::reschedule(db, &q.id, at) {
            tracing::error!(mail.kind = %q.kind, error = %e, "could not reschedule a message");
        }
        at
    }

    /// One attempt to deliver `m` through `route`.
    async fn attempt(&self, route: &Route, m: &Message) -> Result<(), Failure> {
        match route {
            Route::Own => {}
            Route::Smtp { url } => return send_smtp(&self.configured(url)?, &self.sender, m).await,
            _ => return providers::send(&self.http, &self.endpoints, route, &self.sender, m).await,
        }
        let io = |e: std::io::Error| Failure::Retry(None, e.to_string());
        match (&self.backend, m.channel) {
            (Backend::Outbox(dir), _)
            | (
                Backend::Smtp {
                    sms_outbox: Some(dir),
                    ..
                },
                Channel::Sms,
            ) => write_eml(dir, &self.sender, m).await.map_err(io),
            (Backend::Smtp { .. }, Channel::Email) => match &self.smtp {
                Some(t) => send_smtp(t, &self.sender, m).await,
                None => Err(Failure::Fatal("no SMTP transport".into())),
            },
            (
                Backend::Smtp {
                    sms_outbox: None, ..
                },
                Channel::Sms,
            ) => Err(Failure::Fatal(
                "no SMS provider or outbox configured".into(),
            )),
            (Backend::Memory, _) => Ok(()),
        }
    }
}

impl Worker {
    /// The transport of the configured SMTP server at `url`.
    fn configured(&self, url: &str) -> Result<Smtp, Failure> {
        let mut cached = self
            .configured_smtp
            .lock()
            .map_err(|_| Failure::Retry(None, "SMTP transport cache poisoned".into()))?;
        if let Some((u, t)) = cached.as_ref()
            && u == url
        {
            return Ok(t.clone());
        }
        // Checked when it was configured; a failure here is final for this message.
        let t = Smtp::from_url(url)
            .map_err(|e| Failure::Fatal(format!("invalid SMTP URL: {e}")))?
            .build();
        *cached = Some((url.to_owned(), t.clone()));
        Ok(t)
    }
}

fn channel_name(c: Channel) -> &'static str {
    match c {
        Channel::Email => "email",
        Channel::Sms => "sms",
    }
}

/// One SMTP conversation: a permanent (5xx) refusal or a message that cannot be built is
/// final; a temporary (4xx) refusal or a connection that failed is retried.
async fn send_smtp(transport: &Smtp, from: &str, m: &Message) -> Result<(), Failure> {
    use lettre::AsyncTransport;
    let invalid = |e: &dyn std::fmt::Display| Failure::Fatal(e.to_string());
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
    transport.send(email).await.map(drop).map_err(|e| {
        if e.is_permanent() {
            Failure::Fatal(e.to_string())
        } else {
            Failure::Retry(None, e.to_string())
        }
    })
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
