//! Users and their account memberships. A user may belong to many accounts, with roles per
//! account; `active_tenant_id` is the one tokens are issued for. The record, its indexes and
//! lookups here; changes in [`change`], listings in [`list`].

pub mod change;
pub mod emails;
pub mod list;
pub mod phones;

use serde::{Deserialize, Serialize};

use crate::store::{Db, Index, IndexEntry, Record, StoreError, Tree, Tx};

/// A user's membership in one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The account.
    pub tenant_id: String,
    /// Role ids granted in this account.
    pub role_ids: Vec<String>,
    /// Disabled in this account: cannot log in to it or use it.
    pub disabled: bool,
    /// Invited by email and not accepted yet (also `disabled` until then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending_invitation: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// A phone number for SMS login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginPhone {
    /// UUID.
    pub id: String,
    /// E.164.
    pub phone_number: String,
    /// Proven by a texted code (or added by the environment).
    pub verified: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// An address of a user beside its primary one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherEmail {
    /// UUID.
    pub id: String,
    /// As entered.
    pub email: String,
    /// Normalised (unique across users once verified: indexed like the primary).
    pub email_norm: String,
    /// Proven by a mailed code.
    pub verified: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
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
    /// Phone numbers for SMS login (`users/phone-numbers/*`), distinct from MFA phones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub login_phones: Vec<LoginPhone>,
    /// The id of the primary address in `users/emails/*` (absent: the user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_email_id: Option<String>,
    /// Further addresses (`users/emails/*`); the primary one is `email`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_emails: Vec<OtherEmail>,
    /// Unix seconds after which a temporary user has no access (`users/temporary/*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Password checks in flight (`model::lockout::reserve`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<crate::model::lockout::Reservation>,
}

/// Users by normalised address (a user signed up by username alone has none: unindexed).
pub const BY_EMAIL: Index<User> = Index::unique(Tree::UserEmails);
/// Users by username, regardless of case ([`username_key`]).
pub const BY_USERNAME: Index<User> = Index::unique(Tree::Usernames);
/// An account's members: `<tenant id>/`.
pub const BY_TENANT: Index<User> = Index::many(Tree::TenantUsers);
/// Users by the digits of their phone number: `<digits>/`.
pub const BY_PHONE: Index<User> = Index::many(Tree::UserPhones);

impl Record for User {
    const TREE: Tree = Tree::Users;
    const INDEXES: &'static [Tree] = &[
        Tree::UserEmails,
        Tree::Usernames,
        Tree::TenantUsers,
        Tree::UserPhones,
    ];
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        let mut out = Vec::with_capacity(self.memberships.len() + 3);
        if !self.email_norm.is_empty() {
            out.push(BY_EMAIL.entry(self.email_norm.as_bytes()));
        }
        if let Some(name) = &self.username {
            out.push(BY_USERNAME.entry(username_key(name)));
        }
        for m in &self.memberships {
            out.push(BY_TENANT.entry(format!("{}/", m.tenant_id)));
        }
        for e in self.other_emails.iter().filter(|e| e.verified) {
            out.push(BY_EMAIL.entry(e.email_norm.as_bytes()));
        }
        let mut digits: Vec<String> = self
            .phone_number
            .iter()
            .chain(self.login_phones.iter().map(|p| &p.phone_number))
            .map(|n| phone_digits(n))
            .filter(|d| !d.is_empty())
            .collect();
        digits.sort();
        digits.dedup();
        for d in digits {
            out.push(BY_PHONE.entry(format!("{d}/")));
        }
        out
    }
}

