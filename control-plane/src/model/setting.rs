//! Settings that exist per account with the environment's as the fallback — lockout,
//! password complexity, history and expiration, sessions (and MFA, captcha, invitation and
//! user-email policies as they come): one trait, one key scheme, one set of reads and writes.
//!
//! Invariants:
//! - A setting is stored under `<PREFIX>/<account id>` or `<PREFIX>/-` (the environment's)
//!   in the environment tree; nothing else writes those keys.
//! - Every write reads the stored setting inside its own transaction and applies the change
//!   to that, so concurrent changes of different fields compose and none is lost.
//! - A change is validated against the whole resulting setting before anything is stored.

use crate::model::clock::Clock;
use crate::store::{Db, Record, StoreError};

/// Why a setting was not read or written.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    /// The scope never had this setting (update, read of a setting without defaults).
    #[error("{0} is not defined")]
    Missing(&'static str),
    /// Created twice.
    #[error("{0} already exists")]
    Exists(&'static str),
    /// The change breaks the setting's rules.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A setting of an account, or of the environment (scope `None`).
pub trait ScopedSetting: Record + Clone {
    /// What the API calls it (`Lockout policy`), for its errors.
    const NAME: &'static str;
    /// The store key prefix.
    const PREFIX: &'static str;
    /// Whether a scope that never set it has the defaults ([`ScopedSetting::initial`]);
    /// otherwise reading it there is [`SettingError::Missing`].
    const DEFAULTED: bool;
    /// Whether an account's first write starts from the environment's setting rather than
    /// from the defaults.
    const INHERITS: bool = false;
    /// A partial change, as requested.
    type Change;

    /// The scope: an account id, or `None` for the environment.
    fn scope(&self) -> Option<&str>;
    /// The defaults in `scope`, created `now`.
    fn initial(scope: Option<&str>, now: &str) -> Self;
    /// This setting moved to `scope` (an account's first write from the environment's).
    fn rescoped(self, scope: Option<&str>, now: &str) -> Self;
    /// Apply `change` at `now`, refusing one that leaves the setting breaking its rules.
    fn apply(&mut self, change: &Self::Change, now: &str) -> Result<(), SettingError>;
    /// Refuse a creation that does not name what it must.
    fn complete(_change: &Self::Change) -> Result<(), SettingError> {
        Ok(())
    }
}

/// The store key of `S` in `scope`.
pub fn key<S: ScopedSetting>(scope: Option<&str>) -> Vec<u8> {
    format!("{}/{}", S::PREFIX, scope.unwrap_or("-")).into_bytes()
}

/// The setting `scope` itself has.
pub fn own<S: ScopedSetting>(db: &Db, scope: Option<&str>) -> Result<Option<S>, StoreError> {
    db.get::<S>(&key::<S>(scope))
}

/// The setting in force in `scope`: its own, else the environment's.
pub fn in_force<S: ScopedSetting>(db: &Db, scope: Option<&str>) -> Result<Option<S>, StoreError> {
    if scope.is_some()
        && let Some(s) = own::<S>(db, scope)?
    {
        return Ok(Some(s));
    }
    own::<S>(db, None)
}

/// The setting in force in `scope`, or its defaults ([`SettingError::Missing`] for a setting
/// without defaults that nobody set).
pub fn effective<S: ScopedSetting>(db: &Db, scope: Option<&str>) -> Result<S, SettingError> {
    match in_force::<S>(db, scope)? {
        Some(s) => Ok(s),
        None if S::DEFAULTED => Ok(S::initial(scope, "")),
        None => Err(SettingError::Missing(S::NAME)),
    }
}

/// Create the setting of `scope` from `change` ([`SettingError::Exists`] if it has one).
pub async fn create<S: ScopedSetting>(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    change: &S::Change,
) -> Result<S, SettingError> {
    S::complete(change)?;
    let now = crate::model::clock::rfc3339(clock.now());
    let mut s = S::initial(scope, &now);
    s.apply(change, &now)?;
    let k = key::<S>(scope);
    db.write(|tx| {
        if tx.get::<S>(&k)?.is_some() {
            return Err(SettingError::Exists(S::NAME));
        }
        tx.put(&s)?;
        Ok(())
    })
    .await?;
    Ok(s)
}

/// Change the setting of `scope` ([`SettingError::Missing`] if it never had one).
pub async fn update<S: ScopedSetting>(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    change: &S::Change,
) -> Result<S, SettingError> {
    let now = crate::model::clock::rfc3339(clock.now());
    let k = key::<S>(scope);
    db.write(|tx| {
        let mut s = tx.get::<S>(&k)?.ok_or(SettingError::Missing(S::NAME))?;
        s.apply(change, &now)?;
        tx.put(&s)?;
        Ok(s)
    })
    .await
}

/// Change the setting of `scope`, creating it when it has none: from the environment's
/// ([`ScopedSetting::INHERITS`]) or from the defaults.
pub async fn upsert<S: ScopedSetting>(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    change: &S::Change,
) -> Result<S, SettingError> {
    let now = crate::model::clock::rfc3339(clock.now());
    let k = key::<S>(scope);
    let env_key = key::<S>(None);
    db.write(|tx| {
        let mut s = match tx.get::<S>(&k)? {
            Some(s) => s,
            None => {
                let inherited = match scope {
                    Some(_) if S::INHERITS => tx.get::<S>(&env_key)?,
                    _ => None,
                };
                match inherited {
                    Some(e) => e.rescoped(scope, &now),
                    None => S::initial(scope, &now),
                }
            }
        };
        s.apply(change, &now)?;
        tx.put(&s)?;
        Ok(s)
    })
    .await
}

/// A whole number in `range`, or the rule `field` breaks.
pub fn within(
    field: &str,
    v: i64,
    range: std::ops::RangeInclusive<i64>,
    unit: &str,
) -> Result<u32, SettingError> {
    if !range.contains(&v) {
        return Err(SettingError::Invalid(format!(
            "{field} must be between {} and {}{unit}",
            range.start(),
            range.end()
        )));
    }
    u32::try_from(v).map_err(|_| SettingError::Invalid(format!("{field} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::lockout::{LockoutChange, LockoutPolicy};
    use crate::model::password_policy::{PolicyChange, StoredPasswordPolicy};

    fn lockout(enabled: Option<bool>, max: Option<i64>) -> LockoutChange {
        LockoutChange {
            enabled,
            max_attempts: max,
        }
    }

    #[tokio::test]
    async fn create_update_and_fallback_follow_one_rule() {
        let (db, clock) = (Db::in_memory(), Clock::system());
        let t = Some("t1");
        assert!(matches!(
            update::<LockoutPolicy>(&db, &clock, t, &lockout(Some(true), None)).await,
            Err(SettingError::Missing(_))
        ));
        assert!(matches!(
            create::<LockoutPolicy>(&db, &clock, None, &lockout(Some(true), None)).await,
            Err(SettingError::Invalid(_))
        ));
        create::<LockoutPolicy>(&db, &clock, None, &lockout(Some(true), Some(3)))
            .await
            .unwrap();
        assert!(matches!(
            create::<LockoutPolicy>(&db, &clock, None, &lockout(Some(true), Some(3))).await,
            Err(SettingError::Exists(_))
        ));
        // An account without its own has the environment's in force, and none of its own.
        assert_eq!(
            in_force::<LockoutPolicy>(&db, t)
                .unwrap()
                .unwrap()
                .max_attempts,
            3
        );
        assert!(own::<LockoutPolicy>(&db, t).unwrap().is_none());
        let bad = update::<LockoutPolicy>(&db, &clock, None, &lockout(None, Some(0))).await;
        assert!(matches!(bad, Err(SettingError::Invalid(_))));
        assert_eq!(
            own::<LockoutPolicy>(&db, None)
                .unwrap()
                .unwrap()
                .max_attempts,
            3
        );
        // No defaults: reading where nobody set it is Missing.
        let fresh = Db::in_memory();
        assert!(matches!(
            effective::<LockoutPolicy>(&fresh, t),
            Err(SettingError::Missing(_))
        ));
    }

    #[tokio::test]
    async fn an_accounts_first_write_inherits_and_concurrent_changes_compose() {
        let (db, clock) = (Db::in_memory(), Clock::system());
        let min = |n| PolicyChange {
            min_length: Some(n),
            ..PolicyChange::default()
        };
        upsert::<StoredPasswordPolicy>(&db, &clock, None, &min(12))
            .await
            .unwrap();
        let t = Some("t1");
        let max = PolicyChange {
            max_length: Some(64),
            ..PolicyChange::default()
        };
        let own_first = upsert::<StoredPasswordPolicy>(&db, &clock, t, &max)
            .await
            .unwrap();
        assert_eq!(
            (own_first.policy.min_length, own_first.policy.max_length),
            (12, 64)
        );
        // Two writers of different fields: both land.
        let phrase = PolicyChange {
            min_phrase_length: Some(30),
            ..PolicyChange::default()
        };
        let fourteen = min(14);
        let (a, b) = tokio::join!(
            upsert::<StoredPasswordPolicy>(&db, &clock, t, &fourteen),
            upsert::<StoredPasswordPolicy>(&db, &clock, t, &phrase)
        );
        a.unwrap();
        b.unwrap();
        let p = own::<StoredPasswordPolicy>(&db, t).unwrap().unwrap().policy;
        assert_eq!(
            (p.min_length, p.min_phrase_length, p.max_length),
            (14, 30, 64)
        );
        // The environment's stayed its own.
        assert_eq!(
            own::<StoredPasswordPolicy>(&db, None)
                .unwrap()
                .unwrap()
                .policy
                .max_length,
            128
        );
    }
}
