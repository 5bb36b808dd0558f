//! The environment's mail and SMS providers (`compat-wave2.md` §9.2, §10.1): one of
//! SendGrid, Mailgun (US/EU), Amazon SES or an SMTP server (Tessera's extension of the
//! spec's list: `{provider: "smtp", secret: "smtp://user:password@host:port"}`, the URL
//! being the secret since it carries the password) for email, Twilio for SMS; none
//! configured means the control plane's own transport (the outbox, or `--smtp-url`).
//! Invariants:
//!
//! - Secrets (API keys, auth tokens) are stored sealed (AES-256-GCM, `mfa::seal`, the
//!   record's kind as associated data), opened only to send and to answer the environment
//!   token's read (Terraform compares the secret it wrote); never logged.
//! - A configuration is checked whole before it is stored; a refused one changes nothing.

use serde::{Deserialize, Serialize};

use crate::model::clock::{Clock, rfc3339};
use crate::model::mfa::seal;
use crate::store::{Db, Record, StoreError, Tree};

const MAIL_KEY: &[u8] = b"provider/mail";
const SMS_KEY: &[u8] = b"provider/sms";

/// An email provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailProvider {
    /// SendGrid v3 (`secret`: the API key).
    Sendgrid,
    /// Mailgun (`secret`: the API key; `domain`; `region` us/eu).
    Mailgun,
    /// Amazon SES v2 (`id`: access key id, `secret`: secret key, `region`).
    Ses,
    /// SES through an assumed role (not supported: no role to assume outside AWS).
    SesRole,
    /// An SMTP server (`secret`: `smtp://[user:password@]host[:port]` with STARTTLS when
    /// offered, `?tls=required` to insist, or `smtps://…`).
    Smtp,
}

/// The stored mail configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailConfig {
    /// Which provider.
    pub provider: MailProvider,
    /// The secret, sealed.
    pub sealed_secret: String,
    /// SES access key id.
    pub id: Option<String>,
    /// SES region, or Mailgun's `us`/`eu`.
    pub region: Option<String>,
    /// Mailgun sending domain.
    pub domain: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for MailConfig {
    const TREE: Tree = Tree::Templates;
    fn key(&self) -> Vec<u8> {
        MAIL_KEY.to_vec()
    }
}

/// The stored SMS configuration (Twilio).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsConfig {
    /// Always `twilio`.
    pub provider: String,
    /// Account SID.
    pub account_id: String,
    /// Auth token, sealed.
    pub sealed_token: String,
    /// Messaging service SID (else `sender_name` sends).
    pub service_id: Option<String>,
    /// Sender number or alphanumeric id.
    pub sender_name: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for SmsConfig {
    const TREE: Tree = Tree::Templates;
    fn key(&self) -> Vec<u8> {
        SMS_KEY.to_vec()
    }
}

/// Why a provider configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// Nothing configured.
    #[error("no provider is configured")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A mail configuration as requested (`{payload: {...}}` in v2, `{secret}` in v1).
#[derive(Clone, Debug, Deserialize)]
pub struct MailRequest {
    /// Which provider (v1: SendGrid).
    pub provider: MailProvider,
    /// The secret.
    pub secret: String,
    /// SES access key id.
    pub id: Option<String>,
    /// SES region or Mailgun region.
    pub region: Option<String>,
    /// Mailgun domain.
    pub domain: Option<String>,
}

fn token_like(what: &str, v: &str, max: usize) -> Result<(), ProviderError> {
    if v.is_empty() || v.len() > max || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ProviderError::Invalid(format!(
            "{what} must be 1-{max} characters without spaces"
        )));
    }
    Ok(())
}

/// An SMTP URL the delivery transport accepts: `smtp`/`smtps`, a host, a port if any.
fn smtp_url_ok(secret: &str) -> Result<(), ProviderError> {
    let bad = || {
        ProviderError::Invalid(
            "the smtp secret is the server's URL: smtp://[user:password@]host[:port] or smtps://…"
                .into(),
        )
    };
    let scheme_ok = secret.starts_with("smtp://") || secret.starts_with("smtps://");
    if !scheme_ok {
        return Err(bad());
    }
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(secret)
        .map(drop)
        .map_err(|_| bad())
}

