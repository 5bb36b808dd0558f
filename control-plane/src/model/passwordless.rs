//! Passwordless first factors (`compat-wave2.md` §7): a magic link, or a six-digit code by
//! email or SMS. Invariants:
//!
//! - A user has at most one pending passwordless login: a new prelogin retires the previous
//!   link or code (`latest/<user id>` points at the live one).
//! - A link or code is consumed inside the transaction that accepts it: two parallel
//!   submissions cannot both log in. A magic link is consumed only by the page's POST (a mail
//!   scanner's GET of the link reaches the hosted page, never this module).
//! - A code is looked up only under the browser that asked for it (the digest of the
//!   `fe_`-prefixed binding cookie set by prelogin) or under a user the request names: six
//!   digits are never compared against every pending login. Each wrong code counts against
//!   that user's failure budget and lockout like a wrong password; the fifth burns the code.
//! - With `forceSameDeviceOnAuth`, a magic link works only in the browser holding the
//!   binding cookie of its prelogin.
//! - Unknown users get the same reads and writes (a decoy record that is already expired and
//!   belongs to no one), so replies and timing do not tell them apart.

use serde::{Deserialize, Serialize};

use crate::crypto::{ct_eq, hex, sha256};
use crate::model::clock::{Clock, UnixSecs, rfc3339};
use crate::model::lockout;
use crate::model::message::{self, Links, Message};
use crate::model::outbox;
use crate::model::user::User;
use crate::store::{Db, Record, StoreError, Tree, Tx};

/// Which passwordless strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// A link mailed to the address.
    MagicLink,
    /// A code mailed to the address.
    Code,
    /// A code texted to the user's verified login phone.
    SmsCode,
}

impl Kind {
    /// The `authStrategy` values that enable this kind.
    pub fn enabled_by(self, auth_strategy: &str) -> bool {
        let names: &[&str] = match self {
            Kind::MagicLink => &["MagicLink", "UsernameAndMagicLink"],
            Kind::Code => &["Code", "UsernameAndCode"],
            Kind::SmsCode => &["SmsCode", "UsernameAndSms"],
        };
        names.contains(&auth_strategy)
    }

    /// The address is proven by using it (mail kinds).
    pub fn proves_email(self) -> bool {
        matches!(self, Kind::MagicLink | Kind::Code)
    }
}

/// Wrong codes a pending code survives; the next one burns it.
pub const MAX_ATTEMPTS: u32 = 5;

/// The owner of decoy records (never a user id).
const DECOY: &str = "decoy";

/// A pending passwordless login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Hex SHA-256 of the magic-link token, or of the binding cookie for a code.
    pub digest: String,
    /// Which strategy.
    pub kind: Kind,
    /// The user.
    pub user_id: String,
    /// Unix seconds.
    pub expires_at: UnixSecs,
    /// Hex SHA-256 of the code (codes).
    pub code_digest: Option<String>,
    /// Hex SHA-256 of the binding cookie of the prelogin (links; checked with
    /// `forceSameDeviceOnAuth`).
    pub binding_digest: Option<String>,
    /// Wrong codes so far.
    pub attempts: u32,
}

impl Record for Pending {
    const TREE: Tree = Tree::Passwordless;
    fn key(&self) -> Vec<u8> {
        self.digest.as_bytes().to_vec()
    }
}

fn digest(s: &str) -> String {
    hex(&sha256(s.as_bytes()))
}

fn pointer(user_id: &str) -> String {
    format!("latest/{user_id}")
}

