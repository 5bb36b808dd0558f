//! The verified-token cache: a signature check done once per token, bounded by weight, its
//! hits and misses counted.

use std::sync::Arc;

use prometheus::IntCounter;

use crate::decide::Verified;

/// Weight of an entry: [`Verified::weight`].
#[derive(Clone)]
struct ByWeight;

impl quick_cache::Weighter<[u8; 32], Arc<Verified>> for ByWeight {
    fn weight(&self, _key: &[u8; 32], v: &Arc<Verified>) -> u64 {
        u64::from(v.weight(0))
    }
}

/// Verified tokens by [`cache_key`].
pub struct TokenCache {
    entries: quick_cache::sync::Cache<[u8; 32], Arc<Verified>, ByWeight>,
    hits: IntCounter,
    misses: IntCounter,
}

impl TokenCache {
    /// A cache of at most `bytes` (by [`Verified::weight`]). Entries leave by eviction (the
    /// least used first, a one-hit entry before one hit again) — never by time: an expired
    /// token's entry still answers "expired", and the weight bounds the memory.
    pub fn new(bytes: u64, hits: IntCounter, misses: IntCounter) -> Self {
        // About 1 KiB per verified token: the estimate only sizes the shards' tables.
        let estimate = usize::try_from(bytes / 1024).unwrap_or(usize::MAX).max(16);
        let entries = quick_cache::sync::Cache::with_weighter(estimate, bytes, ByWeight);
        TokenCache {
            entries,
            hits,
            misses,
        }
    }

    /// The cached verification of `token`, or `verify`'s (cached when it succeeds).
    pub fn get_or_verify<E>(
        &self,
        token: &str,
        verify: impl FnOnce() -> Result<Verified, E>,
    ) -> Result<Arc<Verified>, E> {
        let key = cache_key(token);
        match self.entries.get(&key) {
            Some(v) if *v.token == *token => {
                self.hits.inc();
                Ok(v)
            }
            _ => {
                self.misses.inc();
                let v = Arc::new(verify()?);
                self.entries.insert(key, v.clone());
                Ok(v)
            }
        }
    }

    /// How many entries (a gauge).
    pub fn entry_count(&self) -> u64 {
        self.entries.len() as u64
    }
}

/// The cache key: the first 32 characters of the signature segment (RS256 signatures are
/// unpredictable and distinct per token). The key only finds the entry; a hit also needs the
/// whole token to match byte for byte, so a forged token sharing a signature's prefix is a
/// miss and gets verified. Cheaper than hashing the whole token.
pub fn cache_key(token: &str) -> [u8; 32] {
    let sig = token.rsplit_once('.').map_or(token, |(_, s)| s).as_bytes();
    let mut out = [0u8; 32];
    let n = sig.len().min(32);
    out[..n].copy_from_slice(&sig[..n]);
    out
}
