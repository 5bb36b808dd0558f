//! One-time tokens (activation, password reset, unlock): 256 random bits handed out once,
//! stored only as SHA-256, expiring, and consumed inside a transaction so that two parallel
//! uses cannot both succeed. A user holds at most one live token per purpose: issuing one
//! retires the previous (an older mailed link stops working, and repeated requests cannot
//! pile tokens up).

use serde::{Deserialize, Serialize};

use crate::crypto::{b64url, hex, random_bytes, sha256};
use crate::model::clock::UnixSecs;
use crate::store::{Record, StoreError, Tree, Tx};

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Purpose {
    /// Activate (verify) a new user.
    Activation,
    /// Reset a password.
    PasswordReset,
    /// Unlock a locked user.
    Unlock,
    /// Activate with the token from the sign-up reply plus the code mailed to the user: the
    /// token alone activates nothing (anyone may sign up with anyone's address).
    ActivationCode,
    /// Prove a login phone being added (`subject`: the phone id).
    PhoneAdd,
    /// Prove a login phone being removed (`subject`: the phone id).
    PhoneRemove,
    /// Prove an address added to the user (`subject`: the address id).
    EmailAdd,
    /// Prove the user's new primary address (`subject`: the address).
    EmailChange,
}

/// Wrong codes a code-bound token survives; the next one burns it.
pub const MAX_CODE_ATTEMPTS: u32 = 5;

/// A stored token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeToken {
    /// Hex SHA-256 of the token.
    pub digest: String,
    /// Purpose.
    pub purpose: Purpose,
    /// The user.
    pub user_id: String,
    /// Unix seconds after which it is refused.
    pub expires_at: UnixSecs,
    /// Hex SHA-256 of the code that must accompany the token ([`Purpose::ActivationCode`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_digest: Option<String>,
    /// Wrong codes tried so far.
    #[serde(default)]
    pub attempts: u32,
    /// What the code proves (a phone id, an address), for the code purposes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl Record for OneTimeToken {
    const TREE: Tree = Tree::OneTimeTokens;
    fn key(&self) -> Vec<u8> {
        self.digest.as_bytes().to_vec()
    }
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Activation => "activation",
            Purpose::PasswordReset => "passwordReset",
            Purpose::Unlock => "unlock",
            Purpose::ActivationCode => "activationCode",
            Purpose::PhoneAdd => "phoneAdd",
            Purpose::PhoneRemove => "phoneRemove",
            Purpose::EmailAdd => "emailAdd",
            Purpose::EmailChange => "emailChange",
        }
    }
}

/// Record `digest` as the user's one live token for `purpose`, deleting the previous one.
/// (The pointer lives beside the tokens, under a key no digest can take.)
fn supersede(
    tx: &mut Tx<'_>,
    purpose: Purpose,
    user_id: &str,
    digest: &str,
) -> Result<(), StoreError> {
    let key = format!("latest/{}/{user_id}", purpose.name());
    if let Some(old) = tx.get_raw(Tree::OneTimeTokens, key.as_bytes())?
        && old != digest.as_bytes()
    {
        tx.delete_raw(Tree::OneTimeTokens, &old)?;
    }
    tx.put_raw(Tree::OneTimeTokens, key.as_bytes(), digest.as_bytes())
}

/// Store a fresh token (the caller hands it out: the only time it exists in clear); the
/// user's previous token for `purpose` stops working.
pub fn issue(
    tx: &mut Tx<'_>,
    token: &str,
    purpose: Purpose,
    user_id: &str,
    expires_at: UnixSecs,
) -> Result<(), StoreError> {
    supersede(tx, purpose, user_id, &digest(token))?;
    tx.put(&OneTimeToken {
        digest: digest(token),
        purpose,
        user_id: user_id.to_owned(),
        expires_at,
        code_digest: None,
        attempts: 0,
        subject: None,
    })
}

/// Store a token that is valid only together with `code` ([`consume_with_code`]).
pub fn issue_with_code(
    tx: &mut Tx<'_>,
    token: &str,
    code: &str,
    user_id: &str,
    expires_at: UnixSecs,
) -> Result<(), StoreError> {
    issue_code(
        tx,
        token,
        code,
        Purpose::ActivationCode,
        user_id,
        None,
        expires_at,
    )
}