/// Why a passwordless login failed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordlessError {
    /// The strategy is not the environment's.
    #[error("Invalid authentication type, {0} should be enabled")]
    NotEnabled(&'static str),
    /// The link's lifetime passed (the login box compares this text).
    #[error("Magic link has expired")]
    LinkExpired,
    /// Unknown, used, retired link or code; or a code from another browser.
    #[error(
        "Failed to authenticate: the link or code is invalid or was replaced; request a new one"
    )]
    Invalid,
    /// A wrong code (counted).
    #[error("Invalid code")]
    WrongCode,
    /// The link must be opened in the browser that asked for it.
    #[error("Open the link in the browser where you asked for it")]
    OtherDevice,
    /// Input that breaks a rule.
    #[error("{0}")]
    Bad(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What carries a pending login's secret to `u`.
fn message_for(kind: Kind, links: Links<'_>, u: &User, secret: &str, ttl: u32) -> Message {
    match kind {
        Kind::MagicLink => message::magic_link(links, &u.email, secret, ttl),
        Kind::Code => message::login_code(&u.email, secret, ttl),
        Kind::SmsCode => message::sms_login_code(u.sms_phone().unwrap_or_default(), secret, ttl),
    }
}

/// The message of `kind` to nobody (a decoy).
fn decoy_for(kind: Kind, links: Links<'_>, secret: &str, ttl: u32) -> Message {
    match kind {
        Kind::MagicLink => message::magic_link(links, "decoy@decoy.invalid", secret, ttl),
        Kind::Code => message::login_code("decoy@decoy.invalid", secret, ttl),
        Kind::SmsCode => message::sms_login_code("+10000000000", secret, ttl),
    }
}

/// Store a pending login for `user` (or a decoy for nobody) bound to `binding` (the fresh
/// cookie value the reply sets), counting the send against the user's hourly budget (shared
/// with MFA codes; past it the login is a decoy too), and queue its link or code. The
/// previous pending login of the user stops working. Known and unknown users make the same
/// writes in one transaction.
pub async fn prelogin(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    kind: Kind,
    user: Option<&User>,
    binding: &str,
    ttl: u32,
) -> Result<(), PasswordlessError> {
    let now = clock.unix();
    let (secret, key, code_digest, binding_digest) = match kind {
        Kind::MagicLink => {
            let t = crate::model::otp::new_token();
            let key = digest(&t);
            (t, key, None, Some(digest(binding)))
        }
        Kind::Code | Kind::SmsCode => {
            let c = crate::model::otp::new_code();
            let cd = digest(&c);
            (c, digest(binding), Some(cd), None)
        }
    };
    let send = db
        .write(|tx| {
            let send = match user {
                Some(u) => {
                    let mut m = crate::model::mfa::of_tx(tx, &u.id)?;
                    let within = crate::model::mfa::count_send(&mut m, now).is_ok();
                    tx.put(&m)?;
                    within
                }
                None => {
                    // Nobody's budget, counted like a user's (it never runs out).
                    let mut m = crate::model::mfa::of_tx(tx, DECOY)?;
                    if crate::model::mfa::count_send(&mut m, now).is_err() {
                        m.sends = 0;
                    }
                    tx.put(&m)?;
                    false
                }
            };
            let record = Pending {
                digest: key.clone(),
                kind,
                user_id: match (user, send) {
                    (Some(u), true) => u.id.clone(),
                    _ => DECOY.to_owned(),
                },
                expires_at: if send { now + i64::from(ttl) } else { 0 },
                code_digest: code_digest.clone(),
                binding_digest: binding_digest.clone(),
                attempts: 0,
            };
            let p = pointer(&record.user_id);
            if let Some(old) = tx.get_raw(Tree::Passwordless, p.as_bytes())?
                && old != record.digest.as_bytes()
            {
                tx.delete_raw(Tree::Passwordless, &old)?;
            }
            tx.put_raw(Tree::Passwordless, p.as_bytes(), record.digest.as_bytes())?;
            tx.put(&record)?;
            // Nobody (or a spent budget) gets a decoy, rendered and dropped by the delivery
            // task: the same writes and the same work as a real send.
            match user.filter(|_| send) {
                Some(u) => {
                    outbox::queue(tx, &message_for(kind, links, u, &secret, ttl).about(&u.id))?
                }
                None => outbox::queue_decoy(tx, &decoy_for(kind, links, &secret, ttl))?,
            }
            Ok::<_, PasswordlessError>(send)
        })
        .await?;
    if user.is_some() && !send {
        tracing::warn!("passwordless send budget spent; nothing sent");
    }
    Ok(())
}

fn retire(tx: &mut Tx<'_>, p: &Pending) -> Result<(), StoreError> {
    tx.delete::<Pending>(p.digest.as_bytes())?;
    let ptr = pointer(&p.user_id);
    if tx.get_raw(Tree::Passwordless, ptr.as_bytes())?.as_deref() == Some(p.digest.as_bytes()) {
        tx.delete_raw(Tree::Passwordless, ptr.as_bytes())?;
    }
    Ok(())
}

/// Where postlogin looks for the pending login.
pub enum Lookup<'a> {
    /// The binding cookie of the browser (codes), with the link token (links).
    Browser {
        /// The link token or the code.
        token: &'a str,
        /// The binding cookie, if the browser sent one.
        binding: Option<&'a str>,
    },
    /// A user the request names (custom clients sending `email`/`username` with the code).
    User {
        /// The code.
        token: &'a str,
        /// The user named.
        user_id: &'a str,
    },
}

