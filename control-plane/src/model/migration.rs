//! Data migration (`compat-wave2.md` §16): users imported from another system, one at a
//! time (`migrations/v1/local`) or in bulk (`…/local/bulk`, v1 with `email`, v2 with
//! `emails[]`), with their password hashes (`hashing::imported`), authenticator-app secrets
//! and phones.
//!
//! Invariants:
//! - One path builds an imported user ([`prepare`] then [`store`]), for the single import,
//!   both bulk versions and the Auth0 import; a refused user changes nothing.
//! - A bulk import is durable once acknowledged (202): its users and its progress are
//!   stored before the answer, and a background task ([`run_pending`]) works through them
//!   in batches; each batch's users and the progress that counts them commit in one
//!   transaction, so a crash re-runs no user and skips none.
//! - At most [`MAX_BATCH`] users a request; the status keeps every per-user error.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::clock::{Clock, rfc3339};
use super::mfa::{self, seal};
use super::rbac::Role;
use super::user::{self, LoginPhone, OtherEmail, User, UserError};
use crate::store::{Db, Record, StoreError, Tree, Tx};

/// Users a bulk request may carry.
pub const MAX_BATCH: usize = 1000;

/// Users stored per transaction by the background task.
const PER_COMMIT: usize = 100;

/// An address of a v2 user.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailEntry {
    /// The address.
    pub email: String,
    /// The primary address (the first one when none is).
    #[serde(default)]
    pub primary: bool,
    /// Already verified.
    #[serde(default)]
    pub verified: bool,
}

/// `MigrateUserRequestV1` / `V2`: one user to import.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    /// The account.
    pub tenant_id: String,
    /// v1: the address.
    pub email: Option<String>,
    /// v2: the addresses.
    pub emails: Option<Vec<EmailEntry>>,
    /// Display name.
    pub name: Option<String>,
    /// Avatar.
    pub profile_picture_url: Option<String>,
    /// The legacy hash.
    pub password_hash: Option<String>,
    /// Its type.
    pub password_hash_type: Option<String>,
    /// Its parameters (stringified JSON).
    pub password_hash_config: Option<String>,
    /// Base32 TOTP secret: enrolled as an authenticator app.
    pub authenticator_app_mfa_secret: Option<String>,
    /// E.164.
    pub phone_number: Option<String>,
    /// `auth` (SMS login) or `mfa` (an enrolled MFA phone).
    pub phone_number_type: Option<String>,
    /// Where the user came from (informational).
    pub provider: Option<String>,
    /// JSON object or its text.
    pub metadata: Option<Value>,
    /// Roles in the account (default: its default roles).
    pub role_ids: Option<Vec<String>>,
    /// JSON object or its text.
    pub vendor_metadata: Option<Value>,
    /// The environment's id for the user.
    pub external_id: Option<String>,
    /// Login name.
    pub username: Option<String>,
    /// Mark the address verified.
    pub verify_user: Option<bool>,
}

/// A user ready to store: the record, and what is enrolled with it.
pub struct Prepared {
    user: User,
    totp_seed: Option<Vec<u8>>,
    mfa_phone: Option<String>,
    fresh: seal::Fresh,
}

fn bad(s: impl Into<String>) -> UserError {
    UserError::Invalid(s.into())
}

fn text(field: &str, v: Option<&String>, max: usize) -> Result<Option<String>, UserError> {
    match v.map(|s| s.trim()) {
        Some(s) if s.chars().count() > max => {
            Err(bad(format!("{field} must be at most {max} characters")))
        }
        Some("") | None => Ok(None),
        Some(s) => Ok(Some(s.to_owned())),
    }
}

