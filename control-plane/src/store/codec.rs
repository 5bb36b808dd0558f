//! Record encoding: one format-version byte, then JSON (debuggable with any sled dump).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{StoreError, Tree};

/// The current record format. Bump it (and teach [`decode`] the old one) when the encoding
/// changes.
pub(crate) const FORMAT_V1: u8 = 1;

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_V1];
    // Serialising our own record types to JSON cannot fail: they have string keys only.
    if let Err(e) = serde_json::to_writer(&mut out, value) {
        tracing::error!(error = %e, "record encoding failed");
    }
    out
}

pub(crate) fn decode<T: DeserializeOwned>(tree: Tree, bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => serde_json::from_slice(body).map_err(|e| StoreError::Decode {
            tree: tree.as_str(),
            reason: e.to_string(),
        }),
        Some((v, _)) => Err(StoreError::Decode {
            tree: tree.as_str(),
            reason: format!("unknown format version {v}"),
        }),
        None => Err(StoreError::Decode {
            tree: tree.as_str(),
            reason: "empty record".into(),
        }),
    }
}
