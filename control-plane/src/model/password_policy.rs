//! Password complexity (the OWASP password-strength-test rules the spec's options map to,
//! `compat.md` §6.5) and password history. Policies exist per account with the
//! environment's as fallback; one `check` is used by every path that sets a password.

use serde::{Deserialize, Serialize};

use crate::model::setting::{self, ScopedSetting, SettingError};
use crate::store::{Db, Record, StoreError, Tree};

/// Optional tests: a password (that is not a passphrase) must pass at least
/// `minOptionalTestsToPass` of the enabled ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OptionalTests {
    /// A lower-case letter.
    pub require_lowercase: bool,
    /// An upper-case letter.
    pub require_uppercase: bool,
    /// A digit.
    pub require_numbers: bool,
    /// Something else.
    pub require_special_chars: bool,
}

impl Default for OptionalTests {
    fn default() -> Self {
        OptionalTests {
            require_lowercase: true,
            require_uppercase: true,
            require_numbers: true,
            require_special_chars: true,
        }
    }
}

/// Tests every password must pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequiredTests {
    /// No character three times in a row.
    pub check_three_repeated_chars: bool,
}

impl Default for RequiredTests {
    fn default() -> Self {
        RequiredTests {
            check_three_repeated_chars: true,
        }
    }
}

/// A password policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordPolicy {
    /// Long passwords (≥ `minPhraseLength`) skip the optional tests.
    pub allow_passphrases: bool,
    /// Characters at most.
    pub max_length: u32,
    /// Characters at least.
    pub min_length: u32,
    /// Characters that make a passphrase.
    pub min_phrase_length: u32,
    /// Optional tests to pass.
    pub min_optional_tests_to_pass: u32,
    /// Refuse known-breached passwords (no breach corpus is bundled yet: stored only).
    pub block_pwned_passwords: bool,
    /// The optional tests.
    pub optional_tests: OptionalTests,
    /// The required tests.
    pub required_tests: RequiredTests,
}

impl Default for PasswordPolicy {
    /// The OWASP test's defaults.
    fn default() -> Self {
        PasswordPolicy {
            allow_passphrases: true,
            max_length: 128,
            min_length: 10,
            min_phrase_length: 20,
            min_optional_tests_to_pass: 4,
            block_pwned_passwords: false,
            optional_tests: OptionalTests::default(),
            required_tests: RequiredTests::default(),
        }
    }
}

/// A stored policy (environment default when `tenant_id` is `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPasswordPolicy {
    /// The account, or `None`.
    pub tenant_id: Option<String>,
    /// The policy.
    pub policy: PasswordPolicy,
}

impl Record for StoredPasswordPolicy {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        setting::key::<Self>(self.tenant_id.as_deref())
    }
}

/// A change to the complexity policy: the given fields replace the policy's.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyChange {
    /// See [`PasswordPolicy`].
    pub allow_passphrases: Option<bool>,
    /// See [`PasswordPolicy`].
    pub max_length: Option<u32>,
    /// See [`PasswordPolicy`].
    pub min_length: Option<u32>,
    /// See [`PasswordPolicy`].
    pub min_phrase_length: Option<u32>,
    /// See [`PasswordPolicy`].
    pub min_optional_tests_to_pass: Option<u32>,
    /// See [`PasswordPolicy`].
    pub block_pwned_passwords: Option<bool>,
    /// See [`PasswordPolicy`].
    pub optional_tests: Option<OptionalTests>,
    /// See [`PasswordPolicy`].
    pub required_tests: Option<RequiredTests>,
}

impl ScopedSetting for StoredPasswordPolicy {
    const NAME: &'static str = "Password policy";
    const PREFIX: &'static str = "password-policy";
    const DEFAULTED: bool = true;
    const INHERITS: bool = true;
    type Change = PolicyChange;

