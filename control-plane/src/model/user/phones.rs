//! Login phone numbers (`users/phone-numbers/*`, `compat-wave2.md` §9.1): the numbers SMS
//! login texts codes to, distinct from MFA phones. Invariants:
//!
//! - A number becomes usable for login only once a texted code proved it (or the
//!   environment added it); a verified number belongs to at most one user, so a number
//!   names one user at SMS login.
//! - Adding and removing by the user are each proven by a code (six digits, single use, five
//!   wrong tries burn it, ten minutes), bound to the user and the phone.
//! - Codes are sent within two budgets: the user's hourly budget shared with MFA and
//!   passwordless codes, and at most [`SENDS_PER_NUMBER`] per number and hour.
//! - Removing a number ends the user's other sessions (a login factor went away).

use serde::{Deserialize, Serialize};

use super::{Done, LoginPhone, User, UserError, phone_digits};
use crate::model::clock::{Clock, rfc3339};
use crate::model::message;
use crate::model::otp::{self, Checked, Purpose};
use crate::model::outbox;
use crate::store::{Db, Record, StoreError, Tree, Tx};

/// Codes live this long.
pub const CODE_TTL: i64 = 600;
/// Codes texted to one number per hour.
pub const SENDS_PER_NUMBER: u32 = 5;

/// The hourly sends to one number.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct NumberSends {
    digits: String,
    since: i64,
    count: u32,
}

impl Record for NumberSends {
    const TREE: Tree = Tree::Passwordless;
    fn key(&self) -> Vec<u8> {
        format!("sends/{}", self.digits).into_bytes()
    }
}

/// Count a text to `number` against both budgets, or refuse it.
fn count_send(tx: &mut Tx<'_>, user_id: &str, number: &str, now: i64) -> Result<(), UserError> {
    let digits = phone_digits(number);
    let key = format!("sends/{digits}");
    let mut n = tx
        .get::<NumberSends>(key.as_bytes())?
        .filter(|n| now - n.since < 3600)
        .unwrap_or(NumberSends {
            digits,
            since: now,
            count: 0,
        });
    if n.count >= SENDS_PER_NUMBER {
        return Err(UserError::TooMany);
    }
    n.count += 1;
    tx.put(&n)?;
    let mut m = crate::model::mfa::of_tx(tx, user_id)?;
    crate::model::mfa::count_send(&mut m, now).map_err(|_| UserError::TooMany)?;
    tx.put(&m).map_err(UserError::from)
}

/// A number in E.164, or a 400.
pub fn normalize(raw: &str) -> Result<String, UserError> {
    crate::model::mfa::normalize_phone(raw).map_err(|e| UserError::Invalid(e.to_string()))
}

/// A code texted (queued with its token): the `otcToken` and the phone it is about.
pub struct CodeToSend {
    /// The `otcToken`.
    pub token: String,
    /// The phone it is about.
    pub phone: LoginPhone,
}

/// Add `number` to the user unverified (or find it) and text a code that proves it.
pub async fn start_add(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    number: &str,
) -> Result<CodeToSend, UserError> {
    let number = normalize(number)?;
    let token = otp::new_token();
    let code = otp::new_code();
    let new_id = crate::crypto::new_uuid().to_string();
    let now = clock.unix();
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let mut u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(UserError::NotFound)?;
        let phone = match u
            .login_phones
            .iter()
            .find(|p| phone_digits(&p.phone_number) == phone_digits(&number))
        {
            Some(p) if p.verified => {
                return Err(UserError::Conflict(
                    "this phone number is already verified".into(),
                ));
            }
            Some(p) => p.clone(),
            None => {
                if u.login_phones.len() >= MAX_PHONES {
                    return Err(UserError::Invalid(format!(
                        "a user has at most {MAX_PHONES} phone numbers"
                    )));
                }
                let p = LoginPhone {
                    id: new_id.clone(),
                    phone_number: number.clone(),
                    verified: false,
                    created_at: at.clone(),
                    updated_at: at.clone(),
                };
                u.login_phones.push(p.clone());
                tx.put(&u)?;
                p
            }
        };
        count_send(tx, user_id, &number, now)?;
        otp::issue_code(
            tx,
            &token,
            &code,
            Purpose::PhoneAdd,
            user_id,
            Some(phone.id.clone()),
            now + CODE_TTL,
        )?;
        outbox::queue(
            tx,
            &message::phone_code(&number, &code, CODE_TTL as u32).about(user_id),
        )?;
        Ok(CodeToSend {
            token: token.clone(),
            phone,
        })
    })
    .await
}

/// Phones one user may hold.
pub const MAX_PHONES: usize = 10;

