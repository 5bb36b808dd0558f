//! The sign-in page's "Continue with …" links: one per active custom social provider and
//! per federation user pool serving the application being signed in to; the start of such
//! a sign-in (`/oauth/account/social/{id}`: to the provider) and its end
//! (`/oauth/account/social/success`: the provider's redirect back, then the second factor
//! or on to the kept authorization request). The flow itself is `api::auth::social`.

use axum::extract::{Path, RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::sign_in::{clear_continue, keep_continue, kept_continue, second_factor};
use super::*;
use crate::model::{social, user_source};

/// The application an authorization request (`continue`) is for, else the default one.
fn app_of(state: &AppState, target: &str) -> String {
    target
        .split_once('?')
        .and_then(|(_, q)| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "client_id"))
        .map(|(_, v)| v)
        .unwrap_or_else(|| state.env.client_id().to_owned())
}

/// `(href, label)` of the sign-in links for `target`'s application.
pub(super) fn buttons(state: &AppState, target: &str) -> Vec<(String, String)> {
    let cont = if target.is_empty() {
        String::new()
    } else {
        format!(
            "?{}",
            serde_urlencoded::to_string([("continue", target)]).unwrap_or_default()
        )
    };
    let mut out = Vec::new();
    for p in social::all(&state.db).unwrap_or_default() {
        if p.active {
            let label = if p.display_name.is_empty() {
                p.kind.clone()
            } else {
                p.display_name.clone()
            };
            out.push((
                format!("/oauth/account/social/{}{cont}", p.id),
                format!("Continue with {label}"),
            ));
        }
    }
    let app = app_of(state, target);
    for s in user_source::for_app(&state.db, &app).unwrap_or_default() {
        if s.kind == user_source::Kind::Federation {
            out.push((
                format!("/oauth/account/social/{}{cont}", s.id),
                format!("Continue with {}", s.name),
            ));
        }
    }
    out
}

/// Public: start signing in at provider `id` (`?continue=` the authorization request to
/// resume afterwards): to the provider, with the flow's cookie.
pub(super) async fn start_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let target = query_value(raw.as_deref(), "continue");
    if let Err(page) = check_continue(&state, &target) {
        return *page;
    }
    match super::super::social::begin(&state, &id, false).await {
        Ok((url, flow)) => {
            let mut res = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                res.headers_mut().insert(LOCATION, v);
            }
            secure(&mut res, &[]);
            let mut cookies = vec![flow];
            if !target.is_empty() {
                cookies.push(keep_continue(&state, &target, 600));
            }
            append_cookies(&mut res, &cookies);
            res
        }
        Err(e) => error_page(&state, &e),
    }
}

/// Public: where a provider sends the browser back (`?code=&state=`, or `?error=`): signed
/// in (and on to the kept authorization request), the second factor, or why not.
pub(super) async fn callback_page(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = |name: &str| query_value(raw.as_deref(), name);
    let target = kept_continue(&headers);
    let clear = [
        super::super::social::clear_flow(&state),
        clear_continue(&state),
    ];
    let mut res = if !q("error").is_empty() {
        message(
            &state,
            StatusCode::UNAUTHORIZED,
            "Sign-in cancelled",
            "The identity provider did not sign you in. Go back to the sign-in page to try again.",
        )
    } else {
        match super::super::social::complete(&state, ip, &headers, &q("code"), &q("state")).await {
            Ok((Ok(issued), config)) => {
                signed_in(&state, &issued, &config, &target, "You are signed in.")
            }
            Ok((Err(super::super::mfa::Stop::Challenge(c)), _)) => {
                second_factor(&state, &headers, &c, &target).await
            }
            Ok((Err(super::super::mfa::Stop::Refused(e)), _)) | Err(e) => error_page(&state, &e),
        }
    };
    append_cookies(&mut res, &clear);
    res
}
