//! Setting and proving passwords outside a login: change (the current one required), reset
//! by mailed link or texted code, reset links for the environment, and the environment's
//! password check. Every path that sets a password enforces the complexity and history
//! policies in force and ends the user's other sessions.
//!
//! Invariants:
//! - A reset request answers alike, and writes alike, whether or not the address or number
//!   is anyone's (`security.md` D2); only the owner gets a message.
//! - Reset links and codes are single use and expire; a texted code allows
//!   [`SMS_ATTEMPTS`] wrong tries, each counted toward the user's hourly budget too.

use serde::{Deserialize, Serialize};

use super::clock::{Clock, rfc3339};
use super::login::{self, PasswordCheck};
use super::message::{self, Links};
use super::otp::{self, Purpose};
use super::outbox;
use super::session::{self, Session, UserSessions};
use super::user::{self, User};
use crate::hashing::{self, Hasher};
use crate::store::{Db, Record, StoreError, Tree, Tx};

/// Reset links live this long.
pub const RESET_TTL: i64 = 3600;
/// Wrong codes allowed per SMS reset before it is void.
pub const SMS_ATTEMPTS: u32 = 5;
/// A texted code lives this long.
pub const SMS_TTL: i64 = 600;

/// Why a password was not changed or reset; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The current password given is wrong (counted like a wrong login).
    #[error("The current password is incorrect")]
    WrongPassword,
    /// A reset link or code that is invalid or expired.
    #[error("{0}")]
    BadLink(&'static str),
    /// The new password is the current one or a recent one.
    #[error("The password was used recently; choose another.")]
    Reused,
    /// No such user.
    #[error("User not found")]
    NotFound,
    /// Input that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// A password the policy refuses.
    #[error(transparent)]
    Setting(#[from] super::setting::SettingError),
    /// Hashing refused or failed.
    #[error(transparent)]
    Password(#[from] hashing::PasswordError),
    /// The counted check failed.
    #[error(transparent)]
    Login(#[from] login::LoginError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

const BAD_RESET: &str = "The reset link is invalid or has expired";
const BAD_CODE: &str = "The code is invalid or has expired";

/// Refuse `new` if it is the current password or one of the last the history policy
/// remembers.
async fn check_history(
    db: &Db,
    hasher: &Hasher,
    user: &User,
    new: &str,
) -> Result<(), CredentialError> {
    let n = super::password_policy::history_size(db, user.login_tenant())?;
    if n == 0 {
        return Ok(());
    }
    let recent = user
        .password_hash
        .iter()
        .chain(user.password_history.iter().rev().take(n.saturating_sub(1)));
    for h in recent {
        if hashing::verify(hasher, new.to_owned(), Some(h.clone())).await? {
            return Err(CredentialError::Reused);
        }
    }
    Ok(())
}

/// The hash of a new password for `user`, after both policies.
async fn new_hash(
    db: &Db,
    hasher: &Hasher,
    user: &User,
    new: &str,
) -> Result<String, CredentialError> {
    super::password_policy::enforce(db, user.login_tenant(), new)?;
    check_history(db, hasher, user, new).await?;
    Ok(hashing::hash(hasher, new.to_owned()).await?)
}

/// End every session of the user but `keep`, inside the caller's transaction.
pub(crate) fn end_sessions(
    tx: &mut Tx<'_>,
    user_id: &str,
    keep: Option<&str>,
    at: &str,
) -> Result<(), StoreError> {
    let ids = tx
        .get::<UserSessions>(user_id.as_bytes())?
        .map(|i| i.session_ids)
        .unwrap_or_default();
    for id in ids.iter().filter(|id| Some(id.as_str()) != keep) {
        if let Some(s) = tx.get::<Session>(id.as_bytes())? {
            session::revoke(tx, &s, at)?;
        }
    }
    Ok(())
}

/// A password change.
pub struct Change<'a> {
    /// The user.
    pub user_id: &'a str,
    /// The session that stays (the caller's); every other ends.
    pub keep: Option<&'a str>,
    /// The current password.
    pub current: &'a str,
    /// The new one.
    pub new: &'a str,
}

/// Change a user's password: the current one goes through the counted check (a burst of
/// wrong ones locks the account as logins would, and queues the unlock mail).
pub async fn change(
    db: &Db,
    clock: &Clock,
    hasher: &Hasher,
    links: Links<'_>,
    c: Change<'_>,
) -> Result<(), CredentialError> {
    let user_id = c.user_id;
    user::get(db, user_id).map_err(|_| CredentialError::NotFound)?;
    let check = login::check_password(db, clock, hasher, links, user_id, c.current).await?;
    let PasswordCheck::Correct(user) = check else {
        return Err(CredentialError::WrongPassword);
    };
    let (keep, new) = (c.keep, c.new);
    let hash = new_hash(db, hasher, &user, new).await?;
    let at = rfc3339(clock.now());
    let now = clock.unix();
    db.write(|tx| {
        let mut u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(CredentialError::NotFound)?;
        u.set_password(hash.clone(), now);
        u.failed_logins = 0;
        tx.put(&u)?;
        end_sessions(tx, &u.id, keep, &at)?;
        Ok(())
    })
    .await
}

async fn reset_token(db: &Db, clock: &Clock, user_id: &str) -> Result<String, CredentialError> {
    let token = otp::new_token();
    let expires = clock.unix() + RESET_TTL;
    db.write(|tx| otp::issue(tx, &token, Purpose::PasswordReset, user_id, expires))
        .await?;
    Ok(token)
}

/// A reset by mail for the owner of `email`, if any: the token and its mail (to the stored
/// address, not the one typed) in one transaction. Anyone else's address gets the same
/// durable write.
pub async fn request_reset(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    email: &str,
) -> Result<(), CredentialError> {
    let owner = match super::email::normalize(email) {
        Ok(norm) => user::by_email(db, &norm)?,
        Err(_) => None,
    };
    let token = otp::new_token();
    if let Some(u) = owner {
        let expires = clock.unix() + RESET_TTL;
        let mail = message::password_reset(links, &u.email, &u.id, &token).about(&u.id);
        db.write(|tx| {
            otp::issue(tx, &token, Purpose::PasswordReset, &u.id, expires)?;
            outbox::queue(tx, &mail)
        })
        .await?;
        return Ok(());
    }
    let decoy = message::password_reset(links, "decoy@decoy.invalid", otp::DECOY_OWNER, &token);
    db.write(|tx| {
        otp::issue_decoy(tx, &token, Purpose::PasswordReset)?;
        outbox::queue_decoy(tx, &decoy)
    })
    .await?;
    Ok(())
}

/// Set a new password with a reset token (single use, one hour). Proving the mailbox also
/// unlocks a locked account; every session of the user ends.
pub async fn reset(
    db: &Db,
    clock: &Clock,
    hasher: &Hasher,
    user_id: &str,
    token: &str,
    new: &str,
) -> Result<(), CredentialError> {
    let bad = || CredentialError::BadLink(BAD_RESET);
    let now = clock.unix();
    let owner = otp::peek(db, token, Purpose::PasswordReset, now)?
        .filter(|u| u == user_id)
        .ok_or_else(bad)?;
    let user = user::get(db, &owner).map_err(|_| bad())?;
    let hash = new_hash(db, hasher, &user, new).await?;
    let at = rfc3339(clock.now());
    db.write(|tx| {
        if otp::consume(tx, token, Purpose::PasswordReset, now)?.as_deref() != Some(owner.as_str())
        {
            return Err(bad());
        }
        let mut u = tx.get::<User>(owner.as_bytes())?.ok_or_else(bad)?;
        u.set_password(hash.clone(), now);
        u.is_locked = false;
        u.failed_logins = 0;
        u.failures_in_window = 0;
        tx.put(&u)?;
        end_sessions(tx, &u.id, None, &at)?;
        Ok(())
    })
    .await
}

/// A reset link and token for a user (the environment sends it its own way).
pub async fn reset_link(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    user_id: &str,
) -> Result<(String, String), CredentialError> {
    let u = user::get(db, user_id).map_err(|_| CredentialError::NotFound)?;
    let token = reset_token(db, clock, &u.id).await?;
    let link = crate::model::template::link(
        db,
        crate::model::template::EmailType::ResetPassword,
        &links.reset(&u.id, &token),
    )?;
    Ok((link, token))
}

/// Whether `password` is the password of the owner of `email` (uncounted: the environment's
/// check, for migrations and re-authentication in its own backend).
pub async fn verify(
    db: &Db,
    hasher: &Hasher,
    email: &str,
    password: &str,
) -> Result<bool, CredentialError> {
    let hash = match super::email::normalize(email) {
        Ok(n) => user::by_email(db, &n)?.and_then(|u| u.password_hash),
        Err(_) => None,
    };
    Ok(hashing::verify(hasher, password.to_owned(), hash).await?)
}

/// A pending SMS reset: the code's digest, bounded attempts, ten minutes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SmsReset {
    session_id: String,
    user_id: String,
    code_sha256: String,
    expires_at: i64,
    attempts: u32,
}

impl Record for SmsReset {
    const TREE: Tree = Tree::OneTimeTokens;
    fn key(&self) -> Vec<u8> {
        sms_key(&self.session_id)
    }
}

fn sms_key(session_id: &str) -> Vec<u8> {
    format!("sms-reset/{session_id}").into_bytes()
}

/// Text a six-digit code to the user with phone number `phone`: the session id to verify it
/// with (the same answer whether or not the number is known); the text is queued with the
/// pending reset.
pub async fn request_sms_reset(
    db: &Db,
    clock: &Clock,
    phone: &str,
) -> Result<String, CredentialError> {
    let wanted = user::phone_digits(phone);
    if wanted.len() < 6 || wanted.len() > 15 {
        return Err(CredentialError::Invalid(
            "identifier must be a phone number".into(),
        ));
    }
    let session_id = crate::crypto::new_uuid().to_string();
    // By index: a public route never reads every user.
    let owner = user::by_phone(db, &wanted)?.into_iter().next();
    let n = u32::from_be_bytes(crate::crypto::random_bytes::<4>()) % 1_000_000;
    let code = format!("{n:06}");
    // A number that is nobody's gets the same writes: a pending reset that belongs to no
    // user (no code opens it to anyone) and a decoy text.
    let (user_id, phone) = match &owner {
        Some(u) => (u.id.as_str(), u.phone_number.as_deref().unwrap_or_default()),
        None => (otp::DECOY_OWNER, phone),
    };
    let pending = SmsReset {
        session_id: session_id.clone(),
        user_id: user_id.to_owned(),
        code_sha256: crate::crypto::hex(&crate::crypto::sha256(code.as_bytes())),
        expires_at: clock.unix() + SMS_TTL,
        attempts: 0,
    };
    let text = message::sms_reset(phone, &code).about(user_id);
    db.write(|tx| {
        tx.put(&pending)?;
        if owner.is_some() {
            outbox::queue(tx, &text)
        } else {
            outbox::queue_decoy(tx, &text)
        }
    })
    .await?;
    Ok(session_id)
}

/// Exchange a texted code for a reset token: the user and the token. A wrong code counts
/// (committed) toward the session's attempts and the user's hourly budget.
pub async fn verify_sms(
    db: &Db,
    clock: &Clock,
    session_id: &str,
    code: &str,
) -> Result<(String, String), CredentialError> {
    let now = clock.unix();
    let given = crate::crypto::sha256(code.trim().as_bytes());
    let token = otp::new_token();
    let key = sms_key(session_id);
    let outcome = db
        .write(|tx| {
            let Some(mut p) = tx.get::<SmsReset>(&key)? else {
                return Ok(None);
            };
            if p.expires_at <= now || p.attempts >= SMS_ATTEMPTS {
                tx.delete::<SmsReset>(&key)?;
                return Ok(None);
            }
            // A code is a guessable secret of the user's: wrong ones count toward the same
            // hourly budget as wrong passwords, and once it is spent no code is evaluated.
            let mut owner = tx.get::<User>(p.user_id.as_bytes())?;
            let spent = owner
                .as_ref()
                .is_some_and(|u| super::lockout::budget_spent(u, now));
            let expected = crate::crypto::unhex(&p.code_sha256).unwrap_or_default();
            let nobodys = p.user_id == otp::DECOY_OWNER;
            if spent || !crate::crypto::ct_eq(&expected, &given) || nobodys {
                p.attempts += 1;
                tx.put(&p)?;
                if let Some(u) = owner.as_mut() {
                    super::lockout::count_in_window(u, now);
                    tx.put(u)?;
                }
                return Ok(None);
            }
            tx.delete::<SmsReset>(&key)?;
            otp::issue(
                tx,
                &token,
                Purpose::PasswordReset,
                &p.user_id,
                now + RESET_TTL,
            )?;
            Ok::<_, CredentialError>(Some(p.user_id))
        })
        .await?;
    let user_id = outcome.ok_or(CredentialError::BadLink(BAD_CODE))?;
    Ok((user_id, token))
}
