//! What a forward-auth check decides on: the original request's method and canonical path,
//! taken only from what the deployment vouches for (`security.md` L1).
//!
//! A proxy's `auth_request`/`forwardAuth` sub-request carries the client's own headers, so a
//! client can add `X-Forwarded-Uri: /public/x` to a request for `/closed/x`. Which header the
//! proxy *sets* is therefore configuration ([`Integration`]): nginx sets `X-Original-URI` /
//! `X-Original-Method`, Traefik `X-Forwarded-Uri` / `X-Forwarded-Method`, and Envoy's
//! `ext_authz` puts the original path after `/v1/check` and keeps the method. That source is
//! authoritative (for nginx and Traefik the `/v1/check/<path>` suffix stands in when the
//! header is absent, then `/`); every other source the request carries — the other
//! integrations' headers, the suffix — must agree with it, and a header given twice or not as
//! ASCII makes the request ambiguous: refused with 400, never guessed.

use std::borrow::Cow;

use http::HeaderMap;

use crate::decide::DenyReason;
use crate::path;

/// The proxy in front of the sidecar, which decides where the original request's method and
/// URI are read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Integration {
    /// nginx `auth_request`: `X-Original-URI` and `X-Original-Method` (the documented config
    /// sets both).
    #[default]
    Nginx,
    /// Traefik `forwardAuth`: `X-Forwarded-Uri` and `X-Forwarded-Method` (Traefik sets both).
    Traefik,
    /// Envoy `ext_authz` (HTTP service with a `path_prefix` of `/v1/check`): the path after
    /// `/v1/check`, the check request's own method.
    Envoy,
}

impl Integration {
    /// The header carrying the original URI, if this integration uses one.
    pub const fn uri_header(self) -> Option<&'static str> {
        match self {
            Integration::Nginx => Some("x-original-uri"),
            Integration::Traefik => Some("x-forwarded-uri"),
            Integration::Envoy => None,
        }
    }

    /// The header carrying the original method, if this integration uses one.
    pub const fn method_header(self) -> Option<&'static str> {
        match self {
            Integration::Nginx => Some("x-original-method"),
            Integration::Traefik => Some("x-forwarded-method"),
            Integration::Envoy => None,
        }
    }
}

impl std::str::FromStr for Integration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nginx" => Ok(Integration::Nginx),
            "traefik" => Ok(Integration::Traefik),
            "envoy" => Ok(Integration::Envoy),
            other => Err(format!(
                "integration must be nginx, traefik or envoy, not {other:?}"
            )),
        }
    }
}

/// Every header that can name the original URI, whatever the integration.
const URI_HEADERS: [&str; 2] = ["x-original-uri", "x-forwarded-uri"];
/// Every header that can name the original method.
const METHOD_HEADERS: [&str; 2] = ["x-original-method", "x-forwarded-method"];

/// The original request a forward-auth check decides on.
#[derive(Debug, PartialEq, Eq)]
pub struct Original<'a> {
    /// The method.
    pub method: &'a str,
    /// The canonical path ([`path::canonical`]).
    pub path: Cow<'a, str>,
}

/// A header given at most once, as ASCII; empty counts as absent (what nginx sends for a
/// header it was told to clear).
fn one<'a>(h: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, DenyReason> {
    let mut all = h.get_all(name).iter();
    let (Some(v), None) = (all.next(), all.next()) else {
        return match h.contains_key(name) {
            true => Err(DenyReason::AmbiguousRequest),
            false => Ok(None),
        };
    };
    let s = v.to_str().map_err(|_| DenyReason::AmbiguousRequest)?;
    Ok((!s.is_empty()).then_some(s))
}

fn path_part(uri: &str) -> &str {
    uri.split_once('?').map_or(uri, |(p, _)| p)
}