/// Accept a passwordless login of `kind`: the user id, with the link or code consumed; a
/// wrong code is counted against the user (committed whatever the outcome).
pub async fn postlogin(
    db: &Db,
    clock: &Clock,
    kind: Kind,
    lookup: Lookup<'_>,
    same_device: bool,
) -> Result<String, PasswordlessError> {
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let (token, key, binding) = match (&lookup, kind) {
        (Lookup::Browser { token, binding }, Kind::MagicLink) => (*token, digest(token), *binding),
        (Lookup::Browser { token, binding }, _) => match binding {
            Some(b) => (*token, digest(b), None),
            None => return Err(PasswordlessError::Invalid),
        },
        (Lookup::User { token, user_id }, _) => {
            let ptr = db
                .get_raw(Tree::Passwordless, pointer(user_id).as_bytes())?
                .ok_or(PasswordlessError::Invalid)?;
            let key = String::from_utf8(ptr).map_err(|_| PasswordlessError::Invalid)?;
            (*token, key, None)
        }
    };
    let max = match db.get::<Pending>(key.as_bytes())? {
        Some(p) => {
            let tenant = db
                .get::<User>(p.user_id.as_bytes())?
                .and_then(|u| u.login_tenant().map(str::to_owned));
            lockout::max_attempts(db, tenant.as_deref())?
        }
        None => return Err(PasswordlessError::Invalid),
    };
    db.write(
        |tx| -> Result<Result<String, PasswordlessError>, PasswordlessError> {
            let Some(mut p) = tx.get::<Pending>(key.as_bytes())? else {
                return Ok(Err(PasswordlessError::Invalid));
            };
            if p.kind != kind || p.user_id == DECOY {
                return Ok(Err(PasswordlessError::Invalid));
            }
            if let Lookup::User { user_id, .. } = lookup
                && p.user_id != user_id
            {
                return Ok(Err(PasswordlessError::Invalid));
            }
            if p.expires_at <= now {
                retire(tx, &p)?;
                return Ok(Err(match kind {
                    Kind::MagicLink => PasswordlessError::LinkExpired,
                    _ => PasswordlessError::Invalid,
                }));
            }
            let Some(mut u) = tx.get::<User>(p.user_id.as_bytes())? else {
                retire(tx, &p)?;
                return Ok(Err(PasswordlessError::Invalid));
            };
            if kind == Kind::MagicLink {
                let same = match (binding, &p.binding_digest) {
                    (Some(b), Some(d)) => ct_eq(digest(b).as_bytes(), d.as_bytes()),
                    _ => false,
                };
                if same_device && !same {
                    return Ok(Err(PasswordlessError::OtherDevice));
                }
                retire(tx, &p)?;
                return Ok(Ok(p.user_id));
            }
            if !crate::model::mfa::may_evaluate(&u, now) {
                return Ok(Err(PasswordlessError::WrongCode));
            }
            let given = digest(token.trim());
            let matches = p
                .code_digest
                .as_deref()
                .is_some_and(|c| ct_eq(c.as_bytes(), given.as_bytes()));
            if matches {
                retire(tx, &p)?;
                return Ok(Ok(p.user_id));
            }
            p.attempts += 1;
            if p.attempts >= MAX_ATTEMPTS {
                retire(tx, &p)?;
            } else {
                tx.put(&p)?;
            }
            crate::model::mfa::count_wrong(tx, &mut u, max, &at, now)?;
            Ok(Err(PasswordlessError::WrongCode))
        },
    )
    .await?
}

/// Mark the address of `user_id` verified (a link or mailed code proved it).
pub async fn prove_email(db: &Db, user_id: &str) -> Result<Option<User>, StoreError> {
    db.write(|tx| {
        let Some(mut u) = tx.get::<User>(user_id.as_bytes())? else {
            return Ok(None);
        };
        if !u.verified {
            u.verified = true;
            tx.put(&u)?;
        }
        Ok(Some(u))
    })
    .await
}
