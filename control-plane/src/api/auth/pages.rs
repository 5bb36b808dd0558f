//! The hosted account pages under `<public-url>/oauth/account/` (the hosted login): the
//! sign-in page the authorization endpoint sends a browser to, and the message pages every
//! refusal of a browser-facing route renders. Server-rendered HTML from templates shipped in
//! the binary (`pages/*.hbs`, Handlebars with HTML escaping and strict variables), one style
//! sheet, no script. Every page carries the same security headers ([`secure`]); every form
//! carries a CSRF token bound to a `SameSite=Strict` cookie ([`Csrf`]); the only place a page
//! sends the browser on to is a path of the authorization endpoint ([`safe_continue`]).

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing;
use handlebars::Handlebars;
use serde::Deserialize;
use serde_json::json;

use super::issue::{append_cookies, cookie};
use super::login::{Credentials, Outcome, password};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::guard::ClientIp;

/// Where the authorization endpoint is served (a sign-in continues only there).
const AUTHORIZE_PATHS: [&str; 2] = ["/oauth/authorize?", "/frontegg/oauth/authorize?"];
const CSRF_COOKIE: &str = "tessera_csrf";
const MAX_CONTINUE: usize = 4096;

fn templates() -> &'static Handlebars<'static> {
    static T: OnceLock<Handlebars<'static>> = OnceLock::new();
    T.get_or_init(|| {
        let mut h = Handlebars::new();
        h.set_strict_mode(true);
        for (name, text) in [
            ("layout", include_str!("pages/layout.hbs")),
            ("login", include_str!("pages/login.hbs")),
            ("message", include_str!("pages/message.hbs")),
        ] {
            // The templates ship in the binary; a test renders each one.
            if let Err(e) = h.register_template_string(name, text) {
                tracing::error!(template = name, error = %e, "a page template does not compile");
            }
        }
        h
    })
}

/// The security headers of every page: a strict Content-Security-Policy (nothing but this
/// server's style sheet and images; no script, no framing), no MIME sniffing, no referrer,
/// no caching.
fn secure(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' https: data:; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A page: `template` rendered with `data` inside the layout.
fn page(status: StatusCode, title: &str, template: &str, data: serde_json::Value) -> Response {
    let t = templates();
    let mut data = data;
    data["base"] = json!("");
    let html = t.render(template, &data).and_then(|content| {
        t.render(
            "layout",
            &json!({"title": title, "base": "", "content": content}),
        )
    });
    let mut res = match html {
        Ok(html) => (
            status,
            [(CONTENT_TYPE, "text/html; charset=utf-8")],
            html.into_bytes(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(template, error = %e, "a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                "The page could not be shown.",
            )
                .into_response()
        }
    };
    secure(&mut res);
    res
}

/// A page that says one thing (`error` pages are marked as an alert).
pub(super) fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(
        status,
        title,
        "message",
        json!({"text": text, "error": status.is_client_error() || status.is_server_error(),
               "link": null, "link_text": null}),
    )
}

/// A browser-facing refusal: the error's status and message on a page (never a stack trace:
/// a 5xx says only that the request failed).
pub(super) fn error_page(e: &ApiError) -> Response {
    let status = e.status();
    let text = if status.is_server_error() {
        "The request could not be completed. Please try again later."
    } else {
        e.message()
    };
    message(status, "Something went wrong", text)
}

/// `continue` when it is a path of this server's authorization endpoint (no other target:
/// no open redirect), else `None`.
pub(super) fn safe_continue(target: &str) -> Option<&str> {
    (target.len() <= MAX_CONTINUE
        && AUTHORIZE_PATHS.iter().any(|p| target.starts_with(p))
        && !target.chars().any(|c| c.is_control() || c == '\\'))
    .then_some(target)
}

/// The `login_hint` of an authorization request's path, to prefill the address.
fn login_hint(target: &str) -> String {
    target
        .split_once('?')
        .and_then(|(_, q)| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "login_hint"))
        .map(|(_, v)| v.chars().take(320).collect())
        .unwrap_or_default()
}

/// The CSRF token of a browser: the `tessera_csrf` cookie it holds (or a new one, set with
/// the page), echoed in every form and compared in constant time on submission.
struct Csrf {
    token: String,
    set_cookie: Option<String>,
}

impl Csrf {
    fn of(state: &AppState, headers: &HeaderMap) -> Csrf {
        if let Some(token) = cookie(headers, CSRF_COOKIE).filter(|t| t.len() == 43) {
            return Csrf {
                token,
                set_cookie: None,
            };
        }
        let token = crate::model::otp::new_token();
        let set_cookie = format!(
            "{CSRF_COOKIE}={token}; Path=/oauth/account; HttpOnly; SameSite=Strict{}",
            if state.secure_cookies { "; Secure" } else { "" },
        );
        Csrf {
            token,
            set_cookie: Some(set_cookie),
        }
    }

    fn matches(headers: &HeaderMap, submitted: &str) -> bool {
        cookie(headers, CSRF_COOKIE)
            .is_some_and(|c| c.len() == 43 && crate::model::oauth::same_binding(&c, submitted))
    }

