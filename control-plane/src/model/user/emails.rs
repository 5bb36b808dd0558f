//! A user's addresses (`users/emails/*`, `compat-wave2.md` §11.2) and the change of its own
//! primary address (`users/v1/email/me*`, §11.3). Invariants:
//!
//! - The primary address is the user's login address (`User::email`, the unique index);
//!   further addresses are indexed, and so unique across users, once verified.
//! - An address is proven by a mailed code (six digits, single use, five wrong tries burn
//!   it, ten minutes; the latest code of the user for that purpose is the one that counts).
//! - Asking for an address another user holds gets the same reply and the same writes as
//!   any other (a decoy code that proves nothing; nothing is mailed), so the route tells
//!   nobody which addresses have accounts.
//! - Losing an address (removed, or replaced as primary) ends the user's other sessions.

use super::{Done, OtherEmail, User, UserError};
use crate::model::clock::{Clock, rfc3339};
use crate::model::message;
use crate::model::otp::{self, Checked, Purpose};
use crate::model::outbox;
use crate::store::{Db, Tx};

/// Codes live this long.
pub const CODE_TTL: i64 = 600;
/// Addresses one user may hold beside the primary.
pub const MAX_EMAILS: usize = 10;

/// One address as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The address id.
    pub id: String,
    /// The address.
    pub email: String,
    /// Proven.
    pub verified: bool,
    /// The login address.
    pub is_primary: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// The user's addresses, the primary first (a user signed up by username alone has none).
pub fn entries(u: &User) -> Vec<Entry> {
    let mut out = Vec::with_capacity(u.other_emails.len() + 1);
    if !u.email_norm.is_empty() {
        out.push(Entry {
            id: primary_id(u),
            email: u.email.clone(),
            verified: u.verified,
            is_primary: true,
            created_at: u.created_at.clone(),
            updated_at: u.created_at.clone(),
        });
    }
    out.extend(u.other_emails.iter().map(|e| Entry {
        id: e.id.clone(),
        email: e.email.clone(),
        verified: e.verified,
        is_primary: false,
        created_at: e.created_at.clone(),
        updated_at: e.updated_at.clone(),
    }));
    out
}

fn primary_id(u: &User) -> String {
    u.primary_email_id.clone().unwrap_or_else(|| u.id.clone())
}

fn normalize(email: &str) -> Result<String, UserError> {
    crate::model::email::normalize(email).map_err(|e| UserError::Invalid(e.to_string()))
}

/// Whether `norm` is held by a user other than `me` (primary or verified further address).
fn held_by_other(tx: &mut Tx<'_>, me: &str, norm: &str) -> Result<bool, UserError> {
    Ok(super::email_owner(tx, norm)?.is_some_and(|o| o != me))
}

/// Add `email` to the user unverified and mail it a code (nothing mailed when another
/// user holds it; the reply is the same).
pub async fn start_add(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    email: &str,
) -> Result<Entry, UserError> {
    let norm = normalize(email)?;
    let display = email.trim().to_owned();
    let code = otp::new_code();
    let token = otp::new_token();
    let id = crate::crypto::new_uuid().to_string();
    let now = clock.unix();
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let mut u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(UserError::NotFound)?;
        if u.email_norm == norm {
            return Err(UserError::Conflict(
                "this is the user's primary email".into(),
            ));
        }
        let entry = match u.other_emails.iter().find(|e| e.email_norm == norm) {
            Some(e) if e.verified => {
                return Err(UserError::Conflict("this email is already verified".into()));
            }
            Some(e) => e.clone(),
            None => {
                if u.other_emails.len() >= MAX_EMAILS {
                    return Err(UserError::Invalid(format!(
                        "a user has at most {MAX_EMAILS} further emails"
                    )));
                }
                let e = OtherEmail {
                    id: id.clone(),
                    email: display.clone(),
                    email_norm: norm.clone(),
                    verified: false,
                    created_at: at.clone(),
                    updated_at: at.clone(),
                };
                u.other_emails.push(e.clone());
                tx.put(&u)?;
                e
            }
        };
        let taken = held_by_other(tx, user_id, &norm)?;
        // The same write either way; a taken address's code is bound to no address.
        let subject = (!taken).then(|| entry.id.clone());
        otp::issue_code(
            tx,
            &token,
            &code,
            Purpose::EmailAdd,
            user_id,
            subject,
            now + CODE_TTL,
        )?;
        let e = entries(&u)
            .into_iter()
            .find(|x| x.id == entry.id)
            .ok_or(UserError::Missing("email"))?;
        if !taken {
            outbox::queue(
                tx,
                &message::email_code(&entry.email, &code, CODE_TTL as u32).about(&u.id),
            )?;
        }
        Ok(e)
    })
    .await
}

