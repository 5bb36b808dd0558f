//! The pages' static assets: the style sheet, the environment's colours, the security-key
//! page's script.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use super::*;

/// The pages' style sheet.
pub(super) async fn style() -> Response {
    let mut res = (
        [(CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("tessera.css"),
    )
        .into_response();
    secure(&mut res, &[]);
    res.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

/// The security-key page's script.
pub(super) async fn key_script() -> Response {
    let mut res = (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("webauthn.js"),
    )
        .into_response();
    secure(&mut res, &[]);
    res.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

/// The environment's colours (`primaryColor`, checked as `#rrggbb` when saved), as a style
/// sheet: the pages carry no inline style, which their CSP forbids.
pub(super) async fn brand_style(State(state): State<AppState>) -> Response {
    let css = brand(&state)
        .primary_color
        .map(|c| format!(":root {{ --accent: {c}; }}\n"))
        .unwrap_or_default();
    let mut res = ([(CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response();
    secure(&mut res, &[]);
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}