    fn scope(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
    fn initial(scope: Option<&str>, _now: &str) -> Self {
        StoredPasswordPolicy {
            tenant_id: scope.map(str::to_owned),
            policy: PasswordPolicy::default(),
        }
    }
    fn rescoped(self, scope: Option<&str>, _now: &str) -> Self {
        StoredPasswordPolicy {
            tenant_id: scope.map(str::to_owned),
            ..self
        }
    }
    fn apply(&mut self, c: &PolicyChange, _now: &str) -> Result<(), SettingError> {
        let p = &mut self.policy;
        p.allow_passphrases = c.allow_passphrases.unwrap_or(p.allow_passphrases);
        p.max_length = c.max_length.unwrap_or(p.max_length);
        p.min_length = c.min_length.unwrap_or(p.min_length);
        p.min_phrase_length = c.min_phrase_length.unwrap_or(p.min_phrase_length);
        p.min_optional_tests_to_pass = c
            .min_optional_tests_to_pass
            .unwrap_or(p.min_optional_tests_to_pass);
        p.block_pwned_passwords = c.block_pwned_passwords.unwrap_or(p.block_pwned_passwords);
        p.optional_tests = c.optional_tests.unwrap_or(p.optional_tests);
        p.required_tests = c.required_tests.unwrap_or(p.required_tests);
        let most = crate::hashing::MAX_PASSWORD_BYTES as u32;
        if p.min_length < 1 || p.max_length > most || p.min_length > p.max_length {
            return Err(SettingError::Invalid(format!(
                "minLength must be at least 1 and at most maxLength, which may not exceed {most}"
            )));
        }
        if p.min_optional_tests_to_pass > 4 || p.min_phrase_length < p.min_length {
            return Err(SettingError::Invalid(
                "minOptionalTestsToPass is at most 4; minPhraseLength at least minLength".into(),
            ));
        }
        Ok(())
    }
}

/// The policy in force: the account's, else the environment's, else the defaults.
pub fn effective(db: &Db, tenant: Option<&str>) -> Result<PasswordPolicy, StoreError> {
    Ok(setting::in_force::<StoredPasswordPolicy>(db, tenant)?
        .map(|p| p.policy)
        .unwrap_or_default())
}

/// Refuse a password the policy in force in `tenant` rejects (every broken rule, in one
/// message).
pub fn enforce(db: &Db, tenant: Option<&str>, password: &str) -> Result<(), SettingError> {
    let violations = effective(db, tenant)?.violations(password);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(SettingError::Invalid(violations.join(" ")))
    }
}

impl PasswordPolicy {
    /// Every rule the password breaks, as messages (empty: acceptable).
    pub fn violations(&self, password: &str) -> Vec<String> {
        let mut out = Vec::new();
        let len = password.chars().count() as u32;
        if len < self.min_length {
            out.push(format!(
                "The password must be at least {} characters long.",
                self.min_length
            ));
        }
        if len > self.max_length {
            out.push(format!(
                "The password must be fewer than {} characters.",
                self.max_length
            ));
        }
        if self.required_tests.check_three_repeated_chars {
            let chars: Vec<char> = password.chars().collect();
            if chars.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
                out.push(
                    "The password may not contain sequences of three or more repeated characters."
                        .into(),
                );
            }
        }
        let passphrase = self.allow_passphrases && len >= self.min_phrase_length;
        if !passphrase {
            let t = self.optional_tests;
            let checks = [
                (
                    t.require_lowercase,
                    password.chars().any(char::is_lowercase),
                    "a lowercase letter",
                ),
                (
                    t.require_uppercase,
                    password.chars().any(char::is_uppercase),
                    "an uppercase letter",
                ),
                (
                    t.require_numbers,
                    password.chars().any(|c| c.is_ascii_digit()),
                    "a number",
                ),
                (
                    t.require_special_chars,
                    password.chars().any(|c| !c.is_alphanumeric()),
                    "a special character",
                ),
            ];
            let enabled: Vec<_> = checks.iter().filter(|(on, _, _)| *on).collect();
            let passed = enabled.iter().filter(|(_, ok, _)| *ok).count() as u32;
            let needed = self.min_optional_tests_to_pass.min(enabled.len() as u32);
            if passed < needed {
                let missing: Vec<&str> = enabled
                    .iter()
                    .filter(|(_, ok, _)| !*ok)
                    .map(|(_, _, what)| *what)
                    .collect();
                out.push(format!("The password must contain {}.", missing.join(", ")));
            }
        }
        out
    }
}

/// Password history policy (how many previous passwords may not be reused).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPolicy {
    /// UUID.
    pub id: String,
    /// The account, or `None` for the environment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Whether it applies.
    pub enabled: bool,
    /// Previous passwords remembered (1..=10).
    pub history_size: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for HistoryPolicy {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        setting::key::<Self>(self.tenant_id.as_deref())
    }
}

/// A change to the history policy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryChange {
    /// Whether it applies.
    pub enabled: Option<bool>,
    /// Previous passwords remembered: 1 to 10.
    pub history_size: Option<i64>,
}

impl ScopedSetting for HistoryPolicy {
    const NAME: &'static str = "Password History Policy";
    const PREFIX: &'static str = "password-history";
    const DEFAULTED: bool = false;
    type Change = HistoryChange;