/// Verify `email` of the user with the mailed code.
pub async fn verify(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    email: &str,
    code: &str,
) -> Result<(), UserError> {
    let norm = normalize(email)?;
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let done = db
        .write(|tx| -> Result<Done<()>, UserError> {
            let checked = otp::consume_latest(tx, code, Purpose::EmailAdd, user_id, now)?;
            let Checked::Accepted(t) = checked else {
                return Ok(Done::Refused(super::code_refused(&checked)));
            };
            let mut u = tx
                .get::<User>(user_id.as_bytes())?
                .ok_or(UserError::NotFound)?;
            let Some(e) = u
                .other_emails
                .iter_mut()
                .find(|e| Some(&e.id) == t.subject.as_ref() && e.email_norm == norm)
            else {
                return Ok(Done::Refused(super::code_refused(&Checked::BadToken)));
            };
            e.verified = true;
            e.updated_at = at.clone();
            if held_by_other(tx, user_id, &norm)? {
                return Ok(Done::Refused(UserError::EmailTaken));
            }
            tx.put(&u)?;
            Ok(Done::Ok(()))
        })
        .await?;
    done.into_result()
}

/// The environment adds an address (verified when it says so).
pub async fn add_by_environment(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    email: &str,
    verified: bool,
) -> Result<Entry, UserError> {
    let norm = normalize(email)?;
    let display = email.trim().to_owned();
    let id = crate::crypto::new_uuid().to_string();
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let mut u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(UserError::NotFound)?;
        if u.email_norm == norm || u.other_emails.iter().any(|e| e.email_norm == norm) {
            return Err(UserError::Conflict(
                "the user already has this email".into(),
            ));
        }
        if held_by_other(tx, user_id, &norm)? {
            return Err(UserError::EmailTaken);
        }
        if u.other_emails.len() >= MAX_EMAILS {
            return Err(UserError::Invalid(format!(
                "a user has at most {MAX_EMAILS} further emails"
            )));
        }
        u.other_emails.push(OtherEmail {
            id: id.clone(),
            email: display.clone(),
            email_norm: norm.clone(),
            verified,
            created_at: at.clone(),
            updated_at: at.clone(),
        });
        tx.put(&u)?;
        entries(&u)
            .into_iter()
            .find(|e| e.id == id)
            .ok_or(UserError::Missing("email"))
    })
    .await
}

/// Make a verified further address the primary (login) one; the previous primary stays as a
/// further address. Every session of the user but `keep` ends.
pub async fn make_primary(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    email: &str,
    keep: Option<&str>,
) -> Result<(), UserError> {
    let norm = normalize(email)?;
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let mut u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(UserError::NotFound)?;
        if u.email_norm == norm {
            return Ok(());
        }
        let i = u
            .other_emails
            .iter()
            .position(|e| e.email_norm == norm)
            .ok_or(UserError::Missing("email"))?;
        if !u.other_emails[i].verified {
            return Err(UserError::Invalid(
                "only a verified email can be the primary one".into(),
            ));
        }
        let new = u.other_emails.remove(i);
        if !u.email_norm.is_empty() {
            u.other_emails.push(OtherEmail {
                id: primary_id(&u),
                email: u.email.clone(),
                email_norm: u.email_norm.clone(),
                verified: u.verified,
                created_at: u.created_at.clone(),
                updated_at: at.clone(),
            });
        }
        u.primary_email_id = Some(new.id);
        u.email = new.email;
        u.email_norm = new.email_norm;
        u.verified = true;
        tx.put(&u)?;
        crate::model::credentials::end_sessions(tx, user_id, keep, &at)?;
        Ok(())
    })
    .await
}

