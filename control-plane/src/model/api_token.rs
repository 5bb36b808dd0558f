//! Client-credentials API tokens (an account's, or a user's in an account): the secret is
//! stored only as SHA-256 (it is 256 random bits), and the token's live refresh tokens —
//! at most [`MAX_REFRESH`], oldest evicted first — live in the same record, so a login or a
//! refresh is one atomic update.

use serde::{Deserialize, Serialize};

use crate::crypto::{ct_eq, hex, sha256};
use crate::store::{Record, Tree};

/// Live refresh tokens per API token; the next login evicts the oldest.
pub const MAX_REFRESH: usize = 100;

/// One live refresh token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshEntry {
    /// Hex SHA-256 of the random part.
    pub digest: String,
    /// Unix seconds.
    pub issued_at: i64,
}

/// A stored API token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiToken {
    /// The client id (UUID): the token's identity and the JWT's `sub`.
    pub client_id: String,
    /// Hex SHA-256 of the secret.
    pub secret_sha256: String,
    /// The account.
    pub tenant_id: String,
    /// The user, for a user's token.
    pub user_id: Option<String>,
    /// Free text.
    pub description: String,
    /// Encoded into the JWT.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Role ids (account tokens).
    pub role_ids: Vec<String>,
    /// Permission ids (account tokens, when no roles are given).
    pub permission_ids: Vec<String>,
    /// Who created it, when a user did.
    pub created_by_user_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Unix seconds after which it is refused; `None`: never.
    pub expires_at: Option<i64>,
    /// Live refresh tokens, oldest first.
    #[serde(default)]
    pub refresh: Vec<RefreshEntry>,
    /// JWTs of this token issued at or before this Unix second are revoked at sidecars
    /// (its rights were reduced). Later ones are issued after it — `iat` can be a second or
    /// two ahead of the clock, within every leeway — so they are not caught by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_through: Option<i64>,
}

impl ApiToken {
    /// The `iat` of a JWT issued `now`: after every revocation of this token's JWTs.
    pub fn issued_at(&self, now: i64) -> i64 {
        self.revoked_through.map_or(now, |r| now.max(r + 1))
    }

    /// Revoke every JWT issued so far (none was issued after `max(now, revoked_through + 1)`)
    /// and return the second a revocation entry must name.
    pub fn revoke_issued(&mut self, now: i64) -> i64 {
        let through = self.revoked_through.map_or(now, |r| now.max(r + 1));
        self.revoked_through = Some(through);
        through
    }
}

impl Record for ApiToken {
    const TREE: Tree = Tree::ApiTokens;
    fn key(&self) -> Vec<u8> {
        self.client_id.as_bytes().to_vec()
    }
}

/// Hex SHA-256 of a secret or refresh value.
pub fn digest(value: &str) -> String {
    hex(&sha256(value.as_bytes()))
}

impl ApiToken {
    /// Whether `secret` is this token's (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        ct_eq(digest(secret).as_bytes(), self.secret_sha256.as_bytes())
    }

    /// Whether it has expired at `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }

    /// Add a refresh token (its random part), evicting the oldest beyond [`MAX_REFRESH`].
    pub fn add_refresh(&mut self, random: &str, now: i64) {
        self.refresh.push(RefreshEntry {
            digest: digest(random),
            issued_at: now,
        });
        while self.refresh.len() > MAX_REFRESH {
            self.refresh.remove(0);
        }
    }

    /// Take a live refresh token out (single use). `false` if it is not live.
    pub fn take_refresh(&mut self, random: &str) -> bool {
        let d = digest(random);
        match self
            .refresh
            .iter()
            .position(|e| ct_eq(e.digest.as_bytes(), d.as_bytes()))
        {
            Some(i) => {
                self.refresh.remove(i);
                true
            }
            None => false,
        }
    }
}
