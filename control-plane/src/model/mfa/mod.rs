//! Multi-factor authentication: the second factors a user enrols (authenticator apps, phones
//! for SMS codes, the email address for email codes), the challenge a login (or a step-up)
//! leaves pending until one is proven, the recovery code, and remembered devices.
//!
//! Invariants (the one-time-secret rules of `model::otp`, generalised):
//! - A challenge (`mfaToken`), a code token (`otcToken`) and a recovery code exist in clear
//!   only in the reply that hands them out; the store keeps SHA-256 digests. TOTP seeds must
//!   be read back, so they are sealed (`seal`), never returned after enrolment.
//! - Every proof is checked inside the transaction that consumes what it proves: a
//!   challenge, a code or a TOTP step is accepted at most once under any number of parallel
//!   requests, and a wrong code is counted in the same transaction (five void the
//!   challenge or the code; each counts toward the user's lockout and hourly budget, and a
//!   locked user's or spent budget's codes are not evaluated).
//! - A challenge binds the user, the account and the first factor; it lives
//!   [`CHALLENGE_TTL`] seconds and proves nothing about any other user.
//! - A remembered device is valid only for its user, before its expiry, while the user's
//!   password and MFA enrolment are the ones it was remembered under (a password change or
//!   any MFA removal forgets every device: no list to keep in step).
//! - Nothing here tells an unauthenticated caller whether an address has MFA: the
//!   challenge exists only after a correct first factor, and recovery answers alike for
//!   every address.

pub mod policy;
pub mod seal;
pub mod totp;
pub mod webauthn;

use serde::{Deserialize, Serialize};

use crate::crypto::{ct_eq, hex, random_bytes, sha256};
use crate::model::clock::{Clock, UnixSecs, rfc3339};
use crate::model::lockout;
use crate::model::message::{self, Links, Message};
use crate::model::outbox;
use crate::model::user::User;
use crate::store::{Db, Record, StoreError, Tree, Tx};

/// A challenge lives this long (seconds).
pub const CHALLENGE_TTL: i64 = 300;
/// A pending self-service enrolment lives this long (seconds).
pub const PENDING_TTL: i64 = 600;
/// Wrong codes a challenge or a code survives; the next one voids it.
pub const MAX_ATTEMPTS: u32 = 5;
/// Codes one challenge (or one pending enrolment) may send.
pub const MAX_SENDS: u32 = 5;

/// An MFA strategy, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// TOTP apps.
    AuthenticatorApp,
    /// Built-in authenticators (WebAuthn).
    WebAuthnPlatform,
    /// Security keys (WebAuthn).
    WebAuthnCrossPlatform,
    /// SMS codes.
    #[serde(rename = "SMS")]
    Sms,
    /// Email codes.
    EmailCode,
}

impl Strategy {
    /// Every strategy, in the spec's order.
    pub const ALL: [Strategy; 5] = [
        Strategy::AuthenticatorApp,
        Strategy::WebAuthnPlatform,
        Strategy::WebAuthnCrossPlatform,
        Strategy::Sms,
        Strategy::EmailCode,
    ];

    /// The API's name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::AuthenticatorApp => "AuthenticatorApp",
            Strategy::WebAuthnPlatform => "WebAuthnPlatform",
            Strategy::WebAuthnCrossPlatform => "WebAuthnCrossPlatform",
            Strategy::Sms => "SMS",
            Strategy::EmailCode => "EmailCode",
        }
    }
}

/// How a second factor was proven: the `amr` method it adds (RFC 8176).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// TOTP.
    Otp,
    /// SMS code.
    Sms,
    /// Email code (no RFC 8176 value of its own: a one-time password).
    Email,
    /// WebAuthn (a hardware-bound key).
    Hwk,
}

impl Method {
    /// The `amr` entries of a login with a password first and this second.
    pub fn amr(self) -> Vec<String> {
        let m = match self {
            Method::Otp | Method::Email => "otp",
            Method::Sms => "sms",
            Method::Hwk => "hwk",
        };
        vec!["pwd".into(), "mfa".into(), m.into()]
    }
}

/// Why an MFA step did not go through.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// Unknown, expired, voided or used challenge.
    #[error("The MFA session is invalid or has expired")]
    BadChallenge,
    /// Wrong code (counted).
    #[error("Invalid code")]
    WrongCode,
    /// Wrong code, and the user is locked by it (the unlock link is queued).
    #[error("Invalid code")]
    Locked,
    /// Unknown, expired or voided code token.
    #[error("The code is invalid or has expired; request a new one")]
    BadCodeToken,
    /// No such device of this user.
    #[error("No such MFA device")]
    NoDevice,
    /// The strategy is off, or the request does not fit the user's state.
    #[error("{0}")]
    Invalid(String),
    /// Too many codes sent.
    #[error("Too many codes were sent; wait and log in again")]
    TooManySends,
    /// Step-up for a user without a second factor (the login box compares this text).
    #[error("MFA is not enrolled")]
    NotEnrolled,
    /// The policy forbids removing the last factor.
    #[error("MFA is enforced: the last MFA method cannot be removed")]
    Enforced,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An enrolled authenticator app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authenticator {
    /// UUID (the device id).
    pub id: String,
    /// The sealed TOTP seed.
    pub sealed_secret: String,
    /// The last TOTP step accepted (a code is accepted once).
    pub last_step: i64,
    /// RFC 3339.
    pub created_at: String,
}

/// An enrolled phone for SMS codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    /// UUID (the device id).
    pub id: String,
    /// E.164.
    pub phone_number: String,
    /// RFC 3339.
    pub created_at: String,
}

/// Which WebAuthn authenticators a device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceType {
    /// Built into the device (Touch ID, Windows Hello).
    Platform,
    /// A roaming security key.
    CrossPlatform,
}

impl DeviceType {
    /// The strategy that enables it.
    pub fn strategy(self) -> Strategy {
        match self {
            DeviceType::Platform => Strategy::WebAuthnPlatform,
            DeviceType::CrossPlatform => Strategy::WebAuthnCrossPlatform,
        }
    }
}

/// An enrolled WebAuthn credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAuthnDevice {
    /// UUID (the device id).
    pub id: String,
    /// The credential id, base64url.
    pub credential_id: String,
    /// Its public key.
    pub key: webauthn::PublicKey,
    /// The last signature counter seen.
    pub sign_count: u32,
    /// Platform or roaming.
    pub device_type: DeviceType,
    /// Shown in device lists.
    pub name: String,
    /// The relying party it is bound to.
    pub rp_id: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A WebAuthn ceremony in flight: `webauthnToken` names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceremony {
    /// Hex SHA-256 of the `webauthnToken`.
    pub token_digest: String,
    /// The challenge, base64url.
    pub challenge: String,
    /// The relying party id the options named.
    pub rp_id: String,
    /// Unix seconds.
    pub expires_at: UnixSecs,
    /// What it is for.
    pub purpose: Purpose,
}

