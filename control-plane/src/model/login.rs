//! Logging in with a password, the session it opens, refreshing and ending the session, and
//! unlocking a locked account.
//!
//! Invariants:
//! - One check decides whether a user's password is right ([`check_password`]) — login and
//!   every route that asks for the password again: reserved first (`lockout::reserve`), a
//!   wrong one counted toward the lockout and the hourly budget in the same transaction that
//!   releases the reservation. A hash imported by a migration is replaced by argon2id in
//!   that same transaction once the password proved it (`hashing::imported`).
//! - An unknown address, a wrong password, a locked user and a spent budget cost the same:
//!   one argon2 verification, the same two durable writes ([`check_unknown`] writes a
//!   user-shaped record nobody owns), the same answer (`security.md` C1, D1, M6, M7).
//! - A session is opened, refreshed or ended against the stored records in one transaction:
//!   a lock or removal that landed since the password check wins; a rotated-out refresh
//!   token presented again ends its session.

use serde::{Deserialize, Serialize};
use shared::claims::{AccessClaims, TokenType};

use super::api_token::Issuance;
use super::clock::{Clock, rfc3339};
use super::lockout;
use super::message::{self, Links};
use super::otp::{self, Purpose};
use super::outbox;
use super::session::{self, Session};
use super::user::{self, User};
use super::vendor_config::VendorConfig;
use crate::hashing::{self, Hasher};
use crate::store::{Db, Record, StoreError, Tree};

/// Unlock links live this long.
pub const UNLOCK_TTL: i64 = 24 * 3600;