    fn scope(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
    fn initial(scope: Option<&str>, now: &str) -> Self {
        HistoryPolicy {
            id: crate::crypto::new_uuid().to_string(),
            tenant_id: scope.map(str::to_owned),
            enabled: false,
            history_size: 1,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        }
    }
    fn rescoped(self, scope: Option<&str>, now: &str) -> Self {
        HistoryPolicy {
            tenant_id: scope.map(str::to_owned),
            created_at: now.to_owned(),
            ..self
        }
    }
    fn apply(&mut self, c: &HistoryChange, now: &str) -> Result<(), SettingError> {
        if let Some(n) = c.history_size {
            self.history_size = setting::within("historySize", n, 1..=10, "")?;
        }
        self.enabled = c.enabled.unwrap_or(self.enabled);
        self.updated_at = now.to_owned();
        Ok(())
    }
}

/// How many previous passwords may not be reused in `tenant` (0: no history policy).
pub fn history_size(db: &Db, tenant: Option<&str>) -> Result<usize, StoreError> {
    Ok(setting::in_force::<HistoryPolicy>(db, tenant)?
        .filter(|p| p.enabled)
        .map_or(0, |p| p.history_size as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owasp_rules() {
        let p = PasswordPolicy::default();
        assert!(p.violations("Correct-Horse-9").is_empty());
        assert!(!p.violations("short1!A").is_empty());
        assert!(!p.violations("alllowercase-1").is_empty(), "no upper case");
        assert!(!p.violations("Baaad-pass-1x").is_empty(), "three repeated");
        assert!(
            p.violations("a long and simple passphrase").is_empty(),
            "passphrases skip optional tests"
        );
        assert!(!p.violations(&"Aa1!".repeat(40)).is_empty(), "too long");
        let lax = PasswordPolicy {
            min_optional_tests_to_pass: 2,
            ..p
        };
        assert!(lax.violations("lowercase11").is_empty());
        let no_phrases = PasswordPolicy {
            allow_passphrases: false,
            ..p
        };
        assert!(
            !no_phrases
                .violations("a long and simple passphrase")
                .is_empty()
        );
    }
}

/// Password expiration ("rotation"): passwords older than `rotation_period` minutes must be
/// reset at the next login; within `notification_period` minutes of that, logins say so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationPolicy {
    /// The account, or `None` for the environment's.
    pub tenant_id: Option<String>,
    /// Whether passwords expire.
    pub is_active: bool,
    /// Minutes a password lives.
    pub rotation_period: u32,
    /// Minutes before expiry during which logins warn.
    pub notification_period: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for RotationPolicy {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        setting::key::<Self>(self.tenant_id.as_deref())
    }
}

/// A change to the expiration policy (minutes).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationChange {
    /// Whether passwords expire.
    pub is_active: Option<bool>,
    /// Minutes a password lives: 1 to 2628000.
    pub rotation_period: Option<i64>,
    /// Minutes of warning: 0 to 2628000.
    pub notification_period: Option<i64>,
}

impl ScopedSetting for RotationPolicy {
    const NAME: &'static str = "Password rotation configuration";
    const PREFIX: &'static str = "password-rotation";
    const DEFAULTED: bool = false;
    type Change = RotationChange;

    fn scope(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
    /// 90 days, a warning 7 days before; off.
    fn initial(scope: Option<&str>, now: &str) -> Self {
        RotationPolicy {
            tenant_id: scope.map(str::to_owned),
            is_active: false,
            rotation_period: 129_600,
            notification_period: 10_080,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        }
    }
    fn rescoped(self, scope: Option<&str>, now: &str) -> Self {
        RotationPolicy {
            tenant_id: scope.map(str::to_owned),
            created_at: now.to_owned(),
            ..self
        }
    }
    fn apply(&mut self, c: &RotationChange, now: &str) -> Result<(), SettingError> {
        if let Some(v) = c.rotation_period {
            self.rotation_period = setting::within("rotationPeriod", v, 1..=2_628_000, " minutes")?;
        }
        if let Some(v) = c.notification_period {
            self.notification_period =
                setting::within("notificationPeriod", v, 0..=2_628_000, " minutes")?;
        }
        self.is_active = c.is_active.unwrap_or(self.is_active);
        self.updated_at = now.to_owned();
        Ok(())
    }
}

/// The rotation policy in force for `tenant`: its own, else the environment's.
pub fn rotation(db: &Db, tenant: Option<&str>) -> Result<Option<RotationPolicy>, StoreError> {
    setting::in_force::<RotationPolicy>(db, tenant)
}