/// Store a code-bound token for `purpose` about `subject` (the user's previous one for the
/// purpose stops working).
pub fn issue_code(
    tx: &mut Tx<'_>,
    token: &str,
    code: &str,
    purpose: Purpose,
    user_id: &str,
    subject: Option<String>,
    expires_at: UnixSecs,
) -> Result<(), StoreError> {
    supersede(tx, purpose, user_id, &digest(token))?;
    tx.put(&OneTimeToken {
        digest: digest(token),
        purpose,
        user_id: user_id.to_owned(),
        expires_at,
        code_digest: Some(digest(code)),
        attempts: 0,
        subject,
    })
}

/// The owner of decoy tokens: never a user id (those are UUIDs), so a decoy never
/// activates, resets or unlocks anything.
pub const DECOY_OWNER: &str = "decoy";

/// The durable work of [`issue`] for a request about an address that is nobody's (or a user
/// that gets nothing): the same reads and writes, a token that is already expired and
/// belongs to no one. Replies and timing then do not tell known addresses from unknown ones
/// (`security.md` D2); the decoy replaces the previous one, so decoys never pile up.
pub fn issue_decoy(tx: &mut Tx<'_>, token: &str, purpose: Purpose) -> Result<(), StoreError> {
    issue(tx, token, purpose, DECOY_OWNER, 0)
}

/// A new six-digit code (uniform: rejection sampling over random bytes).
pub fn new_code() -> String {
    loop {
        let n = u32::from_be_bytes(random_bytes::<4>());
        // 4_294_000_000 is the largest multiple of 10^6 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// What presenting a code-bound token decided.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeOutcome {
    /// Valid: the token is consumed; the user id.
    Accepted(String),
    /// Unknown, expired or burnt token.
    BadToken,
    /// Wrong code; the attempt is counted (and the token burnt at the limit).
    WrongCode,
}

/// Consume a code-bound token if `code` matches (constant time). A wrong code counts an
/// attempt; the [`MAX_CODE_ATTEMPTS`]th wrong code deletes the token. The caller must commit
/// the transaction whatever the outcome, so that attempts stick.
pub fn consume_with_code(
    tx: &mut Tx<'_>,
    token: &str,
    code: &str,
    now: UnixSecs,
) -> Result<CodeOutcome, StoreError> {
    Ok(
        match consume_code(tx, token, code, Purpose::ActivationCode, None, now)? {
            Checked::Accepted(t) => CodeOutcome::Accepted(t.user_id),
            Checked::BadToken => CodeOutcome::BadToken,
            Checked::WrongCode => CodeOutcome::WrongCode,
        },
    )
}

/// What presenting a code-bound token of any purpose decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Valid: the token is consumed; its record.
    Accepted(OneTimeToken),
    /// Unknown, expired, burnt, another purpose's or another user's token.
    BadToken,
    /// Wrong code; counted (and the token burnt at the limit).
    WrongCode,
}

/// Consume a code-bound token of `purpose` (of `user_id` when given) if `code` matches
/// (constant time); a wrong code counts an attempt and the [`MAX_CODE_ATTEMPTS`]th burns the
/// token. The caller commits whatever the outcome, so that attempts stick.
pub fn consume_code(
    tx: &mut Tx<'_>,
    token: &str,
    code: &str,
    purpose: Purpose,
    user_id: Option<&str>,
    now: UnixSecs,
) -> Result<Checked, StoreError> {
    consume_digest(tx, &digest(token), code, purpose, user_id, now)
}

/// [`consume_code`] for the user's live token of `purpose` (flows whose second request
/// carries the code and no token: the user's latest code is the one that counts).
pub fn consume_latest(
    tx: &mut Tx<'_>,
    code: &str,
    purpose: Purpose,
    user_id: &str,
    now: UnixSecs,
) -> Result<Checked, StoreError> {
    let key = format!("latest/{}/{user_id}", purpose.name());
    let Some(d) = tx.get_raw(Tree::OneTimeTokens, key.as_bytes())? else {
        return Ok(Checked::BadToken);
    };
    let d = String::from_utf8_lossy(&d).into_owned();
    consume_digest(tx, &d, code, purpose, Some(user_id), now)
}

