//! The hosted account pages under `<public-url>/oauth/account/` (the hosted login): sign-in
//! (where the authorization endpoint sends a browser), sign-up, activation and password
//! reset from the mailed links, forgot password, unlock; and the message pages every refusal
//! of a browser-facing route renders. Server-rendered HTML from templates shipped in the
//! binary (`pages/*.hbs`, Handlebars with HTML escaping and strict variables), one style
//! sheet, no script: every page works without JavaScript. Every page carries the same
//! security headers ([`secure`]); every form carries a CSRF token bound to a
//! `SameSite=Strict` cookie ([`Csrf`]); the only place a page sends the browser on to is a
//! path of the authorization endpoint ([`safe_continue`]). A mailed token is consumed only by
//! a form the user submits, never by opening the link.

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
            ("layout", include_str!("pages/layout.hbs")),
            ("form", include_str!("pages/form.hbs")),
            ("message", include_str!("pages/message.hbs")),
            ("key", include_str!("pages/key.hbs")),
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

/// What a second-factor form proves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Factor {
    /// An enrolled authenticator app's code.
    App,
    /// The first code of the authenticator the challenge offered (its enrolment).
    Enrol,
    /// A code mailed to the user.
    Email,
    /// A code texted to the user's enrolled phone.
    Sms,
    /// An enrolled security key's assertion (WebAuthn).
    Key,
}

impl Factor {
    fn name(self) -> &'static str {
        match self {
            Factor::App => "app",
            Factor::Enrol => "enrol",
            Factor::Email => "email",
            Factor::Sms => "sms",
            Factor::Key => "key",
        }
    }

    fn of(name: &str) -> Option<Factor> {
        [
            Factor::App,
            Factor::Enrol,
            Factor::Email,
            Factor::Sms,
            Factor::Key,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }
}

/// The second-factor form of a challenge.
struct MfaStep<'a> {
    mfa_token: &'a str,
    factor: Factor,
    /// The sent code's `otcToken` ([`Factor::Email`], [`Factor::Sms`]).
    otc_token: &'a str,
    /// The authenticator being enrolled: its QR code (when shown) and key.
    qr: Option<&'a str>,
    secret: &'a str,
    /// Whether a mailed code is offered instead.
    email: bool,
    /// The enrolled phone a code can be texted to, if any.
    phone: &'a str,
    /// The security key asked for ([`Factor::Key`]), its ceremony's token and the browser's
    /// options (JSON).
    key: &'a str,
    webauthn_token: &'a str,
    options: &'a str,
    target: &'a str,
}

impl MfaStep<'_> {
    fn show(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        status: StatusCode,
        error: Option<&str>,
    ) -> Response {
        let intro = match self.factor {
            Factor::App => "Enter the 6-digit code your authenticator app shows.",
            Factor::Enrol => {
                "Your account signs in with a second step. Scan this code with an authenticator \
                 app, then enter the 6-digit code it shows."
            }
            Factor::Email => "We emailed you a 6-digit code. Enter it to continue.",
            Factor::Sms => "We texted a 6-digit code to your phone. Enter it to continue.",
            Factor::Key => "Use your security key to continue.",
        };
        let mut alternatives = Vec::new();
        if self.email && self.factor != Factor::Email {
            alternatives.push(("action", "email", "Email me a code instead"));
        }
        if !self.phone.is_empty() && self.factor != Factor::Sms {
            alternatives.push(("action", "sms", "Text me a code instead"));
        }
        let hidden = vec![
            ("mfaToken", self.mfa_token),
            ("factor", self.factor.name()),
            ("otcToken", self.otc_token),
            ("secret", self.secret),
            ("phone", self.phone),
            ("canEmail", if self.email { "yes" } else { "" }),
            ("key", self.key),
            ("webauthnToken", self.webauthn_token),
            ("continue", self.target),
        ];
        if self.factor == Factor::Key {
            let csrf = Csrf::of(state, headers);
            let data = json!({
                "intro": intro, "error": error, "csrf": csrf.token, "options": self.options,
                "hidden": hidden.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
                "alternatives": alternatives.iter().map(|(n, v, l)| json!({"name": n, "value": v, "label": l})).collect::<Vec<_>>(),
            });
            let mut res = page(state, status, "Two-step verification", "key", &data);
            if let Some(c) = &csrf.set_cookie {
                append_cookies(&mut res, std::slice::from_ref(c));
            }
            return res;
        }
        Form {
            title: "Two-step verification",
            intro,
            action: "/oauth/account/mfa",
            hidden,
            fields: vec![Field {
                name: "code",
                label: "Code",
                kind: "text",
                autocomplete: "one-time-code",
                value: "",
            }],
            submit: "Verify",
            links: vec![
                ("/oauth/account/recover", "Use a recovery code"),
                (LOGIN, "Start again"),
            ],
            image: self
                .qr
                .map(|q| (q, "QR code to scan with an authenticator app")),
            secret: (self.factor == Factor::Enrol).then_some(self.secret),
            alternatives,
        }
        .show(state, headers, status, error)
    }
}

