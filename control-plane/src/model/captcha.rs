//! The environment's captcha policy (reCAPTCHA v3, `compat-wave2.md` §12.1) and the
//! verdict on a `recaptchaToken`. Invariants:
//!
//! - The secret key is stored sealed (`mfa::seal`) and leaves only to the verifier and to the
//!   environment token's read (Terraform reads it back); the public read carries no secret
//!   and no ignored address.
//! - A verdict depends only on the request (its token, its email, its address) and the
//!   verifier's answer, never on whether an account exists: the check runs before a flow
//!   looks anything up, and every refusal is the same 400.
//! - An enabled policy passes a request only when the verifier says `success` with
//!   `score ≥ minScore`, or its email is one of `ignoredEmails`; a missing token fails.

use serde::{Deserialize, Serialize};

use crate::model::clock::{Clock, rfc3339};
use crate::model::mfa::seal;
use crate::store::{Db, Record, StoreError, Tree};

const KEY: &[u8] = b"captcha_policy";
const OWNER: &str = "captcha/secret";
const MAX_IGNORED: usize = 1000;

/// The stored policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptchaPolicy {
    /// UUID.
    pub id: String,
    /// The site key the login box renders with.
    pub site_key: String,
    /// The secret key, sealed.
    pub sealed_secret: String,
    /// Whether requests are checked.
    pub enabled: bool,
    /// The lowest passing score, 0 – 1.
    pub min_score: f64,
    /// Addresses (normalized) that skip the check.
    pub ignored_emails: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for CaptchaPolicy {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        KEY.to_vec()
    }
}

/// Why a policy change was refused.
#[derive(Debug, thiserror::Error)]
pub enum CaptchaError {
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// No policy.
    #[error("captcha policy not found")]
    NotFound,
    /// Create when one exists.
    #[error("a captcha policy exists; update it with PUT")]
    Exists,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `CaptchaPolicyRequest`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRequest {
    /// On.
    pub enabled: bool,
    /// Site key.
    pub site_key: String,
    /// Secret key.
    pub secret_key: String,
    /// 0 – 1.
    pub min_score: f64,
    /// Skipped addresses.
    #[serde(default)]
    pub ignored_emails: Vec<String>,
}

fn key_like(what: &str, v: &str) -> Result<(), CaptchaError> {
    if v.is_empty() || v.len() > 256 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CaptchaError::Invalid(format!(
            "{what} must be 1-256 printable characters without spaces"
        )));
    }
    Ok(())
}

impl PolicyRequest {
    fn checked(self) -> Result<(PolicyRequest, Vec<String>), CaptchaError> {
        key_like("siteKey", &self.site_key)?;
        key_like("secretKey", &self.secret_key)?;
        if !(0.0..=1.0).contains(&self.min_score) {
            return Err(CaptchaError::Invalid("minScore must be from 0 to 1".into()));
        }
        if self.ignored_emails.len() > MAX_IGNORED {
            return Err(CaptchaError::Invalid(format!(
                "at most {MAX_IGNORED} ignoredEmails"
            )));
        }
        let mut ignored = Vec::with_capacity(self.ignored_emails.len());
        for e in &self.ignored_emails {
            let n = crate::model::email::normalize(e).map_err(|_| {
                CaptchaError::Invalid(format!("ignoredEmails: '{e}' is not an email address"))
            })?;
            if !ignored.contains(&n) {
                ignored.push(n);
            }
        }
        Ok((self, ignored))
    }
}

/// Store the policy: `create` refuses when one exists (Terraform then PUTs).
pub async fn save(
    db: &Db,
    clock: &Clock,
    req: PolicyRequest,
    create: bool,
) -> Result<CaptchaPolicy, CaptchaError> {
    let (req, ignored) = req.checked()?;
    let at = rfc3339(clock.now());
    let fresh = seal::Fresh::new();
    db.write(|tx| {
        let old = tx.get::<CaptchaPolicy>(KEY)?;
        if create && old.is_some() {
            return Err(CaptchaError::Exists);
        }
        let (id, created_at) = old.map_or_else(
            || (crate::crypto::new_uuid().to_string(), at.clone()),
            |o| (o.id, o.created_at),
        );
        let p = CaptchaPolicy {
            id,
            site_key: req.site_key.clone(),
            sealed_secret: seal::seal(tx, OWNER, req.secret_key.as_bytes(), &fresh)?,
            enabled: req.enabled,
            min_score: req.min_score,
            ignored_emails: ignored.clone(),
            created_at,
            updated_at: at.clone(),
        };
        tx.put(&p)?;
        Ok(p)
    })
    .await
}

/// The policy, if any.
pub fn policy(db: &Db) -> Result<Option<CaptchaPolicy>, StoreError> {
    db.get::<CaptchaPolicy>(KEY)
}

/// The policy's secret key in clear.
pub fn secret(db: &Db, p: &CaptchaPolicy) -> Result<String, StoreError> {
    Ok(seal::open(db, OWNER, &p.sealed_secret)?
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default())
}

/// What the verifier answered (`siteverify`'s reply).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Answer {
    /// Whether the token was valid.
    #[serde(default)]
    pub success: bool,
    /// reCAPTCHA v3 score, 0 – 1.
    pub score: Option<f64>,
}

/// What the check of a request needs from the policy, when it applies at all.
#[derive(Clone, Debug)]
pub enum Check {
    /// No enabled policy, or the request's email is ignored: pass.
    Skip,
    /// No token in the request: fail.
    Missing,
    /// Ask the verifier with this secret; pass on `score ≥ min_score`.
    Verify {
        /// The secret key.
        secret: String,
        /// The lowest passing score.
        min_score: f64,
    },
}

/// Whether a request with `token` (and `email`, if it names one) must be verified.
pub fn check_for(db: &Db, token: Option<&str>, email: Option<&str>) -> Result<Check, StoreError> {
    let Some(p) = policy(db)?.filter(|p| p.enabled) else {
        return Ok(Check::Skip);
    };
    if let Some(norm) = email.and_then(|e| crate::model::email::normalize(e).ok())
        && p.ignored_emails.contains(&norm)
    {
        return Ok(Check::Skip);
    }
    match token.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(Check::Missing),
        Some(_) => Ok(Check::Verify {
            secret: secret(db, &p)?,
            min_score: p.min_score,
        }),
    }
}

/// The verdict on the verifier's answer.
pub fn passes(a: &Answer, min_score: f64) -> bool {
    a.success && a.score.unwrap_or(0.0) >= min_score
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_needs_success_and_the_score() {
        let table = [
            (true, Some(0.9), 0.5, true),
            (true, Some(0.5), 0.5, true),
            (true, Some(0.49), 0.5, false),
            (false, Some(0.9), 0.5, false),
            (true, None, 0.5, false),
            (true, None, 0.0, true),
        ];
        for (success, score, min, want) in table {
            assert_eq!(
                passes(&Answer { success, score }, min),
                want,
                "{success} {score:?} {min}"
            );
        }
    }
}
