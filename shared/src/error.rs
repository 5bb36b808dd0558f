//! The error body of every Tessera HTTP response, compatible with Frontegg's clients:
//! `{"errors": ["human readable message"], "errorCode": "ER-…"}`. The sidecar adds a
//! machine-readable deny `reason`.

use serde::{Deserialize, Serialize};

/// An error response body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Human-readable messages; clients join them with ", ". Never empty.
    pub errors: Vec<String>,
    /// Stable code clients branch on (e.g. `ER-NOT-FOUND`); absent only on sidecar denials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Sidecar denials: why the request was refused (e.g. `token_expired`); absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ErrorBody {
    /// A body with one message and a code.
    pub fn new(message: impl Into<String>, error_code: &str) -> Self {
        ErrorBody {
            errors: vec![message.into()],
            error_code: Some(error_code.to_owned()),
            reason: None,
        }
    }

    /// A sidecar denial with its reason.
    pub fn denial(message: impl Into<String>, reason: &str) -> Self {
        ErrorBody {
            errors: vec![message.into()],
            error_code: None,
            reason: Some(reason.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_stable() {
        let e = ErrorBody::new("not implemented: X", "ER-NOT-IMPLEMENTED");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"errors":["not implemented: X"],"errorCode":"ER-NOT-IMPLEMENTED"}"#
        );
        let d = ErrorBody::denial("no snapshot", "snapshot_unavailable");
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"errors":["no snapshot"],"reason":"snapshot_unavailable"}"#
        );
        let back: ErrorBody = serde_json::from_str(r#"{"errors":["a"]}"#).unwrap();
        assert_eq!(back.errors, ["a"]);
    }
}