/// What a ceremony proves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    /// Registering a new credential.
    Register,
    /// Asserting enrolled device `0` (a login or step-up).
    Assert(String),
    /// Asserting enrolled device `0` to remove it.
    Remove(String),
}

/// A remembered device: the digest of its cookie's token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// Hex SHA-256 of the token.
    pub digest: String,
    /// Unix seconds.
    pub expires_at: UnixSecs,
    /// `password_changed_at` of the user when remembered.
    pub password_epoch: Option<i64>,
    /// [`UserMfa::generation`] when remembered.
    pub generation: u64,
}

/// A code sent and awaited: `otcToken` names it, the code proves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Otc {
    /// Hex SHA-256 of the `otcToken`.
    pub token_digest: String,
    /// Hex SHA-256 of the code.
    pub code_digest: String,
    /// Where it went: an enrolled phone's id, a phone being enrolled, or the email.
    pub target: Target,
    /// Unix seconds.
    pub expires_at: UnixSecs,
    /// Wrong codes so far.
    pub attempts: u32,
}

impl Otc {
    /// A code sent now: `token` names it, `code` proves it, until `expires_at`.
    fn new(token: &str, code: &str, target: Target, expires_at: UnixSecs) -> Self {
        Otc {
            token_digest: digest(token),
            code_digest: digest(code),
            target,
            expires_at,
            attempts: 0,
        }
    }
}

/// Where a code went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// An enrolled phone (its id).
    Phone(String),
    /// A phone being enrolled (its number).
    NewPhone(String),
    /// An enrolled phone being removed (its id).
    RemovePhone(String),
    /// The user's email address.
    Email,
}

/// What a user enrolled, and the self-service enrolment in progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMfa {
    /// The user.
    pub user_id: String,
    /// Authenticator apps.
    pub authenticators: Vec<Authenticator>,
    /// Phones.
    pub phones: Vec<Phone>,
    /// WebAuthn credentials.
    #[serde(default)]
    pub webauthn: Vec<WebAuthnDevice>,
    /// A self-service WebAuthn ceremony in flight.
    #[serde(default)]
    pub pending_webauthn: Option<Ceremony>,
    /// Hex SHA-256 of the recovery code.
    pub recovery_digest: Option<String>,
    /// Remembered devices.
    pub remembered: Vec<Remembered>,
    /// Bumped by every removal: remembered devices of an older generation are forgotten.
    pub generation: u64,
    /// A self-service authenticator enrolment: the sealed seed and its expiry.
    pub pending_secret: Option<(String, UnixSecs)>,
    /// A self-service code in flight (SMS enrolment or removal).
    pub pending_otc: Option<Otc>,
    /// Codes sent for self-service since `sends_since`.
    #[serde(default)]
    pub sends: u32,
    /// Unix seconds the send count started.
    #[serde(default)]
    pub sends_since: UnixSecs,
}

impl Record for UserMfa {
    const TREE: Tree = Tree::MfaDevices;
    fn key(&self) -> Vec<u8> {
        self.user_id.as_bytes().to_vec()
    }
}

impl UserMfa {
    /// Whether any second factor is enrolled.
    pub fn enrolled(&self) -> bool {
        !self.authenticators.is_empty() || !self.phones.is_empty() || !self.webauthn.is_empty()
    }

    fn forget_devices(&mut self) {
        self.remembered.clear();
        self.generation += 1;
    }
}

/// What a user has enrolled (nothing, for a user who never did).
pub fn of(db: &Db, user_id: &str) -> Result<UserMfa, StoreError> {
    Ok(db
        .get::<UserMfa>(user_id.as_bytes())?
        .unwrap_or_else(|| UserMfa {
            user_id: user_id.to_owned(),
            ..UserMfa::default()
        }))
}

pub(crate) fn of_tx(tx: &mut Tx<'_>, user_id: &str) -> Result<UserMfa, StoreError> {
    Ok(tx
        .get::<UserMfa>(user_id.as_bytes())?
        .unwrap_or_else(|| UserMfa {
            user_id: user_id.to_owned(),
            ..UserMfa::default()
        }))
}

fn digest(s: &str) -> String {
    hex(&sha256(s.as_bytes()))
}

/// A phone number in E.164 (`+` and 7 to 15 digits; spaces, dashes, dots and parentheses
/// dropped), or why not.
pub fn normalize_phone(raw: &str) -> Result<String, MfaError> {
    let kept: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = kept.strip_prefix('+').unwrap_or("");
    if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MfaError::Invalid(
            "phoneNumber must be in international format (+ and 7 to 15 digits)".into(),
        ));
    }
    Ok(kept)
}

/// A phone number as shown before the second factor: all but the last two digits masked.
pub fn mask_phone(n: &str) -> String {
    let keep = n.len().saturating_sub(2);
    n.char_indices()
        .map(|(i, c)| if i == 0 || i >= keep { c } else { '*' })
        .collect()
}

/// What a user is asked for, or was: the pending challenge of a login or step-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// Hex SHA-256 of the `mfaToken`.
    pub digest: String,
    /// The user.
    pub user_id: String,
    /// The account the login is for.
    pub tenant_id: String,
    /// Unix seconds.
    pub expires_at: UnixSecs,
    /// Wrong codes so far.
    pub attempts: u32,
    /// A step-up of this session (else a login).
    pub step_up_session: Option<String>,
    /// The seed of an authenticator offered for enrolment with the challenge (sealed).
    pub pending_secret: Option<String>,
    /// A code sent for this challenge.
    pub otc: Option<Otc>,
    /// Codes sent.
    pub sends: u32,
    /// A WebAuthn ceremony of this challenge.
    #[serde(default)]
    pub webauthn: Option<Ceremony>,
}

impl Record for Challenge {
    const TREE: Tree = Tree::MfaChallenges;
    fn key(&self) -> Vec<u8> {
        self.digest.as_bytes().to_vec()
    }
}

/// A new challenge in clear, with what enrolment needs shown.
pub struct Begun {
    /// The `mfaToken`.
    pub token: String,
    /// The seed offered for enrolment, if any.
    pub secret: Option<[u8; 20]>,
}

