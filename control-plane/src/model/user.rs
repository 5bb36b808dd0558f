//! Users and their account memberships. A user may belong to many accounts, with roles per
//! account; `active_tenant_id` is the one tokens are issued for.

use serde::{Deserialize, Serialize};

use crate::store::{Record, StoreError, Tree, Tx};

/// A user's membership in one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The account.
    pub tenant_id: String,
    /// Role ids granted in this account.
    pub role_ids: Vec<String>,
    /// Disabled in this account: cannot log in to it or use it.
    pub disabled: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// A stored user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// UUID.
    pub id: String,
    /// The address as entered (display, mail).
    pub email: String,
    /// The normalised address (uniqueness, login).
    pub email_norm: String,
    /// Display name.
    pub name: String,
    /// Avatar URL.
    pub profile_picture_url: Option<String>,
    /// Phone number.
    pub phone_number: Option<String>,
    /// JSON object, stored as its text (`compat.md` §5.3).
    pub metadata: String,
    /// JSON object the environment keeps about the user, as text.
    pub vendor_metadata: String,
    /// The environment's own id for the user.
    pub external_id: Option<String>,
    /// argon2id PHC string; `None` for users without a password.
    pub password_hash: Option<String>,
    /// Email verified.
    pub verified: bool,
    /// Locked: cannot sign in or use the system.
    pub is_locked: bool,
    /// Super-user flag.
    pub super_user: bool,
    /// Hidden from account user lists.
    pub invisible: bool,
    /// Exempt from MFA.
    pub mfa_bypass: bool,
    /// Memberships, one per account.
    pub memberships: Vec<Membership>,
    /// The account tokens are issued for.
    pub active_tenant_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339 of the last successful login.
    pub last_login: Option<String>,
    /// May access the sub-accounts of its accounts.
    #[serde(default)]
    pub sub_account_access_allowed: bool,
    /// Consecutive failed logins since the last success.
    #[serde(default)]
    pub failed_logins: u32,
    /// Failed logins in the hour starting at `failure_window_start` (the hourly budget that
    /// holds even with the lockout policy off, `security.md` C9).
    #[serde(default)]
    pub failures_in_window: u32,
    /// Unix seconds when the current failure window began.
    #[serde(default)]
    pub failure_window_start: i64,
    /// Previous password hashes, newest last (at most 10), for the history policy.
    #[serde(default)]
    pub password_history: Vec<String>,
    /// Unix seconds when the password was last set (password expiration).
    #[serde(default)]
    pub password_changed_at: Option<i64>,
    /// Login name for username sign-in (`users/v1/signUp/username`); unique, case-insensitive.
    #[serde(default)]
    pub username: Option<String>,
}

impl Record for User {
    const TREE: Tree = Tree::Users;
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}

impl User {
    /// The membership in `tenant_id`.
    pub fn membership(&self, tenant_id: &str) -> Option<&Membership> {
        self.memberships.iter().find(|m| m.tenant_id == tenant_id)
    }

    /// The membership in `tenant_id`, mutably.
    pub fn membership_mut(&mut self, tenant_id: &str) -> Option<&mut Membership> {
        self.memberships
            .iter_mut()
            .find(|m| m.tenant_id == tenant_id)
    }

    /// Every account id.
    pub fn tenant_ids(&self) -> Vec<String> {
        self.memberships
            .iter()
            .map(|m| m.tenant_id.clone())
            .collect()
    }

    /// The account tokens are issued for: the active one if still an enabled membership,
    /// else the first enabled membership.
    pub fn login_tenant(&self) -> Option<&str> {
        let enabled = |t: &str| self.membership(t).is_some_and(|m| !m.disabled);
        match self.active_tenant_id.as_deref() {
            Some(t) if enabled(t) => Some(t),
            _ => self
                .memberships
                .iter()
                .find(|m| !m.disabled)
                .map(|m| m.tenant_id.as_str()),
        }
    }
}

/// Insert or replace a user and keep every index of it in step, against the record as
/// stored before (read here, inside the transaction): the email, username, account
/// (`<tenant>/<user>`) and phone-number indexes. 409-worthy conflicts are the caller's check
/// ([`email_owner`], [`username_owner`]). A user signed up by username alone has no address:
/// `email_norm` is empty and unindexed. Every write of a user goes through here.
pub fn put_user(tx: &mut Tx<'_>, u: &User) -> Result<(), StoreError> {
    let old = tx.get::<User>(u.id.as_bytes())?;
    if let Some(old) = &old {
        unindex(tx, old, Some(u))?;
    }
    if !u.email_norm.is_empty() {
        tx.put_raw(Tree::UserEmails, u.email_norm.as_bytes(), u.id.as_bytes())?;
    }
    if let Some(name) = &u.username {
        tx.put_raw(
            Tree::Usernames,
            username_key(name).as_bytes(),
            u.id.as_bytes(),
        )?;
    }
    for m in &u.memberships {
        tx.put_raw(Tree::TenantUsers, &member_key(&m.tenant_id, &u.id), b"")?;
    }
    if let Some(k) = phone_key(u) {
        tx.put_raw(Tree::UserPhones, &k, b"")?;
    }
    tx.put(u)
}

