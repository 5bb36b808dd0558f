//! Lockout: consecutive failed logins per user lock the account at `maxAttempts`; a success
//! resets the count; at most [`HOURLY_FAILURE_BUDGET`] failures an hour whatever the policy.
//! Policies exist per account, falling back to the environment's.
//!
//! Invariants:
//! - A password is evaluated only under a reservation stored in the user's record
//!   ([`reserve`], in a transaction): no more evaluations are in flight than failures remain
//!   before the lock (or the hourly budget), so under a burst of parallel guesses — from any
//!   number of processes sharing the store — the lock engages after exactly `maxAttempts`
//!   failures and no guess is evaluated after it. A refused reservation is still written
//!   and still costs a hash, so it looks like an evaluation from outside.
//! - A reservation lapses after [`LEASE`] seconds: a process that died holding one blocks
//!   nothing for long.

use serde::{Deserialize, Serialize};

use crate::model::setting::{self, ScopedSetting, SettingError};
use crate::store::{Db, Record, StoreError, Tree};

/// A stored lockout policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockoutPolicy {
    /// UUID.
    pub id: String,
    /// The account, or `None` for the environment policy.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tenant_id: Option<String>,
    /// Whether failures lock.
    pub enabled: bool,
    /// Failures that lock (≥ 1).
    pub max_attempts: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for LockoutPolicy {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        setting::key::<Self>(self.tenant_id.as_deref())
    }
}

/// A change to a lockout policy; a creation names both fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockoutChange {
    /// Whether failures lock.
    pub enabled: Option<bool>,
    /// Failures that lock: 1 to 1000.
    pub max_attempts: Option<i64>,
}

impl ScopedSetting for LockoutPolicy {
    const NAME: &'static str = "Lockout policy";
    const PREFIX: &'static str = "lockout-policy";
    const DEFAULTED: bool = false;
    type Change = LockoutChange;

    fn scope(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
    fn initial(scope: Option<&str>, now: &str) -> Self {
        LockoutPolicy {
            id: crate::crypto::new_uuid().to_string(),
            tenant_id: scope.map(str::to_owned),
            enabled: false,
            max_attempts: 5,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        }
    }
    fn rescoped(self, scope: Option<&str>, now: &str) -> Self {
        LockoutPolicy {
            tenant_id: scope.map(str::to_owned),
            created_at: now.to_owned(),
            ..self
        }
    }
    fn apply(&mut self, c: &LockoutChange, now: &str) -> Result<(), SettingError> {
        if let Some(m) = c.max_attempts {
            self.max_attempts = setting::within("maxAttempts", m, 1..=1000, "")?;
        }
        self.enabled = c.enabled.unwrap_or(self.enabled);
        self.updated_at = now.to_owned();
        Ok(())
    }
    fn complete(c: &LockoutChange) -> Result<(), SettingError> {
        match (c.enabled, c.max_attempts) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err(SettingError::Invalid(
                "enabled and maxAttempts are required".into(),
            )),
        }
    }
}

/// The failures that lock in `tenant`, if a policy there (or the environment's) is enabled.
pub fn max_attempts(db: &Db, tenant: Option<&str>) -> Result<Option<u32>, StoreError> {
    Ok(setting::in_force::<LockoutPolicy>(db, tenant)?
        .filter(|p| p.enabled)
        .map(|p| p.max_attempts.max(1)))
}

/// Failed logins an account may take per hour whatever the lockout policy says (ASVS 2.2.1:
/// at most 100 failed attempts per hour per account).
pub const HOURLY_FAILURE_BUDGET: u32 = 100;

/// Count a failure at `now` in the user's hourly window (a new window when the last one is
/// over).
pub fn count_in_window(u: &mut crate::model::user::User, now: i64) {
    if now.saturating_sub(u.failure_window_start) >= 3600 {
        u.failure_window_start = now;
        u.failures_in_window = 0;
    }
    u.failures_in_window = u.failures_in_window.saturating_add(1);
}

/// Whether the user's failures this hour have used up [`HOURLY_FAILURE_BUDGET`].
pub fn budget_spent(u: &crate::model::user::User, now: i64) -> bool {
    u.failures_in_window >= HOURLY_FAILURE_BUDGET
        && now.saturating_sub(u.failure_window_start) < 3600
}

/// How long a reservation holds (longer than any wait for a hashing core plus the hash).
pub const LEASE: i64 = 60;

/// A password check in flight for a user, reserved in its record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The check's id.
    pub id: String,
    /// Unix seconds after which it no longer counts.
    pub until: i64,
}

/// Reserve a check `id` of `u` at `now`: whether its password may be evaluated. It may while
/// the user is not locked, its hourly budget is not spent and fewer checks are in flight
/// than failures remain before `max` locks it (or before the budget). The reservation is
/// recorded either way.
pub fn reserve(u: &mut crate::model::user::User, max: Option<u32>, id: &str, now: i64) -> bool {
    u.checks.retain(|c| c.until > now);
    let window_live = now.saturating_sub(u.failure_window_start) < 3600;
    let budget_left = if window_live {
        HOURLY_FAILURE_BUDGET.saturating_sub(u.failures_in_window)
    } else {
        HOURLY_FAILURE_BUDGET
    };
    let lock_left = max.map_or(u32::MAX, |m| m.saturating_sub(u.failed_logins));
    let in_flight = u32::try_from(u.checks.len()).unwrap_or(u32::MAX);
    let evaluate = !u.is_locked && in_flight < budget_left.min(lock_left);
    u.checks.push(Reservation {
        id: id.to_owned(),
        until: now + LEASE,
    });
    evaluate
}

/// Release check `id` of `u`.
pub fn release(u: &mut crate::model::user::User, id: &str) {
    u.checks.retain(|c| c.id != id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> crate::model::user::User {
        serde_json::from_value(serde_json::json!({
            "id": "u", "email": "a@x", "email_norm": "a@x", "name": "", "profile_picture_url": null,
            "phone_number": null, "metadata": "{}", "vendor_metadata": "{}", "external_id": null,
            "password_hash": null, "verified": true, "is_locked": false, "super_user": false,
            "invisible": false, "mfa_bypass": false, "memberships": [], "active_tenant_id": null,
            "created_at": "", "last_login": null
        }))
        .unwrap()
    }

    #[test]
    fn no_more_checks_in_flight_than_failures_remain() {
        let mut u = user();
        u.failed_logins = 1;
        // Three failures left before a lock at 4: three evaluations, then refusals.
        let granted: Vec<bool> = (0..6)
            .map(|i| reserve(&mut u, Some(4), &format!("c{i}"), 100))
            .collect();
        assert_eq!(granted, [true, true, true, false, false, false]);
        assert_eq!(u.checks.len(), 6, "refused reservations are recorded too");
        release(&mut u, "c0");
        release(&mut u, "c3");
        assert!(!reserve(&mut u, Some(4), "c6", 100), "five in flight");
        // Lapsed reservations count for nothing.
        assert!(reserve(&mut u, Some(4), "c7", 100 + LEASE));
        assert_eq!(u.checks.len(), 1);
        // A locked user, or a spent hourly budget, evaluates nothing.
        u.checks.clear();
        u.is_locked = true;
        assert!(!reserve(&mut u, None, "c8", 200));
        u.is_locked = false;
        u.failures_in_window = HOURLY_FAILURE_BUDGET;
        u.failure_window_start = 150;
        assert!(!reserve(&mut u, None, "c9", 200));
        assert!(reserve(&mut u, None, "c10", 150 + 3600), "a new hour");
    }
}