/// Send the code of a mailed or texted step; the step with its `otcToken`, or the page that
/// says why not.
async fn send_code<'a>(
    state: &AppState,
    headers: &HeaderMap,
    step: MfaStep<'a>,
    factor: Factor,
    otc: &'a mut String,
) -> Result<MfaStep<'a>, Box<Response>> {
    let sent = match factor {
        Factor::Sms => super::mfa::text_code(state, step.mfa_token, step.phone).await,
        _ => super::mfa::mail_code(state, step.mfa_token).await,
    };
    match sent {
        Ok(t) => {
            *otc = t;
            Ok(MfaStep {
                factor,
                otc_token: otc,
                qr: None,
                ..step
            })
        }
        Err(e) if e.status().is_server_error() => Err(Box::new(error_page(state, &e))),
        Err(e) => Err(Box::new(step.show(
            state,
            headers,
            e.status(),
            Some(e.message()),
        ))),
    }
}

/// The security-key step: a fresh ceremony for the key, its options on the form.
async fn key_step(
    state: &AppState,
    headers: &HeaderMap,
    step: MfaStep<'_>,
    error: Option<&str>,
) -> Response {
    match super::mfa::begin_key(state, headers, step.mfa_token, step.key).await {
        Ok((token, options)) => {
            let options = options.to_string();
            let step = MfaStep {
                factor: Factor::Key,
                webauthn_token: &token,
                options: &options,
                ..step
            };
            let status = if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            step.show(state, headers, status, error)
        }
        Err(e) if e.status().is_server_error() => error_page(state, &e),
        Err(e) => say(
            state,
            e.status(),
            "Two-step verification",
            e.message(),
            Some((LOGIN, "Start again")),
        ),
    }
}

