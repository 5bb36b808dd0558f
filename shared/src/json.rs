//! JSON that arrived from outside: token segments, request bodies, push frames.
//!
//! `serde_json::from_slice` checks UTF-8 only in the strings it keeps: the value of a field
//! the target type ignores may hold any bytes, so a token or body that is not text at all
//! would be accepted as long as its invalid bytes sat in an unknown field (RFC 8259 §8.1:
//! JSON exchanged between systems is UTF-8). Every parser of received JSON goes through
//! [`text`] (or [`from_bytes`], built on it), so no path can skip the check.

use serde::de::DeserializeOwned;

/// Why received bytes are not the JSON expected.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The bytes are not UTF-8 text; `at` is the offset of the first invalid byte.
    #[error("JSON must be UTF-8 text (invalid byte at offset {at})")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        at: usize,
    },
    /// UTF-8, but not JSON of the expected shape.
    #[error("{0}")]
    Invalid(#[from] serde_json::Error),
}

/// The bytes as text, or where they stop being UTF-8.
pub fn text(bytes: &[u8]) -> Result<&str, JsonError> {
    std::str::from_utf8(bytes).map_err(|e| JsonError::NotUtf8 {
        at: e.valid_up_to(),
    })
}

/// Parse received JSON: UTF-8 throughout, then the expected shape.
pub fn from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    Ok(serde_json::from_str(text(bytes)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Kept {
        #[allow(dead_code)]
        a: String,
    }

    #[test]
    fn invalid_utf8_is_refused_wherever_it_sits() {
        // serde_json::from_slice accepts the ignored field's bytes; from_bytes must not.
        let ignored = b"{\"a\":\"x\",\"b\":\"\xd1\xd1\"}";
        assert!(serde_json::from_slice::<Kept>(ignored).is_ok(), "premise");
        for bytes in [
            &ignored[..],
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"x\",\"\xc3\":1}",
            b"{\"a\":\"x\",\"b\":[\"\xe2\x82\"]}",
            b"{\"a\":\"x\"}\xc0",
        ] {
            assert!(
                matches!(from_bytes::<Kept>(bytes), Err(JsonError::NotUtf8 { .. })),
                "{bytes:?}"
            );
        }
        assert!(from_bytes::<Kept>("{\"a\":\"é\",\"b\":\"ж\"}".as_bytes()).is_ok());
        assert!(matches!(
            from_bytes::<Kept>(b"{\"b\":1}"),
            Err(JsonError::Invalid(_))
        ));
    }
}
