//! Self-service signup and activation: a signup creates an account and its first user (who
//! gets the first-user roles, `Admin` by default) and mails an activation link and code;
//! activation verifies the user, setting a password if it has none.
//!
//! Invariants:
//! - Nothing a signup answers tells whether the address had an account: for a taken
//!   address the reply carries fresh ids and a token that activates nothing, one more
//!   durable write happens in its place, and the owner gets a notice instead.
//! - Activation tokens are single use and expire; five wrong codes burn a code token.

use serde_json::Value;

use super::clock::{Clock, rfc3339};
use super::message::{self, Links};
use super::otp::{self, Purpose};
use super::outbox;
use super::tenant::Tenant;
use super::user::{self, User};
use crate::hashing::{self, Hasher};
use crate::store::{Db, StoreError, Tx};

/// Activation links live this long.
pub const ACTIVATION_TTL: i64 = 24 * 3600;

/// Why a signup or activation did not go through; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    /// The environment closed signups.
    #[error("Sign up is disabled")]
    Closed,
    /// Usernames are public handles: a taken one is said to be.
    #[error("this username is taken")]
    UsernameTaken,
    /// An activation link or token that is invalid or expired.
    #[error("The activation link is invalid or has expired")]
    BadToken,
    /// A wrong activation code (counted against the token).
    #[error("The activation code is incorrect")]
    WrongCode,
    /// Activating a user without a password needs one.
    #[error("a password is required to activate this account")]
    NeedsPassword,
    /// The user is active already.
    #[error("the user is already activated")]
    AlreadyActive,
    /// No such user.
    #[error("User not found")]
    NotFound,
    /// Input that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// A text field out of bounds.
    #[error(transparent)]
    Text(#[from] super::text::TextError),
    /// Metadata that is not an object or is too large.
    #[error(transparent)]
    Json(#[from] super::json::JsonError),
    /// A password the policy refuses.
    #[error(transparent)]
    Setting(#[from] super::setting::SettingError),
    /// Hashing refused or failed.
    #[error(transparent)]
    Password(#[from] hashing::PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a signup asks for.
#[derive(Clone, Debug, Default)]
pub struct SignUp {
    /// The address (required unless a username is given).
    pub email: Option<String>,
    /// A username to log in with.
    pub username: Option<String>,
    /// A password (required with a username and no address).
    pub password: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// The new account's name (default: the address or username).
    pub company_name: Option<String>,
    /// A JSON object.
    pub metadata: Option<Value>,
}

/// What a signup answers, the same shape for a new and a taken address.
#[derive(Clone, Debug)]
pub struct SignedUp {
    /// Whether the user must activate (it has an address).
    pub should_activate: bool,
    /// The user's id (fresh and unused for a taken address).
    pub user_id: String,
    /// The account's id (likewise).
    pub tenant_id: String,
    /// The token `activate/code` takes with the mailed code.
    pub activation_token: Option<String>,
}

async fn hash_checked(
    db: &Db,
    hasher: &Hasher,
    tenant: Option<&str>,
    password: Option<String>,
) -> Result<Option<String>, SignupError> {
    match password {
        Some(p) if p.is_empty() => Err(SignupError::Invalid("password must not be empty".into())),
        Some(p) => {
            super::password_policy::enforce(db, tenant, &p)?;
            Ok(Some(hashing::hash(hasher, p).await?))
        }
        None => Ok(None),
    }
}

/// Create an account and its first user, or — for a taken address — do as much and create
/// nothing. Returns the reply and the mail to send.
pub async fn sign_up(
    db: &Db,
    clock: &Clock,
    hasher: &Hasher,
    links: Links<'_>,
    form: SignUp,
) -> Result<SignedUp, SignupError> {
    if !super::vendor_config::current(db)?.allow_signups {
        return Err(SignupError::Closed);
    }
    if let Some(name) = &form.username {
        user::validate_username(name).map_err(|e| SignupError::Invalid(e.into()))?;
        if form.password.as_deref().is_none_or(str::is_empty) && form.email.is_none() {
            return Err(SignupError::Invalid(
                "a password is required to sign up with a username and no email".into(),
            ));
        }
    }
    let email_norm = match &form.email {
        Some(e) => super::email::normalize(e).map_err(|e| SignupError::Invalid(e.to_string()))?,
        None => String::new(),
    };
    let password_hash = hash_checked(db, hasher, None, form.password.clone()).await?;
    let display = form
        .email
        .as_deref()
        .or(form.username.as_deref())
        .unwrap_or_default()
        .trim()
        .to_owned();
    let name = super::text::checked("name", form.name.as_deref().unwrap_or(""), 255, false)?;
    let company = super::text::checked(
        "companyName",
        form.company_name.as_deref().unwrap_or(&display),
        255,
        true,
    )?;
    let metadata = user::metadata_text(form.metadata.as_ref())?;
    let first_roles: Vec<String> = super::rbac::all_roles(db)?
        .into_iter()
        .filter(|r| r.first_user_role && r.tenant_id.is_none())
        .map(|r| r.id)
        .collect();
    let now = rfc3339(clock.now());
    let tenant_id = crate::crypto::new_uuid().to_string();
    let has_address = !email_norm.is_empty();
    let mut u = User::new_member(
        form.email.as_deref().unwrap_or_default(),
        email_norm,
        &tenant_id,
        first_roles,
        &now,
    );
    u.name = name;
    u.metadata = metadata;
    u.password_changed_at = password_hash.as_ref().map(|_| clock.unix());
    u.password_hash = password_hash;
    // Nothing to verify without an address.
    u.verified = !has_address;
    u.username = form.username.clone();
    let tenant = Tenant {
        id: crate::crypto::new_uuid().to_string(),
        tenant_id: tenant_id.clone(),
        name: company,
        metadata: serde_json::Map::new(),
        profile: Default::default(),
        created_at: now.clone(),
        updated_at: now,
    };
    let link_token = otp::new_token();
    let code_token = otp::new_token();
    let code = otp::new_code();
    let expires = clock.unix() + ACTIVATION_TTL;
    // The activation strategy: the link alone, or the link and the code.
    let with_code = super::identity_settings::current(db)?.activation.strategy
        == super::identity_settings::LinkOrCode::Code;
    db.write(|tx| {
        if let Some(name) = &u.username
            && user::username_owner(tx, name)?.is_some()
        {
            return Err(SignupError::UsernameTaken);
        }
        if has_address && let Some(owner) = user::email_owner(tx, &u.email_norm)? {
            // The reply's token must behave as a new account's would: a wrong code is
            // "incorrect", five burn it. It is bound to the fresh id of a user that is
            // never created, so even the right code activates nothing.
            otp::issue_with_code(tx, &code_token, &code, &u.id, expires)?;
            if let Some(o) = tx.get::<User>(owner.as_bytes())? {
                outbox::queue(tx, &message::signup_existing(&o.email).about(&o.id))?;
            }
            return Ok(());
        }
        tx.put(&tenant)?;
        tx.put(&u)?;
        if has_address {
            otp::issue(tx, &link_token, Purpose::Activation, &u.id, expires)?;
            otp::issue_with_code(tx, &code_token, &code, &u.id, expires)?;
            let mail = message::activation(
                links,
                &u.email,
                &u.id,
                &link_token,
                with_code.then_some(code.as_str()),
            )
            .about(&u.id);
            outbox::queue(tx, &mail)?;
        }
        Ok(())
    })
    .await?;
    Ok(SignedUp {
        should_activate: has_address,
        user_id: u.id,
        tenant_id,
        activation_token: has_address.then_some(code_token),
    })
}

/// The hash of the password an activation sets (checked against the user's account policy).
async fn activation_password(
    db: &Db,
    hasher: &Hasher,
    user_id: &str,
    password: Option<String>,
) -> Result<Option<String>, SignupError> {
    match password {
        Some(p) if !p.is_empty() => {
            let tenant = db
                .get::<User>(user_id.as_bytes())?
                .and_then(|u| u.login_tenant().map(str::to_owned));
            hash_checked(db, hasher, tenant.as_deref(), Some(p)).await
        }
        _ => Ok(None),
    }
}

/// Verify the user, setting the password if it has none (one is then required).
fn mark_verified(
    tx: &mut Tx<'_>,
    uid: &str,
    new_hash: &Option<String>,
    now: i64,
) -> Result<User, SignupError> {
    let mut u = tx
        .get::<User>(uid.as_bytes())?
        .ok_or(SignupError::BadToken)?;
    if u.password_hash.is_none() {
        let h = new_hash.clone().ok_or(SignupError::NeedsPassword)?;
        u.set_password(h, now);
    }
    u.verified = true;
    tx.put(&u)?;
    Ok(u)
}

/// Activate `user_id` with the mailed link's token (single use, expiring).
pub async fn activate(
    db: &Db,
    clock: &Clock,
    hasher: &Hasher,
    user_id: &str,
    token: &str,
    password: Option<String>,
) -> Result<User, SignupError> {
    let new_hash = activation_password(db, hasher, user_id, password).await?;
    let now = clock.unix();
    db.write(
        |tx| match otp::consume(tx, token, Purpose::Activation, now)? {
            Some(uid) if uid == user_id => mark_verified(tx, &uid, &new_hash, now),
            _ => Err(SignupError::BadToken),
        },
    )
    .await
}

/// Activate `user_id` with the signup reply's token and the mailed code. A wrong code counts
/// against the token (committed); the fifth burns it.
pub async fn activate_with_code(
    db: &Db,
    clock: &Clock,
    hasher: &Hasher,
    user_id: &str,
    token: &str,
    code: &str,
    password: Option<String>,
) -> Result<User, SignupError> {
    let new_hash = activation_password(db, hasher, user_id, password).await?;
    let now = clock.unix();
    db.write(|tx| -> Result<Result<User, SignupError>, SignupError> {
        // Check the user id before spending an attempt: a mismatch is a bad token.
        if otp::peek_tx(tx, token)?.as_deref() != Some(user_id) {
            return Ok(Err(SignupError::BadToken));
        }
        match otp::consume_with_code(tx, token, code, now)? {
            // A refusal here (no password) aborts: the token stays unspent.
            otp::CodeOutcome::Accepted(uid) => Ok(Ok(mark_verified(tx, &uid, &new_hash, now)?)),
            // Committed: the wrong code counts.
            otp::CodeOutcome::BadToken => Ok(Err(SignupError::BadToken)),
            otp::CodeOutcome::WrongCode => Ok(Err(SignupError::WrongCode)),
        }
    })
    .await?
}

/// Whether activating `user_id` with `token` needs a password (the user has none yet).
pub fn needs_password(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    token: &str,
) -> Result<bool, SignupError> {
    let uid = otp::peek(db, token, Purpose::Activation, clock.unix())?
        .filter(|u| u == user_id)
        .ok_or(SignupError::BadToken)?;
    let u = db
        .get::<User>(uid.as_bytes())?
        .ok_or(SignupError::BadToken)?;
    Ok(u.password_hash.is_none())
}

/// Issue an activation token for `user_id` in its own transaction.
async fn new_token(db: &Db, clock: &Clock, user_id: &str) -> Result<String, SignupError> {
    let token = otp::new_token();
    let expires = clock.unix() + ACTIVATION_TTL;
    db.write(|tx| otp::issue(tx, &token, Purpose::Activation, user_id, expires))
        .await?;
    Ok(token)
}

/// A fresh activation link for the unverified owner of `email`, queued with its token — or,
/// for anyone else's address, the same durable write and nothing to send.
pub async fn resend(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    email: &str,
) -> Result<(), SignupError> {
    let owner = match super::email::normalize(email) {
        Ok(norm) => user::by_email(db, &norm)?,
        Err(_) => None,
    };
    let token = otp::new_token();
    if let Some(u) = owner.filter(|u| !u.verified) {
        let expires = clock.unix() + ACTIVATION_TTL;
        let mail = message::activation(links, &u.email, &u.id, &token, None).about(&u.id);
        db.write(|tx| {
            otp::issue(tx, &token, Purpose::Activation, &u.id, expires)?;
            outbox::queue(tx, &mail)
        })
        .await?;
        return Ok(());
    }
    let decoy = message::activation(links, "decoy@decoy.invalid", otp::DECOY_OWNER, &token, None);
    db.write(|tx| {
        otp::issue_decoy(tx, &token, Purpose::Activation)?;
        outbox::queue_decoy(tx, &decoy)
    })
    .await?;
    Ok(())
}

/// Queue the invitation mail of a user just added to `account` (its display name), when it
/// has yet to activate (a user who already did has nothing to accept), from `issuer` (the
/// inviting user, if a user invites).
pub async fn invitation(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    user: &User,
    account: &str,
    issuer: Option<&str>,
) -> Result<(), SignupError> {
    if user.verified {
        return Ok(());
    }
    let token = otp::new_token();
    let expires = clock.unix() + ACTIVATION_TTL;
    let mail = message::invitation(links, &user.email, account, &user.id, &token).about(&user.id);
    let mail = match issuer {
        Some(i) => mail.issued_by(i),
        None => mail,
    };
    db.write(|tx| {
        otp::issue(tx, &token, Purpose::Activation, &user.id, expires)?;
        outbox::queue(tx, &mail)
    })
    .await?;
    Ok(())
}

/// An activation link and token for an unverified user (to send through other means).
pub async fn activation_link(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    user_id: &str,
) -> Result<(String, String), SignupError> {
    let u = db
        .get::<User>(user_id.as_bytes())?
        .ok_or(SignupError::NotFound)?;
    if u.verified {
        return Err(SignupError::AlreadyActive);
    }
    let token = new_token(db, clock, &u.id).await?;
    let link = crate::model::template::link(
        db,
        crate::model::template::EmailType::ActivateUser,
        &links.activation(&u.id, &token),
    )?;
    Ok((link, token))
}