/// Why a login, refresh or unlock did not go through.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Wrong address, password or state: one answer for all.
    #[error("Incorrect email or password")]
    BadCredentials,
    /// The environment does not let unverified users in.
    #[error("User is not verified")]
    NotVerified,
    /// No enabled membership to log in to.
    #[error("The user has no active account")]
    NoAccount,
    /// A refresh token that names no live session.
    #[error("Unauthorized")]
    Refused,
    /// A single-use link that is invalid or expired.
    #[error("{0}")]
    BadLink(&'static str),
    /// Input that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// Hashing refused or failed.
    #[error(transparent)]
    Password(#[from] hashing::PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a counted password check decided.
pub enum PasswordCheck {
    /// The user's password (the user as stored after the check).
    Correct(Box<User>),
    /// Wrong, or not evaluated (locked, budget spent, gone): all alike.
    Wrong,
}

/// Where an unknown address's checks leave their trace: a user-shaped record in the
/// metadata tree that belongs to no one and is never listed.
const DECOY_KEY: &[u8] = b"login-decoy";

/// The decoy, stored like a user so writing it costs what writing a user does.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Decoy(User);

impl Record for Decoy {
    const TREE: Tree = Tree::Meta;
    fn key(&self) -> Vec<u8> {
        DECOY_KEY.to_vec()
    }
}

fn decoy_user(at: &str) -> User {
    let mut u = User::new_member(
        "decoy@login.invalid",
        "decoy@login.invalid".into(),
        &crate::crypto::new_uuid().to_string(),
        vec![crate::crypto::new_uuid().to_string()],
        at,
    );
    u.name = "Login Decoy".into();
    u.verified = true;
    u.invisible = true;
    // The shape of a real PHC string (never checked).
    u.password_hash = Some(format!(
        "$argon2id$v=19$m=19456,t=2,p=1${}${}",
        "A".repeat(22),
        "A".repeat(43)
    ));
    u.active_tenant_id = None;
    u
}

/// The one counted check of `user_id`'s password. A wrong one counts; at the lock the user
/// is locked (an event) and gets a single-use unlock link, queued in the same transaction.
pub async fn check_password(
    db: &Db,
    clock: &Clock,
    hasher: &Hasher,
    links: Links<'_>,
    user_id: &str,
    password: &str,
) -> Result<PasswordCheck, LoginError> {
    let Some(stored) = db.get::<User>(user_id.as_bytes())? else {
        check_unknown(db, clock, hasher, password).await?;
        return Ok(PasswordCheck::Wrong);
    };
    let max = lockout::max_attempts(db, stored.login_tenant())?;
    let check = crate::crypto::new_uuid().to_string();
    let now = clock.unix();
    let reserved = db
        .write(|tx| {
            let Some(mut u) = tx.get::<User>(user_id.as_bytes())? else {
                return Ok(None);
            };
            let evaluate = lockout::reserve(&mut u, max, &check, now);
            tx.put(&u)?;
            Ok::<_, LoginError>(Some((evaluate, u.password_hash.clone())))
        })
        .await?;
    let Some((evaluate, hash)) = reserved else {
        check_unknown(db, clock, hasher, password).await?;
        return Ok(PasswordCheck::Wrong);
    };
    let imported = hash
        .clone()
        .filter(|h| evaluate && hashing::needs_rehash(h));
    let correct = hashing::verify(
        hasher,
        password.to_owned(),
        if evaluate { hash } else { None },
    )
    .await;
    // An imported hash, once proven, is replaced by Tessera's own — if the password did not
    // change meanwhile.
    let rehashed = match (&correct, imported) {
        (Ok(true), Some(old)) => Some((old, hashing::hash(hasher, password.to_owned()).await)),
        _ => None,
    };
    // Released whatever the hash said (an overload too).
    let (correct, rehashed) = match (correct, rehashed) {
        (Ok(c), None) => (evaluate && c, None),
        (Ok(c), Some((old, Ok(new)))) => (evaluate && c, Some((old, new))),
        (Err(e), _) | (_, Some((_, Err(e)))) => {
            release(db, user_id, &check).await?;
            return Err(e.into());
        }
    };
    let token = otp::new_token();
    let at = rfc3339(clock.now());
    let now = clock.unix();
    let outcome = db
        .write(|tx| {
            let Some(mut u) = tx.get::<User>(user_id.as_bytes())? else {
                return Ok(None);
            };
            lockout::release(&mut u, &check);
            if let Some((old, new)) = &rehashed
                && u.password_hash.as_ref() == Some(old)
            {
                u.password_hash = Some(new.clone());
            }
            let mut locked = false;
            if !correct {
                u.failed_logins = u.failed_logins.saturating_add(1);
                lockout::count_in_window(&mut u, now);
                if !u.is_locked && max.is_some_and(|m| u.failed_logins >= m) {
                    u.is_locked = true;
                    locked = true;
                    super::event::Event::UserLocked { user: &u.id }.record(tx, &at)?;
                    otp::issue(tx, &token, Purpose::Unlock, &u.id, now + UNLOCK_TTL)?;
                    outbox::queue(tx, &message::unlock(links, &u.email, &token).about(&u.id))?;
                }
            }
            tx.put(&u)?;
            Ok::<_, LoginError>(Some((u, locked)))
        })
        .await?;
    match outcome {
        Some((u, true)) => {
            tracing::warn!(user.id = %u.id, "account locked after repeated failed logins");
            Ok(PasswordCheck::Wrong)
        }
        Some((u, false)) if correct => Ok(PasswordCheck::Correct(Box::new(u))),
        _ => Ok(PasswordCheck::Wrong),
    }
}

async fn release(db: &Db, user_id: &str, check: &str) -> Result<(), StoreError> {
    db.write(|tx| {
        if let Some(mut u) = tx.get::<User>(user_id.as_bytes())? {
            lockout::release(&mut u, check);
            tx.put(&u)?;
        }
        Ok(())
    })
    .await
}

/// A check for an address that is nobody's: what [`check_password`] does for a user, step
/// for step — the policy read, a reservation written, an argon2 verification, the failure
/// written — on the decoy, so the two cannot be told apart by timing.
pub async fn check_unknown(
    db: &Db,
    clock: &Clock,
    hasher: &Hasher,
    password: &str,
) -> Result<(), LoginError> {
    // The reads a user's check makes: its record, its policy.
    let _ = db.get::<Decoy>(DECOY_KEY)?;
    let max = lockout::max_attempts(db, None)?;
    let check = crate::crypto::new_uuid().to_string();
    let at = rfc3339(clock.now());
    let now = clock.unix();
    db.write(|tx| {
        let mut d = tx
            .get::<Decoy>(DECOY_KEY)?
            .unwrap_or_else(|| Decoy(decoy_user(&at)));
        lockout::reserve(&mut d.0, max, &check, now);
        // The decoy is never locked and never runs out: its counts wrap.
        d.0.checks.retain(|c| c.id == check);
        tx.put(&d)?;
        Ok::<_, LoginError>(())
    })
    .await?;
    hashing::verify(hasher, password.to_owned(), None).await?;
    db.write(|tx| {
        let mut d = tx
            .get::<Decoy>(DECOY_KEY)?
            .unwrap_or_else(|| Decoy(decoy_user(&at)));
        lockout::release(&mut d.0, &check);
        d.0.failed_logins = d.0.failed_logins.wrapping_add(1) % 1000;
        lockout::count_in_window(&mut d.0, now);
        d.0.failures_in_window %= lockout::HOURLY_FAILURE_BUDGET;
        d.0.last_login = Some(at.clone());
        tx.put(&d)?;
        Ok::<_, LoginError>(())
    })
    .await?;
    Ok(())
}

/// The user a login names: by normalised address, or by username.
pub fn find(
    db: &Db,
    email: Option<&str>,
    username: Option<&str>,
) -> Result<Option<User>, LoginError> {
    match (email, username) {
        (Some(e), _) => match super::email::normalize(e) {
            Ok(n) => Ok(user::by_email(db, &n)?),
            Err(_) => Ok(None),
        },
        (None, Some(name)) => Ok(user::by_username(db, name)?),
        (None, None) => Err(LoginError::Invalid("email or username is required".into())),
    }
}

/// The account a verified password logs `user` in to, if the environment admits it.
pub fn admit(config: &VendorConfig, user: &User) -> Result<String, LoginError> {
    if !user.verified && !config.allow_not_verified_users_login {
        return Err(LoginError::NotVerified);
    }
    user.login_tenant()
        .map(str::to_owned)
        .ok_or(LoginError::NoAccount)
}

/// Where a password stands against the expiration policy in force.
pub enum Expiry {
    /// No policy, or far from expiry.
    Fresh,
    /// Expires in `left` minutes, within the policy's `period` of warning.
    Soon { left: i64, period: u32 },
    /// Expired: no tokens; a reset token instead.
    Expired { reset_token: String },
}

/// The password's expiry for a login of `user` to `tenant`; an expired one is issued a
/// one-hour reset token.
pub async fn expiry(
    db: &Db,
    clock: &Clock,
    user: &User,
    tenant: &str,
) -> Result<Expiry, LoginError> {
    let now = clock.unix();
    let rotation = super::password_policy::rotation(db, Some(tenant))?.filter(|p| p.is_active);
    let (Some(p), Some(changed)) = (rotation, user.password_changed_at) else {
        return Ok(Expiry::Fresh);
    };
    let expires_at = changed + i64::from(p.rotation_period) * 60;
    if now >= expires_at {
        let token = otp::new_token();
        db.write(|tx| otp::issue(tx, &token, Purpose::PasswordReset, &user.id, now + 3600))
            .await?;
        return Ok(Expiry::Expired { reset_token: token });
    }
    let left = (expires_at - now) / 60;
    Ok(if left <= i64::from(p.notification_period) {
        Expiry::Soon {
            left,
            period: p.notification_period,
        }
    } else {
        Expiry::Fresh
    })
}

/// An opened or refreshed session: the user and session as stored, and the refresh token.
pub struct Opened {
    /// The user.
    pub user: User,
    /// The session.
    pub session: Session,
    /// The refresh token (for the cookie and the reply).
    pub refresh: String,
}

/// Open a session for `user` in `tenant` and record the login. The concurrent-session limit
/// ends the oldest beyond it in the same transaction; a lock or removal that landed since
/// the password check wins.
pub async fn open_session(
    db: &Db,
    clock: &Clock,
    config: &VendorConfig,
    user: &User,
    tenant: &str,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<Opened, LoginError> {
    let sid = session::new_id();
    open_session_as(
        db,
        clock,
        config,
        user,
        tenant,
        (ip, user_agent),
        sid,
        Vec::new(),
    )
    .await
}

/// [`open_session`] under an id chosen beforehand (an authorization code records the
/// session its redemption opens before it opens), recording the methods beyond the first
/// factor (`amr`) that proved the login.
#[allow(clippy::too_many_arguments)]
pub async fn open_session_as(
    db: &Db,
    clock: &Clock,
    config: &VendorConfig,
    user: &User,
    tenant: &str,
    (ip, user_agent): (Option<String>, Option<String>),
    sid: String,
    amr: Vec<String>,
) -> Result<Opened, LoginError> {
    let now = clock.unix();
    let (refresh, digest) = session::new_refresh_token();
    let s = Session {
        id: sid,
        user_id: user.id.clone(),
        tenant_id: tenant.to_owned(),
        refresh_sha256: digest,
        created_at: now,
        expires_at: now + i64::from(config.default_refresh_token_expiration),
        last_used_at: now,
        ip,
        user_agent,
        rotated_sha256: Vec::new(),
        amr,
    };
    let at = rfc3339(clock.now());
    let policy = session::effective_policy(db, tenant)?;
    let max = policy
        .session_concurrent_configuration
        .is_active
        .then_some(policy.session_concurrent_configuration.max_sessions.max(1));
    let user = db
        .write(|tx| {
            let mut u = tx
                .get::<User>(user.id.as_bytes())?
                .ok_or(LoginError::BadCredentials)?;
            if u.is_locked || u.expired(now) || u.membership(tenant).is_none_or(|m| m.disabled) {
                return Err(LoginError::BadCredentials);
            }
            u.last_login = Some(at.clone());
            u.failed_logins = 0;
            u.active_tenant_id = Some(tenant.to_owned());
            tx.put(&u)?;
            session::open(tx, &s, max, &at)?;
            Ok(u)
        })
        .await?;
    Ok(Opened {
        user,
        session: s,
        refresh,
    })
}

/// The live session a refresh token names (its current or a rotated-out token), read
/// before a refresh so the account's rules can be checked first.
pub fn session_of(db: &Db, refresh_token: &str) -> Result<Session, LoginError> {
    session::by_refresh_token(db, &session::refresh_digest(refresh_token))?
        .ok_or(LoginError::Refused)
}

/// Who a refresh token signs in now, without using it: the live session whose *current*
/// token it is (a rotated-out token signs nobody in), within its account's session policy,
/// and its user, who may still log in to that account. (The hosted login's authorization
/// endpoint asks this of its cookie.)
pub fn signed_in(
    db: &Db,
    clock: &Clock,
    refresh_token: &str,
) -> Result<Option<(Session, User)>, LoginError> {
    let digest = session::refresh_digest(refresh_token);
    let now = clock.unix();
    let Some(s) = db.find(session::BY_REFRESH, digest.as_bytes())? else {
        return Ok(None);
    };
    if !session::effective_policy(db, &s.tenant_id)?.allows(&s, now) {
        return Ok(None);
    }
    let Some(u) = db.get::<User>(s.user_id.as_bytes())? else {
        return Ok(None);
    };
    if u.is_locked || u.expired(now) || u.membership(&s.tenant_id).is_none_or(|m| m.disabled) {
        return Ok(None);
    }
    Ok(Some((s, u)))
}

/// The account a refresh issues for: the one asked for, else the user's active account
/// (`PUT users/v1/tenant` switched it: the login box refreshes at once and expects a token
/// for it), else the session's own.
pub fn refresh_target(session: &Session, user: &User, requested: Option<&str>) -> String {
    requested
        .map(str::to_owned)
        .or_else(|| {
            user.active_tenant_id
                .clone()
                .filter(|t| user.membership(t).is_some_and(|m| !m.disabled))
        })
        .unwrap_or_else(|| session.tenant_id.clone())
}

/// Refresh `session` (as just read by its refresh token) with `refresh_token`, into
/// `target` (another of the user's accounts) when given; with rotation on, a new refresh
/// token. A rotated-out token presented again, or a session past its policy's limits, ends
/// the session (committed even though the refresh is refused).
pub async fn refresh(
    db: &Db,
    clock: &Clock,
    config: &VendorConfig,
    session: &Session,
    refresh_token: &str,
    target: Option<&str>,
) -> Result<Opened, LoginError> {
    let digest = session::refresh_digest(refresh_token);
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let sid = session.id.as_str();
    // The policy of the account the session was read in (the transaction re-reads the
    // session itself and refuses it if its token moved on).
    let policy = session::effective_policy(db, &session.tenant_id)?;
    let outcome = db
        .write(|tx| {
            let Some(mut s) = tx.get::<Session>(sid.as_bytes())? else {
                return Ok(None);
            };
            if s.refresh_sha256 != digest || !policy.allows(&s, now) {
                // A rotated token replayed (or a lost race), or past the limits: ended.
                session::revoke(tx, &s, &at)?;
                return Ok(None);
            }
            let Some(mut u) = tx.get::<User>(s.user_id.as_bytes())? else {
                return Ok(None);
            };
            let tenant = refresh_target(&s, &u, target);
            if u.is_locked || u.expired(now) || u.membership(&tenant).is_none_or(|m| m.disabled) {
                return Ok(None);
            }
            let refresh = if config.rotate_refresh_tokens {
                session::rotate(&mut s)
            } else {
                refresh_token.to_owned()
            };
            s.tenant_id = tenant.clone();
            s.last_used_at = now;
            tx.put(&s)?;
            if u.active_tenant_id.as_deref() != Some(tenant.as_str()) {
                u.active_tenant_id = Some(tenant);
                tx.put(&u)?;
            }
            Ok::<_, LoginError>(Some(Opened {
                user: u,
                session: s,
                refresh,
            }))
        })
        .await?;
    outcome.ok_or(LoginError::Refused)
}

/// End the session whose current refresh token this is (an unknown one changes nothing).
pub async fn logout(db: &Db, clock: &Clock, refresh_token: &str) -> Result<(), LoginError> {
    let digest = session::refresh_digest(refresh_token);
    let at = rfc3339(clock.now());
    db.write(|tx| {
        if let Some(s) = tx.find(session::BY_REFRESH, digest.as_bytes())? {
            session::revoke(tx, &s, &at)?;
        }
        Ok(())
    })
    .await
}

/// Unlock an account with the single-use link mailed when it was locked.
pub async fn unlock(db: &Db, clock: &Clock, token: &str) -> Result<(), LoginError> {
    let now = clock.unix();
    let done = db
        .write(|tx| {
            let Some(uid) = otp::consume(tx, token, Purpose::Unlock, now)? else {
                return Ok(false);
            };
            let Some(mut u) = tx.get::<User>(uid.as_bytes())? else {
                return Ok(false);
            };
            u.is_locked = false;
            u.failed_logins = 0;
            tx.put(&u)?;
            Ok::<_, LoginError>(true)
        })
        .await?;
    if done {
        Ok(())
    } else {
        Err(LoginError::BadLink(
            "The unlock link is invalid or has expired",
        ))
    }
}

/// How a login authenticated beyond its first factor: the step-up claims of the tokens it
/// issues (`compat-wave2.md` §2.4). Refreshed tokens carry none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authn {
    /// RFC 8176 methods (`pwd`, `mfa`, `otp`|`sms`|`hwk`).
    pub amr: Vec<String>,
    /// When the second factor was proven, Unix seconds.
    pub auth_time: i64,
}

/// The claims of a user token for `user` in `tenant` and session `sid`, issued `now`: its
/// effective roles and permissions there (as the environment puts them in tokens), and the
/// step-up claims of a multi-factor login, shaped by the JWT template the targeting chooses
/// (`jwt_template::shape`). The one builder of user-token claims.
#[allow(clippy::too_many_arguments)]
pub fn user_claims(
    db: &Db,
    config: &VendorConfig,
    user: &User,
    tenant: &str,
    sid: &str,
    now: i64,
    who: Issuance<'_>,
    authn: Option<&Authn>,
) -> Result<super::jwt_template::Shaped, LoginError> {
    let groups = super::group::granting_for(db, &user.id, tenant)?;
    let eff = super::authz::effective(user, tenant, &groups, db)?;
    let metadata =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&user.metadata)
            .unwrap_or_default();
    let role_ids = user
        .membership(tenant)
        .map(|m| m.role_ids.clone())
        .unwrap_or_default();
    let facts = super::jwt_template::Facts {
        user_id: Some(&user.id),
        email: Some(&user.email),
        tenant_id: tenant,
        application_id: who.application,
        token_type: TokenType::UserToken,
        role_ids: &role_ids,
    };
    super::jwt_template::shape(db, &facts, who.ttl, |ttl| {
        Ok(AccessClaims {
            sub: user.id.clone(),
            token_type: TokenType::UserToken,
            tenant_id: tenant.to_owned(),
            tenant_ids: user.tenant_ids(),
            roles: if config.add_roles_to_jwt {
                eff.role_keys()
            } else {
                Vec::new()
            },
            permissions: if config.add_permissions_to_jwt {
                eff.permission_keys()
            } else {
                Vec::new()
            },
            application_id: who.application.to_owned(),
            iss: who.issuer.to_owned(),
            aud: who.audience.to_owned(),
            iat: now,
            // A temporary user's tokens end with the user.
            exp: Some(user.expires_at.map_or(now + ttl, |end| end.min(now + ttl))),
            sid: Some(sid.to_owned()),
            user_id: Some(user.id.clone()),
            email: Some(user.email.clone()),
            email_verified: Some(user.verified),
            name: Some(user.name.clone()),
            profile_picture_url: user.profile_picture_url.clone(),
            metadata: Some(metadata),
            super_user: user.super_user.then_some(true),
            acr: authn.map(|_| shared::claims::STEP_UP_ACR.to_owned()),
            amr: authn.map(|a| a.amr.clone()),
            auth_time: authn.map(|a| a.auth_time),
            jti: None,
            nbf: None,
            act: None,
        })
    })
}
