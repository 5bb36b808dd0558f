//! Lockout: consecutive failed logins per user lock the account at `maxAttempts`; a success
//! resets the count. Policies exist per account, falling back to the environment's.
//!
//! Password checks for one user run one at a time (a per-user async mutex), so the count is
//! read, checked and updated around each evaluation: under a burst of parallel guesses the
//! lock engages after exactly `maxAttempts` failures and no guess is evaluated after it.
//! Checks for an address that is nobody's queue the same way, keyed by the address, so
//! parallel guesses take as long for an unknown address as for a known one (`security.md`
//! M7). A turn's entry leaves the map when nobody holds or waits for it, so guessing at
//! random addresses cannot grow it. (One control-plane process owns a store; a
//! shared-database deployment needs a store-level reservation instead.)

use std::sync::Arc;

use dashmap::DashMap;
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

/// One async mutex per key (a user id, or an unknown address): password checks of one
/// user are serialised.
#[derive(Default)]
pub struct LoginGate {
    locks: DashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

/// A held turn; dropping it lets the next check of the key run.
pub struct Turn {
    gate: Arc<LoginGate>,
    key: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.guard.take();
        // Nobody else holds a handle (the map's is the last): the entry can go. Waiters
        // hold a clone, so an entry in use is never removed.
        self.gate
            .locks
            .remove_if(&self.key, |_, m| Arc::strong_count(m) == 1);
    }
}

impl LoginGate {
    /// Wait for `key`'s turn.
    pub async fn enter(self: &Arc<Self>, key: &str) -> Turn {
        let m = self.locks.entry(key.to_owned()).or_default().clone();
        let guard = m.lock_owned().await;
        Turn {
            gate: self.clone(),
            key: key.to_owned(),
            guard: Some(guard),
        }
    }

    /// Keys with a turn held or awaited.
    pub fn len(&self) -> usize {
        self.locks.len()
    }

    /// Whether no turn is held or awaited.
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_serialise_per_key_and_leave_no_entry_behind() {
        let gate = Arc::new(LoginGate::default());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let first = gate.enter("a").await;
        let waiter = {
            let (gate, order) = (gate.clone(), order.clone());
            tokio::spawn(async move {
                let _t = gate.enter("a").await;
                order.lock().unwrap().push("second");
            })
        };
        let other = gate.enter("b").await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        order.lock().unwrap().push("first");
        drop(first);
        waiter.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["first", "second"]);
        drop(other);
        assert!(gate.is_empty(), "{} entries left", gate.len());
        for i in 0..1000 {
            drop(gate.enter(&format!("nobody-{i}@example.com")).await);
        }
        assert!(gate.is_empty());
    }
}