/// Open a challenge for `user` logging in to `tenant` (or stepping up `step_up`); offer an
/// authenticator seed when `offer_authenticator`.
pub async fn begin(
    db: &Db,
    clock: &Clock,
    user: &User,
    tenant: &str,
    step_up: Option<&str>,
    offer_authenticator: bool,
) -> Result<Begun, MfaError> {
    let token = crate::model::otp::new_token();
    let secret = offer_authenticator.then(totp::new_secret);
    let fresh = seal::Fresh::new();
    let now = clock.unix();
    let d = digest(&token);
    let latest = format!("latest/{}", user.id);
    db.write(|tx| {
        let pending_secret = match &secret {
            Some(s) => Some(seal::seal(tx, &user.id, s, &fresh)?),
            None => None,
        };
        // One live challenge per user: a new one retires the previous (abandoned logins
        // never pile up; the pointer's key is no digest).
        if let Some(old) = tx.get_raw(Tree::MfaChallenges, latest.as_bytes())?
            && old != d.as_bytes()
        {
            tx.delete_raw(Tree::MfaChallenges, &old)?;
        }
        tx.put_raw(Tree::MfaChallenges, latest.as_bytes(), d.as_bytes())?;
        tx.put(&Challenge {
            digest: d.clone(),
            user_id: user.id.clone(),
            tenant_id: tenant.to_owned(),
            expires_at: now + CHALLENGE_TTL,
            attempts: 0,
            step_up_session: step_up.map(str::to_owned),
            pending_secret,
            otc: None,
            sends: 0,
            webauthn: None,
        })
    })
    .await?;
    Ok(Begun { token, secret })
}

/// The live challenge `token` names (read only: who and where, for the remember-device
/// check and the reply shapes).
pub fn challenge(db: &Db, clock: &Clock, token: &str) -> Result<Challenge, MfaError> {
    db.get::<Challenge>(digest(token).as_bytes())?
        .filter(|c| c.expires_at > clock.unix() && c.attempts < MAX_ATTEMPTS)
        .ok_or(MfaError::BadChallenge)
}

/// A proof of a second factor.
pub enum Proof<'a> {
    /// A TOTP code: of an enrolled authenticator (`device` when named), or of the seed the
    /// challenge offered (completing its enrolment).
    Totp {
        /// The code.
        code: &'a str,
        /// The authenticator it must be, if named.
        device: Option<&'a str>,
        /// Only the offered seed (an enrolment), never an enrolled app.
        enrol: bool,
    },
    /// A sent code with its `otcToken`; `expect` is where it must have gone.
    Code {
        /// The `otcToken`.
        token: &'a str,
        /// The code.
        code: &'a str,
        /// Email codes only, SMS to `deviceId`, or SMS of an enrolment.
        expect: Expect<'a>,
    },
}

/// Which kind of code a verify route takes.
#[derive(Clone, Copy, Debug)]
pub enum Expect<'a> {
    /// An email code.
    Email,
    /// An SMS code to this enrolled phone.
    Phone(&'a str),
    /// The SMS code of a phone being enrolled.
    NewPhone,
}

/// A challenge proven: who, where, how, and the recovery code of a first enrolment.
#[derive(Debug)]
pub struct Proven {
    /// The user.
    pub user_id: String,
    /// The account.
    pub tenant_id: String,
    /// The method.
    pub method: Method,
    /// The step-up's session, if it was one.
    pub step_up_session: Option<String>,
    /// The recovery code, when this completed the user's first enrolment.
    pub recovery_code: Option<String>,
}

/// A new recovery code: 20 characters of an unambiguous alphabet, ~100 bits.
pub fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    random_bytes::<20>()
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect()
}

/// What a counted check decided, before the transaction commits.
enum Check {
    Ok(Method),
    Wrong,
}

/// Whether the user's codes may be evaluated now (not locked, budget left).
pub(crate) fn may_evaluate(u: &User, now: i64) -> bool {
    !u.is_locked && !lockout::budget_spent(u, now)
}

/// Count a wrong code against the user (hourly budget; lockout when the policy is on).
pub(crate) fn count_wrong(
    tx: &mut Tx<'_>,
    u: &mut User,
    max: Option<u32>,
    at: &str,
    now: i64,
) -> Result<(), StoreError> {
    u.failed_logins = u.failed_logins.saturating_add(1);
    lockout::count_in_window(u, now);
    if !u.is_locked && max.is_some_and(|m| u.failed_logins >= m) {
        u.is_locked = true;
        crate::model::event::Event::UserLocked { user: &u.id }.record(tx, at)?;
    }
    tx.put(u)
}

/// The error of a wrong code: [`MfaError::Locked`], with the unlock link queued, when this
/// attempt locked the user (as a wrong password's lock does), else [`MfaError::WrongCode`].
async fn wrong(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    user_id: &str,
    was_locked: bool,
) -> MfaError {
    let locked = matches!(db.get::<User>(user_id.as_bytes()), Ok(Some(u)) if u.is_locked);
    if was_locked || !locked {
        return MfaError::WrongCode;
    }
    let token = crate::model::otp::new_token();
    let now = clock.unix();
    let issued = db
        .write(|tx| {
            let Some(u) = tx.get::<User>(user_id.as_bytes())? else {
                return Ok(false);
            };
            crate::model::otp::issue(
                tx,
                &token,
                crate::model::otp::Purpose::Unlock,
                &u.id,
                now + crate::model::login::UNLOCK_TTL,
            )?;
            outbox::queue(tx, &message::unlock(links, &u.email, &token).about(&u.id))?;
            Ok::<_, StoreError>(true)
        })
        .await;
    match issued {
        Ok(true) => MfaError::Locked,
        _ => MfaError::WrongCode,
    }
}

fn was_locked(db: &Db, user_id: &str) -> Result<bool, StoreError> {
    Ok(db
        .get::<User>(user_id.as_bytes())?
        .is_some_and(|u| u.is_locked))
}

fn otc_matches(o: &Otc, token: &str, code: &str, now: i64) -> Option<bool> {
    if !ct_eq(o.token_digest.as_bytes(), digest(token).as_bytes())
        || o.expires_at <= now
        || o.attempts >= MAX_ATTEMPTS
    {
        return None;
    }
    Some(ct_eq(
        o.code_digest.as_bytes(),
        digest(code.trim()).as_bytes(),
    ))
}

