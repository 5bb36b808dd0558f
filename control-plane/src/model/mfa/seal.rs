//! Secrets that must be read back (TOTP seeds cannot be hashed): sealed with AES-256-GCM
//! under one key the store keeps beside the environment's other keys, with the owning user's
//! id as associated data (a sealed secret copied onto another user does not open). The key
//! is created once, inside a transaction, so replicas sharing a store agree on it.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

use crate::crypto::{b64url, hex, random_bytes, unb64url, unhex};
use crate::store::{Db, Record, StoreError, Tree, Tx};

const KEY_ID: &[u8] = b"mfa-seal-key";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SealKey {
    /// Hex AES-256 key.
    key: String,
}

impl Record for SealKey {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        KEY_ID.to_vec()
    }
}

fn aead(k: &SealKey) -> Result<LessSafeKey, StoreError> {
    let bytes = unhex(&k.key).ok_or_else(|| StoreError::Backend("damaged seal key".into()))?;
    let key = UnboundKey::new(&AES_256_GCM, &bytes)
        .map_err(|_| StoreError::Backend("damaged seal key".into()))?;
    Ok(LessSafeKey::new(key))
}

/// Seal `secret` for `owner`, inside the transaction that stores it (creating the key on
/// first use). `fresh_key` and `nonce` are drawn by the caller outside the transaction.
pub fn seal(
    tx: &mut Tx<'_>,
    owner: &str,
    secret: &[u8],
    fresh: &Fresh,
) -> Result<String, StoreError> {
    let k = match tx.get::<SealKey>(KEY_ID)? {
        Some(k) => k,
        None => {
            let k = SealKey {
                key: hex(&fresh.key),
            };
            tx.put(&k)?;
            k
        }
    };
    let mut buf = secret.to_vec();
    aead(&k)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(fresh.nonce),
            Aad::from(owner.as_bytes()),
            &mut buf,
        )
        .map_err(|_| StoreError::Backend("sealing failed".into()))?;
    let mut out = fresh.nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(b64url(&out))
}

/// Randomness for one [`seal`], drawn before a transaction (whose closure may re-run).
pub struct Fresh {
    key: [u8; 32],
    nonce: [u8; NONCE_LEN],
}

impl Fresh {
    /// New random key material and nonce.
    pub fn new() -> Self {
        Fresh {
            key: random_bytes::<32>(),
            nonce: random_bytes::<NONCE_LEN>(),
        }
    }
}

impl Default for Fresh {
    fn default() -> Self {
        Self::new()
    }
}

/// Open what [`seal`] sealed for `owner`; `None` if it does not open.
pub fn open(db: &Db, owner: &str, sealed: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(k) = db.get::<SealKey>(KEY_ID)? else {
        return Ok(None);
    };
    let Some(raw) = unb64url(sealed).filter(|r| r.len() > NONCE_LEN) else {
        return Ok(None);
    };
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let Ok(nonce) = Nonce::try_assume_unique_for_key(nonce) else {
        return Ok(None);
    };
    let mut buf = ct.to_vec();
    Ok(aead(&k)?
        .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut buf)
        .ok()
        .map(|p| p.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sealed_secrets_open_only_for_their_owner() {
        let db = Db::in_memory();
        let sealed = db
            .write(|tx| seal(tx, "u1", b"seed", &Fresh::new()))
            .await
            .unwrap();
        assert!(!sealed.contains("seed"));
        assert_eq!(open(&db, "u1", &sealed).unwrap().unwrap(), b"seed");
        assert_eq!(open(&db, "u2", &sealed).unwrap(), None);
        // The key is made once: a second seal uses it.
        let again = db
            .write(|tx| seal(tx, "u1", b"seed", &Fresh::new()))
            .await
            .unwrap();
        assert_ne!(sealed, again, "a fresh nonce each time");
        assert_eq!(open(&db, "u1", &again).unwrap().unwrap(), b"seed");
        let mut tampered = unb64url(&sealed).unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&db, "u1", &b64url(&tampered)).unwrap(), None);
        assert_eq!(open(&db, "u1", "!!").unwrap(), None);
    }
}
