//! The hosted account pages under `<public-url>/oauth/account/` (the hosted login): sign-in
//! (where the authorization endpoint sends a browser) with its first and second factors,
//! sign-up, the mailed links' pages (activation, password reset, unlock, magic link,
//! invitation, approval), forgot password, the recovery code; and the message pages every
//! refusal of a browser-facing route renders. Server-rendered HTML from templates shipped in
//! the binary (`*.hbs` here, Handlebars with HTML escaping and strict variables), one style
//! sheet, and script only on the security-key page (one file of this server's): every other
//! page works without JavaScript. Every page carries the same security headers ([`secure`]);
//! every form carries a CSRF token bound to a `SameSite=Strict` cookie ([`Csrf`]); the only
//! place a page sends the browser on to is a path of the authorization endpoint
//! ([`safe_continue`]). A mailed token is consumed only by a form the user submits, never by
//! opening the link.
//!
//! This file holds what every page shares (rendering, security headers, CSRF, forms) and the
//! routes; `sign_in.rs` the sign-in and its factors, `links.rs` the mailed links' pages,
//! `assets.rs` the style sheets and the script.

use std::sync::OnceLock;

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing;
use handlebars::Handlebars;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::issue::{Issued, append_cookies, cookie};
use super::login::{Credentials, Outcome, password};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::guard::ClientIp;
use crate::model::passwordless::Kind;
use crate::model::vendor_config::VendorConfig;

mod assets;
mod links;
mod sign_in;
mod social;

/// Where the authorization endpoint is served (a sign-in continues only there).
const AUTHORIZE_PATHS: [&str; 2] = ["/oauth/authorize?", "/frontegg/oauth/authorize?"];
const CSRF_COOKIE: &str = "tessera_csrf";
const MAX_CONTINUE: usize = 4096;
const LOGIN: &str = "/oauth/account/login";

fn templates() -> &'static Handlebars<'static> {
    static T: OnceLock<Handlebars<'static>> = OnceLock::new();
    T.get_or_init(|| {
        let mut h = Handlebars::new();
        h.set_strict_mode(true);
        for (name, text) in [
            ("layout", include_str!("layout.hbs")),
            ("form", include_str!("form.hbs")),
            ("message", include_str!("message.hbs")),
            ("key", include_str!("key.hbs")),
        ] {
            // The templates ship in the binary; a unit test renders each one.
            if let Err(e) = h.register_template_string(name, text) {
                tracing::error!(template = name, error = %e, "a page template does not compile");
            }
        }
        h
    })
}

/// The security headers of every page: a strict Content-Security-Policy (nothing but this
/// server's style sheets and images; no script; framed only by the environment's
/// `frameAncestors`, none by default), no MIME sniffing, no referrer, no caching.
fn secure(res: &mut Response, frame_ancestors: &[String]) {
    secure_with(res, frame_ancestors, false);
}

/// [`secure`], allowing this server's own script files (`script`: the security-key page).
fn secure_with(res: &mut Response, frame_ancestors: &[String], script: bool) {
    let frame = if frame_ancestors.is_empty() {
        "'none'".to_owned()
    } else {
        // Checked origins (`oauth::set_branding`): no quote, space or semicolon in them.
        frame_ancestors.join(" ")
    };
    let script = if script { "script-src 'self'; " } else { "" };
    let csp = format!(
        "default-src 'none'; {script}style-src 'self'; img-src 'self' https: data:; \
         frame-ancestors {frame}; base-uri 'none'"
    );
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(CONTENT_SECURITY_POLICY, v);
    }
    if frame_ancestors.is_empty() {
        h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `template` with `data`, inside the layout with `b`'s name and logo.
fn render(
    title: &str,
    template: &str,
    data: &Value,
    b: &crate::model::oauth::Branding,
) -> Result<String, handlebars::RenderError> {
    let t = templates();
    let content = t.render(template, data)?;
    t.render(
        "layout",
        &json!({"title": title, "content": content, "brand": b.name, "logo": b.logo_url}),
    )
}

/// The environment's branding (the default when the store cannot say).
fn brand(state: &AppState) -> crate::model::oauth::Branding {
    crate::model::oauth::branding(&state.db).unwrap_or_default()
}

/// A page: `template` rendered with `data` inside the layout, with the environment's name,
/// logo and colours.
fn page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    template: &str,
    data: &Value,
) -> Response {
    let b = brand(state);
    let mut res = match render(title, template, data, &b) {
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
                [(CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!doctype html><title>Error</title><p>The page could not be shown.</p>",
            )
                .into_response()
        }
    };
    // Only the security-key page runs a script (this server's own file).
    secure_with(&mut res, &b.frame_ancestors, template == "key");
    res
}

/// A page that says one thing, with an optional link on (`error` statuses are marked as an
/// alert).
fn say(
    state: &AppState,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    let (href, link_text) = link.unwrap_or_default();
    page(
        state,
        status,
        title,
        "message",
        &json!({"text": text, "error": status.is_client_error() || status.is_server_error(),
                "link": href, "link_text": link_text}),
    )
}