/// Prove challenge `token` with `proof`: consumed on success (with any enrolment it
/// completes), counted on failure — all in one transaction.
pub async fn prove(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    token: &str,
    proof: Proof<'_>,
) -> Result<Proven, MfaError> {
    let key = digest(token);
    let pre = db
        .get::<Challenge>(key.as_bytes())?
        .ok_or(MfaError::BadChallenge)?;
    let max = lockout::max_attempts(db, Some(&pre.tenant_id))?;
    let locked_before = was_locked(db, &pre.user_id)?;
    // Opened before the transaction: the seeds this user's proof may need.
    let enrolled = of(db, &pre.user_id)?;
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for a in &enrolled.authenticators {
        if let Some(s) = seal::open(db, &pre.user_id, &a.sealed_secret)? {
            seeds.push((a.id.clone(), s));
        }
    }
    let offered = match &pre.pending_secret {
        Some(s) => seal::open(db, &pre.user_id, s)?,
        None => None,
    };
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let recovery = new_recovery_code();
    let new_id = crate::crypto::new_uuid().to_string();
    let outcome = db
        .write(|tx| {
            let Some(mut c) = tx.get::<Challenge>(key.as_bytes())? else {
                return Err(MfaError::BadChallenge);
            };
            if c.expires_at <= now || c.attempts >= MAX_ATTEMPTS {
                return Err(MfaError::BadChallenge);
            }
            let Some(mut u) = tx.get::<User>(c.user_id.as_bytes())? else {
                return Err(MfaError::BadChallenge);
            };
            let mut m = of_tx(tx, &c.user_id)?;
            let evaluate = may_evaluate(&u, now);
            let first = !m.enrolled();
            let check = match &proof {
                Proof::Totp {
                    code,
                    device,
                    enrol,
                } => {
                    let mut hit = None;
                    if !enrol {
                        for a in &mut m.authenticators {
                            if device.is_some_and(|d| d != a.id) {
                                continue;
                            }
                            let Some((_, seed)) = seeds.iter().find(|(id, _)| *id == a.id) else {
                                continue;
                            };
                            if let Some(step) = totp::check(seed, code, now, a.last_step) {
                                a.last_step = step;
                                hit = Some(());
                                break;
                            }
                        }
                    }
                    if hit.is_none()
                        && device.is_none()
                        && m.authenticators.is_empty()
                        && let (Some(seed), Some(sealed)) = (&offered, &c.pending_secret)
                        && let Some(step) = totp::check(seed, code, now, 0)
                    {
                        m.authenticators.push(Authenticator {
                            id: new_id.clone(),
                            sealed_secret: sealed.clone(),
                            last_step: step,
                            created_at: at.clone(),
                        });
                        hit = Some(());
                    }
                    match hit {
                        Some(()) if evaluate => Check::Ok(Method::Otp),
                        _ => Check::Wrong,
                    }
                }
                Proof::Code {
                    token,
                    code,
                    expect,
                } => {
                    let Some(o) = c.otc.clone() else {
                        return Err(MfaError::BadCodeToken);
                    };
                    let fits = match (expect, &o.target) {
                        (Expect::Email, Target::Email) => true,
                        (Expect::Phone(d), Target::Phone(p)) => d == p,
                        (Expect::NewPhone, Target::NewPhone(_)) => true,
                        _ => false,
                    };
                    match otc_matches(&o, token, code, now) {
                        None => return Err(MfaError::BadCodeToken),
                        Some(_) if !fits => return Err(MfaError::BadCodeToken),
                        Some(true) if evaluate => {
                            let method = match o.target {
                                Target::Email => Method::Email,
                                Target::NewPhone(number) => {
                                    m.phones.push(Phone {
                                        id: new_id.clone(),
                                        phone_number: number,
                                        created_at: at.clone(),
                                    });
                                    Method::Sms
                                }
                                _ => Method::Sms,
                            };
                            Check::Ok(method)
                        }
                        Some(_) => {
                            if let Some(o) = &mut c.otc {
                                o.attempts += 1;
                            }
                            Check::Wrong
                        }
                    }
                }
            };
            match check {
                Check::Ok(method) => {
                    tx.delete::<Challenge>(key.as_bytes())?;
                    let recovery_code = (first && m.enrolled()).then(|| recovery.clone());
                    if let Some(r) = &recovery_code {
                        m.recovery_digest = Some(digest(r));
                    }
                    tx.put(&m)?;
                    Ok(Some(Proven {
                        user_id: c.user_id.clone(),
                        tenant_id: c.tenant_id.clone(),
                        method,
                        step_up_session: c.step_up_session.clone(),
                        recovery_code,
                    }))
                }
                Check::Wrong => {
                    c.attempts += 1;
                    if c.attempts >= MAX_ATTEMPTS {
                        tx.delete::<Challenge>(key.as_bytes())?;
                    } else {
                        tx.put(&c)?;
                    }
                    if evaluate {
                        count_wrong(tx, &mut u, max, &at, now)?;
                    }
                    Ok(None)
                }
            }
        })
        .await?;
    match outcome {
        Some(p) => Ok(p),
        None => Err(wrong(db, clock, links, &pre.user_id, locked_before).await),
    }
}

/// Codes one user may be sent per hour, logins and self-service together (SMS costs money
/// and toll fraud pays: a password alone must not buy unbounded texts).
pub const MAX_SENDS_PER_HOUR: u32 = 10;

/// Count a send against the user's hourly budget, or refuse it.
pub(crate) fn count_send(m: &mut UserMfa, now: i64) -> Result<(), MfaError> {
    if now - m.sends_since >= 3600 {
        m.sends_since = now;
        m.sends = 0;
    }
    if m.sends >= MAX_SENDS_PER_HOUR {
        return Err(MfaError::TooManySends);
    }
    m.sends += 1;
    Ok(())
}

/// A code sent (queued with the challenge's update): the `otcToken` and where it went.
pub struct Sent {
    /// The `otcToken`.
    pub token: String,
    /// Where it went, as shown (a phone masked).
    pub shown_to: String,
}

fn code_message(target: &Target, to: &str, code: &str, ttl: u32) -> Message {
    match target {
        Target::Email => message::mfa_email_code(to, code, ttl),
        _ => message::mfa_sms_code(to, code, ttl),
    }
}

