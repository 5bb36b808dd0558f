//! CORS for browser applications on other origins (the login box and admin portal of
//! `@frontegg/rest-api`, which fetch with `credentials: 'include'`).
//!
//! An allowed origin ([`Origins`], or the environment's own list) gets its own value echoed in `Access-Control-Allow-Origin`
//! (never `*`: credentials are allowed), `Access-Control-Allow-Credentials: true` and
//! `Access-Control-Expose-Headers: frontegg-trace-id`; its preflights get the methods and
//! every header rest-api sends. Any other origin gets no CORS header at all — its preflight
//! is refused with 403 — so a browser never lets its page read a reply. `Vary: Origin` is on
//! every reply, because the reply depends on it. (Written here rather than with
//! `tower_http::cors`, which emits credentials, methods and headers whatever the origin.)

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
pub use super::origin::Origins;
use crate::error::ApiError;

/// Methods a preflight allows.
const METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";

/// Request headers a preflight allows: what rest-api and the backend SDKs send.
pub const ALLOWED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "x-access-token",
    "frontegg-source",
    "frontegg-requested-application-id",
    "frontegg-login-alias",
    "frontegg-scoped-tenant",
    "frontegg-tenant-id",
    "frontegg-user-id",
    "frontegg-vendor-host",
    "frontegg-application-id",
    "frontegg-environment-id",
    "x-frontegg-framework",
    "x-frontegg-sdk",
];

/// How long a browser may cache a preflight, seconds.
const MAX_AGE: &str = "600";

/// The middleware.
pub async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let origin = allowed_origin(&state, req.headers());
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = if preflight {
        match &origin {
            Some(_) => {
                let mut res = StatusCode::NO_CONTENT.into_response();
                let h = res.headers_mut();
                h.insert(
                    ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(METHODS),
                );
                if let Ok(v) = HeaderValue::from_str(&ALLOWED_HEADERS.join(", ")) {
                    h.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
                }
                h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
                res
            }
            None => ApiError::forbidden("this origin may not call this server from a browser")
                .into_response(),
        }
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    h.append(VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if !preflight {
            h.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("frontegg-trace-id"),
            );
        }
    }
    res
}

/// Whether `raw` is allowed: by the configuration ([`Origins`]), else by the environment's
/// own list (`GET|PUT /tessera/v1/allowed-origins`, read from the store so every replica
/// agrees; a store failure allows nothing).
fn allows(state: &AppState, raw: &str) -> bool {
    state.origins.allows(raw)
        || crate::config::normalize_origin(raw).is_some_and(|o| {
            crate::model::vendor_config::current(&state.db)
                .is_ok_and(|c| c.allowed_origins.contains(&o))
                || crate::model::oauth::application_origin(&state.db, &o).unwrap_or(false)
        })
}

/// Whether `origin` is one of the login box's (the CORS allow-list): the origins a WebAuthn
/// ceremony's client data may name.
pub fn origin_allowed(state: &AppState, origin: &str) -> bool {
    allows(state, origin)
}

/// The WebAuthn relying-party id of a ceremony begun by this request: the host of its
/// allowed `Origin` (credentials bind to the login page's domain), else the public URL's.
pub fn rp_id(state: &AppState, headers: &HeaderMap) -> String {
    match allowed_origin(state, headers).and_then(|v| v.to_str().ok().map(str::to_owned)) {
        Some(o) => crate::config::url_host(&o),
        None => crate::config::url_host(&state.public_url),
    }
}

/// The request's one `Origin` header, when it is allowed (a repeated header never is).
fn allowed_origin(state: &AppState, headers: &HeaderMap) -> Option<HeaderValue> {
    let mut values = headers.get_all(ORIGIN).iter();
    let first = values.next()?;
    (values.next().is_none() && first.to_str().is_ok_and(|o| allows(state, o)))
        .then(|| first.clone())
}

/// Whether a request from a browser page may use the session cookie: without an `Origin`
/// header (not a cross-origin fetch), or with exactly one allowed one.
pub fn cookie_origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    headers.get(ORIGIN).is_none() || allowed_origin(state, headers).is_some()
}