fn region_ok(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl MailRequest {
    fn check(&self) -> Result<(), ProviderError> {
        token_like("secret", &self.secret, 512)?;
        match self.provider {
            MailProvider::Sendgrid => Ok(()),
            MailProvider::Mailgun => {
                let d = self.domain.as_deref().unwrap_or("");
                if d.is_empty()
                    || d.len() > 253
                    || !d
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                {
                    return Err(ProviderError::Invalid(
                        "mailgun needs its sending domain".into(),
                    ));
                }
                match self.region.as_deref().unwrap_or("us") {
                    "us" | "eu" => Ok(()),
                    _ => Err(ProviderError::Invalid("mailgun region is us or eu".into())),
                }
            }
            MailProvider::Ses => {
                token_like("id", self.id.as_deref().unwrap_or(""), 128)?;
                if !self.region.as_deref().is_some_and(region_ok) {
                    return Err(ProviderError::Invalid(
                        "ses needs a region such as eu-west-1".into(),
                    ));
                }
                Ok(())
            }
            MailProvider::Smtp => smtp_url_ok(&self.secret),
            MailProvider::SesRole => Err(ProviderError::Invalid(
                "ses-role is not supported: Tessera cannot assume an AWS role; configure ses with an access key".into(),
            )),
        }
    }
}

const MAIL_OWNER: &str = "provider/mail";
const SMS_OWNER: &str = "provider/sms";

/// Store the mail provider (replacing any).
pub async fn set_mail(
    db: &Db,
    clock: &Clock,
    req: MailRequest,
) -> Result<MailConfig, ProviderError> {
    req.check()?;
    let at = rfc3339(clock.now());
    let fresh = seal::Fresh::new();
    db.write(|tx| {
        let created = tx
            .get::<MailConfig>(MAIL_KEY)?
            .map_or_else(|| at.clone(), |c| c.created_at);
        let c = MailConfig {
            provider: req.provider,
            sealed_secret: seal::seal(tx, MAIL_OWNER, req.secret.as_bytes(), &fresh)?,
            id: req.id.clone(),
            region: match req.provider {
                MailProvider::Mailgun => Some(req.region.clone().unwrap_or_else(|| "us".into())),
                _ => req.region.clone(),
            },
            domain: req.domain.clone(),
            created_at: created,
            updated_at: at.clone(),
        };
        tx.put(&c)?;
        Ok(c)
    })
    .await
}

/// The mail provider, if one is configured.
pub fn mail(db: &Db) -> Result<Option<MailConfig>, StoreError> {
    db.get::<MailConfig>(MAIL_KEY)
}

/// The mail provider's secret in clear.
pub fn mail_secret(db: &Db, c: &MailConfig) -> Result<String, StoreError> {
    Ok(seal::open(db, MAIL_OWNER, &c.sealed_secret)?
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default())
}

/// Remove the mail provider (`false`: none).
pub async fn delete_mail(db: &Db) -> Result<bool, StoreError> {
    db.write(|tx| {
        let had = tx.get::<MailConfig>(MAIL_KEY)?.is_some();
        tx.delete::<MailConfig>(MAIL_KEY)?;
        Ok(had)
    })
    .await
}

/// An SMS configuration as requested.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsRequest {
    /// Sender number or alphanumeric id.
    pub sender_name: Option<String>,
    /// Twilio account SID.
    pub account_id: Option<String>,
    /// Twilio auth token.
    pub token: Option<String>,
    /// Messaging service SID.
    pub service_id: Option<String>,
    /// `twilio` (the default).
    pub provider: Option<String>,
}

/// Store the SMS provider (replacing any).
pub async fn set_sms(db: &Db, clock: &Clock, req: SmsRequest) -> Result<SmsConfig, ProviderError> {
    if req
        .provider
        .as_deref()
        .is_some_and(|p| !p.eq_ignore_ascii_case("twilio"))
    {
        return Err(ProviderError::Invalid("the SMS provider is twilio".into()));
    }
    let account = req.account_id.clone().unwrap_or_default();
    if !(account.starts_with("AC")
        && account.len() == 34
        && account.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(ProviderError::Invalid(
            "accountId must be a Twilio account SID (AC and 32 characters)".into(),
        ));
    }
    let token = req.token.clone().unwrap_or_default();
    token_like("token", &token, 256)?;
    if req.service_id.is_none() && req.sender_name.is_none() {
        return Err(ProviderError::Invalid(
            "a messaging service (serviceId) or a sender (senderName) is required".into(),
        ));
    }
    if let Some(s) = &req.service_id {
        token_like("serviceId", s, 64)?;
    }
    if let Some(s) = &req.sender_name
        && (s.is_empty() || s.len() > 20)
    {
        return Err(ProviderError::Invalid(
            "senderName must be 1-20 characters".into(),
        ));
    }
    let at = rfc3339(clock.now());
    let fresh = seal::Fresh::new();
    db.write(|tx| {
        let created = tx
            .get::<SmsConfig>(SMS_KEY)?
            .map_or_else(|| at.clone(), |c| c.created_at);
        let c = SmsConfig {
            provider: "twilio".into(),
            account_id: account.clone(),
            sealed_token: seal::seal(tx, SMS_OWNER, token.as_bytes(), &fresh)?,
            service_id: req.service_id.clone(),
            sender_name: req.sender_name.clone(),
            created_at: created,
            updated_at: at.clone(),
        };
        tx.put(&c)?;
        Ok(c)
    })
    .await
}

