//! Extractors shared by every area: the JSON body ([`ApiJson`]) with the error model's
//! rejections and the depth limit, the bearer credential and the account header (`Caller`,
//! in `caller.rs`, decides who calls).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::http::AppState;

/// A JSON request body. Rejections use the error model: 415 for a non-JSON content type,
/// 413 over the body limit, 408 when the body does not arrive within
/// `limits.body_read_timeout`, 400 for invalid or too deeply nested JSON.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a request body with Content-Type: application/json",
            ));
        }
        let max_depth = state.limits.max_json_depth;
        let read = tokio::time::timeout(
            state.limits.body_read_timeout,
            Bytes::from_request(req, state),
        )
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            )
        })?;
        let bytes = read.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body is too large")
            } else {
                ApiError::bad_request("could not read the request body")
            }
        })?;
        parse_json(&bytes, max_depth).map(ApiJson)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parse a JSON body with the depth limit checked first, so hostile nesting costs one linear
/// scan and never reaches the recursive parser.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], max_depth: usize) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty; a JSON object was expected",
        ));
    }
    if json_depth_exceeds(bytes, max_depth) {
        return Err(ApiError::bad_request(format!(
            "JSON body is nested deeper than {max_depth} levels"
        )));
    }
    // The failing field's path leads the message (`name: must be 0 to 255 characters`).
    let text = shared::json::text(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad_request(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::bad_request(format!("invalid JSON body: {path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

/// Whether `[`/`{` nesting (outside strings) goes deeper than `max`.
fn json_depth_exceeds(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The checks every cookie-authenticated POST (refresh, logout) passes before the cookie is
/// read (`security.md` M7): a cross-site form can make a browser send the cookie (it is
/// `SameSite=None` by default) but not choose the `Origin` header, nor send a JSON body — so
/// a present `Origin` must be an allowed one ([`super::cors::Origins`]; 403 otherwise),
/// and a body must be JSON (415 otherwise) or empty.
pub fn check_cookie_request(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    if !super::cors::cookie_origin_allowed(state, headers) {
        return Err(ApiError::forbidden(
            "this origin may not use the session cookie",
        ));
    }
    if !body.iter().all(u8::is_ascii_whitespace) && !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected an empty body or Content-Type: application/json",
        ));
    }
    Ok(())
}

/// The bearer credential of a request, from `x-access-token` or `Authorization: Bearer`.
/// A repeated header is ambiguous and refused with 400.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    for name in ["x-access-token", AUTHORIZATION.as_str()] {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else { continue };
        if values.next().is_some() {
            return Err(ApiError::bad_request(format!(
                "more than one {name} header"
            )));
        }
        let v = first
            .to_str()
            .map_err(|_| ApiError::unauthorized("Unauthorized"))?
            .trim();
        if name == "x-access-token" {
            return Ok(Some(v));
        }
        let (scheme, token) = v.split_once(' ').unwrap_or((v, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::unauthorized("Unauthorized"));
        }
        return Ok(Some(token.trim()));
    }
    Ok(None)
}

/// The optional `frontegg-tenant-id` header of a management call: the target account.
/// A malformed id is refused with 400; whether the account exists is the handler's check.
pub struct TenantHeader(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for TenantHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all("frontegg-tenant-id").iter();
        let Some(v) = values.next() else {
            return Ok(TenantHeader(None));
        };
        if values.next().is_some() {
            return Err(ApiError::bad_request(
                "more than one frontegg-tenant-id header",
            ));
        }
        let raw = v
            .to_str()
            .map_err(|_| ApiError::bad_request("invalid frontegg-tenant-id header"))?
            .trim();
        if raw.is_empty() {
            return Ok(TenantHeader(None));
        }
        crate::model::tenant::parse_id(raw)
            .map(|id| TenantHeader(Some(id)))
            .ok_or_else(|| ApiError::bad_request("frontegg-tenant-id must be a UUID"))
    }
}

/// `{roleIds}`: the body of every route that hands roles over or names them.
#[derive(Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleIds {
    /// Role ids.
    pub role_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_only_structure_outside_strings() {
        assert!(!json_depth_exceeds(br#"{"a":[1,{"b":2}]}"#, 3));
        assert!(json_depth_exceeds(br#"{"a":[1,{"b":[]}]}"#, 3));
        assert!(!json_depth_exceeds(br#"{"a":"[[[[[[[[[[\"{{{{"}"#, 1));
        let deep = "[".repeat(10_000);
        assert!(json_depth_exceeds(deep.as_bytes(), 32));
    }

    #[test]
    fn content_type_must_be_json() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(
            CONTENT_TYPE,
            "application/merge-patch+json".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&h));
    }

    #[test]
    fn bearer_reads_both_header_styles_and_refuses_duplicates() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h).unwrap(), None);
        h.insert(AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&h).unwrap(), Some("abc"));
        h.insert("x-access-token", "xyz".parse().unwrap());
        assert_eq!(bearer(&h).unwrap(), Some("xyz"));
        h.append("x-access-token", "again".parse().unwrap());
        assert_eq!(bearer(&h).unwrap_err().status(), StatusCode::BAD_REQUEST);
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h).unwrap_err().status(), StatusCode::UNAUTHORIZED);
    }
}