/// Send a code for challenge `token` to `target` (the email, an enrolled phone by id, or a
/// phone being enrolled); a new code retires the previous one.
pub async fn send_code(
    db: &Db,
    clock: &Clock,
    token: &str,
    target: Target,
) -> Result<Sent, MfaError> {
    let config = policy::config(db)?;
    let (on, ttl) = match target {
        Target::Email => (config.email, config.email_ttl),
        _ => (config.sms, config.sms_ttl),
    };
    if !on {
        return Err(MfaError::Invalid("This MFA method is not enabled".into()));
    }
    let key = digest(token);
    let otc_token = crate::model::otp::new_token();
    let code = crate::model::otp::new_code();
    let now = clock.unix();
    let to = db
        .write(|tx| {
            let Some(mut c) = tx.get::<Challenge>(key.as_bytes())? else {
                return Err(MfaError::BadChallenge);
            };
            if c.expires_at <= now || c.attempts >= MAX_ATTEMPTS {
                return Err(MfaError::BadChallenge);
            }
            if c.sends >= MAX_SENDS {
                return Err(MfaError::TooManySends);
            }
            let u = tx
                .get::<User>(c.user_id.as_bytes())?
                .ok_or(MfaError::BadChallenge)?;
            let mut m = of_tx(tx, &c.user_id)?;
            let to = match &target {
                Target::Email => u.email.clone(),
                Target::Phone(id) => m
                    .phones
                    .iter()
                    .find(|p| p.id == *id)
                    .map(|p| p.phone_number.clone())
                    .ok_or(MfaError::NoDevice)?,
                Target::NewPhone(n) => {
                    if m.enrolled() {
                        return Err(MfaError::Invalid("MFA is already enrolled".into()));
                    }
                    n.clone()
                }
                Target::RemovePhone(_) => return Err(MfaError::NoDevice),
            };
            c.sends += 1;
            count_send(&mut m, now)?;
            tx.put(&m)?;
            c.otc = Some(Otc::new(
                &otc_token,
                &code,
                target.clone(),
                now + i64::from(ttl),
            ));
            tx.put(&c)?;
            outbox::queue(
                tx,
                &code_message(&target, &to, &code, ttl).about(&c.user_id),
            )?;
            Ok(to)
        })
        .await?;
    let shown_to = match target {
        Target::Email => to,
        _ => mask_phone(&to),
    };
    Ok(Sent {
        token: otc_token,
        shown_to,
    })
}

/// Whether `cookie` remembers a device of `user` now.
pub fn remembered(db: &Db, clock: &Clock, user: &User, cookie: &str) -> Result<bool, StoreError> {
    let m = of(db, &user.id)?;
    let d = digest(cookie);
    let now = clock.unix();
    Ok(m.remembered.iter().any(|r| {
        ct_eq(r.digest.as_bytes(), d.as_bytes())
            && r.expires_at > now
            && r.password_epoch == user.password_changed_at
            && r.generation == m.generation
    }))
}

/// Remember a device of `user_id` for `lifetime` seconds; the cookie's token.
pub async fn remember(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    lifetime: u32,
) -> Result<String, StoreError> {
    let token = crate::model::otp::new_token();
    let now = clock.unix();
    db.write(|tx| {
        let Some(u) = tx.get::<User>(user_id.as_bytes())? else {
            return Ok(());
        };
        let mut m = of_tx(tx, user_id)?;
        m.remembered
            .retain(|r| r.expires_at > now && r.generation == m.generation);
        // A bounded list: the oldest go first.
        while m.remembered.len() >= 20 {
            m.remembered.remove(0);
        }
        m.remembered.push(Remembered {
            digest: digest(&token),
            expires_at: now + i64::from(lifetime),
            password_epoch: u.password_changed_at,
            generation: m.generation,
        });
        tx.put(&m)
    })
    .await?;
    Ok(token)
}

/// Use a recovery code: the user's MFA is removed (every device, the code, remembered
/// devices) and the user mailed. Unknown addresses and wrong codes answer alike; wrong
/// codes count against the user like wrong passwords.
pub async fn recover(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    email: &str,
    code: &str,
) -> Result<(), MfaError> {
    let user = crate::model::email::normalize(email)
        .ok()
        .map(|n| crate::model::user::by_email(db, &n))
        .transpose()?
        .flatten();
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let given = digest(code.trim());
    let Some(user) = user else {
        // The same comparison and one durable write, as a user's wrong code costs (the
        // decoy record belongs to no user: ids are UUIDs).
        let _ = ct_eq(given.as_bytes(), digest("").as_bytes());
        db.write(|tx| {
            tx.put(&UserMfa {
                user_id: crate::model::otp::DECOY_OWNER.to_owned(),
                ..UserMfa::default()
            })
        })
        .await?;
        return Err(MfaError::Invalid("The recovery code is invalid".into()));
    };
    let max = lockout::max_attempts(db, user.login_tenant())?;
    let locked_before = was_locked(db, &user.id)?;
    let done = db
        .write(|tx| {
            let Some(mut u) = tx.get::<User>(user.id.as_bytes())? else {
                return Ok(false);
            };
            let mut m = of_tx(tx, &u.id)?;
            let ok = may_evaluate(&u, now)
                && m.recovery_digest
                    .as_deref()
                    .is_some_and(|d| ct_eq(d.as_bytes(), given.as_bytes()));
            if !ok {
                if may_evaluate(&u, now) {
                    count_wrong(tx, &mut u, max, &at, now)?;
                }
                return Ok(false);
            }
            remove_all(&mut m);
            tx.put(&m)?;
            outbox::queue(tx, &message::mfa_recovered(&u.email).about(&u.id))?;
            Ok::<_, MfaError>(true)
        })
        .await?;
    if !done {
        return Err(
            match wrong(db, clock, links, &user.id, locked_before).await {
                MfaError::Locked => MfaError::Locked,
                _ => MfaError::Invalid("The recovery code is invalid".into()),
            },
        );
    }
    crate::model::session::end_where(db, clock, &user.id, |_| false).await?;
    Ok(())
}

fn remove_all(m: &mut UserMfa) {
    m.authenticators.clear();
    m.phones.clear();
    m.webauthn.clear();
    m.pending_webauthn = None;
    m.recovery_digest = None;
    m.pending_secret = None;
    m.pending_otc = None;
    m.forget_devices();
}

/// Remove every factor of `user_id` (vendor unenrol): devices, recovery code, remembered
/// devices. Whether there was anything to remove.
pub async fn unenroll(db: &Db, user_id: &str) -> Result<bool, StoreError> {
    db.write(|tx| {
        let mut m = of_tx(tx, user_id)?;
        let had = m.enrolled() || m.recovery_digest.is_some() || !m.remembered.is_empty();
        remove_all(&mut m);
        tx.put(&m)?;
        Ok(had)
    })
    .await
}

// ---- Self-service (`users/v1/mfa/*`): the signed-in user enrols and removes factors. ----

/// Whether the policies in force for `user` forbid being left without a factor (read
/// before a transaction: nothing reads the store from inside one).
fn forced(db: &Db, user: &User) -> Result<bool, StoreError> {
    let tenants = user.memberships.iter().map(|x| x.tenant_id.as_str());
    Ok(policy::requirement(db, tenants)?.enforce != policy::Enforce::DontForce)
}

/// Refuse removing the last factor when MFA is forced.
fn guard_last(forced: bool, m: &UserMfa) -> Result<(), MfaError> {
    if forced && !m.enrolled() {
        return Err(MfaError::Enforced);
    }
    Ok(())
}

