//! The environment (vendor) identity: its client id and API key, the environment tokens that
//! `/auth/vendor` issues, and the sidecar subscription credential.
//!
//! Secrets are stored only as SHA-256 digests: they are ≥128-bit random values when
//! generated, and hashing keeps `/auth/vendor` cheap (clients call it very often). An
//! environment token is `tev1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`, verified
//! without a store read; changing the API key replaces the HMAC key, which invalidates every
//! token issued before.

use serde::{Deserialize, Serialize};

use crate::crypto::{self, b64url, ct_eq, sha256, unb64url};
use crate::model::clock::UnixSecs;
use crate::store::{Db, Record, StoreError, Tree};

const TOKEN_PREFIX: &str = "tev1.";
/// Longer inputs are refused before any decoding work.
const MAX_TOKEN_LEN: usize = 512;

/// The stored environment record (one per store).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct EnvironmentRecord {
    client_id: String,
    /// Hex SHA-256 of the API key.
    api_key_sha256: String,
    /// Hex SHA-256 of the sidecar token.
    sidecar_token_sha256: String,
    /// Hex HMAC key for environment tokens.
    token_key: String,
}

impl Record for EnvironmentRecord {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        b"environment".to_vec()
    }
}

/// Credentials generated (or replaced) at this start, to print once.
#[derive(Clone, Debug, Default)]
pub struct NewCredentials {
    /// The API key, when generated now.
    pub api_key: Option<String>,
    /// The sidecar token, when generated now.
    pub sidecar_token: Option<String>,
}

/// The claims inside an environment token.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnvClaims {
    /// The environment client id.
    pub cid: String,
    /// Issued at, Unix seconds.
    pub iat: UnixSecs,
    /// Expires at, Unix seconds.
    pub exp: UnixSecs,
}

/// Verifies environment credentials and issues/verifies environment tokens.
pub struct EnvAuth {
    client_id: String,
    client_id_hash: [u8; 32],
    api_key_hash: [u8; 32],
    sidecar_token_hash: [u8; 32],
    token_key: ring::hmac::Key,
    token_ttl: i64,
}

/// Why the environment could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored record is damaged.
    #[error("the stored environment record is damaged: {0}")]
    Damaged(&'static str),
    /// A configured credential is unusable.
    #[error("invalid environment credential: {0}")]
    Invalid(&'static str),
}

fn digest_hex(s: &str) -> String {
    crypto::hex(&sha256(s.as_bytes()))
}

fn validate_given(what: &'static str, v: &str) -> Result<(), EnvError> {
    if v.is_empty() || v.len() > 256 || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(EnvError::Invalid(what));
    }
    Ok(())
}

impl EnvAuth {
    /// Load the environment, creating it on first start. Credentials given in the
    /// configuration replace stored ones; absent ones are generated on first start and
    /// returned in [`NewCredentials`] to be printed once.
    pub async fn bootstrap(
        db: &Db,
        client_id: Option<&str>,
        api_key: Option<&str>,
        sidecar_token: Option<&str>,
        token_ttl: u32,
    ) -> Result<(EnvAuth, String, NewCredentials), EnvError> {
        for (what, v) in [
            ("client id", client_id),
            ("api key", api_key),
            ("sidecar token", sidecar_token),
        ] {
            if let Some(v) = v {
                validate_given(what, v)?;
            }
        }
        let existing = db.get::<EnvironmentRecord>(b"environment")?;
        let mut fresh = NewCredentials::default();
        let record = match existing {
            None => {
                let key = api_key.map(str::to_owned).unwrap_or_else(|| {
                    let k = crypto::random_secret_hex();
                    fresh.api_key = Some(k.clone());
                    k
                });
                let sidecar = sidecar_token.map(str::to_owned).unwrap_or_else(|| {
                    let t = crypto::random_secret_hex();
                    fresh.sidecar_token = Some(t.clone());
                    t
                });
                EnvironmentRecord {
                    client_id: client_id
                        .map(str::to_owned)
                        .unwrap_or_else(|| crypto::new_uuid().to_string()),
                    api_key_sha256: digest_hex(&key),
                    sidecar_token_sha256: digest_hex(&sidecar),
                    token_key: crypto::random_secret_hex(),
                }
            }
            Some(mut rec) => {
                let mut credentials_changed = false;
                if let Some(cid) = client_id.filter(|c| *c != rec.client_id) {
                    rec.client_id = cid.to_owned();
                    credentials_changed = true;
                }
                if let Some(h) = api_key.map(digest_hex).filter(|h| *h != rec.api_key_sha256) {
                    rec.api_key_sha256 = h;
                    credentials_changed = true;
                }
                if credentials_changed {
                    // New credentials end every environment token issued under the old ones.
                    rec.token_key = crypto::random_secret_hex();
                    tracing::warn!("environment credentials replaced from configuration");
                }
                if let Some(h) = sidecar_token.map(digest_hex) {
                    rec.sidecar_token_sha256 = h;
                }
                rec
            }
        };
        db.write(|tx| tx.put(&record)).await?;
        let auth = EnvAuth::from_record(&record, token_ttl)?;
        Ok((auth, record.client_id, fresh))
    }

