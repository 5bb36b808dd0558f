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
