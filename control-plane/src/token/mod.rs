//! Token issuing: the RS256 signing key ring, JWT encoding and the strict verification the
//! control plane applies to its own tokens (user tokens on self-service routes).
//!
//! Keys live in the store (`Tree::Keys`); the in-memory [`KeyRing`] is swapped whole
//! (`ArcSwap`) so signing and verifying never take a lock.

mod jwt;
mod keys;

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::jwt::JwtError;
pub use self::keys::{Jwk, KeyRecord, KeyState};
use crate::store::{Db, StoreError};

/// Errors of the token module.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key is unusable.
    #[error("signing key {kid} is unusable: {reason}")]
    BadKey { kid: String, reason: String },
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    Generate(String),
    /// There is no active signing key.
    #[error("no active signing key")]
    NoActiveKey,
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

/// The key ring in memory: the active signer, the published public keys (active first) and
/// a verifier per key id.
pub struct KeyRing {
    active: Option<keys::Signer>,
    published: Vec<Jwk>,
    verifiers: Vec<(String, ring::signature::UnparsedPublicKey<Vec<u8>>)>,
    active_pem: String,
}

/// Signs and verifies the environment's JWTs.
pub struct Issuer {
    ring: ArcSwap<KeyRing>,
}

impl Issuer {
    /// Load the key ring; on first start generate an active RS256 key (2048-bit).
    pub async fn load_or_init(db: &Db, now: &str) -> Result<Self, TokenError> {
        let mut records = keys::load(db)?;
        if !records.iter().any(|k| k.state == KeyState::Active) {
            let rec = keys::generate(now)?;
            db.write(|tx| tx.put(&rec)).await?;
            tracing::info!(token.kid = %rec.kid, "generated the environment's signing key");
            records.push(rec);
        }
        Ok(Issuer {
            ring: ArcSwap::from_pointee(keys::build_ring(&records)?),
        })
    }

    /// Sign `claims` with the active key (`alg: RS256`, `typ: JWT`, `kid`).
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, TokenError> {
        let ring = self.ring.load();
        let signer = ring.active.as_ref().ok_or(TokenError::NoActiveKey)?;
        jwt::encode(signer, claims)
    }

    /// Verify a JWT signed by one of the ring's keys and decode its claims. Only what the
    /// signature covers is trusted; expiry is the caller's check.
    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<C, JwtError> {
        let ring = self.ring.load();
        jwt::verify(&ring.verifiers, token)
    }

    /// The public keys as a JWKS `keys` array, the active key first.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.ring.load().published.clone()
    }

    /// The active public key as an SPKI PEM (`-----BEGIN PUBLIC KEY-----`), as the SDKs read
    /// it from `GET /resources/configurations/v1`.
    pub fn public_key_pem(&self) -> String {
        self.ring.load().active_pem.clone()
    }

    /// A shared handle.
    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }
}