/// Where a first factor that asked for a second one goes on a page: the form for the factor
/// the user has (the authenticator being enrolled, an enrolled app, or a code mailed or
/// texted now).
async fn second_factor(
    state: &AppState,
    headers: &HeaderMap,
    challenge: &super::mfa::MfaRequiredReply,
    target: &str,
) -> Response {
    let c = challenge.for_page();
    let phone = c.phone.as_ref().map(|p| p.0.as_str()).unwrap_or_default();
    let mut step = MfaStep {
        mfa_token: &c.mfa_token,
        factor: Factor::App,
        otc_token: "",
        qr: None,
        secret: "",
        email: c.email,
        phone,
        key: "",
        webauthn_token: "",
        options: "",
        target,
    };
    if let Some((qr, secret)) = &c.enrol {
        step.factor = Factor::Enrol;
        step.qr = Some(qr);
        step.secret = secret;
        return step.show(state, headers, StatusCode::OK, None);
    }
    if c.app {
        return step.show(state, headers, StatusCode::OK, None);
    }
    if let Some(key) = &c.key {
        step.key = key;
        return key_step(state, headers, step, None).await;
    }
    let factor = if c.email {
        Factor::Email
    } else if c.phone.is_some() {
        Factor::Sms
    } else {
        return message(
            state,
            StatusCode::NOT_IMPLEMENTED,
            "Two-step verification",
            "This account has no second factor the hosted pages can ask for. Sign in through \
             the application's login box.",
        );
    };
    let mut otc = String::new();
    match send_code(state, headers, step, factor, &mut otc).await {
        Ok(step) => step.show(state, headers, StatusCode::OK, None),
        Err(page) => *page,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MfaForm {
    #[serde(default)]
    mfa_token: String,
    #[serde(default)]
    factor: String,
    #[serde(default)]
    otc_token: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    can_email: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    webauthn_token: String,
    #[serde(default)]
    credential: String,
    #[serde(default, rename = "continue")]
    target: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    action: String,
}

/// Public (form, CSRF): the second factor of a sign-in — a code of the authenticator app, of
/// the one being enrolled, or a mailed or texted one (`action=email|sms` sends it) — then
/// signed in as the sign-in page would have.
async fn mfa_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use crate::model::mfa::{Expect, Proof};
    let form: MfaForm = match submitted(&state, &headers, &body, "Two-step verification") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let (Some(factor), true) = (
        Factor::of(&form.factor),
        form.target.is_empty() || safe_continue(&form.target).is_some(),
    ) else {
        return bad_continue(&state);
    };
    let step = MfaStep {
        mfa_token: &form.mfa_token,
        factor,
        otc_token: &form.otc_token,
        qr: None,
        secret: &form.secret,
        email: !form.can_email.is_empty(),
        phone: &form.phone,
        key: &form.key,
        webauthn_token: &form.webauthn_token,
        options: "",
        target: &form.target,
    };
    let send = match form.action.as_str() {
        "email" => Some(Factor::Email),
        "sms" if !form.phone.is_empty() => Some(Factor::Sms),
        _ => None,
    };
    if let Some(f) = send {
        let mut otc = String::new();
        return match send_code(&state, &headers, step, f, &mut otc).await {
            Ok(step) => step.show(&state, &headers, StatusCode::OK, None),
            Err(page) => *page,
        };
    }
    if factor == Factor::Key {
        return key_submit(&state, &headers, ip, &form, step).await;
    }
    let code = form.code.trim();
    let proof = match factor {
        Factor::App | Factor::Enrol => Proof::Totp {
            code,
            device: None,
            enrol: factor == Factor::Enrol,
        },
        Factor::Email => Proof::Code {
            token: &form.otc_token,
            code,
            expect: Expect::Email,
        },
        Factor::Sms => Proof::Code {
            token: &form.otc_token,
            code,
            expect: Expect::Phone(&form.phone),
        },
        Factor::Key => return bad_continue(&state),
    };
    match super::mfa::prove_on_page(&state, &headers, ip, &form.mfa_token, proof).await {
        Ok((issued, config)) => {
            signed_in(&state, &issued, &config, &form.target, "You are signed in.")
        }
        Err(e) if e.status().is_server_error() => error_page(&state, &e),
        // The challenge is spent (expired, or voided by wrong codes): start again.
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => say(
            &state,
            e.status(),
            "Two-step verification",
            e.message(),
            Some((LOGIN, "Start again")),
        ),
        Err(e) => step.show(&state, &headers, e.status(), Some(e.message())),
    }
}

/// The security key's answer: the assertion proves the challenge (or a fresh ceremony is
/// offered with what went wrong).
async fn key_submit(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    form: &MfaForm,
    step: MfaStep<'_>,
) -> Response {
    let credential: Option<Value> = shared::json::from_bytes(form.credential.as_bytes()).ok();
    let Some(credential) = credential.filter(|c| c.is_object()) else {
        return key_step(
            state,
            headers,
            step,
            Some("The security key did not answer. Try again."),
        )
        .await;
    };
    let ids = (form.mfa_token.as_str(), form.webauthn_token.as_str());
    match super::mfa::prove_key_on_page(state, headers, ip, ids, &credential, &form.key).await {
        Ok((issued, config)) => {
            signed_in(state, &issued, &config, &form.target, "You are signed in.")
        }
        Err(e) if e.status().is_server_error() => error_page(state, &e),
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => say(
            state,
            e.status(),
            "Two-step verification",
            e.message(),
            Some((LOGIN, "Start again")),
        ),
        Err(e) => key_step(state, headers, step, Some(e.message())).await,
    }
}

fn recover_form(email: &str) -> Form<'_> {
    Form {
        title: "Use a recovery code",
        intro: "The recovery code you saved when you set up two-step verification turns it off, \
                so you can sign in and set it up again.",
        action: "/oauth/account/recover",
        hidden: Vec::new(),
        fields: vec![
            email_field(email),
            Field {
                name: "recoveryCode",
                label: "Recovery code",
                kind: "text",
                autocomplete: "off",
                value: "",
            },
        ],
        submit: "Use the code",
        links: vec![(LOGIN, "Back to sign in")],
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
}

async fn recover_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    recover_form("").show(&state, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecoverForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    recovery_code: String,
}

/// Public (form, CSRF): a recovery code turns the user's second factors off (every session
/// ends, the user is mailed); one answer for unknown addresses and wrong codes.
async fn recover_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: RecoverForm = match submitted(&state, &headers, &body, "Use a recovery code") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    match super::mfa::recover_with(&state, form.email.trim(), form.recovery_code.trim()).await {
        Ok(()) => say(
            &state,
            StatusCode::OK,
            "Two-step verification is off",
            "Sign in again, and set up two-step verification anew.",
            Some((LOGIN, "Sign in")),
        ),
        Err(e) if e.status().is_server_error() => error_page(&state, &e),
        Err(e) => recover_form(&form.email).show(&state, &headers, e.status(), Some(e.message())),
    }
}