/// A page that says one thing.
pub(super) fn message(state: &AppState, status: StatusCode, title: &str, text: &str) -> Response {
    say(state, status, title, text, None)
}

/// A browser-facing refusal: the error's status and message on a page (never a stack trace:
/// a 5xx says only that the request failed).
pub(super) fn error_page(state: &AppState, e: &ApiError) -> Response {
    let status = e.status();
    let text = if status.is_server_error() {
        "The request could not be completed. Please try again later."
    } else {
        e.message()
    };
    message(state, status, "Something went wrong", text)
}

/// A refusal on a page: a server error becomes the generic error page (its cause is only
/// logged); a client error is shown by `show`.
fn refusal(
    state: &AppState,
    e: impl Into<ApiError>,
    show: impl FnOnce(&ApiError) -> Response,
) -> Response {
    let e = e.into();
    if e.status().is_server_error() {
        return error_page(state, &e);
    }
    show(&e)
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
}

/// One input of a form.
struct Field<'a> {
    name: &'a str,
    label: &'a str,
    kind: &'a str,
    autocomplete: &'a str,
    value: &'a str,
}

impl Field<'_> {
    fn json(&self, first: bool) -> Value {
        json!({"name": self.name, "label": self.label, "kind": self.kind,
               "autocomplete": self.autocomplete, "required": true,
               // A password is never sent back.
               "value": if self.kind == "password" { "" } else { self.value },
               "numeric": self.name == "code",
               "autofocus": first})
    }
}

fn email_field(value: &str) -> Field<'_> {
    Field {
        name: "email",
        label: "Email",
        kind: "email",
        autocomplete: "username",
        value,
    }
}

fn new_password_field() -> Field<'static> {
    Field {
        name: "password",
        label: "New password",
        kind: "password",
        autocomplete: "new-password",
        value: "",
    }
}

/// A form page: its fields (the first unfilled one focused), hidden values, the submit
/// button, links on, and the error of the last attempt.
struct Form<'a> {
    title: &'a str,
    intro: &'a str,
    action: &'a str,
    hidden: Vec<(&'a str, &'a str)>,
    fields: Vec<Field<'a>>,
    submit: &'a str,
    links: Vec<(&'a str, &'a str)>,
    /// An image above the form (`src`, `alt`): an enrolment's QR code.
    image: Option<(&'a str, &'a str)>,
    /// A secret shown as text (an enrolment's key).
    secret: Option<&'a str>,
    /// Further submit buttons (`name`, `value`, label).
    alternatives: Vec<(&'a str, &'a str, &'a str)>,
    /// A "remember this device" box, with its label.
    remember: Option<&'a str>,
}

impl Form<'_> {
    /// The form template's data.
    fn data(&self, csrf: &str, error: Option<&str>) -> Value {
        let focus = self
            .fields
            .iter()
            .position(|f| f.value.is_empty() || f.kind == "password")
            .unwrap_or(0);
        let fields: Vec<Value> = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| f.json(i == focus))
            .collect();
        let hidden: Vec<Value> = self
            .hidden
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect();
        let links: Vec<Value> = self
            .links
            .iter()
            .map(|(h, t)| json!({"href": h, "text": t}))
            .collect();
        json!({"intro": self.intro, "error": error, "action": self.action,
               "csrf": csrf, "hidden": hidden, "fields": fields,
               "submit": self.submit, "links": links,
               "image": self.image.map(|(src, alt)| json!({"src": src, "alt": alt})),
               "secret": self.secret,
               "remember": self.remember,
               "alternatives": self.alternatives.iter().map(|(name, value, label)|
                   json!({"name": name, "value": value, "label": label})).collect::<Vec<_>>()})
    }

    fn show(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        status: StatusCode,
        error: Option<&str>,
    ) -> Response {
        let csrf = Csrf::of(state, headers);
        let mut res = page(
            state,
            status,
            self.title,
            "form",
            &self.data(&csrf.token, error),
        );
        if let Some(c) = &csrf.set_cookie {
            append_cookies(&mut res, std::slice::from_ref(c));
        }
        res
    }
}

/// A submitted form: parsed (URL-encoded) and its CSRF token checked, else the page that
/// says why.
fn submitted<T: DeserializeOwned>(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    title: &str,
) -> Result<T, Box<Response>> {
    #[derive(Deserialize)]
    struct Token {
        #[serde(default)]
        csrf: String,
    }
    let text = std::str::from_utf8(body).ok();
    let token = text.and_then(|t| serde_urlencoded::from_str::<Token>(t).ok());
    let form = text.and_then(|t| serde_urlencoded::from_str::<T>(t).ok());
    let (Some(token), Some(form)) = (token, form) else {
        return Err(Box::new(message(
            state,
            StatusCode::BAD_REQUEST,
            title,
            "The form could not be read. Go back and try again.",
        )));
    };
    if !Csrf::matches(headers, &token.csrf) {
        return Err(Box::new(message(
            state,
            StatusCode::FORBIDDEN,
            title,
            "This form has expired. Go back, reload the page and try again.",
        )));
    }
    Ok(form)
}

