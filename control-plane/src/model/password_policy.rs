//! Password complexity (the OWASP password-strength-test rules the spec's options map to,
//! `compat.md` §6.5) and password history. Policies exist per account with the
//! environment's as fallback; one `check` is used by every path that sets a password.

use serde::{Deserialize, Serialize};

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
        policy_key(self.tenant_id.as_deref())
    }
}

/// The store key of a policy.
pub fn policy_key(tenant: Option<&str>) -> Vec<u8> {
    format!("password-policy/{}", tenant.unwrap_or("-")).into_bytes()
}

/// The policy in force: the account's, else the environment's, else the defaults.
pub fn effective(db: &Db, tenant: Option<&str>) -> Result<PasswordPolicy, StoreError> {
    if let Some(t) = tenant
        && let Some(p) = db.get::<StoredPasswordPolicy>(&policy_key(Some(t)))?
    {
        return Ok(p.policy);
    }
    Ok(db
        .get::<StoredPasswordPolicy>(&policy_key(None))?
        .map(|p| p.policy)
        .unwrap_or_default())
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
        history_key(self.tenant_id.as_deref())
    }
}

/// The store key of a history policy.
pub fn history_key(tenant: Option<&str>) -> Vec<u8> {
    format!("password-history/{}", tenant.unwrap_or("-")).into_bytes()
}

/// How many previous passwords may not be reused in `tenant` (0: no history policy).
pub fn history_size(db: &Db, tenant: Option<&str>) -> Result<usize, StoreError> {
    let own = match tenant {
        Some(t) => db.get::<HistoryPolicy>(&history_key(Some(t)))?,
        None => None,
    };
    let p = match own {
        Some(p) => Some(p),
        None => db.get::<HistoryPolicy>(&history_key(None))?,
    };
    Ok(p.filter(|p| p.enabled)
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
        rotation_key(self.tenant_id.as_deref())
    }
}

/// The store key of a rotation policy.
pub fn rotation_key(tenant: Option<&str>) -> Vec<u8> {
    format!("password-rotation/{}", tenant.unwrap_or("-")).into_bytes()
}

/// The rotation policy in force for `tenant`: its own, else the environment's.
pub fn rotation(db: &Db, tenant: Option<&str>) -> Result<Option<RotationPolicy>, StoreError> {
    if let Some(t) = tenant
        && let Some(p) = db.get::<RotationPolicy>(&rotation_key(Some(t)))?
    {
        return Ok(Some(p));
    }
    db.get::<RotationPolicy>(&rotation_key(None))
}