/// Check one imported user against the account and its roles and build its record.
pub fn prepare(
    db: &Db,
    clock: &Clock,
    catalog: &[Role],
    i: &Imported,
) -> Result<Prepared, UserError> {
    let tenant = i.tenant_id.trim();
    if tenant.is_empty() {
        return Err(bad("tenantId is required"));
    }
    crate::model::tenant::require(db, tenant)?;
    // The addresses: v1's one, or v2's list with its primary first.
    let mut emails: Vec<EmailEntry> = match (&i.email, &i.emails) {
        (Some(e), None) => vec![EmailEntry {
            email: e.clone(),
            primary: true,
            verified: i.verify_user.unwrap_or(false),
        }],
        (None, Some(list)) if !list.is_empty() => list.clone(),
        (Some(_), Some(_)) => return Err(bad("give email or emails, not both")),
        _ => return Err(bad("email is required")),
    };
    if emails.len() > 10 {
        return Err(bad("at most 10 emails a user"));
    }
    if let Some(p) = emails.iter().position(|e| e.primary) {
        emails.swap(0, p);
    }
    let role_ids = match &i.role_ids {
        Some(ids) if !ids.is_empty() => {
            crate::model::grant::resolve_roles(catalog, tenant, ids)
                .map_err(|e| bad(e.to_string()))?;
            ids.clone()
        }
        _ => crate::model::grant::default_role_ids(catalog, tenant),
    };
    let now = rfc3339(clock.now());
    let first = &emails[0];
    let norm = crate::model::email::normalize(&first.email).map_err(|e| bad(e.to_string()))?;
    let mut u = User::new_member(&first.email, norm, tenant, role_ids, &now);
    u.verified = first.verified || i.verify_user.unwrap_or(false);
    for e in &emails[1..] {
        let norm = crate::model::email::normalize(&e.email).map_err(|e| bad(e.to_string()))?;
        if u.email_norm == norm || u.other_emails.iter().any(|o| o.email_norm == norm) {
            return Err(bad(format!("{} is listed twice", e.email)));
        }
        u.other_emails.push(OtherEmail {
            id: crate::crypto::new_uuid().to_string(),
            email: e.email.trim().to_owned(),
            email_norm: norm,
            verified: e.verified,
            created_at: now.clone(),
            updated_at: now.clone(),
        });
    }
    if let Some(n) = text("name", i.name.as_ref(), 255)? {
        u.name = n;
    }
    u.profile_picture_url = text("profilePictureUrl", i.profile_picture_url.as_ref(), 4095)?;
    u.external_id = text("externalId", i.external_id.as_ref(), 255)?;
    if let Some(name) = text("username", i.username.as_ref(), 128)? {
        user::validate_username(&name).map_err(bad)?;
        u.username = Some(name);
    }
    u.metadata = user::metadata_text(i.metadata.as_ref())?;
    u.vendor_metadata =
        crate::model::json::object_text("vendorMetadata", i.vendor_metadata.as_ref())?;
    match (&i.password_hash, &i.password_hash_type) {
        (Some(h), Some(t)) => {
            u.password_hash = Some(
                crate::hashing::imported::parse(t, h, i.password_hash_config.as_deref())
                    .map_err(bad)?,
            );
            u.password_changed_at = Some(clock.unix());
        }
        (Some(_), None) => return Err(bad("passwordHashType is required with passwordHash")),
        _ => {}
    }
    let totp_seed = match text(
        "authenticatorAppMfaSecret",
        i.authenticator_app_mfa_secret.as_ref(),
        128,
    )? {
        Some(s) => {
            let clean: String = s
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '=')
                .collect::<String>()
                .to_ascii_uppercase();
            let seed = data_encoding::BASE32_NOPAD
                .decode(clean.as_bytes())
                .map_err(|_| bad("authenticatorAppMfaSecret must be base32"))?;
            if seed.len() < 10 {
                return Err(bad("authenticatorAppMfaSecret must be at least 80 bits"));
            }
            Some(seed)
        }
        None => None,
    };
    let mut mfa_phone = None;
    let for_mfa = match i.phone_number_type.as_deref() {
        None | Some("auth") => false,
        Some("mfa") => true,
        Some(_) => return Err(bad("phoneNumberType must be auth or mfa")),
    };
    if let Some(p) = text("phoneNumber", i.phone_number.as_ref(), 32)? {
        let n = mfa::normalize_phone(&p).map_err(|e| bad(e.to_string()))?;
        if for_mfa {
            mfa_phone = Some(n);
        } else {
            u.login_phones.push(LoginPhone {
                id: crate::crypto::new_uuid().to_string(),
                phone_number: n,
                verified: true,
                created_at: now.clone(),
                updated_at: now.clone(),
            });
        }
    }
    Ok(Prepared {
        user: u,
        totp_seed,
        mfa_phone,
        fresh: seal::Fresh::new(),
    })
}

