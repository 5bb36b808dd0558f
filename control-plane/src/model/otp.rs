//! One-time tokens (activation, password reset, unlock): 256 random bits handed out once,
//! stored only as SHA-256, expiring, and consumed inside a transaction so that two parallel
//! uses cannot both succeed.

use serde::{Deserialize, Serialize};

use crate::clock::UnixSecs;
use crate::crypto::{b64url, hex, random_bytes, sha256};
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
}

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
}

impl Record for OneTimeToken {
    const TREE: Tree = Tree::OneTimeTokens;
    fn key(&self) -> Vec<u8> {
        self.digest.as_bytes().to_vec()
    }
}

/// Store a fresh token and return it (the only time it exists in clear).
pub fn issue(
    tx: &mut Tx<'_>,
    token: &str,
    purpose: Purpose,
    user_id: &str,
    expires_at: UnixSecs,
) -> Result<(), StoreError> {
    tx.put(&OneTimeToken {
        digest: digest(token),
        purpose,
        user_id: user_id.to_owned(),
        expires_at,
    })
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