fn login_form<'a>(target: &'a str, email: &'a str) -> Form<'a> {
    Form {
        title: "Sign in",
        intro: "",
        action: LOGIN,
        hidden: vec![("continue", target)],
        fields: vec![
            email_field(email),
            Field {
                name: "password",
                label: "Password",
                kind: "password",
                autocomplete: "current-password",
                value: "",
            },
        ],
        submit: "Sign in",
        links: vec![
            ("/oauth/account/forgot-password", "Forgot your password?"),
            ("/oauth/account/sign-up", "Create an account"),
        ],
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
}

fn bad_continue(state: &AppState) -> Response {
    message(
        state,
        StatusCode::BAD_REQUEST,
        "Sign in",
        "This sign-in link is not valid. Start again from the application.",
    )
}

/// Public: the sign-in page (`?continue=` the authorization request to resume).
async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let target = query_value(raw.as_deref(), "continue");
    if !target.is_empty() && safe_continue(&target).is_none() {
        return bad_continue(&state);
    }
    let hint = login_hint(&target);
    let kind = crate::model::vendor_config::current(&state.db)
        .ok()
        .and_then(|c| super::passwordless::page_kind(&c));
    match kind {
        Some(kind) => passwordless_form(kind, &target, &hint),
        None => login_form(&target, &hint),
    }
    .show(&state, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
struct LoginForm {
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
    let form: LoginForm = match submitted(&state, &headers, &body, "Sign in") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    if !form.target.is_empty() && safe_continue(&form.target).is_none() {
        return bad_continue(&state);
    }
    let again = login_form(&form.target, &form.email);
    if form.email.trim().is_empty() || form.password.is_empty() {
        return again.show(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some("Enter your email address and password."),
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
            signed_in(&state, &issued, &config, &form.target, "You are signed in.")
        }
        Ok(Outcome::Challenge(c)) => second_factor(&state, &headers, &c, &form.target).await,
        Ok(Outcome::Expired(_)) => say(
            &state,
            StatusCode::FORBIDDEN,
            "Password expired",
            "Your password has expired. Choose a new one with a reset link.",
            Some(("/oauth/account/forgot-password", "Send me a reset link")),
        ),
        Err(e) if e.status().is_server_error() => error_page(&state, &e),
        Err(e) => again.show(&state, &headers, e.status(), Some(e.message())),
    }
}

fn signup_form<'a>(email: &'a str, name: &'a str, company: &'a str) -> Form<'a> {
    Form {
        title: "Create an account",
        intro: "",
        action: "/oauth/account/sign-up",
        hidden: Vec::new(),
        fields: vec![
            email_field(email),
            Field {
                name: "name",
                label: "Your name",
                kind: "text",
                autocomplete: "name",
                value: name,
            },
            Field {
                name: "companyName",
                label: "Company",
                kind: "text",
                autocomplete: "organization",
                value: company,
            },
            new_password_field(),
        ],
        submit: "Create account",
        links: vec![(LOGIN, "Already have an account? Sign in")],
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
}

async fn signup_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    signup_form("", "", "").show(&state, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    company_name: String,
    #[serde(default)]
    password: String,
}

/// Public (form, CSRF): sign up; the activation mail goes out as for the login box's sign-up
/// (the same reply whether or not the address was taken).
async fn signup_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: SignupForm = match submitted(&state, &headers, &body, "Create an account") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let again = signup_form(&form.email, &form.name, &form.company_name);
    let email = form.email.trim();
    let done = async {
        crate::http::guard::check_captcha(&state, None, Some(email), ip).await?;
        let s = crate::model::signup::SignUp {
            email: Some(email.to_owned()),
            username: None,
            password: Some(form.password.clone()),
            name: Some(form.name.trim().to_owned()).filter(|n| !n.is_empty()),
            company_name: Some(form.company_name.trim().to_owned()).filter(|n| !n.is_empty()),
            metadata: None,
        };
        super::signup::register(&state, s, None).await
    };
    match done.await {
        Ok(s) if s.should_activate => message(
            &state,
            StatusCode::OK,
            "Check your email",
            "We sent you a link to activate your account. Open it to finish.",
        ),
        Ok(_) => say(
            &state,
            StatusCode::OK,
            "Account created",
            "Your account is ready.",
            Some((LOGIN, "Sign in")),
        ),
        Err(e) if e.status().is_server_error() => error_page(&state, &e),
        Err(e) => again.show(&state, &headers, e.status(), Some(e.message())),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

fn activate_form<'a>(user_id: &'a str, token: &'a str, with_password: bool) -> Form<'a> {
    Form {
        title: "Activate your account",
        intro: if with_password {
            "Choose a password to activate your account."
        } else {
            "Activate your account to sign in."
        },
        action: "/oauth/account/activate",
        hidden: vec![("userId", user_id), ("token", token)],
        fields: if with_password {
            vec![new_password_field()]
        } else {
            Vec::new()
        },
        submit: "Activate",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
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

/// Public: the mailed activation link's page (`?userId=&token=`); the token is consumed only
/// when the form is submitted.
async fn activate_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (user_id, token) = (
        query_value(raw.as_deref(), "userId"),
        query_value(raw.as_deref(), "token"),
    );
    match crate::model::signup::needs_password(&state.db, &state.clock, &user_id, &token) {
        Ok(with_password) => activate_form(&user_id, &token, with_password).show(
            &state,
            &headers,
            StatusCode::OK,
            None,
        ),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status().is_server_error() {
                return error_page(&state, &e);
            }
            bad_link(
                &state,
                "Activate your account",
                "This activation link is invalid or has expired. Sign in to have a new one sent.",
            )
        }
    }
}

/// Public (form, CSRF): activate (setting the password if the user has none) and sign in.
async fn activate_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LinkForm = match submitted(&state, &headers, &body, "Activate your account") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    use crate::model::signup::SignupError;
    let password = Some(form.password.clone()).filter(|p| !p.is_empty());
    if let Err(e) = crate::http::guard::check_captcha(&state, None, None, ip).await {
        return error_page(&state, &e);
    }
    let activated = crate::model::signup::activate(
        &state.db,
        &state.clock,
        &state.hasher,
        &form.user_id,
        &form.token,
        password,
    )
    .await;
    let user = match activated {
        Ok(u) => u,
        // The link is spent or wrong: nothing on this page can help.
        Err(e @ (SignupError::BadToken | SignupError::NotFound | SignupError::AlreadyActive)) => {
            return bad_link(&state, "Activate your account", &e.to_string());
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status().is_server_error() {
                return error_page(&state, &e);
            }
            // A password the policy refuses, or none given: the link still works.
            return activate_form(&form.user_id, &form.token, true).show(
                &state,
                &headers,
                e.status(),
                Some(e.message()),
            );
        }
    };
    let config = match crate::model::vendor_config::current(&state.db) {
        Ok(c) => c,
        Err(e) => return error_page(&state, &e.into()),
    };
    let Some(tenant) = user.login_tenant().map(str::to_owned) else {
        return bad_link(
            &state,
            "Activate your account",
            "Your account is active, but it belongs to no account you can sign in to.",
        );
    };
    match super::mfa::after_first_factor(&state, &config, &headers, user, tenant, ip).await {
        Ok(issued) => signed_in(
            &state,
            &issued,
            &config,
            "",
            "Your account is active and you are signed in.",
        ),
        Err(super::mfa::Stop::Challenge(c)) => second_factor(&state, &headers, &c, "").await,
        Err(super::mfa::Stop::Refused(e)) if e.status().is_server_error() => error_page(&state, &e),
        Err(super::mfa::Stop::Refused(e)) => bad_link(&state, "Activate your account", e.message()),
    }
}

fn forgot_form(email: &str) -> Form<'_> {
    Form {
        title: "Reset your password",
        intro: "Enter your email address and we will send you a link to choose a new password.",
        action: "/oauth/account/forgot-password",
        hidden: Vec::new(),
        fields: vec![email_field(email)],
        submit: "Send the link",
        links: vec![(LOGIN, "Back to sign in")],
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
}

async fn forgot_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    forgot_form("").show(&state, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
}

/// Public (form, CSRF): mail a reset link; the same page for every address.
async fn forgot_submit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: EmailForm = match submitted(&state, &headers, &body, "Reset your password") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    if form.email.trim().is_empty() {
        return forgot_form(&form.email).show(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some("Enter your email address."),
        );
    }
    match crate::model::credentials::request_reset(
        &state.db,
        &state.clock,
        state.links(),
        form.email.trim(),
    )
    .await
    {
        Ok(()) => message(
            &state,
            StatusCode::OK,
            "Check your email",
            "If the address belongs to an account, we sent it a link to choose a new password.",
        ),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status().is_server_error() {
                return error_page(&state, &e);
            }
            forgot_form(&form.email).show(&state, &headers, e.status(), Some(e.message()))
        }
    }
}

