//! The sign-in pages: password or passwordless first factors (by the environment's
//! `authStrategy`), the second factor of every sign-in (authenticator apps, their enrolment,
//! security keys, mailed and texted codes), the recovery code, and the magic link's page.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::*;

/// What a second-factor form proves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Factor {
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
pub(super) struct MfaStep<'a> {
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
    /// The "remember this device" box's label, when the policy allows it.
    remember: Option<&'a str>,
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
                "remember": self.remember,
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
            remember: self.remember,
        }
        .show(state, headers, status, error)
    }
}

/// Send the code of a mailed or texted step; the step with its `otcToken`, or the page that
/// says why not.
pub(super) async fn send_code<'a>(
    state: &AppState,
    headers: &HeaderMap,
    step: MfaStep<'a>,
    factor: Factor,
    otc: &'a mut String,
) -> Result<MfaStep<'a>, Box<Response>> {
    let sent = match factor {
        Factor::Sms => super::super::mfa::text_code(state, step.mfa_token, step.phone).await,
        _ => super::super::mfa::mail_code(state, step.mfa_token).await,
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
pub(super) async fn key_step(
    state: &AppState,
    headers: &HeaderMap,
    step: MfaStep<'_>,
    error: Option<&str>,
) -> Response {
    match super::super::mfa::begin_key(state, headers, step.mfa_token, step.key).await {
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

/// The "remember this device" label for the challenge's user, when the policy allows it.
fn remember_label(state: &AppState, mfa_token: &str) -> Option<String> {
    let secs = super::super::mfa::remember_for(state, mfa_token)
        .ok()
        .flatten()?;
    let days = secs.div_ceil(86_400);
    Some(if days > 1 {
        format!("Remember this device for {days} days")
    } else {
        "Remember this device for a day".to_owned()
    })
}

/// Where a first factor that asked for a second one goes on a page: the form for the factor
/// the user has (the authenticator being enrolled, an enrolled app, or a code mailed or
/// texted now).
pub(super) async fn second_factor(
    state: &AppState,
    headers: &HeaderMap,
    challenge: &super::super::mfa::MfaRequiredReply,
    target: &str,
) -> Response {
    let c = challenge.for_page();
    let phone = c.phone.as_ref().map(|p| p.0.as_str()).unwrap_or_default();
    let remember = remember_label(state, &c.mfa_token);
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
        remember: remember.as_deref(),
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
pub(super) struct MfaForm {
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
    #[serde(default)]
    remember_device: String,
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
pub(super) async fn mfa_submit(
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
    if let Err(page) = check_continue(&state, &form.target) {
        return *page;
    }
    let Some(factor) = Factor::of(&form.factor) else {
        return bad_continue(&state);
    };
    let remember = remember_label(&state, &form.mfa_token);
    // Remembered only when asked for and the policy allows it (complete_issued checks again).
    let keep = remember.is_some() && form.remember_device == "yes";
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
        remember: remember.as_deref(),
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
        return key_submit(&state, &headers, ip, (&form, keep), step).await;
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
    match super::super::mfa::prove_on_page(&state, &headers, ip, (&form.mfa_token, keep), proof)
        .await
    {
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
pub(super) async fn key_submit(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    (form, keep): (&MfaForm, bool),
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
    let ids = (form.mfa_token.as_str(), form.webauthn_token.as_str(), keep);
    match super::super::mfa::prove_key_on_page(state, headers, ip, ids, &credential, &form.key)
        .await
    {
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

pub(super) fn recover_form(email: &str) -> Form<'_> {
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
        remember: None,
    }
}

pub(super) async fn recover_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    recover_form("").show(&state, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RecoverForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    recovery_code: String,
}

/// Public (form, CSRF): a recovery code turns the user's second factors off (every session
/// ends, the user is mailed); one answer for unknown addresses and wrong codes.
pub(super) async fn recover_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: RecoverForm = match submitted(&state, &headers, &body, "Use a recovery code") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    match super::super::mfa::recover_with(&state, form.email.trim(), form.recovery_code.trim())
        .await
    {
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

pub(super) fn login_form<'a>(target: &'a str, email: &'a str) -> Form<'a> {
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
        remember: None,
    }
}

/// Public: the sign-in page (`?continue=` the authorization request to resume).
pub(super) async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let target = query_value(raw.as_deref(), "continue");
    if let Err(page) = check_continue(&state, &target) {
        return *page;
    }
    let hint = login_hint(&target);
    let kind = crate::model::vendor_config::current(&state.db)
        .ok()
        .and_then(|c| super::super::passwordless::page_kind(&c));
    let others = super::social::buttons(&state, &target);
    let mut form = match kind {
        Some(kind) => passwordless_form(kind, &target, &hint),
        None => login_form(&target, &hint),
    };
    form.links
        .extend(others.iter().map(|(h, l)| (h.as_str(), l.as_str())));
    form.show(&state, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default, rename = "continue")]
    target: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Public (form, CSRF): sign in with a password; on success the session cookie is set and the
/// browser resumes its authorization request (or sees that it is signed in).
pub(super) async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LoginForm = match submitted(&state, &headers, &body, "Sign in") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    if let Err(page) = check_continue(&state, &form.target) {
        return *page;
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

/// Public: the mailed magic link's page (`?token=`): a button; the token is posted by the
/// form, never consumed by opening the link (a mail scanner following links signs nobody in).
pub(super) async fn magic_page(
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

pub(super) fn magic_form(token: &str) -> Form<'_> {
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
        remember: None,
    }
}

/// Public (form, CSRF): sign in with the magic link's token (the login box's postlogin: its
/// expiry, single use, the browser binding when the environment asks for the same device),
/// then the second factor if one is asked for, then on to the authorization request the
/// sign-in page began (kept in a cookie while the mail travelled).
pub(super) async fn magic_submit(
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
pub(super) async fn passwordless_done(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    kind: Kind,
    token: &str,
) -> Response {
    let target = kept_continue(headers);
    let target = target.as_str();
    let title = "Sign in";
    match super::super::passwordless::finish_on_page(state, ip, headers, kind, token).await {
        Ok((Ok(issued), config, clear)) => {
            let mut res = signed_in(state, &issued, &config, target, "You are signed in.");
            append_cookies(&mut res, &[clear, clear_continue(state)]);
            res
        }
        Ok((Err(super::super::mfa::Stop::Challenge(c)), _, _)) => {
            second_factor(state, headers, &c, target).await
        }
        Ok((Err(super::super::mfa::Stop::Refused(e)), _, _)) | Err(e) => {
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
pub(super) const CONTINUE_COOKIE: &str = "tessera_continue";

pub(super) fn keep_continue(state: &AppState, target: &str, ttl: u32) -> String {
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

pub(super) fn clear_continue(state: &AppState) -> String {
    format!(
        "{CONTINUE_COOKIE}=; Path=/oauth/account; Max-Age=0; HttpOnly; SameSite=Lax{}",
        if state.secure_cookies { "; Secure" } else { "" },
    )
}

/// The kept authorization request, if this browser holds one that is still a path of the
/// authorization endpoint (read here: longer than a session cookie's value may be).
pub(super) fn kept_continue(headers: &HeaderMap) -> String {
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

pub(super) fn passwordless_form<'a>(kind: Kind, target: &'a str, email: &'a str) -> Form<'a> {
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
        remember: None,
    }
}

pub(super) fn code_form(target: &str) -> Form<'_> {
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
        remember: None,
    }
}

/// Public (form, CSRF): begin a passwordless sign-in for the address (the same page whether
/// or not it has an account); the browser is bound to it, and keeps its authorization
/// request while the mail travels.
pub(super) async fn passwordless_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LoginForm = match submitted(&state, &headers, &body, "Sign in") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    if let Err(page) = check_continue(&state, &form.target) {
        return *page;
    }
    let config = match crate::model::vendor_config::current(&state.db) {
        Ok(c) => c,
        Err(e) => return error_page(&state, &e.into()),
    };
    let Some(kind) = super::super::passwordless::page_kind(&config) else {
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
    let binding = match super::super::passwordless::begin_for_email(&state, ip, kind, email).await {
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
pub(super) struct CodeForm {
    #[serde(default)]
    code: String,
}

/// Public (form, CSRF): the mailed code finishes the sign-in this browser began.
pub(super) async fn code_submit(
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
