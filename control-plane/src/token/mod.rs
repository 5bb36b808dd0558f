//! Token issuing: the RS256 signing key ring, JWT encoding and the strict verification the
//! control plane applies to its own tokens (user tokens on self-service routes).
//!
//! Keys live in the store (`Tree::Keys`); the in-memory [`KeyRing`] is swapped whole
//! (`ArcSwap`) so signing and verifying never take a lock.

mod jwt;
mod keys;

use arc_swap::ArcSwap;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::jwt::JwtError;
pub use self::keys::{Jwk, KeyRecord, KeyState};
use crate::model::event::{self, Event};
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
    /// The key still signs, or still verifies unexpired tokens.
    #[error("the key is still in use")]
    StillInUse,
}

/// The key ring in memory: the active signer, the published public keys (active first) and
/// a verifier per key id.
pub struct KeyRing {
    active: Option<keys::Signer>,
    /// Public keys with, for retired ones, the time until which they stay published.
    published: Vec<(Jwk, Option<i64>)>,
    verifiers: Vec<(String, aws_lc_rs::signature::ParsedPublicKey)>,
    active_pem: String,
}

/// Signs and verifies the environment's JWTs.
pub struct Issuer {
    ring: ArcSwap<KeyRing>,
    /// Serialises rotations (key generation takes a while; two at once would race).
    rotating: tokio::sync::Mutex<()>,
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
            rotating: tokio::sync::Mutex::new(()),
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

    /// The public keys as a JWKS `keys` array at `now`, the active key first; a retired key
    /// is listed until every token it signed has expired.
    pub fn jwks(&self, now: i64) -> Vec<Jwk> {
        self.ring
            .load()
            .published
            .iter()
            .filter(|(_, until)| until.is_none_or(|u| now < u))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Every stored key.
    pub fn list(db: &Db) -> Result<Vec<KeyRecord>, TokenError> {
        Ok(keys::load(db)?)
    }

    /// Publish a `next` key (generated, or the one a previous rotation left published):
    /// it verifies but does not sign yet. Returns the key and the event version that
    /// carries it to sidecars.
    pub async fn publish_next(
        &self,
        db: &Db,
        now_text: &str,
    ) -> Result<(KeyRecord, u64), TokenError> {
        let _one = self.rotating.lock().await;
        if let Some(next) = keys::load(db)?
            .into_iter()
            .find(|k| k.state == KeyState::Next)
        {
            return Ok((next, event::last_seq(db)?));
        }
        let created = now_text.to_owned();
        let fresh = tokio::task::spawn_blocking(move || keys::generate(&created))
            .await
            .map_err(|e| TokenError::Generate(e.to_string()))??;
        let mut next = fresh.clone();
        next.state = KeyState::Next;
        let seq = db
            .write(|tx| {
                tx.put(&next)?;
                Event::KeysChanged.record(tx, now_text)
            })
            .await?;
        self.reload(db)?;
        Ok((next, seq))
    }

    /// Start signing with the `next` key `kid`; the previous active key is retired and stays
    /// published for `token_lifetime` seconds (plus a minute of leeway).
    pub async fn promote(
        &self,
        db: &Db,
        kid: &str,
        now: i64,
        now_text: &str,
        token_lifetime: i64,
    ) -> Result<KeyRecord, TokenError> {
        let _one = self.rotating.lock().await;
        let snapshot = keys::load(db)?;
        let promoted = db
            .write(|tx| {
                let mut promoted = None;
                for k in &snapshot {
                    let Some(mut k) = tx.get::<KeyRecord>(k.kid.as_bytes())? else {
                        continue;
                    };
                    if k.kid == kid && k.state == KeyState::Next {
                        k.state = KeyState::Active;
                        tx.put(&k)?;
                        promoted = Some(k);
                    } else if k.state == KeyState::Active {
                        k.state = KeyState::Retired;
                        k.retired_at = Some(now);
                        k.publish_until = Some(now + token_lifetime + 60);
                        tx.put(&k)?;
                    }
                }
                let Some(p) = promoted else {
                    return Err(TokenError::NoActiveKey);
                };
                Event::KeysChanged.record(tx, now_text)?;
                Ok::<_, TokenError>(p)
            })
            .await?;
        self.reload(db)?;
        Ok(promoted)
    }

    /// Follow the key changes other replicas sharing the store make (`KeysChanged` in the
    /// event log): this replica's ring is rebuilt from the store after each, so every replica
    /// signs with the key the last rotation promoted. Runs until the store is gone.
    pub async fn follow(self: std::sync::Arc<Self>, db: crate::store::WeakDb) {
        let (mut commits, mut seen) = match db.upgrade() {
            Some(db) => (db.commits(), event::last_seq(&db).unwrap_or(0)),
            None => return,
        };
        while commits.changed().await.is_ok() {
            let Some(db) = db.upgrade() else { return };
            let Ok(events) = event::after(&db, seen, 1000) else {
                continue;
            };
            let changed = events
                .iter()
                .any(|e| e.kind == crate::model::event::EventKind::KeysChanged);
            if let Some(last) = events.last() {
                seen = last.seq;
            }
            if changed && let Err(e) = self.reload(&db) {
                tracing::error!(error = %e, "cannot reload the signing keys another replica changed");
            }
        }
    }

    fn reload(&self, db: &Db) -> Result<(), TokenError> {
        self.ring
            .store(std::sync::Arc::new(keys::build_ring(&keys::load(db)?)?));
        Ok(())
    }

    /// Drop a key that no longer signs. Without `force`, only once every token it signed has
    /// expired; with `force` (a compromised key) at once, and its tokens stop verifying.
    pub async fn remove(
        &self,
        db: &Db,
        kid: &str,
        now: i64,
        force: bool,
    ) -> Result<Option<KeyRecord>, TokenError> {
        let _one = self.rotating.lock().await;
        let Some(rec) = db.get::<KeyRecord>(kid.as_bytes())? else {
            return Ok(None);
        };
        if rec.state == KeyState::Active || (!force && rec.publish_until.is_some_and(|u| now < u)) {
            return Err(TokenError::StillInUse);
        }
        let at = time::OffsetDateTime::from_unix_timestamp(now)
            .map(crate::model::clock::rfc3339)
            .unwrap_or_default();
        db.write(|tx| {
            tx.delete::<KeyRecord>(kid.as_bytes())?;
            Event::KeysChanged.record(tx, &at)
        })
        .await?;
        self.reload(db)?;
        Ok(Some(rec))
    }

    /// The active public key as an SPKI PEM (`-----BEGIN PUBLIC KEY-----`), as the SDKs read
    /// it from `GET /resources/configurations/v1`.
    pub fn public_key_pem(&self) -> String {
        self.ring.load().active_pem.clone()
    }
}
