//! Free-form JSON objects clients store (user, vendor, group, account and API-token
//! metadata): one reading and one bound for all of them (`security.md` I2). Whatever the
//! form it arrives in — an object, or a string holding one (the DTO form) — the stored text
//! is at most [`MAX_STORED_JSON`] bytes; above that the request is refused as too large, so no
//! single value can make every later read of it expensive.

use serde_json::{Map, Value};

/// The largest stored JSON value, bytes of its compact text.
pub const MAX_STORED_JSON: usize = 64 * 1024;

/// Why a value cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not an object (nor a string holding one).
    #[error("{0} must be a JSON object (or its JSON-encoded text)")]
    NotObject(&'static str),
    /// Its text is over the bound.
    #[error("{field} is {len} bytes; at most {max} are stored")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its size.
        len: usize,
        /// The bound.
        max: usize,
    },
}

/// Check the size of an object's compact text against `max`.
pub fn bounded(field: &'static str, m: &Map<String, Value>, max: usize) -> Result<(), JsonError> {
    let len = serde_json::to_string(m).map_or(usize::MAX, |s| s.len());
    if len > max {
        return Err(JsonError::TooLarge { field, len, max });
    }
    Ok(())
}

/// An object given as an object, a string holding one, or nothing (`null`, absent, blank:
/// empty), at most `max` bytes as compact text.
pub fn object(
    field: &'static str,
    v: Option<&Value>,
    max: usize,
) -> Result<Map<String, Value>, JsonError> {
    let m = match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
        Some(Value::String(s)) => {
            if s.len() > max {
                return Err(JsonError::TooLarge {
                    field,
                    len: s.len(),
                    max,
                });
            }
            match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => m,
                _ => return Err(JsonError::NotObject(field)),
            }
        }
        Some(_) => return Err(JsonError::NotObject(field)),
    };
    bounded(field, &m, max)?;
    Ok(m)
}

/// [`object`] with the default bound, as the stored text.
pub fn object_text(field: &'static str, v: Option<&Value>) -> Result<String, JsonError> {
    object(field, v, MAX_STORED_JSON).map(|m| Value::Object(m).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_form_is_bounded_the_same_way() {
        let big = json!({"k": "x".repeat(MAX_STORED_JSON)});
        let as_text = Value::String(big.to_string());
        for v in [&big, &as_text] {
            assert!(matches!(
                object_text("metadata", Some(v)),
                Err(JsonError::TooLarge { .. })
            ));
        }
        assert_eq!(object_text("metadata", None).unwrap(), "{}");
        assert_eq!(object_text("metadata", Some(&json!(""))).unwrap(), "{}");
        assert_eq!(
            object_text("metadata", Some(&json!("{\"a\":1}"))).unwrap(),
            "{\"a\":1}"
        );
        for bad in [json!(1), json!([1]), json!("[1]"), json!("nope")] {
            assert_eq!(
                object_text("metadata", Some(&bad)),
                Err(JsonError::NotObject("metadata"))
            );
        }
    }
}