/// Start an authenticator enrolment: a fresh seed, pending for [`PENDING_TTL`].
pub async fn self_enrol_authenticator(
    db: &Db,
    clock: &Clock,
    user: &User,
) -> Result<[u8; 20], MfaError> {
    if !policy::config(db)?.authenticator {
        return Err(MfaError::Invalid(
            "Authenticator apps are not enabled".into(),
        ));
    }
    let secret = totp::new_secret();
    let fresh = seal::Fresh::new();
    let now = clock.unix();
    db.write(|tx| {
        let mut m = of_tx(tx, &user.id)?;
        if !m.authenticators.is_empty() {
            return Err(MfaError::Invalid(
                "An authenticator app is already enrolled".into(),
            ));
        }
        m.pending_secret = Some((
            seal::seal(tx, &user.id, &secret, &fresh)?,
            now + PENDING_TTL,
        ));
        tx.put(&m)?;
        Ok(())
    })
    .await?;
    Ok(secret)
}

/// Complete the pending authenticator enrolment with a code; the recovery code when it is
/// the user's first factor.
pub async fn self_verify_authenticator(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    user: &User,
    code: &str,
) -> Result<Option<String>, MfaError> {
    let pending = of(db, &user.id)?
        .pending_secret
        .ok_or_else(|| MfaError::Invalid("No authenticator enrolment is in progress".into()))?;
    let seed = seal::open(db, &user.id, &pending.0)?.ok_or(MfaError::BadCodeToken)?;
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let recovery = new_recovery_code();
    let id = crate::crypto::new_uuid().to_string();
    let max = lockout::max_attempts(db, user.login_tenant())?;
    let locked_before = was_locked(db, &user.id)?;
    let out = db
        .write(|tx| {
            let mut m = of_tx(tx, &user.id)?;
            let Some((sealed, exp)) = m.pending_secret.clone().filter(|p| p.0 == pending.0) else {
                return Err(MfaError::BadCodeToken);
            };
            if exp <= now {
                return Err(MfaError::BadCodeToken);
            }
            let mut u = tx
                .get::<User>(user.id.as_bytes())?
                .ok_or(MfaError::BadChallenge)?;
            let step = totp::check(&seed, code, now, 0).filter(|_| may_evaluate(&u, now));
            let Some(step) = step else {
                count_wrong(tx, &mut u, max, &at, now)?;
                return Ok(None);
            };
            let first = !m.enrolled();
            m.pending_secret = None;
            m.authenticators.push(Authenticator {
                id: id.clone(),
                sealed_secret: sealed,
                last_step: step,
                created_at: at.clone(),
            });
            let r = first.then(|| recovery.clone());
            if let Some(r) = &r {
                m.recovery_digest = Some(digest(r));
            }
            tx.put(&m)?;
            Ok(Some(r))
        })
        .await?;
    match out {
        Some(r) => Ok(r),
        None => Err(wrong(db, clock, links, &user.id, locked_before).await),
    }
}

/// Remove an authenticator (the only one, or `device`), proven by its current code.
pub async fn self_disable_authenticator(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    user: &User,
    device: Option<&str>,
    code: &str,
) -> Result<(), MfaError> {
    let m0 = of(db, &user.id)?;
    let a = m0
        .authenticators
        .iter()
        .find(|a| device.is_none_or(|d| d == a.id))
        .ok_or(MfaError::NoDevice)?;
    let seed = seal::open(db, &user.id, &a.sealed_secret)?.ok_or(MfaError::NoDevice)?;
    let id = a.id.clone();
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let max = lockout::max_attempts(db, user.login_tenant())?;
    let locked_before = was_locked(db, &user.id)?;
    let forced = forced(db, user)?;
    let ok = db
        .write(|tx| {
            let mut m = of_tx(tx, &user.id)?;
            let Some(pos) = m.authenticators.iter().position(|a| a.id == id) else {
                return Err(MfaError::NoDevice);
            };
            let mut u = tx
                .get::<User>(user.id.as_bytes())?
                .ok_or(MfaError::NoDevice)?;
            let last = m.authenticators[pos].last_step;
            if totp::check(&seed, code, now, last).is_none() || !may_evaluate(&u, now) {
                count_wrong(tx, &mut u, max, &at, now)?;
                return Ok(false);
            }
            m.authenticators.remove(pos);
            guard_last(forced, &m)?;
            m.forget_devices();
            if !m.enrolled() {
                m.recovery_digest = None;
            }
            tx.put(&m)?;
            Ok(true)
        })
        .await?;
    if ok {
        Ok(())
    } else {
        Err(wrong(db, clock, links, &user.id, locked_before).await)
    }
}

/// Send a self-service SMS code: to a phone being enrolled, or to an enrolled phone being
/// removed. Sends are limited per user and hour.
pub async fn self_send_sms(
    db: &Db,
    clock: &Clock,
    user: &User,
    target: Target,
) -> Result<Sent, MfaError> {
    let config = policy::config(db)?;
    if !config.sms {
        return Err(MfaError::Invalid("SMS is not enabled".into()));
    }
    let otc_token = crate::model::otp::new_token();
    let code = crate::model::otp::new_code();
    let now = clock.unix();
    let ttl = config.sms_ttl;
    let to = db
        .write(|tx| {
            let mut m = of_tx(tx, &user.id)?;
            let to = match &target {
                Target::NewPhone(n) => {
                    if m.phones.iter().any(|p| p.phone_number == *n) {
                        return Err(MfaError::Invalid("This phone is already enrolled".into()));
                    }
                    n.clone()
                }
                Target::RemovePhone(id) => m
                    .phones
                    .iter()
                    .find(|p| p.id == *id)
                    .map(|p| p.phone_number.clone())
                    .ok_or(MfaError::NoDevice)?,
                _ => return Err(MfaError::NoDevice),
            };
            count_send(&mut m, now)?;
            m.pending_otc = Some(Otc::new(
                &otc_token,
                &code,
                target.clone(),
                now + i64::from(ttl),
            ));
            tx.put(&m)?;
            outbox::queue(tx, &message::mfa_sms_code(&to, &code, ttl).about(&user.id))?;
            Ok(to)
        })
        .await?;
    Ok(Sent {
        token: otc_token,
        shown_to: to,
    })
}

