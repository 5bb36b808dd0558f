//! The observing middleware: a request id on every log line (and in the `frontegg-trace-id`
//! response header), metrics by route template, and the error model enforced on every error
//! response, including those produced outside handlers (axum's own rejections).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::{ApiError, InternalCause};
use crate::http::AppState;
use crate::spec::OpIndex;

/// Incoming trace ids longer than this, or with other characters, are replaced.
const MAX_TRACE_ID: usize = 64;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn request_id(req: &Request) -> String {
    let incoming = req
        .headers()
        .get("frontegg-trace-id")
        .or_else(|| req.headers().get("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= MAX_TRACE_ID
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        });
    match incoming {
        Some(s) => s.to_owned(),
        None => {
            static BOOT: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
            let boot = *BOOT.get_or_init(|| u32::from_be_bytes(crate::crypto::random_bytes::<4>()));
            format!("{boot:08x}{:012x}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
        }
    }
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

pub(super) async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = request_id(&req);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let span =
        tracing::info_span!("request", request.id = %id, http.method = method, http.route = %route);
    let started = Instant::now();
    let mut res = if head_size(&req) > state.limits.max_header_bytes {
        // hyper bounds its read buffer only roughly; this is the exact limit.
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers are too large",
        )
        .into_response()
    } else {
        crate::trace::scoped(id.clone(), next.run(req).instrument(span.clone())).await
    };
    if res.status().is_client_error() || res.status().is_server_error() {
        res = normalize_error(res).await;
    }
    let status = res.status();
    let elapsed = started.elapsed();
    if let Some(op) = res.extensions().get::<OpIndex>()
        && status.as_u16() != 501
    {
        state.served.hit(op.0);
    }
    span.in_scope(|| {
        if let Some(InternalCause(cause)) = res.extensions().get::<InternalCause>() {
            tracing::error!(status = status.as_u16(), error = %cause, "request failed");
        } else {
            tracing::info!(
                status = status.as_u16(),
                latency_us = elapsed.as_micros() as u64,
                "request"
            );
        }
    });
    state
        .metrics
        .requests
        .with_label_values(&[route.as_str(), method, status.as_str()])
        .inc();
    state
        .metrics
        .latency
        .with_label_values(&[route.as_str()])
        .observe(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("frontegg-trace-id", v);
    }
    res
}

/// Bytes of the request head: target plus every header line.
fn head_size(req: &Request) -> usize {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    req.headers()
        .iter()
        .fold(target, |n, (k, v)| n + k.as_str().len() + v.len() + 4)
}

/// Error responses that are neither JSON nor a page (axum's extractor rejections, for
/// example) are rewritten into the error model; a short plain-text reason is kept as the
/// message. (The hosted login's pages answer a browser in HTML, errors included.)
async fn normalize_error(res: Response) -> Response {
    let kept = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    if kept {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 1024)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.len() <= 300);
    let message = text.unwrap_or_else(|| {
        parts
            .status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    });
    let fresh = ApiError::new(parts.status, message).into_response();
    let (fresh_parts, fresh_body) = fresh.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    if let Some(ct) = fresh_parts.headers.get(CONTENT_TYPE) {
        parts.headers.insert(CONTENT_TYPE, ct.clone());
    }
    Response::from_parts(parts, Body::new(fresh_body))
}