impl User {
    /// A new user, a member of `tenant` with `role_ids`, created `now`: unverified, no
    /// password, nothing else set.
    pub fn new_member(
        email: &str,
        email_norm: String,
        tenant: &str,
        role_ids: Vec<String>,
        now: &str,
    ) -> User {
        User {
            id: crate::crypto::new_uuid().to_string(),
            email: email.trim().to_owned(),
            email_norm,
            name: String::new(),
            profile_picture_url: None,
            phone_number: None,
            metadata: "{}".into(),
            vendor_metadata: "{}".into(),
            external_id: None,
            password_hash: None,
            verified: false,
            is_locked: false,
            super_user: false,
            invisible: false,
            mfa_bypass: false,
            memberships: vec![Membership {
                tenant_id: tenant.to_owned(),
                role_ids,
                disabled: false,
                pending_invitation: false,
                created_at: now.to_owned(),
            }],
            active_tenant_id: Some(tenant.to_owned()),
            created_at: now.to_owned(),
            last_login: None,
            sub_account_access_allowed: false,
            failed_logins: 0,
            failures_in_window: 0,
            failure_window_start: 0,
            password_history: Vec::new(),
            password_changed_at: None,
            username: None,
            login_phones: Vec::new(),
            primary_email_id: None,
            other_emails: Vec::new(),
            expires_at: None,
            checks: Vec::new(),
        }
    }

    /// Replace the password hash (the previous one goes to the history, at most
    /// [`MAX_HISTORY`] kept) as set at `now`.
    pub fn set_password(&mut self, new_hash: String, now: i64) {
        self.password_changed_at = Some(now);
        if let Some(old) = self.password_hash.replace(new_hash) {
            self.password_history.push(old);
            if self.password_history.len() > MAX_HISTORY {
                self.password_history.remove(0);
            }
        }
    }

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

