//! Signing keys: generation (the `rsa` crate, generation only), storage records, and the
//! in-memory ring built from them (aws-lc-rs signs and verifies RS256: keys parsed once,
//! signing ~40 % cheaper than ring's; `docs/PERFORMANCE.md`).

use aws_lc_rs::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents,
};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};

use super::{KeyRing, TokenError};
use crate::crypto::{b64url, unb64url};
use crate::store::{Db, Record, StoreError, Tree};

/// Where a key is in its life: the same states sidecars receive.
pub use shared::wire::KeyState;

/// A stored signing key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Key id (`kid`).
    pub kid: String,
    /// Life-cycle state.
    pub state: KeyState,
    /// PKCS#8 DER of the private key, base64url. The data directory must be protected like
    /// any private key file.
    pub private_pkcs8: String,
    /// SPKI PEM of the public key.
    pub public_pem: String,
    /// JWK modulus, base64url.
    pub n: String,
    /// JWK exponent, base64url.
    pub e: String,
    /// RFC 3339.
    pub created_at: String,
    /// Unix seconds when it stopped signing (retired keys).
    #[serde(default)]
    pub retired_at: Option<i64>,
    /// Unix seconds until which a retired key stays published: every token it signed has
    /// expired by then.
    #[serde(default)]
    pub publish_until: Option<i64>,
}

impl Record for KeyRecord {
    const TREE: Tree = Tree::Keys;
    fn key(&self) -> Vec<u8> {
        self.kid.as_bytes().to_vec()
    }
}

/// A public key as published in the JWKS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: String,
    /// Key id.
    pub kid: String,
    /// Always `RS256`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// Modulus, base64url.
    pub n: String,
    /// Exponent, base64url.
    pub e: String,
}

/// The active key, ready to sign.
pub(super) struct Signer {
    pub(super) kid: String,
    pair: RsaKeyPair,
}

impl Signer {
    /// The RS256 signature (PKCS#1 v1.5, SHA-256) of `input`.
    pub(super) fn sign(&self, input: &[u8]) -> Result<Vec<u8>, TokenError> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input,
                &mut sig,
            )
            .map_err(|_| TokenError::Sign)?;
        Ok(sig)
    }
}

pub(super) fn load(db: &Db) -> Result<Vec<KeyRecord>, StoreError> {
    db.scan::<KeyRecord>(b"")
}

/// A fresh 2048-bit RSA key.
pub(super) fn generate(now: &str) -> Result<KeyRecord, TokenError> {
    let err = |e: &dyn std::fmt::Display| TokenError::Generate(e.to_string());
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|e| err(&e))?;
    let der = key.to_pkcs8_der().map_err(|e| err(&e))?;
    let public = key.to_public_key();
    let pem = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| err(&e))?;
    Ok(KeyRecord {
        kid: crate::crypto::hex(&crate::crypto::random_bytes::<8>()),
        state: KeyState::Active,
        private_pkcs8: b64url(der.as_bytes()),
        public_pem: pem,
        n: b64url(&public.n().to_bytes_be()),
        e: b64url(&public.e().to_bytes_be()),
        created_at: now.to_owned(),
        retired_at: None,
        publish_until: None,
    })
}

/// The in-memory ring: verifiers for every key, the published list with the active key first.
pub(super) fn build_ring(records: &[KeyRecord]) -> Result<KeyRing, TokenError> {
    let bad = |kid: &str, reason: &str| TokenError::BadKey {
        kid: kid.to_owned(),
        reason: reason.to_owned(),
    };
    let mut active = None;
    let mut active_pem = String::new();
    let mut published: Vec<(Jwk, Option<i64>)> = Vec::new();
    let mut verifiers = Vec::new();
    let mut ordered: Vec<&KeyRecord> = records.iter().collect();
    // Active first (Next.js takes keys[0]), then next, then retired.
    ordered.sort_by_key(|k| match k.state {
        KeyState::Active => 0,
        KeyState::Next => 1,
        KeyState::Retired => 2,
    });
    for rec in ordered {
        let n = unb64url(&rec.n).ok_or_else(|| bad(&rec.kid, "modulus"))?;
        let e = unb64url(&rec.e).ok_or_else(|| bad(&rec.kid, "exponent"))?;
        let der =
            unb64url(&rec.private_pkcs8).ok_or_else(|| bad(&rec.kid, "private key encoding"))?;
        let pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| bad(&rec.kid, &e.to_string()))?;
        let verifier = RsaPublicKeyComponents { n: &n, e: &e }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .map_err(|e| bad(&rec.kid, &e.to_string()))?;
        verifiers.push((rec.kid.clone(), verifier));
        published.push((
            Jwk {
                kty: "RSA".into(),
                kid: rec.kid.clone(),
                alg: "RS256".into(),
                use_: "sig".into(),
                n: b64url(&n),
                e: b64url(&e),
            },
            rec.publish_until,
        ));
        if rec.state == KeyState::Active && active.is_none() {
            active_pem = rec.public_pem.clone();
            active = Some(Signer {
                kid: rec.kid.clone(),
                pair,
            });
        }
    }
    Ok(KeyRing {
        active,
        published,
        verifiers,
        active_pem,
    })
}
