//! Delegation (`compat-wave2.md` §17): RFC 8693 token exchange, where a trusted service (the
//! actor, holding an account API token) obtains a token for a signed-in user (the subject)
//! that names the actor in `act`. Invariants:
//!
//! - Nothing is exchanged while the environment's delegation is off.
//! - The actor acts only within its own account: its account is the subject's.
//! - A delegated token never says more than a fresh token of its subject would: its claims
//!   are built now by the one user-claims builder from the user's current rights (never
//!   copied from the subject token), it keeps the subject's session (`sid`), so ending that
//!   session or locking the user revokes it at every sidecar, and it never outlives the
//!   subject token.
//! - An `act` already in the subject token is kept, nested under the new actor (§4.1).

use serde::{Deserialize, Serialize};

use crate::store::{Db, Record, StoreError, Tree};

const KEY: &[u8] = b"delegation";

/// The environment's delegation switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    /// Whether token exchange issues delegated tokens.
    pub enabled: bool,
}

impl Record for Delegation {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        KEY.to_vec()
    }
}

/// The configuration in force (off by default).
pub fn current(db: &Db) -> Result<Delegation, StoreError> {
    Ok(db.get::<Delegation>(KEY)?.unwrap_or_default())
}

/// Turn delegation on or off.
pub async fn set(db: &Db, enabled: bool) -> Result<Delegation, StoreError> {
    let d = Delegation { enabled };
    db.write(|tx| {
        tx.put(&d)?;
        Ok(d)
    })
    .await
}

/// The `act` claim of a token exchanged by actor `sub` (of token type `kind`), nesting the
/// subject token's own `act`, if any.
pub fn act(sub: &str, kind: &str, previous: Option<serde_json::Value>) -> serde_json::Value {
    let mut a = serde_json::json!({"sub": sub, "type": kind});
    if let Some(p) = previous {
        a["act"] = p;
    }
    a
}

/// The token-type URNs of RFC 8693 §3 this server takes and issues.
pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A JWT (accepted as a subject or actor token type: Tessera's access tokens are JWTs).
pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The grant type.
pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acts_nest_the_current_actor_outermost() {
        let first = act("svc-a", "tenantApiToken", None);
        assert_eq!(
            first,
            serde_json::json!({"sub": "svc-a", "type": "tenantApiToken"})
        );
        let second = act("svc-b", "tenantApiToken", Some(first.clone()));
        assert_eq!(second["sub"], "svc-b");
        assert_eq!(second["act"], first);
    }
}