    /// Whether a temporary user's time is up at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// The verified login phone to text codes to.
    pub fn sms_phone(&self) -> Option<&str> {
        self.login_phones
            .iter()
            .find(|p| p.verified)
            .map(|p| p.phone_number.as_str())
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

/// Digits only, so `+1 (555) 010-0100` and `+15550100100` meet.
pub fn phone_digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// Previous password hashes kept per user (the history policy allows up to 10).
pub const MAX_HISTORY: usize = 10;

/// Why a user was not found, created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// No such user, or not one of the account's (the same answer: a caller learns nothing
    /// about other accounts' users).
    #[error("User not found")]
    NotFound,
    /// The (normalised) address is another user's.
    #[error("a user with this email already exists")]
    EmailTaken,
    /// The username is another user's.
    #[error("this username is taken")]
    UsernameTaken,
    /// Input that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// A change that conflicts with the user's state.
    #[error("{0}")]
    Conflict(String),
    /// A record that is not there (a task).
    #[error("{0} not found")]
    Missing(&'static str),
    /// Too many codes sent; wait.
    #[error("Too many codes were sent; wait and try again")]
    TooMany,
    /// The environment does not allow this change.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A text field out of bounds.
    #[error(transparent)]
    Text(#[from] crate::model::text::TextError),
    /// A JSON field that is not an object or is too large.
    #[error(transparent)]
    Json(#[from] crate::model::json::JsonError),
    /// Rights the caller may not confer.
    #[error(transparent)]
    Grant(#[from] crate::model::grant::GrantError),
    /// A password that could not be hashed or checked now.
    #[error(transparent)]
    Password(#[from] crate::hashing::PasswordError),
    /// A password the policy refuses, or an account that does not exist.
    #[error(transparent)]
    Setting(#[from] crate::model::setting::SettingError),
    /// The account does not exist.
    #[error(transparent)]
    Tenant(#[from] crate::model::tenant::TenantError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user `id`.
pub fn get(db: &Db, id: &str) -> Result<User, UserError> {
    db.get::<User>(id.as_bytes())?.ok_or(UserError::NotFound)
}

/// The user `id`, which must be a member of `tenant` when one is given ([`UserError::NotFound`]
/// otherwise, so a caller cannot learn about users of other accounts).
pub fn get_in(db: &Db, id: &str, tenant: Option<&str>) -> Result<User, UserError> {
    let user = get(db, id)?;
    match tenant {
        Some(t) if user.membership(t).is_none() => Err(UserError::NotFound),
        _ => Ok(user),
    }
}

/// What a change to a user takes away, recorded with the change so the tokens that say
/// otherwise stop counting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loss {
    /// Locked: every token of the user.
    Locked,
    /// `superUser` taken away: every token of the user.
    SuperUser,
    /// Roles taken in an account: the user's tokens there.
    Roles(String),
    /// Disabled in an account: the user's tokens there.
    Disabled(String),
    /// A temporary user's end moved earlier: every token of the user (issued before it
    /// knew the end).
    Expiry,
}

impl Loss {
    /// The event recording this loss for `user`.
    pub fn event<'a>(&'a self, user: &'a str) -> crate::model::event::Event<'a> {
        use crate::model::event::Event;
        match self {
            Loss::Locked => Event::UserLocked { user },
            Loss::SuperUser | Loss::Expiry => Event::UserPrivilegesReduced { user },
            Loss::Roles(tenant) => Event::UserRolesRemoved { tenant, user },
            Loss::Disabled(tenant) => Event::UserDisabled { tenant, user },
        }
    }
}

/// The ids of the members of an account (index lookup).
pub fn member_ids(db: &Db, tenant_id: &str) -> Result<Vec<String>, StoreError> {
    db.keys(BY_TENANT, format!("{tenant_id}/").as_bytes())
}

/// The members of an account, in id order.
pub fn members(db: &Db, tenant_id: &str) -> Result<Vec<User>, StoreError> {
    db.find_all(BY_TENANT, format!("{tenant_id}/").as_bytes())
}

/// The users whose phone number has these digits (index lookup).
pub fn by_phone(db: &Db, digits: &str) -> Result<Vec<User>, StoreError> {
    if digits.is_empty() {
        return Ok(Vec::new());
    }
    db.find_all(BY_PHONE, format!("{digits}/").as_bytes())
}

/// The user holding a normalised address (index lookup).
pub fn by_email(db: &Db, email_norm: &str) -> Result<Option<User>, StoreError> {
    if email_norm.is_empty() {
        return Ok(None);
    }
    db.find(BY_EMAIL, email_norm.as_bytes())
}

/// The user holding a username, regardless of case (index lookup).
pub fn by_username(db: &Db, name: &str) -> Result<Option<User>, StoreError> {
    db.find(BY_USERNAME, username_key(name).as_bytes())
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
    tx.owner(BY_USERNAME, username_key(name).as_bytes())
}

/// The user id holding a normalised email, inside a transaction.
pub fn email_owner(tx: &mut Tx<'_>, email_norm: &str) -> Result<Option<String>, StoreError> {
    tx.owner(BY_EMAIL, email_norm.as_bytes())
}

/// `metadata` fields arrive as a JSON-encoded object (or an object); stored as text, at most
/// [`super::json::MAX_STORED_JSON`] bytes.
pub fn metadata_text(v: Option<&serde_json::Value>) -> Result<String, super::json::JsonError> {
    super::json::object_text("metadata", v)
}

/// What a code check inside a transaction decided: committed either way, so that a wrong
/// code's count sticks (`emails`, `phones`).
pub(crate) enum Done<T> {
    /// Accepted, with what it produced.
    Ok(T),
    /// Refused (committed: the attempt counts).
    Refused(UserError),
}

impl<T> Done<T> {
    /// The outcome as a result.
    pub(crate) fn into_result(self) -> Result<T, UserError> {
        match self {
            Done::Ok(v) => Ok(v),
            Done::Refused(e) => Err(e),
        }
    }
}

/// The 400 of a refused code.
pub(crate) fn code_refused(c: &crate::model::otp::Checked) -> UserError {
    match c {
        crate::model::otp::Checked::WrongCode => UserError::Invalid("Invalid code".into()),
        _ => UserError::Invalid("The code is invalid or has expired; request a new one".into()),
    }
}