fn reset_form<'a>(user_id: &'a str, token: &'a str) -> Form<'a> {
    Form {
        title: "Choose a new password",
        intro: "",
        action: "/oauth/account/reset-password",
        hidden: vec![("userId", user_id), ("token", token)],
        fields: vec![new_password_field()],
        submit: "Save the password",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
}

/// Public: the mailed reset link's page (`?userId=&token=`).
async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (user_id, token) = (
        query_value(raw.as_deref(), "userId"),
        query_value(raw.as_deref(), "token"),
    );
    if user_id.is_empty() || token.is_empty() {
        return bad_link(
            &state,
            "Choose a new password",
            "This reset link is incomplete. Ask for a new one.",
        );
    }
    reset_form(&user_id, &token).show(&state, &headers, StatusCode::OK, None)
}

/// Public (form, CSRF): set the new password with the mailed token; every session ends.
async fn reset_submit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: LinkForm = match submitted(&state, &headers, &body, "Choose a new password") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    use crate::model::credentials::CredentialError;
    let done = crate::model::credentials::reset(
        &state.db,
        &state.clock,
        &state.hasher,
        &form.user_id,
        &form.token,
        &form.password,
    )
    .await;
    match done {
        Ok(()) => say(
            &state,
            StatusCode::OK,
            "Password changed",
            "Your password was changed. Sign in with the new one.",
            Some((LOGIN, "Sign in")),
        ),
        Err(e @ (CredentialError::BadLink(_) | CredentialError::NotFound)) => bad_link(
            &state,
            "Choose a new password",
            &format!("{e} Ask for a new link."),
        ),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status().is_server_error() {
                return error_page(&state, &e);
            }
            reset_form(&form.user_id, &form.token).show(
                &state,
                &headers,
                e.status(),
                Some(e.message()),
            )
        }
    }
}

fn unlock_form(token: &str) -> Form<'_> {
    Form {
        title: "Unlock your account",
        intro: "Your account was locked after too many failed sign-ins.",
        action: "/oauth/account/unlock",
        hidden: vec![("token", token)],
        fields: Vec::new(),
        submit: "Unlock my account",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
}