/// The original request of a forward-auth check (`check_path` is the check request's own
/// path, `/v1/check[/<suffix>]`).
pub fn forward_auth<'a>(
    integration: Integration,
    method: &'a str,
    check_path: &'a str,
    h: &'a HeaderMap,
) -> Result<Original<'a>, DenyReason> {
    let suffix = check_path
        .strip_prefix("/v1/check")
        .filter(|s| !s.is_empty());
    let mut uris = [None; URI_HEADERS.len()];
    for (slot, name) in uris.iter_mut().zip(URI_HEADERS) {
        *slot = one(h, name)?;
    }
    let mut methods = [None; METHOD_HEADERS.len()];
    for (slot, name) in methods.iter_mut().zip(METHOD_HEADERS) {
        *slot = one(h, name)?;
    }
    let configured = |names: &[&str], values: &[Option<&'a str>], wanted: Option<&str>| {
        wanted.and_then(|w| {
            names
                .iter()
                .zip(values)
                .find_map(|(n, v)| (*n == w).then_some(*v).flatten())
        })
    };
    let uri = configured(&URI_HEADERS, &uris, integration.uri_header())
        .or(suffix)
        .unwrap_or("/");
    let wanted = path_part(uri);
    // Every source present must name the same path (raw: a second spelling of it is as
    // suspicious as another path).
    let agree = uris
        .iter()
        .flatten()
        .chain(suffix.iter())
        .all(|other| path_part(other) == wanted);
    if !agree {
        return Err(DenyReason::AmbiguousRequest);
    }
    let method =
        configured(&METHOD_HEADERS, &methods, integration.method_header()).unwrap_or(method);
    if methods.iter().flatten().any(|m| *m != method)
        || http::Method::from_bytes(method.as_bytes()).is_err()
    {
        return Err(DenyReason::AmbiguousRequest);
    }
    let path = path::canonical(wanted).map_err(|_| DenyReason::InvalidPath)?;
    Ok(Original { method, path })
}

/// The headers the sidecar writes for the upstream (and the proxy copies from its reply).
pub const IDENTITY_HEADERS: [&str; 5] = [
    "x-user-id",
    "x-tenant-id",
    "x-user-roles",
    "x-user-permissions",
    "x-token-type",
];

/// Whether a header name is one of [`IDENTITY_HEADERS`] in some spelling (`x_user_roles`,
/// `X_User_Roles`: a WSGI or CGI upstream reads both as `HTTP_X_USER_ROLES`). Header names
/// arrive lower-cased, so case is already folded.
pub fn is_identity_spelling(name: &str) -> bool {
    name.len() <= 18
        && IDENTITY_HEADERS.iter().any(|id| {
            id.len() == name.len()
                && id
                    .bytes()
                    .zip(name.bytes())
                    .all(|(a, b)| a == b || (a == b'-' && b == b'_'))
        })
}