/// Remove the index entries of `old` that `new` (the replacement, if any) no longer has.
fn unindex(tx: &mut Tx<'_>, old: &User, new: Option<&User>) -> Result<(), StoreError> {
    if !old.email_norm.is_empty() && new.is_none_or(|n| n.email_norm != old.email_norm) {
        tx.delete_raw(Tree::UserEmails, old.email_norm.as_bytes())?;
    }
    if let Some(name) = &old.username
        && new.is_none_or(|n| n.username.as_deref().map(username_key) != Some(username_key(name)))
    {
        tx.delete_raw(Tree::Usernames, username_key(name).as_bytes())?;
    }
    for m in &old.memberships {
        if new.is_none_or(|n| n.membership(&m.tenant_id).is_none()) {
            tx.delete_raw(Tree::TenantUsers, &member_key(&m.tenant_id, &old.id))?;
        }
    }
    if let Some(k) = phone_key(old)
        && new.and_then(phone_key).as_ref() != Some(&k)
    {
        tx.delete_raw(Tree::UserPhones, &k)?;
    }
    Ok(())
}

/// The account-members index key.
pub fn member_key(tenant_id: &str, user_id: &str) -> Vec<u8> {
    format!("{tenant_id}/{user_id}").into_bytes()
}

/// Digits only, so `+1 (555) 010-0100` and `+15550100100` meet.
pub fn phone_digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn phone_key(u: &User) -> Option<Vec<u8>> {
    let digits = phone_digits(u.phone_number.as_deref()?);
    (!digits.is_empty()).then(|| format!("{digits}/{}", u.id).into_bytes())
}

/// The ids of the members of an account (index lookup).
pub fn member_ids(db: &crate::store::Db, tenant_id: &str) -> Result<Vec<String>, StoreError> {
    db.index(Tree::TenantUsers, format!("{tenant_id}/").as_bytes())
}

/// The members of an account, in id order.
pub fn members(db: &crate::store::Db, tenant_id: &str) -> Result<Vec<User>, StoreError> {
    let mut out = Vec::new();
    for id in member_ids(db, tenant_id)? {
        if let Some(u) = db.get::<User>(id.as_bytes())? {
            out.push(u);
        }
    }
    Ok(out)
}

/// The users whose phone number has these digits (index lookup).
pub fn by_phone(db: &crate::store::Db, digits: &str) -> Result<Vec<User>, StoreError> {
    let mut out = Vec::new();
    if digits.is_empty() {
        return Ok(out);
    }
    for id in db.index(Tree::UserPhones, format!("{digits}/").as_bytes())? {
        if let Some(u) = db.get::<User>(id.as_bytes())? {
            out.push(u);
        }
    }
    Ok(out)
}

/// The user holding a normalised address (index lookup).
pub fn by_email(db: &crate::store::Db, email_norm: &str) -> Result<Option<User>, StoreError> {
    if email_norm.is_empty() {
        return Ok(None);
    }
    match db.get_raw(Tree::UserEmails, email_norm.as_bytes())? {
        Some(id) => db.get::<User>(&id),
        None => Ok(None),
    }
}

/// The index key of a username (usernames are unique regardless of case).
pub fn username_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Check a username: 1–255 characters of `[A-Za-z0-9._-]` (the spec's pattern).
pub fn validate_username(name: &str) -> Result<(), &'static str> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err("username must be 1-255 characters of letters, digits, '.', '_' and '-'")
    }
}

/// The user id holding a username, inside a transaction.
pub fn username_owner(tx: &mut Tx<'_>, name: &str) -> Result<Option<String>, StoreError> {
    Ok(tx
        .get_raw(Tree::Usernames, username_key(name).as_bytes())?
        .and_then(|b| String::from_utf8(b).ok()))
}

/// The user id holding a normalised email, inside a transaction.
pub fn email_owner(tx: &mut Tx<'_>, email_norm: &str) -> Result<Option<String>, StoreError> {
    Ok(tx
        .get_raw(Tree::UserEmails, email_norm.as_bytes())?
        .and_then(|b| String::from_utf8(b).ok()))
}

/// Delete a user and every index entry of it.
pub fn delete_user(tx: &mut Tx<'_>, u: &User) -> Result<(), StoreError> {
    let stored = tx.get::<User>(u.id.as_bytes())?;
    unindex(tx, stored.as_ref().unwrap_or(u), None)?;
    if stored.is_some() {
        unindex(tx, u, None)?;
    }
    tx.delete::<User>(u.id.as_bytes())
}

/// `metadata` fields arrive as a JSON-encoded object (or an object); stored as text, at most
/// [`super::json::MAX_STORED_JSON`] bytes.
pub fn metadata_text(v: Option<&serde_json::Value>) -> Result<String, super::json::JsonError> {
    super::json::object_text("metadata", v)
}