/// Refuse a verified number another user holds.
fn taken_by_other(
    tx: &mut Tx<'_>,
    db_users: &[String],
    me: &str,
    digits: &str,
) -> Result<bool, StoreError> {
    for id in db_users.iter().filter(|id| *id != me) {
        if let Some(o) = tx.get::<User>(id.as_bytes())?
            && o.login_phones
                .iter()
                .any(|p| p.verified && phone_digits(&p.phone_number) == digits)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Verify the phone the code was texted about.
pub async fn finish_add(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    token: &str,
    code: &str,
) -> Result<LoginPhone, UserError> {
    let now = clock.unix();
    let at = rfc3339(clock.now());
    // Who else has this number (index lookup before the transaction).
    let pre = db
        .get::<User>(user_id.as_bytes())?
        .ok_or(UserError::NotFound)?;
    let mut holders = Vec::new();
    for p in &pre.login_phones {
        for u in super::by_phone(db, &phone_digits(&p.phone_number))? {
            holders.push(u.id);
        }
    }
    let done = db
        .write(|tx| -> Result<Done<LoginPhone>, UserError> {
            let checked =
                otp::consume_code(tx, token, code, Purpose::PhoneAdd, Some(user_id), now)?;
            let Checked::Accepted(t) = checked else {
                return Ok(Done::Refused(super::code_refused(&checked)));
            };
            let mut u = tx
                .get::<User>(user_id.as_bytes())?
                .ok_or(UserError::NotFound)?;
            let Some(i) = u
                .login_phones
                .iter()
                .position(|p| Some(&p.id) == t.subject.as_ref())
            else {
                return Ok(Done::Refused(UserError::Missing("phone number")));
            };
            let digits = phone_digits(&u.login_phones[i].phone_number);
            if taken_by_other(tx, &holders, user_id, &digits)? {
                return Ok(Done::Refused(UserError::Conflict(
                    "this phone number is another user's".into(),
                )));
            }
            u.login_phones[i].verified = true;
            u.login_phones[i].updated_at = at.clone();
            let p = u.login_phones[i].clone();
            tx.put(&u)?;
            Ok(Done::Ok(p))
        })
        .await?;
    done.into_result()
}

/// Text a code that proves the removal of phone `phone_id` (to that phone).
pub async fn start_remove(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    phone_id: &str,
) -> Result<CodeToSend, UserError> {
    let token = otp::new_token();
    let code = otp::new_code();
    let now = clock.unix();
    db.write(|tx| {
        let u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(UserError::NotFound)?;
        let phone = u
            .login_phones
            .iter()
            .find(|p| p.id == phone_id)
            .cloned()
            .ok_or(UserError::Missing("phone number"))?;
        count_send(tx, user_id, &phone.phone_number, now)?;
        otp::issue_code(
            tx,
            &token,
            &code,
            Purpose::PhoneRemove,
            user_id,
            Some(phone.id.clone()),
            now + CODE_TTL,
        )?;
        outbox::queue(
            tx,
            &message::phone_code(&phone.phone_number, &code, CODE_TTL as u32).about(user_id),
        )?;
        Ok(CodeToSend {
            token: token.clone(),
            phone,
        })
    })
    .await
}

fn drop_phone(
    tx: &mut Tx<'_>,
    user_id: &str,
    phone_id: &str,
    keep: Option<&str>,
    at: &str,
) -> Result<bool, UserError> {
    let mut u = tx
        .get::<User>(user_id.as_bytes())?
        .ok_or(UserError::NotFound)?;
    let before = u.login_phones.len();
    u.login_phones.retain(|p| p.id != phone_id);
    if u.login_phones.len() == before {
        return Ok(false);
    }
    tx.put(&u)?;
    crate::model::credentials::end_sessions(tx, user_id, keep, at)?;
    Ok(true)
}

/// Remove the phone the code was texted about; the user's other sessions end.
pub async fn finish_remove(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    phone_id: &str,
    token: &str,
    code: &str,
    keep: Option<&str>,
) -> Result<(), UserError> {
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let done = db
        .write(|tx| -> Result<Done<()>, UserError> {
            let checked =
                otp::consume_code(tx, token, code, Purpose::PhoneRemove, Some(user_id), now)?;
            match checked {
                Checked::Accepted(t) if t.subject.as_deref() == Some(phone_id) => {}
                Checked::Accepted(_) => {
                    return Ok(Done::Refused(super::code_refused(&Checked::BadToken)));
                }
                other => return Ok(Done::Refused(super::code_refused(&other))),
            }
            drop_phone(tx, user_id, phone_id, keep, &at)?;
            Ok(Done::Ok(()))
        })
        .await?;
    done.into_result()
}

/// The environment adds a verified number (no code).
pub async fn add_verified(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    number: &str,
) -> Result<LoginPhone, UserError> {
    let number = normalize(number)?;
    let digits = phone_digits(&number);
    let holders: Vec<String> = super::by_phone(db, &digits)?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let id = crate::crypto::new_uuid().to_string();
    let at = rfc3339(clock.now());
    db.write(|tx| {
        if taken_by_other(tx, &holders, user_id, &digits)? {
            return Err(UserError::Conflict(
                "this phone number is another user's".into(),
            ));
        }
        let mut u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(UserError::NotFound)?;
        if let Some(p) = u
            .login_phones
            .iter_mut()
            .find(|p| phone_digits(&p.phone_number) == digits)
        {
            p.verified = true;
            p.updated_at = at.clone();
            let p = p.clone();
            tx.put(&u)?;
            return Ok(p);
        }
        if u.login_phones.len() >= MAX_PHONES {
            return Err(UserError::Invalid(format!(
                "a user has at most {MAX_PHONES} phone numbers"
            )));
        }
        let p = LoginPhone {
            id: id.clone(),
            phone_number: number.clone(),
            verified: true,
            created_at: at.clone(),
            updated_at: at.clone(),
        };
        u.login_phones.push(p.clone());
        tx.put(&u)?;
        Ok(p)
    })
    .await
}

/// The environment removes a number (no code); every session of the user ends.
pub async fn remove(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    phone_id: &str,
) -> Result<(), UserError> {
    let at = rfc3339(clock.now());
    let removed = db
        .write(|tx| drop_phone(tx, user_id, phone_id, None, &at))
        .await?;
    if removed {
        Ok(())
    } else {
        Err(UserError::Missing("phone number"))
    }
}