/// Complete a self-service SMS step (enrolment or removal) with its code; the recovery
/// code when an enrolment is the user's first factor.
pub async fn self_verify_sms(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    user: &User,
    token: &str,
    code: &str,
    removing: Option<&str>,
) -> Result<Option<String>, MfaError> {
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let recovery = new_recovery_code();
    let id = crate::crypto::new_uuid().to_string();
    let max = lockout::max_attempts(db, user.login_tenant())?;
    let locked_before = was_locked(db, &user.id)?;
    let forced = forced(db, user)?;
    let out = db
        .write(|tx| {
            let mut m = of_tx(tx, &user.id)?;
            let Some(o) = m.pending_otc.clone() else {
                return Err(MfaError::BadCodeToken);
            };
            let fits = match (&o.target, removing) {
                (Target::NewPhone(_), None) => true,
                (Target::RemovePhone(p), Some(d)) => p == d,
                _ => false,
            };
            let mut u = tx
                .get::<User>(user.id.as_bytes())?
                .ok_or(MfaError::NoDevice)?;
            match otc_matches(&o, token, code, now) {
                None => return Err(MfaError::BadCodeToken),
                Some(_) if !fits => return Err(MfaError::BadCodeToken),
                Some(true) if may_evaluate(&u, now) => {}
                Some(_) => {
                    if let Some(p) = &mut m.pending_otc {
                        p.attempts += 1;
                    }
                    tx.put(&m)?;
                    count_wrong(tx, &mut u, max, &at, now)?;
                    return Ok(None);
                }
            }
            m.pending_otc = None;
            let first = !m.enrolled();
            match o.target {
                Target::NewPhone(number) => m.phones.push(Phone {
                    id: id.clone(),
                    phone_number: number,
                    created_at: at.clone(),
                }),
                Target::RemovePhone(pid) => {
                    m.phones.retain(|p| p.id != pid);
                    guard_last(forced, &m)?;
                    m.forget_devices();
                    if !m.enrolled() {
                        m.recovery_digest = None;
                    }
                }
                _ => {}
            }
            let r = (first && m.enrolled()).then(|| recovery.clone());
            if let Some(r) = &r {
                m.recovery_digest = Some(digest(r));
            }
            tx.put(&m)?;
            Ok(Some(r))
        })
        .await?;
    match out {
        Some(r) => Ok(r),
        None => Err(wrong(db, clock, links, &user.id, locked_before).await),
    }
}

// ---- WebAuthn ceremonies, during login (bound to the challenge) and self-service (bound to
// the user). The signature checks are pure (`webauthn`); what they prove is consumed in a
// transaction that finds the same ceremony still in place. ----

/// Where a ceremony lives.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// A login or step-up: the `mfaToken`.
    Login(&'a str),
    /// The signed-in user.
    User(&'a str),
}

/// The relying party a ceremony names: the service name and id.
pub struct Rp<'a> {
    /// Shown by the browser.
    pub name: &'a str,
    /// The id (a host); an assertion uses the one the device was registered under.
    pub id: &'a str,
}

fn new_ceremony(
    token: &str,
    challenge: &[u8],
    rp_id: &str,
    now: i64,
    purpose: Purpose,
) -> Ceremony {
    Ceremony {
        token_digest: digest(token),
        challenge: crate::crypto::b64url(challenge),
        rp_id: rp_id.to_owned(),
        expires_at: now + webauthn::TIMEOUT_MS / 1000,
        purpose,
    }
}

/// Start a ceremony: the `webauthnToken` and the options for the browser.
pub async fn webauthn_begin(
    db: &Db,
    clock: &Clock,
    scope: Scope<'_>,
    purpose: Purpose,
    rp: Rp<'_>,
) -> Result<(String, serde_json::Value), MfaError> {
    let config = policy::config(db)?;
    if !(config.webauthn_platform || config.webauthn_cross_platform) {
        return Err(MfaError::Invalid("WebAuthn is not enabled".into()));
    }
    let token = crate::model::otp::new_token();
    let challenge = random_bytes::<32>();
    let now = clock.unix();
    let key = match scope {
        Scope::Login(t) => digest(t),
        Scope::User(_) => String::new(),
    };
    db.write(|tx| {
        let (user_id, mut challenge_rec) = match scope {
            Scope::Login(_) => {
                let c = tx
                    .get::<Challenge>(key.as_bytes())?
                    .filter(|c| c.expires_at > now && c.attempts < MAX_ATTEMPTS)
                    .ok_or(MfaError::BadChallenge)?;
                (c.user_id.clone(), Some(c))
            }
            Scope::User(u) => (u.to_owned(), None),
        };
        let u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(MfaError::BadChallenge)?;
        let mut m = of_tx(tx, &user_id)?;
        let (rp_id, options) = match &purpose {
            Purpose::Register => {
                if challenge_rec.is_some() && m.enrolled() {
                    return Err(MfaError::Invalid("MFA is already enrolled".into()));
                }
                let exclude: Vec<String> =
                    m.webauthn.iter().map(|d| d.credential_id.clone()).collect();
                let opts = webauthn::creation_options(
                    rp.name, rp.id, &u.id, &u.email, &u.name, &challenge, &exclude,
                );
                (rp.id.to_owned(), opts)
            }
            Purpose::Assert(id) | Purpose::Remove(id) => {
                let d = m
                    .webauthn
                    .iter()
                    .find(|d| d.id == *id)
                    .ok_or(MfaError::NoDevice)?;
                let opts = webauthn::request_options(
                    &d.rp_id,
                    &challenge,
                    std::slice::from_ref(&d.credential_id),
                );
                (d.rp_id.clone(), opts)
            }
        };
        let ceremony = new_ceremony(&token, &challenge, &rp_id, now, purpose.clone());
        match &mut challenge_rec {
            Some(c) => {
                c.webauthn = Some(ceremony);
                tx.put(c)?;
            }
            None => {
                m.pending_webauthn = Some(ceremony);
                tx.put(&m)?;
            }
        }
        Ok(options)
    })
    .await
    .map(|options| (token, options))
}

/// What a finished ceremony did.
#[derive(Debug)]
pub enum Finished {
    /// A login's challenge proven (with any credential it registered).
    Login(Proven),
    /// A self-service registration (the recovery code of a first factor) or removal.
    User(Option<String>),
}

/// What verification outside the transaction decided.
enum Verdict {
    Add(webauthn::Registered),
    Count(String, u32),
    Remove(String),
}

/// The browser's answer to a ceremony.
pub struct Answer<'a> {
    /// The `webauthnToken`.
    pub token: &'a str,
    /// The credential JSON (`publicKeyCredentialToJSON`).
    pub credential: &'a serde_json::Value,
    /// Platform or roaming (registrations).
    pub device_type: Option<DeviceType>,
    /// The device the route names (assertions).
    pub device: Option<&'a str>,
}