/// Public: the mailed unlock link's page (`?token=`).
async fn unlock_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let token = query_value(raw.as_deref(), "token");
    unlock_form(&token).show(&state, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

/// Public (form, CSRF): unlock with the mailed token.
async fn unlock_submit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let form: TokenForm = match submitted(&state, &headers, &body, "Unlock your account") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    match crate::model::login::unlock(&state.db, &state.clock, &form.token)
        .await
        .map_err(ApiError::from)
    {
        Ok(()) => say(
            &state,
            StatusCode::OK,
            "Account unlocked",
            "Your account is unlocked.",
            Some((LOGIN, "Sign in")),
        ),
        Err(e) if e.status().is_server_error() => error_page(&state, &e),
        Err(e) => bad_link(&state, "Unlock your account", e.message()),
    }
}

/// Public: the mailed magic link's page (`?token=`): a button; the token is posted by the
/// form, never consumed by opening the link (a mail scanner following links signs nobody in).
async fn magic_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let token = query_value(raw.as_deref(), "token");
    if token.is_empty() {
        return bad_link(
            &state,
            "Sign in",
            "This sign-in link is incomplete. Ask for a new one.",
        );
    }
    magic_form(&token).show(&state, &headers, StatusCode::OK, None)
}

fn magic_form(token: &str) -> Form<'_> {
    Form {
        title: "Sign in",
        intro: "Continue to sign in with the link we emailed you.",
        action: "/oauth/account/login/magic-link",
        hidden: vec![("token", token)],
        fields: Vec::new(),
        submit: "Sign in",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
}

/// Public (form, CSRF): sign in with the magic link's token (the login box's postlogin: its
/// expiry, single use, the browser binding when the environment asks for the same device),
/// then the second factor if one is asked for, then on to the authorization request the
/// sign-in page began (kept in a cookie while the mail travelled).
async fn magic_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: TokenForm = match submitted(&state, &headers, &body, "Sign in") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    passwordless_done(&state, ip, &headers, Kind::MagicLink, &form.token).await
}

/// The end of a passwordless sign-in on a page: signed in (and on to the kept authorization
/// request), the second factor, or why not.
async fn passwordless_done(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    kind: Kind,
    token: &str,
) -> Response {
    let target = kept_continue(headers);
    let target = target.as_str();
    let title = "Sign in";
    match super::passwordless::finish_on_page(state, ip, headers, kind, token).await {
        Ok((Ok(issued), config, clear)) => {
            let mut res = signed_in(state, &issued, &config, target, "You are signed in.");
            append_cookies(&mut res, &[clear, clear_continue(state)]);
            res
        }
        Ok((Err(super::mfa::Stop::Challenge(c)), _, _)) => {
            second_factor(state, headers, &c, target).await
        }
        Ok((Err(super::mfa::Stop::Refused(e)), _, _)) | Err(e) => {
            if e.status().is_server_error() {
                return error_page(state, &e);
            }
            if kind == Kind::Code {
                // A wrong code keeps the form (the fifth burns the code).
                return code_form(target).show(state, headers, e.status(), Some(e.message()));
            }
            bad_link(state, title, e.message())
        }
    }
}

/// The cookie that keeps a passwordless sign-in's authorization request while the mail
/// travels (this browser only, the account pages only).
const CONTINUE_COOKIE: &str = "tessera_continue";

fn keep_continue(state: &AppState, target: &str, ttl: u32) -> String {
    format!(
        "{CONTINUE_COOKIE}={}; Path=/oauth/account; Max-Age={ttl}; HttpOnly; SameSite=Lax{}",
        // The value is a checked authorization path; its `;` and spaces are escaped.
        target
            .replace('%', "%25")
            .replace(';', "%3B")
            .replace(' ', "%20"),
        if state.secure_cookies { "; Secure" } else { "" },
    )
}

fn clear_continue(state: &AppState) -> String {
    format!(
        "{CONTINUE_COOKIE}=; Path=/oauth/account; Max-Age=0; HttpOnly; SameSite=Lax{}",
        if state.secure_cookies { "; Secure" } else { "" },
    )
}

/// The kept authorization request, if this browser holds one that is still a path of the
/// authorization endpoint (read here: longer than a session cookie's value may be).
fn kept_continue(headers: &HeaderMap) -> String {
    let prefix = format!("{CONTINUE_COOKIE}=");
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .find_map(|p| p.strip_prefix(&prefix))
        .filter(|v| v.len() <= MAX_CONTINUE * 2)
        .map(|v| {
            v.replace("%3B", ";")
                .replace("%20", " ")
                .replace("%25", "%")
        })
        .filter(|v| safe_continue(v).is_some())
        .unwrap_or_default()
}

