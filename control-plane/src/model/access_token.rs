//! Access tokens (`x-api-key`): the stored record. Its secret, an RS256 JWT whose `sub` is
//! the record's id, is never stored; the record carries the rights (an account token's
//! roles) or names the user whose current rights it has.

use serde::{Deserialize, Serialize};

use crate::store::{Record, Tree};

/// A stored access token (its secret, a JWT, is never stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessToken {
    /// UUID; the JWT's `sub`.
    pub id: String,
    /// The account.
    pub tenant_id: String,
    /// The user, for a user's token.
    pub user_id: Option<String>,
    /// Free text.
    pub description: String,
    /// Role ids (account tokens).
    pub role_ids: Vec<String>,
    /// Who created it, when a user did.
    pub created_by_user_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Unix seconds; `None`: never expires.
    pub expires_at: Option<i64>,
}

impl Record for AccessToken {
    const TREE: Tree = Tree::AccessTokens;
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}