/// Store a prepared user in `tx`: refused (nothing written) when an address, the username or
/// the login phone is another user's.
pub fn store(tx: &mut Tx<'_>, p: &Prepared) -> Result<User, UserError> {
    let u = &p.user;
    for norm in std::iter::once(&u.email_norm).chain(u.other_emails.iter().map(|e| &e.email_norm)) {
        if user::email_owner(tx, norm)?.is_some() {
            return Err(UserError::EmailTaken);
        }
    }
    if let Some(name) = &u.username
        && user::username_owner(tx, name)?.is_some()
    {
        return Err(UserError::UsernameTaken);
    }
    for phone in &u.login_phones {
        let digits = user::phone_digits(&phone.phone_number);
        if tx
            .find(user::BY_PHONE, format!("{digits}/").as_bytes())?
            .is_some()
        {
            return Err(bad("phoneNumber is another user's"));
        }
    }
    tx.put(u)?;
    if p.totp_seed.is_some() || p.mfa_phone.is_some() {
        let mut m = mfa::of_tx(tx, &u.id)?;
        if let Some(seed) = &p.totp_seed {
            m.authenticators.push(mfa::Authenticator {
                id: crate::crypto::new_uuid().to_string(),
                sealed_secret: seal::seal(tx, &u.id, seed, &p.fresh)?,
                last_step: 0,
                created_at: u.created_at.clone(),
            });
        }
        if let Some(n) = &p.mfa_phone {
            m.phones.push(mfa::Phone {
                id: crate::crypto::new_uuid().to_string(),
                phone_number: n.clone(),
                created_at: u.created_at.clone(),
            });
        }
        tx.put(&m)?;
    }
    Ok(u.clone())
}

/// Import one user now.
pub async fn import_one(
    db: &Db,
    clock: &Clock,
    catalog: &[Role],
    i: &Imported,
) -> Result<User, UserError> {
    let p = prepare(db, clock, catalog, i)?;
    db.write(|tx| store(tx, &p)).await
}

/// Where a bulk import stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum State {
    /// Accepted, not finished.
    Pending,
    /// Every user was tried.
    Completed,
}

/// One user a bulk import could not store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// Its place in the request.
    pub index: usize,
    /// Its address, as given.
    pub email: Option<String>,
    /// Why.
    pub error: String,
}

/// A bulk import's progress (`migrations/v1/local/bulk/status/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    /// The migration id.
    pub migration_id: String,
    /// Pending or completed.
    pub state: State,
    /// Users in the request.
    pub total: usize,
    /// Users tried so far.
    pub processed: usize,
    /// Users imported.
    pub migrated: usize,
    /// Users refused, with why.
    pub errors: Vec<Failure>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for Migration {
    const TREE: Tree = Tree::Migrations;
    fn key(&self) -> Vec<u8> {
        format!("state/{}", self.migration_id).into_bytes()
    }
}

/// A bulk import's users, as received (kept until the import completes).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Input {
    id: String,
    users: Vec<Value>,
}

impl Record for Input {
    const TREE: Tree = Tree::Migrations;
    fn key(&self) -> Vec<u8> {
        format!("input/{}", self.id).into_bytes()
    }
}

