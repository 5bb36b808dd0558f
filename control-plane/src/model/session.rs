//! Login sessions and their refresh tokens. A refresh token is 256 random bits, handed out
//! once and stored only as its SHA-256; the session id goes into access tokens as `sid`.

use serde::{Deserialize, Serialize};

use crate::clock::UnixSecs;
use crate::crypto::{b64url, hex, random_bytes, sha256};
use crate::store::{Record, StoreError, Tree, Tx};

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// UUID (`sid` in access tokens).
    pub id: String,
    /// The user.
    pub user_id: String,
    /// The account the session is in.
    pub tenant_id: String,
    /// Hex SHA-256 of the current refresh token.
    pub refresh_sha256: String,
    /// Unix seconds.
    pub created_at: UnixSecs,
    /// Unix seconds; the refresh token is refused from then on.
    pub expires_at: UnixSecs,
    /// Unix seconds of the last login or refresh.
    pub last_used_at: UnixSecs,
    /// Client IP at creation, if known.
    pub ip: Option<String>,
    /// User agent at creation, if sent.
    pub user_agent: Option<String>,
}

impl Record for Session {
    const TREE: Tree = Tree::Sessions;
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}

/// A fresh refresh token and its stored digest.
pub fn new_refresh_token() -> (String, String) {
    let token = b64url(&random_bytes::<32>());
    let digest = hex(&sha256(token.as_bytes()));
    (token, digest)
}

/// The digest a refresh token is stored under.
pub fn refresh_digest(token: &str) -> String {
    hex(&sha256(token.as_bytes()))
}

/// Store a session with its refresh-token index entry.
pub fn put_session(tx: &mut Tx<'_>, s: &Session) -> Result<(), StoreError> {
    tx.put_raw(
        Tree::RefreshTokens,
        s.refresh_sha256.as_bytes(),
        s.id.as_bytes(),
    )?;
    tx.put(s)
}
