//! Lockout: consecutive failed logins per user lock the account at `maxAttempts`; a success
//! resets the count. Policies exist per account, falling back to the environment's.
//!
//! Password checks for one user run one at a time (a per-user async mutex), so the count is
//! read, checked and updated around each evaluation: under a burst of parallel guesses the
//! lock engages after exactly `maxAttempts` failures and no guess is evaluated after it.
//! (One control-plane process owns a store; a shared-database deployment needs a store-level
//! reservation instead.)

use std::sync::Arc;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

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
        policy_key(self.tenant_id.as_deref())
    }
}

/// The store key of a policy.
pub fn policy_key(tenant: Option<&str>) -> Vec<u8> {
    format!("lockout-policy/{}", tenant.unwrap_or("-")).into_bytes()
}

/// The failures that lock in `tenant`, if a policy there (or the environment's) is enabled.
pub fn max_attempts(db: &Db, tenant: Option<&str>) -> Result<Option<u32>, StoreError> {
    let own = match tenant {
        Some(t) => db.get::<LockoutPolicy>(&policy_key(Some(t)))?,
        None => None,
    };
    let policy = match own {
        Some(p) => Some(p),
        None => db.get::<LockoutPolicy>(&policy_key(None))?,
    };
    Ok(policy.filter(|p| p.enabled).map(|p| p.max_attempts.max(1)))
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

/// One async mutex per user id: password checks of a user are serialised.
#[derive(Default)]
pub struct LoginGate {
    locks: DashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

impl LoginGate {
    /// Wait for this user's turn.
    pub async fn enter(&self, user_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = self.locks.entry(user_id.to_owned()).or_default().clone();
        m.lock_owned().await
    }
}