fn consume_digest(
    tx: &mut Tx<'_>,
    d: &str,
    code: &str,
    purpose: Purpose,
    user_id: Option<&str>,
    now: UnixSecs,
) -> Result<Checked, StoreError> {
    let Some(mut t) = tx.get::<OneTimeToken>(d.as_bytes())? else {
        return Ok(Checked::BadToken);
    };
    if t.purpose != purpose || t.expires_at <= now || user_id.is_some_and(|u| u != t.user_id) {
        return Ok(Checked::BadToken);
    }
    let given = digest(code.trim());
    let matches = t
        .code_digest
        .as_deref()
        .is_some_and(|c| crate::crypto::ct_eq(c.as_bytes(), given.as_bytes()));
    if matches {
        tx.delete::<OneTimeToken>(d.as_bytes())?;
        return Ok(Checked::Accepted(t));
    }
    t.attempts += 1;
    if t.attempts >= MAX_CODE_ATTEMPTS {
        tx.delete::<OneTimeToken>(d.as_bytes())?;
    } else {
        tx.put(&t)?;
    }
    Ok(Checked::WrongCode)
}

/// A new random token (generate before the transaction: closures may re-run).
pub fn new_token() -> String {
    b64url(&random_bytes::<32>())
}

fn digest(token: &str) -> String {
    hex(&sha256(token.as_bytes()))
}

/// Consume a token for `purpose`: it is deleted whatever the outcome, and the user id is
/// returned only if it was valid and unexpired. Inside a transaction, so single-use holds
/// under races.
pub fn consume(
    tx: &mut Tx<'_>,
    token: &str,
    purpose: Purpose,
    now: UnixSecs,
) -> Result<Option<String>, StoreError> {
    let d = digest(token);
    let Some(t) = tx.get::<OneTimeToken>(d.as_bytes())? else {
        return Ok(None);
    };
    if t.purpose != purpose {
        return Ok(None);
    }
    tx.delete::<OneTimeToken>(d.as_bytes())?;
    Ok((t.expires_at > now).then_some(t.user_id))
}

/// The user a live token of any purpose belongs to, inside a transaction.
pub fn peek_tx(tx: &mut Tx<'_>, token: &str) -> Result<Option<String>, StoreError> {
    Ok(tx
        .get::<OneTimeToken>(digest(token).as_bytes())?
        .map(|t| t.user_id))
}

/// Look a token up without consuming it (e.g. the activation strategy).
pub fn peek(
    db: &crate::store::Db,
    token: &str,
    purpose: Purpose,
    now: UnixSecs,
) -> Result<Option<String>, StoreError> {
    Ok(db
        .get::<OneTimeToken>(digest(token).as_bytes())?
        .filter(|t| t.purpose == purpose && t.expires_at > now)
        .map(|t| t.user_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// E9 (sanity only): 10,000 six-digit codes have uniformly distributed digits (chi-square
    /// over the 60,000 digits, 9 degrees of freedom: 33.7 is the p = 0.0001 critical value) and
    /// 10,000 tokens are distinct 256-bit values.
    #[test]
    fn codes_and_tokens_look_random() {
        let mut counts = [0u32; 10];
        let mut codes = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let c = new_code();
            assert_eq!(c.len(), 6);
            for d in c.bytes() {
                counts[usize::from(d - b'0')] += 1;
            }
            codes.insert(c);
        }
        let expected = 60_000.0 / 10.0;
        let chi2: f64 = counts
            .iter()
            .map(|&n| (f64::from(n) - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 33.7, "digit counts {counts:?}, chi-square {chi2:.1}");
        // Birthday bound: 10k draws from 10^6 give ~50 repeats; far more means a weak source.
        assert!(
            codes.len() > 9_850,
            "{} distinct codes of 10,000",
            codes.len()
        );
        let tokens: std::collections::HashSet<String> = (0..10_000).map(|_| new_token()).collect();
        assert_eq!(tokens.len(), 10_000);
        assert!(tokens.iter().all(|t| t.len() == 43), "32 bytes, base64url");
    }
}