/// The query's value of `name` (absent: empty).
fn query_value(raw: Option<&str>, name: &str) -> String {
    crate::http::page::query_pairs(raw)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Signed in: the session cookie set, and the browser on to `target` (its authorization
/// request) or told so.
fn signed_in(
    state: &AppState,
    issued: &Issued,
    config: &VendorConfig,
    target: &str,
    text: &str,
) -> Response {
    let cookies = issued.set_cookies(state, config);
    let mut res = if target.is_empty() {
        message(state, StatusCode::OK, "Signed in", text)
    } else {
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(target) {
            r.headers_mut().insert(LOCATION, v);
        }
        secure(&mut r, &[]);
        r
    };
    append_cookies(&mut res, &cookies);
    res
}

/// The one check of a page's `continue`: none (no authorization request to resume), or a
/// path of this server's authorization endpoint ([`safe_continue`]); anything else is the
/// refusal page.
fn check_continue(state: &AppState, target: &str) -> Result<(), Box<Response>> {
    if target.is_empty() || safe_continue(target).is_some() {
        return Ok(());
    }
    Err(Box::new(bad_continue(state)))
}

/// A sign-in request that is not one (an unusable `continue`, an unknown factor).
fn bad_continue(state: &AppState) -> Response {
    message(
        state,
        StatusCode::BAD_REQUEST,
        "Sign in",
        "This sign-in link is not valid. Start again from the application.",
    )
}

fn bad_link(state: &AppState, title: &str, text: &str) -> Response {
    say(
        state,
        StatusCode::BAD_REQUEST,
        title,
        text,
        Some((LOGIN, "Go to sign in")),
    )
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root(
            LOGIN,
            routing::get(sign_in::login_page).post(sign_in::login_submit),
        )
        .add_root(
            "/oauth/account/sign-up",
            routing::get(links::signup_page).post(links::signup_submit),
        )
        .add_root(
            "/oauth/account/activate",
            routing::get(links::activate_page).post(links::activate_submit),
        )
        .add_root(
            "/oauth/account/forgot-password",
            routing::get(links::forgot_page).post(links::forgot_submit),
        )
        .add_root(
            "/oauth/account/reset-password",
            routing::get(links::reset_page).post(links::reset_submit),
        )
        .add_root(
            "/oauth/account/unlock",
            routing::get(links::unlock_page).post(links::unlock_submit),
        )
        .add_root("/oauth/account/mfa", routing::post(sign_in::mfa_submit))
        .add_root(
            "/oauth/account/recover",
            routing::get(sign_in::recover_page).post(sign_in::recover_submit),
        )
        .add_root(
            "/oauth/account/login/passwordless",
            routing::post(sign_in::passwordless_submit),
        )
        .add_root(
            "/oauth/account/login/code",
            routing::post(sign_in::code_submit),
        )
        .add_root(
            "/oauth/account/login/magic-link",
            routing::get(sign_in::magic_page).post(sign_in::magic_submit),
        )
        .add_root(
            "/oauth/account/invitation/accept",
            routing::get(links::accept_page).post(links::accept_submit),
        )
        .add_root(
            "/oauth/account/approval-flow",
            routing::get(links::approval_page).post(links::approval_submit),
        )
        .add_root(
            "/oauth/account/social/success",
            routing::get(social::callback_page),
        )
        .add_root(
            "/oauth/account/social/{id}",
            routing::get(social::start_page),
        )
        .add_root(
            "/oauth/account/assets/tessera.css",
            routing::get(assets::style),
        )
        .add_root(
            "/oauth/account/assets/brand.css",
            routing::get(assets::brand_style),
        )
        .add_root(
            "/oauth/account/assets/webauthn.js",
            routing::get(assets::key_script),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders_and_escapes() {
        let t = templates();
        for name in ["layout", "form", "message"] {
            assert!(t.get_template(name).is_some(), "{name}");
        }
        let hostile = "\"><script>alert(1)</script>";
        let form = Form {
            title: hostile,
            intro: hostile,
            action: LOGIN,
            hidden: vec![("continue", hostile)],
            fields: vec![email_field(hostile), new_password_field()],
            submit: "Go",
            links: vec![("/x", hostile)],
            image: Some(("data:image/svg+xml;base64,AA", hostile)),
            secret: Some(hostile),
            alternatives: vec![("action", hostile, hostile)],
            remember: None,
        };
        let csrf = form.data("c", Some(hostile));
        let brand = crate::model::oauth::Branding {
            name: hostile.into(),
            logo_url: Some(format!("https://a.test/{hostile}")),
            ..Default::default()
        };
        for (template, data) in [
            ("form", csrf),
            (
                "message",
                json!({"text": hostile, "error": true, "link": "/x", "link_text": hostile}),
            ),
        ] {
            let body = render(hostile, template, &data, &brand).expect("renders");
            assert!(!body.contains("<script>"), "{body}");
            assert!(body.contains("&lt;script&gt;"), "{body}");
        }
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