fn passwordless_form<'a>(kind: Kind, target: &'a str, email: &'a str) -> Form<'a> {
    Form {
        title: "Sign in",
        intro: match kind {
            Kind::MagicLink => "Enter your email address and we will email you a link to sign in.",
            _ => "Enter your email address and we will email you a code to sign in.",
        },
        action: "/oauth/account/login/passwordless",
        hidden: vec![("continue", target)],
        fields: vec![email_field(email)],
        submit: match kind {
            Kind::MagicLink => "Email me a link",
            _ => "Email me a code",
        },
        links: vec![("/oauth/account/sign-up", "Create an account")],
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
}

fn code_form(target: &str) -> Form<'_> {
    Form {
        title: "Sign in",
        intro: "We emailed you a 6-digit code. Enter it to sign in.",
        action: "/oauth/account/login/code",
        hidden: vec![("continue", target)],
        fields: vec![Field {
            name: "code",
            label: "Code",
            kind: "text",
            autocomplete: "one-time-code",
            value: "",
        }],
        submit: "Sign in",
        links: vec![(LOGIN, "Start again")],
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
}

/// Public (form, CSRF): begin a passwordless sign-in for the address (the same page whether
/// or not it has an account); the browser is bound to it, and keeps its authorization
/// request while the mail travels.
async fn passwordless_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LoginForm = match submitted(&state, &headers, &body, "Sign in") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    if !form.target.is_empty() && safe_continue(&form.target).is_none() {
        return bad_continue(&state);
    }
    let config = match crate::model::vendor_config::current(&state.db) {
        Ok(c) => c,
        Err(e) => return error_page(&state, &e.into()),
    };
    let Some(kind) = super::passwordless::page_kind(&config) else {
        return bad_continue(&state);
    };
    let email = form.email.trim();
    if email.is_empty() {
        return passwordless_form(kind, &form.target, &form.email).show(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some("Enter your email address."),
        );
    }
    let binding = match super::passwordless::begin_for_email(&state, ip, kind, email).await {
        Ok(c) => c,
        Err(e) if e.status().is_server_error() => return error_page(&state, &e),
        Err(e) => {
            return passwordless_form(kind, &form.target, &form.email).show(
                &state,
                &headers,
                e.status(),
                Some(e.message()),
            );
        }
    };
    let ttl = config.default_passwordless_token_expiration.max(60);
    let mut cookies = vec![binding];
    if !form.target.is_empty() {
        cookies.push(keep_continue(&state, &form.target, ttl));
    }
    let mut res = match kind {
        Kind::MagicLink => message(
            &state,
            StatusCode::OK,
            "Check your email",
            "If the address belongs to an account, we emailed it a link to sign in.",
        ),
        _ => code_form(&form.target).show(&state, &headers, StatusCode::OK, None),
    };
    append_cookies(&mut res, &cookies);
    res
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
}

/// Public (form, CSRF): the mailed code finishes the sign-in this browser began.
async fn code_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: CodeForm = match submitted(&state, &headers, &body, "Sign in") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let code = form.code.trim();
    if code.is_empty() {
        let target = kept_continue(&headers);
        return code_form(&target).show(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some("Enter the code we emailed you."),
        );
    }
    passwordless_done(&state, ip, &headers, Kind::Code, code).await
}

fn accept_form<'a>(user_id: &'a str, token: &'a str, with_code: bool) -> Form<'a> {
    Form {
        title: "Join the account",
        intro: if with_code {
            "Enter the code from your invitation to join the account."
        } else {
            "Accept the invitation to join the account."
        },
        action: "/oauth/account/invitation/accept",
        hidden: vec![("userId", user_id), ("token", token)],
        fields: if with_code {
            vec![Field {
                name: "code",
                label: "Code",
                kind: "text",
                autocomplete: "one-time-code",
                value: "",
            }]
        } else {
            Vec::new()
        },
        submit: "Accept the invitation",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: Vec::new(),
    }
}