/// Accept a bulk import of `users` (JSON objects, v1 or v2): stored durably, to be worked
/// through by [`run_pending`]. Its id.
pub async fn submit(db: &Db, clock: &Clock, users: Vec<Value>) -> Result<String, UserError> {
    if users.is_empty() || users.len() > MAX_BATCH {
        return Err(bad(format!(
            "users must hold 1 to {MAX_BATCH} users (limited to {MAX_BATCH} users a request)"
        )));
    }
    let id = crate::crypto::new_uuid().to_string();
    let at = rfc3339(clock.now());
    let m = Migration {
        migration_id: id.clone(),
        state: State::Pending,
        total: users.len(),
        processed: 0,
        migrated: 0,
        errors: Vec::new(),
        created_at: at.clone(),
        updated_at: at,
    };
    let input = Input {
        id: id.clone(),
        users,
    };
    db.write(|tx| {
        tx.put(&input)?;
        tx.put(&m)?;
        tx.put_raw(Tree::Migrations, format!("pending/{id}").as_bytes(), b"")?;
        Ok::<_, UserError>(())
    })
    .await?;
    Ok(id)
}

/// A bulk import's progress.
pub fn status(db: &Db, id: &str) -> Result<Option<Migration>, StoreError> {
    db.get::<Migration>(format!("state/{id}").as_bytes())
}

/// Work through every pending bulk import, a batch per transaction (the background task;
/// also resumes what a restart interrupted).
pub async fn run_pending(db: &Db, clock: &Clock) -> Result<(), StoreError> {
    // The pending ones are listed apart, so a wake-up reads nothing of finished imports.
    let mut pending = Vec::new();
    for (key, _) in db.scan_raw(Tree::Migrations, b"pending/")? {
        let id = String::from_utf8_lossy(&key[b"pending/".len()..]).into_owned();
        if let Some(m) = status(db, &id)?.filter(|m| m.state == State::Pending) {
            pending.push(m);
        }
    }
    if pending.is_empty() {
        return Ok(());
    }
    let catalog = super::rbac::all_roles(db)?;
    let catalog = &catalog[..];
    for m in pending {
        let Some(input) = db.get::<Input>(format!("input/{}", m.migration_id).as_bytes())? else {
            continue;
        };
        let mut from = m.processed;
        while from < input.users.len() {
            let to = (from + PER_COMMIT).min(input.users.len());
            // Prepared outside the transaction (reads, parsing, fresh keys); stored inside.
            let batch: Vec<(usize, Option<String>, Result<Prepared, String>)> = input.users
                [from..to]
                .iter()
                .enumerate()
                .map(|(k, raw)| {
                    let email = raw
                        .get("email")
                        .or_else(|| raw.pointer("/emails/0/email"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let prepared = serde_json::from_value::<Imported>(raw.clone())
                        .map_err(|e| format!("not a migration user: {e}"))
                        .and_then(|i| prepare(db, clock, catalog, &i).map_err(|e| e.to_string()));
                    (from + k, email, prepared)
                })
                .collect();
            let at = rfc3339(clock.now());
            let id = m.migration_id.clone();
            let done = db
                .write(|tx| {
                    let mut progress = tx
                        .get::<Migration>(format!("state/{id}").as_bytes())?
                        .ok_or(StoreError::Backend("migration vanished".into()))?;
                    if progress.processed != from {
                        // Another worker already stored this batch.
                        return Ok(progress.processed);
                    }
                    for (index, email, prepared) in &batch {
                        let outcome = match prepared {
                            Ok(p) => store(tx, p).map(|_| ()).map_err(|e| match e {
                                UserError::Store(s) => Err(s),
                                other => Ok(other.to_string()),
                            }),
                            Err(e) => Err(Ok(e.clone())),
                        };
                        match outcome {
                            Ok(()) => progress.migrated += 1,
                            Err(Ok(error)) => progress.errors.push(Failure {
                                index: *index,
                                email: email.clone(),
                                error,
                            }),
                            Err(Err(s)) => return Err(s),
                        }
                    }
                    progress.processed = to;
                    progress.updated_at = at.clone();
                    if to == progress.total {
                        progress.state = State::Completed;
                        tx.delete::<Input>(format!("input/{id}").as_bytes())?;
                        tx.delete_raw(Tree::Migrations, format!("pending/{id}").as_bytes())?;
                    }
                    tx.put(&progress)?;
                    Ok(to)
                })
                .await?;
            from = done;
        }
    }
    Ok(())
}