/// Remove a further address (never the primary); every session of the user but `keep`
/// ends.
pub async fn remove(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    email_id: &str,
    keep: Option<&str>,
) -> Result<(), UserError> {
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let mut u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(UserError::NotFound)?;
        if primary_id(&u) == email_id {
            return Err(UserError::Invalid(
                "the primary email cannot be removed; make another one primary first".into(),
            ));
        }
        let before = u.other_emails.len();
        u.other_emails.retain(|e| e.id != email_id);
        if u.other_emails.len() == before {
            return Err(UserError::Missing("email"));
        }
        tx.put(&u)?;
        crate::model::credentials::end_sessions(tx, user_id, keep, &at)?;
        Ok(())
    })
    .await
}

/// Ask to change the user's own primary address to `email`: a code mailed there (nothing
/// mailed when another user holds it; the reply and the writes are the same).
pub async fn start_change(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    email: &str,
) -> Result<(), UserError> {
    let norm = normalize(email)?;
    let display = email.trim().to_owned();
    let code = otp::new_code();
    let token = otp::new_token();
    let now = clock.unix();
    db.write(|tx| {
        let u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(UserError::NotFound)?;
        if u.email_norm == norm {
            return Err(UserError::Invalid(
                "this is already the user's email".into(),
            ));
        }
        let taken = held_by_other(tx, user_id, &norm)?;
        otp::issue_code(
            tx,
            &token,
            &code,
            Purpose::EmailChange,
            user_id,
            (!taken).then(|| norm.clone()),
            now + CODE_TTL,
        )?;
        if !taken {
            outbox::queue(
                tx,
                &message::email_code(&display, &code, CODE_TTL as u32).about(user_id),
            )?;
        }
        Ok(())
    })
    .await
}

/// Change the user's primary address to `email` with the mailed code: the address is
/// verified by it; the old one is dropped (and told); every session but `keep` ends.
pub async fn finish_change(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    email: &str,
    code: &str,
    keep: Option<&str>,
) -> Result<User, UserError> {
    let norm = normalize(email)?;
    let display = email.trim().to_owned();
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let done = db
        .write(|tx| -> Result<Done<User>, UserError> {
            let checked = otp::consume_latest(tx, code, Purpose::EmailChange, user_id, now)?;
            let Checked::Accepted(t) = checked else {
                return Ok(Done::Refused(super::code_refused(&checked)));
            };
            if t.subject.as_deref() != Some(norm.as_str()) {
                return Ok(Done::Refused(super::code_refused(&Checked::BadToken)));
            }
            if held_by_other(tx, user_id, &norm)? {
                return Ok(Done::Refused(UserError::EmailTaken));
            }
            let mut u = tx
                .get::<User>(user_id.as_bytes())?
                .ok_or(UserError::NotFound)?;
            let old = std::mem::replace(&mut u.email, display.clone());
            u.email_norm = norm.clone();
            u.other_emails.retain(|e| e.email_norm != norm);
            u.verified = true;
            tx.put(&u)?;
            crate::model::credentials::end_sessions(tx, user_id, keep, &at)?;
            outbox::queue(tx, &message::email_changed(&old, &u.email).about(&u.id))?;
            Ok(Done::Ok(u))
        })
        .await?;
    done.into_result()
}