    fn attach(&self, mut res: Response) -> Response {
        if let Some(c) = &self.set_cookie {
            append_cookies(&mut res, std::slice::from_ref(c));
        }
        res
    }
}

fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    target: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let csrf = Csrf::of(state, headers);
    let res = page(
        status,
        "Sign in",
        "login",
        json!({"csrf": csrf.token, "continue": target, "email": email, "error": error}),
    );
    csrf.attach(res)
}

/// Public: the sign-in page (`?continue=` the authorization request to resume).
async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = crate::http::page::query_pairs(raw.as_deref()).unwrap_or_default();
    let target = pairs
        .iter()
        .find(|(k, _)| k == "continue")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    if !target.is_empty() && safe_continue(target).is_none() {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign in",
            "This sign-in link is not valid. Start again from the application.",
        );
    }
    let hint = login_hint(target);
    login_form(&state, &headers, StatusCode::OK, target, &hint, None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "continue")]
    target: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Public (form, CSRF): sign in with a password; on success the session cookie is set and the
/// browser resumes its authorization request (or sees that it is signed in).
async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = std::str::from_utf8(&body)
        .ok()
        .and_then(|t| serde_urlencoded::from_str::<LoginForm>(t).ok());
    let Some(form) = form else {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign in",
            "The form could not be read. Go back and try again.",
        );
    };
    if !Csrf::matches(&headers, &form.csrf) {
        return message(
            StatusCode::FORBIDDEN,
            "Sign in",
            "This form has expired. Go back, reload the page and try again.",
        );
    }
    if !form.target.is_empty() && safe_continue(&form.target).is_none() {
        return message(
            StatusCode::BAD_REQUEST,
            "Sign in",
            "This sign-in link is not valid. Start again from the application.",
        );
    }
    let retry = |status: StatusCode, text: &str| {
        login_form(
            &state,
            &headers,
            status,
            &form.target,
            &form.email,
            Some(text),
        )
    };
    if form.email.trim().is_empty() || form.password.is_empty() {
        return retry(
            StatusCode::BAD_REQUEST,
            "Enter your email address and password.",
        );
    }
    let c = Credentials {
        email: Some(form.email.trim()),
        username: None,
        password: &form.password,
        invitation_token: None,
        recaptcha_token: None,
    };
    match password(&state, ip, &headers, c).await {
        Ok(Outcome::Issued(issued, config)) => {
            let cookies = issued.set_cookies(&state, &config);
            let mut res = if form.target.is_empty() {
                message(StatusCode::OK, "Signed in", "You are signed in.")
            } else {
                let mut r = StatusCode::SEE_OTHER.into_response();
                if let Ok(v) = HeaderValue::from_str(&form.target) {
                    r.headers_mut().insert(LOCATION, v);
                }
                secure(&mut r);
                r
            };
            append_cookies(&mut res, &cookies);
            res
        }
        Ok(Outcome::Challenge(_)) => message(
            StatusCode::NOT_IMPLEMENTED,
            "Second factor required",
            "This account signs in with a second factor, which the hosted page does not offer \
             yet. Sign in through the application's login box.",
        ),
        Ok(Outcome::Expired(_)) => message(
            StatusCode::FORBIDDEN,
            "Password expired",
            "Your password has expired. Reset it from the application's login box.",
        ),
        Err(e) if e.status().is_server_error() => error_page(&e),
        Err(e) => retry(e.status(), e.message()),
    }
}

/// The pages' style sheet.
async fn style() -> Response {
    let mut res = (
        [(CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("pages/tessera.css"),
    )
        .into_response();
    secure(&mut res);
    res.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root(
            "/oauth/account/login",
            routing::get(login_page).post(login_submit),
        )
        .add_root("/oauth/account/assets/tessera.css", routing::get(style))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        let t = templates();
        for name in ["layout", "login", "message"] {
            assert!(t.get_template(name).is_some(), "{name}");
        }
        let res = page(
            StatusCode::OK,
            "<b>T</b>",
            "login",
            json!({"csrf": "c", "continue": "/oauth/authorize?a=\"><script>", "email": "<x>", "error": null}),
        );
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers()[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
    }

    #[test]
    fn a_sign_in_continues_only_to_the_authorization_endpoint() {
        for ok in [
            "/oauth/authorize?client_id=a",
            "/frontegg/oauth/authorize?x=1",
        ] {
            assert_eq!(safe_continue(ok), Some(ok));
        }
        for bad in [
            "https://evil.test/oauth/authorize?x",
            "//evil.test/oauth/authorize?x",
            "/oauth/authorize",
            "/oauth/authorizex?",
            "/oauth/token?",
            "/oauth/authorize?\r\nSet-Cookie: x=1",
            "/oauth/authorize?\\evil",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_continue(bad), None, "{bad}");
        }
        assert_eq!(
            safe_continue(&format!("/oauth/authorize?{}", "a".repeat(5000))),
            None
        );
    }

    #[test]
    fn the_login_hint_prefills_the_address() {
        assert_eq!(
            login_hint("/oauth/authorize?client_id=a&login_hint=ada%40x.test"),
            "ada@x.test"
        );
        assert_eq!(login_hint("/oauth/authorize?client_id=a"), "");
    }
}