/// Finish a ceremony with the browser's answer.
pub async fn webauthn_finish(
    db: &Db,
    clock: &Clock,
    scope: Scope<'_>,
    answer: Answer<'_>,
    origin_ok: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Finished, MfaError> {
    let Answer {
        token,
        credential,
        device_type,
        device,
    } = answer;
    let now = clock.unix();
    let key = match scope {
        Scope::Login(t) => digest(t),
        Scope::User(_) => String::new(),
    };
    let (user_id, ceremony) = match scope {
        Scope::Login(_) => {
            let c = db
                .get::<Challenge>(key.as_bytes())?
                .filter(|c| c.expires_at > now && c.attempts < MAX_ATTEMPTS)
                .ok_or(MfaError::BadChallenge)?;
            (c.user_id.clone(), c.webauthn)
        }
        Scope::User(u) => (u.to_owned(), of(db, u)?.pending_webauthn),
    };
    let ceremony = ceremony
        .filter(|c| {
            ct_eq(c.token_digest.as_bytes(), digest(token).as_bytes()) && c.expires_at > now
        })
        .ok_or(MfaError::BadCodeToken)?;
    let fits = match (&ceremony.purpose, device) {
        (Purpose::Register, None) => true,
        (Purpose::Assert(id) | Purpose::Remove(id), Some(d)) => id == d,
        _ => false,
    };
    if !fits {
        return Err(MfaError::BadCodeToken);
    }
    let m = of(db, &user_id)?;
    let config = policy::config(db)?;
    let challenge = crate::crypto::unb64url(&ceremony.challenge).unwrap_or_default();
    let exp = webauthn::Expected {
        challenge: &challenge,
        rp_id: &ceremony.rp_id,
        origin_ok,
    };
    let verdict = match &ceremony.purpose {
        Purpose::Register => {
            let dt = device_type.unwrap_or(DeviceType::CrossPlatform);
            if !config.active(dt.strategy()) {
                return Err(MfaError::Invalid(format!(
                    "{} is not enabled",
                    dt.strategy().name()
                )));
            }
            webauthn::verify_registration(credential, &exp).map(Verdict::Add)
        }
        Purpose::Assert(id) | Purpose::Remove(id) => {
            let d = m
                .webauthn
                .iter()
                .find(|d| d.id == *id)
                .ok_or(MfaError::NoDevice)?;
            webauthn::verify_assertion(
                credential,
                &exp,
                &d.credential_id,
                &d.key,
                d.sign_count,
                user_id.as_bytes(),
            )
            .map(|n| match ceremony.purpose {
                Purpose::Remove(_) => Verdict::Remove(id.clone()),
                _ => Verdict::Count(id.clone(), n),
            })
        }
    };
    if let Err(e) = &verdict {
        tracing::info!(user.id = %user_id, reason = e.0, "WebAuthn verification refused");
    }
    let forced = match db.get::<User>(user_id.as_bytes())? {
        Some(u) => forced(db, &u)?,
        None => false,
    };
    let at = rfc3339(clock.now());
    let recovery = new_recovery_code();
    let new_id = crate::crypto::new_uuid().to_string();
    let dt = device_type.unwrap_or(DeviceType::CrossPlatform);
    let out = db
        .write(|tx| {
            let mut m = of_tx(tx, &user_id)?;
            let mut c = match scope {
                Scope::Login(_) => Some(
                    tx.get::<Challenge>(key.as_bytes())?
                        .ok_or(MfaError::BadChallenge)?,
                ),
                Scope::User(_) => None,
            };
            let live = match &c {
                Some(c) => c.webauthn.as_ref(),
                None => m.pending_webauthn.as_ref(),
            };
            if live.is_none_or(|l| l.token_digest != ceremony.token_digest) {
                return Err(MfaError::BadCodeToken);
            }
            // Single use, whatever the verdict.
            match &mut c {
                Some(c) => c.webauthn = None,
                None => m.pending_webauthn = None,
            }
            let Ok(v) = &verdict else {
                if let Some(c) = &mut c {
                    c.attempts += 1;
                    if c.attempts >= MAX_ATTEMPTS {
                        tx.delete::<Challenge>(key.as_bytes())?;
                    } else {
                        tx.put(c)?;
                    }
                } else {
                    tx.put(&m)?;
                }
                return Ok(None);
            };
            let first = !m.enrolled();
            match v {
                Verdict::Add(r) => {
                    if m.webauthn
                        .iter()
                        .any(|d| d.credential_id == r.credential_id)
                    {
                        return Err(MfaError::Invalid(
                            "This authenticator is already enrolled".into(),
                        ));
                    }
                    m.webauthn.push(WebAuthnDevice {
                        id: new_id.clone(),
                        credential_id: r.credential_id.clone(),
                        key: r.key.clone(),
                        sign_count: r.sign_count,
                        device_type: dt,
                        name: match dt {
                            DeviceType::Platform => "Built-in authenticator".into(),
                            DeviceType::CrossPlatform => "Security key".into(),
                        },
                        rp_id: ceremony.rp_id.clone(),
                        created_at: at.clone(),
                    });
                }
                Verdict::Count(id, n) => {
                    let d = m
                        .webauthn
                        .iter_mut()
                        .find(|d| d.id == *id)
                        .ok_or(MfaError::NoDevice)?;
                    if (*n != 0 || d.sign_count != 0) && *n <= d.sign_count {
                        return Err(MfaError::Invalid("WebAuthn verification failed".into()));
                    }
                    d.sign_count = *n;
                }
                Verdict::Remove(id) => {
                    m.webauthn.retain(|d| d.id != *id);
                    guard_last(forced, &m)?;
                    m.forget_devices();
                    if !m.enrolled() {
                        m.recovery_digest = None;
                    }
                }
            }
            let r = (first && m.enrolled()).then(|| recovery.clone());
            if let Some(r) = &r {
                m.recovery_digest = Some(digest(r));
            }
            tx.put(&m)?;
            Ok(Some(match c {
                Some(c) => {
                    tx.delete::<Challenge>(key.as_bytes())?;
                    Finished::Login(Proven {
                        user_id: c.user_id.clone(),
                        tenant_id: c.tenant_id.clone(),
                        method: Method::Hwk,
                        step_up_session: c.step_up_session.clone(),
                        recovery_code: r,
                    })
                }
                None => Finished::User(r),
            }))
        })
        .await?;
    out.ok_or_else(|| MfaError::Invalid("WebAuthn verification failed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalised_and_masked() {
        assert_eq!(
            normalize_phone("+1 (555) 010-9999").unwrap(),
            "+15550109999"
        );
        for bad in ["5550109999", "+12", "+1234567890123456", "+1555abc9999", ""] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
        assert_eq!(mask_phone("+15550109999"), "+*********99");
    }

    #[test]
    fn recovery_codes_are_random_and_long() {
        let codes: std::collections::HashSet<String> =
            (0..1000).map(|_| new_recovery_code()).collect();
        assert_eq!(codes.len(), 1000);
        assert!(codes.iter().all(|c| c.len() == 20));
    }
}