/// Public: the mailed invitation's page for an existing user (`?userId=&token=`).
async fn accept_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (user_id, token) = (
        query_value(raw.as_deref(), "userId"),
        query_value(raw.as_deref(), "token"),
    );
    match crate::model::invitation::wants_code(&state.db, &state.clock, &user_id, &token) {
        Ok(Some(with_code)) => {
            accept_form(&user_id, &token, with_code).show(&state, &headers, StatusCode::OK, None)
        }
        Ok(None) => bad_link(
            &state,
            "Join the account",
            "This invitation is invalid, was replaced or has expired. Ask for a new one.",
        ),
        Err(e) => error_page(&state, &e.into()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AcceptForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    code: String,
}

/// Public (form, CSRF): accept the invitation (and its code under the code strategy).
async fn accept_submit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    use crate::model::invitation::InviteError;
    let form: AcceptForm = match submitted(&state, &headers, &body, "Join the account") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let code = Some(form.code.trim()).filter(|c| !c.is_empty());
    match crate::model::invitation::accept(
        &state.db,
        &state.clock,
        &form.user_id,
        &form.token,
        code,
    )
    .await
    {
        Ok(_) => say(
            &state,
            StatusCode::OK,
            "Invitation accepted",
            "You joined the account.",
            Some((LOGIN, "Sign in")),
        ),
        Err(e @ InviteError::WrongCode) => accept_form(&form.user_id, &form.token, true).show(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some(&e.to_string()),
        ),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status().is_server_error() {
                return error_page(&state, &e);
            }
            bad_link(&state, "Join the account", e.message())
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApprovalForm {
    #[serde(default)]
    approval_flow_execution_id: String,
    #[serde(default)]
    approver_id: String,
    #[serde(default)]
    approval_flow_step_id: String,
    #[serde(default)]
    decision: String,
}

impl ApprovalForm {
    fn capability(&self) -> crate::model::approval::Capability<'_> {
        crate::model::approval::Capability {
            execution: &self.approval_flow_execution_id,
            approver: &self.approver_id,
            step: &self.approval_flow_step_id,
        }
    }
}

/// Public (the link's three ids are the capability): the approver's page — what is asked,
/// by whom, and the two decisions.
async fn approval_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = |k: &str| query_value(raw.as_deref(), k);
    let ids = ApprovalForm {
        approval_flow_execution_id: q("approvalFlowExecutionId"),
        approver_id: q("approverId"),
        approval_flow_step_id: q("approvalFlowStepId"),
        decision: String::new(),
    };
    let e = match crate::model::approval::view(&state.db, &state.clock, ids.capability()) {
        Ok(e) => e,
        Err(e) => {
            let e = ApiError::from(e);
            if e.status().is_server_error() {
                return error_page(&state, &e);
            }
            return message(
                &state,
                e.status(),
                "Approval request",
                "This request is no longer waiting for your decision.",
            );
        }
    };
    let intro = format!(
        "{} asks for your approval of “{}”{}{}",
        e.requester_email,
        e.flow_name,
        e.flow_description
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default(),
        format_args!(" (requested {}).", e.requested_at),
    );
    Form {
        title: "Approval request",
        intro: &intro,
        action: "/oauth/account/approval-flow",
        hidden: vec![
            ("approvalFlowExecutionId", &ids.approval_flow_execution_id),
            ("approverId", &ids.approver_id),
            ("approvalFlowStepId", &ids.approval_flow_step_id),
        ],
        fields: Vec::new(),
        submit: "Approve",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: vec![("decision", "reject", "Reject")],
    }
    .show(&state, &headers, StatusCode::OK, None)
}

/// Public (form, CSRF; the capability): record the approver's decision, once.
async fn approval_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: ApprovalForm = match submitted(&state, &headers, &body, "Approval request") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let approved = form.decision != "reject";
    let decided = crate::model::approval::decide(
        &state.db,
        &state.clock,
        state.links(),
        form.capability(),
        approved,
    )
    .await;
    match decided {
        Ok(_) => message(
            &state,
            StatusCode::OK,
            "Approval request",
            if approved {
                "You approved the request. Thank you."
            } else {
                "You rejected the request. Thank you."
            },
        ),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status().is_server_error() {
                return error_page(&state, &e);
            }
            message(&state, e.status(), "Approval request", e.message())
        }
    }
}

/// The pages' style sheet.
async fn style() -> Response {
    let mut res = (
        [(CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("pages/tessera.css"),
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
async fn key_script() -> Response {
    let mut res = (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("pages/webauthn.js"),
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
async fn brand_style(State(state): State<AppState>) -> Response {
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

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root(LOGIN, routing::get(login_page).post(login_submit))
        .add_root(
            "/oauth/account/sign-up",
            routing::get(signup_page).post(signup_submit),
        )
        .add_root(
            "/oauth/account/activate",
            routing::get(activate_page).post(activate_submit),
        )
        .add_root(
            "/oauth/account/forgot-password",
            routing::get(forgot_page).post(forgot_submit),
        )
        .add_root(
            "/oauth/account/reset-password",
            routing::get(reset_page).post(reset_submit),
        )
        .add_root(
            "/oauth/account/unlock",
            routing::get(unlock_page).post(unlock_submit),
        )
        .add_root("/oauth/account/mfa", routing::post(mfa_submit))
        .add_root(
            "/oauth/account/recover",
            routing::get(recover_page).post(recover_submit),
        )
        .add_root(
            "/oauth/account/login/passwordless",
            routing::post(passwordless_submit),
        )
        .add_root("/oauth/account/login/code", routing::post(code_submit))
        .add_root(
            "/oauth/account/login/magic-link",
            routing::get(magic_page).post(magic_submit),
        )
        .add_root(
            "/oauth/account/invitation/accept",
            routing::get(accept_page).post(accept_submit),
        )
        .add_root(
            "/oauth/account/approval-flow",
            routing::get(approval_page).post(approval_submit),
        )
        .add_root("/oauth/account/assets/tessera.css", routing::get(style))
        .add_root("/oauth/account/assets/brand.css", routing::get(brand_style))
        .add_root(
            "/oauth/account/assets/webauthn.js",
            routing::get(key_script),
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