/// The SMS provider, if configured.
pub fn sms(db: &Db) -> Result<Option<SmsConfig>, StoreError> {
    db.get::<SmsConfig>(SMS_KEY)
}

/// The SMS provider's token in clear.
pub fn sms_token(db: &Db, c: &SmsConfig) -> Result<String, StoreError> {
    Ok(seal::open(db, SMS_OWNER, &c.sealed_token)?
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default())
}

/// Remove the SMS provider (`false`: none).
pub async fn delete_sms(db: &Db) -> Result<bool, StoreError> {
    db.write(|tx| {
        let had = tx.get::<SmsConfig>(SMS_KEY)?.is_some();
        tx.delete::<SmsConfig>(SMS_KEY)?;
        Ok(had)
    })
    .await
}

/// Where a rendered message goes: the control plane's own transport, or a provider with its
/// credentials in clear (resolved when the message is delivered; never logged).
#[derive(Clone)]
pub enum Route {
    /// The outbox or `--smtp-url` (and memory in tests).
    Own,
    /// SendGrid v3.
    SendGrid {
        /// API key.
        key: String,
    },
    /// Mailgun.
    Mailgun {
        /// API key.
        key: String,
        /// Sending domain.
        domain: String,
        /// Whether the EU endpoint.
        eu: bool,
    },
    /// Amazon SES v2.
    Ses {
        /// Access key id.
        id: String,
        /// Secret key.
        secret: String,
        /// Region.
        region: String,
    },
    /// An SMTP server.
    Smtp {
        /// Its URL, with the credentials.
        url: String,
    },
    /// Twilio's Messages API.
    Twilio {
        /// Account SID.
        account: String,
        /// Auth token.
        token: String,
        /// Messaging service SID.
        service: Option<String>,
        /// Sender.
        from: Option<String>,
    },
}

impl Route {
    /// The provider's name, for logs (never its credentials).
    pub fn name(&self) -> &'static str {
        match self {
            Route::Own => "own",
            Route::SendGrid { .. } => "sendgrid",
            Route::Mailgun { .. } => "mailgun",
            Route::Ses { .. } => "ses",
            Route::Smtp { .. } => "smtp",
            Route::Twilio { .. } => "twilio",
        }
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The route of a message on `channel` now.
pub fn route(db: &Db, channel: crate::model::message::Channel) -> Result<Route, StoreError> {
    use crate::model::message::Channel;
    match channel {
        Channel::Email => {
            let Some(c) = mail(db)? else {
                return Ok(Route::Own);
            };
            let key = mail_secret(db, &c)?;
            Ok(match c.provider {
                MailProvider::Smtp => Route::Smtp { url: key },
                MailProvider::Sendgrid => Route::SendGrid { key },
                MailProvider::Mailgun => Route::Mailgun {
                    key,
                    domain: c.domain.unwrap_or_default(),
                    eu: c.region.as_deref() == Some("eu"),
                },
                MailProvider::Ses | MailProvider::SesRole => Route::Ses {
                    id: c.id.unwrap_or_default(),
                    secret: key,
                    region: c.region.unwrap_or_default(),
                },
            })
        }
        Channel::Sms => {
            let Some(c) = sms(db)? else {
                return Ok(Route::Own);
            };
            let token = sms_token(db, &c)?;
            Ok(Route::Twilio {
                account: c.account_id,
                token,
                service: c.service_id,
                from: c.sender_name,
            })
        }
    }
}