/// Whether the request carries an identity header in a spelling other than the one the
/// sidecar writes (and the documented proxies overwrite): no proxy replaces `x_user_roles`,
/// so a forward-auth check refuses it rather than let it reach the service.
pub fn has_forged_identity(h: &HeaderMap) -> bool {
    h.keys()
        .any(|k| k.as_str().contains('_') && is_identity_spelling(k.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn decide(
        i: Integration,
        check: &str,
        pairs: &[(&str, &str)],
    ) -> Result<(String, String), DenyReason> {
        let h = headers(pairs);
        forward_auth(i, "GET", check, &h).map(|o| (o.method.to_owned(), o.path.into_owned()))
    }

    fn ok(m: &str, p: &str) -> Result<(String, String), DenyReason> {
        Ok((m.to_owned(), p.to_owned()))
    }

    const AMBIGUOUS: Result<(String, String), DenyReason> = Err(DenyReason::AmbiguousRequest);

    #[test]
    fn the_configured_source_decides_and_every_other_must_agree() {
        use Integration::{Envoy, Nginx, Traefik};
        let orig = ("x-original-uri", "/closed/x?a=1");
        let fwd = ("x-forwarded-uri", "/public/x");
        for (i, check, pairs, expected) in [
            // nginx: its header decides; the client's own X-Forwarded-Uri must not differ.
            (Nginx, "/v1/check", vec![orig], ok("GET", "/closed/x")),
            (Nginx, "/v1/check", vec![orig, fwd], AMBIGUOUS),
            (Nginx, "/v1/check", vec![fwd], AMBIGUOUS),
            (
                Nginx,
                "/v1/check",
                vec![orig, ("x-forwarded-uri", "/closed/x")],
                ok("GET", "/closed/x"),
            ),
            (
                Nginx,
                "/v1/check/closed/x",
                vec![orig],
                ok("GET", "/closed/x"),
            ),
            (Nginx, "/v1/check/public/x", vec![orig], AMBIGUOUS),
            (Nginx, "/v1/check/orders", vec![], ok("GET", "/orders")),
            (Nginx, "/v1/check", vec![], ok("GET", "/")),
            (
                Nginx,
                "/v1/check",
                vec![orig, ("x-original-method", "DELETE")],
                ok("DELETE", "/closed/x"),
            ),
            (
                Nginx,
                "/v1/check",
                vec![
                    orig,
                    ("x-original-method", "DELETE"),
                    ("x-forwarded-method", "GET"),
                ],
                AMBIGUOUS,
            ),
            (
                Nginx,
                "/v1/check",
                vec![orig, ("x-forwarded-method", "POST")],
                AMBIGUOUS,
            ),
            (
                Nginx,
                "/v1/check",
                vec![orig, ("x-original-uri", "/closed/x")],
                AMBIGUOUS,
            ),
            (
                Nginx,
                "/v1/check",
                vec![orig, ("x-original-method", "GE T")],
                AMBIGUOUS,
            ),
            // An empty header is one the proxy cleared.
            (
                Nginx,
                "/v1/check",
                vec![orig, ("x-forwarded-uri", "")],
                ok("GET", "/closed/x"),
            ),
            // Traefik: X-Forwarded-* decide; a client's X-Original-URI must not differ.
            (Traefik, "/v1/check", vec![fwd], ok("GET", "/public/x")),
            (Traefik, "/v1/check", vec![fwd, orig], AMBIGUOUS),
            (
                Traefik,
                "/v1/check",
                vec![fwd, ("x-forwarded-method", "POST")],
                ok("POST", "/public/x"),
            ),
            // Envoy: the suffix decides; any header naming another path is refused.
            (Envoy, "/v1/check/closed/x", vec![], ok("GET", "/closed/x")),
            (Envoy, "/v1/check/closed/x", vec![fwd], AMBIGUOUS),
            (
                Envoy,
                "/v1/check/closed/x",
                vec![orig],
                ok("GET", "/closed/x"),
            ),
            (Envoy, "/v1/check", vec![], ok("GET", "/")),
            // The decided path is canonical, or refused.
            (
                Nginx,
                "/v1/check",
                vec![("x-original-uri", "/%61dmin//x")],
                ok("GET", "/admin/x"),
            ),
            (
                Nginx,
                "/v1/check",
                vec![("x-original-uri", "/closed%2Fx")],
                Err(DenyReason::InvalidPath),
            ),
        ] {
            assert_eq!(
                decide(i, check, &pairs),
                expected,
                "{i:?} {check} {pairs:?}"
            );
        }
    }

    #[test]
    fn unreadable_facts_are_ambiguous() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-original-uri",
            http::HeaderValue::from_bytes(b"/caf\xc3\xa9").unwrap(),
        );
        assert_eq!(
            forward_auth(Integration::Nginx, "GET", "/v1/check", &h),
            Err(DenyReason::AmbiguousRequest)
        );
    }

    #[test]
    fn identity_headers_are_known_in_every_spelling() {
        for name in [
            "x-user-roles",
            "x_user_roles",
            "x_user-id",
            "x-tenant_id",
            "x_token_type",
        ] {
            assert!(is_identity_spelling(name), "{name}");
        }
        for name in [
            "x-user-rolesx",
            "x-user",
            "authorization",
            "x_forwarded_for",
        ] {
            assert!(!is_identity_spelling(name), "{name}");
        }
        assert!(!has_forged_identity(&headers(&[("x-user-roles", "Admin")])));
        assert!(has_forged_identity(&headers(&[("x_user_roles", "Admin")])));
        assert!(has_forged_identity(&headers(&[("X_User_Id", "u")])));
    }
}