    fn from_record(rec: &EnvironmentRecord, token_ttl: u32) -> Result<Self, EnvError> {
        let arr = |hex: &str, what| -> Result<[u8; 32], EnvError> {
            crypto::unhex(hex)
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or(EnvError::Damaged(what))
        };
        let key = arr(&rec.token_key, "token key")?;
        Ok(EnvAuth {
            client_id: rec.client_id.clone(),
            client_id_hash: sha256(rec.client_id.as_bytes()),
            api_key_hash: arr(&rec.api_key_sha256, "api key digest")?,
            sidecar_token_hash: arr(&rec.sidecar_token_sha256, "sidecar token digest")?,
            token_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            token_ttl: i64::from(token_ttl),
        })
    }

    /// The environment's client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Whether `client_id`/`secret` are the environment's credentials. Both digests are
    /// always computed and compared in constant time, so an unknown client id and a wrong
    /// secret cost the same.
    pub fn check_credentials(&self, client_id: &str, secret: &str) -> bool {
        let id_ok = ct_eq(&sha256(client_id.as_bytes()), &self.client_id_hash);
        let key_ok = ct_eq(&sha256(secret.as_bytes()), &self.api_key_hash);
        id_ok & key_ok
    }

    /// The key that authenticates push frames ([`shared::wire::mac_key`] of the token).
    pub fn sidecar_mac_key(&self) -> [u8; 32] {
        self.sidecar_token_hash
    }

    /// Whether `token` is the sidecar subscription credential.
    pub fn check_sidecar_token(&self, token: &str) -> bool {
        ct_eq(&sha256(token.as_bytes()), &self.sidecar_token_hash)
    }

    /// Issue an environment token; returns it with its lifetime in seconds.
    pub fn issue(&self, now: UnixSecs) -> (String, i64) {
        let claims = EnvClaims {
            cid: self.client_id.clone(),
            iat: now,
            exp: now + self.token_ttl,
        };
        let payload = b64url(&serde_json::to_vec(&claims).unwrap_or_default());
        let tag = ring::hmac::sign(&self.token_key, payload.as_bytes());
        (
            format!("{TOKEN_PREFIX}{payload}.{}", b64url(tag.as_ref())),
            self.token_ttl,
        )
    }

    /// Verify an environment token: format, signature, client id and expiry.
    pub fn verify(&self, token: &str, now: UnixSecs) -> Option<EnvClaims> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let rest = token.strip_prefix(TOKEN_PREFIX)?;
        let (payload, tag) = rest.split_once('.')?;
        let tag = unb64url(tag)?;
        ring::hmac::verify(&self.token_key, payload.as_bytes(), &tag).ok()?;
        let claims: EnvClaims = shared::json::from_bytes(&unb64url(payload)?).ok()?;
        (claims.cid == self.client_id && claims.exp > now && claims.iat <= now + 60)
            .then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_start_generates_then_keeps_credentials() {
        let db = Db::in_memory();
        let (a, cid, fresh) = EnvAuth::bootstrap(&db, None, None, None, 3600)
            .await
            .unwrap();
        let key = fresh.api_key.clone().unwrap();
        assert!(fresh.sidecar_token.is_some());
        assert!(a.check_credentials(&cid, &key));
        assert!(!a.check_credentials(&cid, "wrong"));
        assert!(!a.check_credentials("other", &key));
        let (b, cid2, fresh2) = EnvAuth::bootstrap(&db, None, None, None, 3600)
            .await
            .unwrap();
        assert_eq!(cid, cid2);
        assert!(fresh2.api_key.is_none() && fresh2.sidecar_token.is_none());
        assert!(b.check_credentials(&cid, &key));
        // Tokens survive a restart with the same credentials...
        let (t, _) = a.issue(1000);
        assert!(b.verify(&t, 1001).is_some());
        // ...and die when the API key is replaced.
        let (c, _, _) = EnvAuth::bootstrap(&db, None, Some("new-key"), None, 3600)
            .await
            .unwrap();
        assert!(c.verify(&t, 1001).is_none());
        assert!(c.check_credentials(&cid, "new-key") && !c.check_credentials(&cid, &key));
    }

    #[tokio::test]
    async fn tokens_expire_and_reject_tampering() {
        let db = Db::in_memory();
        let (a, _, _) = EnvAuth::bootstrap(&db, Some("cid"), Some("key"), Some("sc"), 60)
            .await
            .unwrap();
        let (t, ttl) = a.issue(1000);
        assert_eq!(ttl, 60);
        assert!(a.verify(&t, 1059).is_some());
        assert!(a.verify(&t, 1060).is_none());
        let mut bad = t.clone();
        bad.pop();
        bad.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(a.verify(&bad, 1001).is_none());
        assert!(a.verify("tev1.x.y", 1001).is_none());
        assert!(a.verify(&"a".repeat(10_000), 1001).is_none());
        assert!(a.check_sidecar_token("sc") && !a.check_sidecar_token("sd"));
    }

    #[tokio::test]
    async fn unusable_configured_credentials_are_refused() {
        let db = Db::in_memory();
        let r = EnvAuth::bootstrap(&db, Some("has space"), None, None, 60).await;
        assert!(matches!(r, Err(EnvError::Invalid(_))));
    }
}
