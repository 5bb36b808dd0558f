//! Passwordless login (tag Passwordless, `compat-wave2.md` §7): prelogin sends a magic link
//! or a one-time code and binds the pending login to the browser (`fe_pwl_…` cookie);
//! postlogin (and the `usernameand*` aliases the login box calls) accepts it and ends in the
//! login pipeline ([`super::mfa::after_first_factor`]), so MFA applies after it. The rules
//! live in `model::passwordless`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::SET_COOKIE};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::issue::{Issued, cookie, login_cookie};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::extract::ApiJson;
use crate::http::guard::ClientIp;
use crate::model::login::LoginError;
use crate::model::passwordless::{self, Kind, Lookup, PasswordlessError};
use crate::model::user::{self, User};
use crate::model::vendor_config::VendorConfig;

/// The binding cookie: `fe_pwl_` + the client id without dashes.
fn binding_name(client_id: &str) -> String {
    format!("fe_pwl_{}", client_id.replace('-', ""))
}

/// Who a prelogin (or a custom client's postlogin) names: exactly one non-empty identifier
/// (`""` is absent: the login box sends `username: ""` beside an email).
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Identifier {
    email: Option<String>,
    username: Option<String>,
    user_id: Option<String>,
    phone_number: Option<String>,
    /// Joins the invitation's account on success (`compat-wave2.md` §8.3).
    #[serde(default)]
    invitation_token: Option<String>,
    /// The reCAPTCHA token (prelogin, and the magic link's postlogin).
    #[serde(default)]
    recaptcha_token: Option<String>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Identifier {
    fn given(&self) -> usize {
        [
            &self.email,
            &self.username,
            &self.user_id,
            &self.phone_number,
        ]
        .iter()
        .filter(|v| present(v).is_some())
        .count()
    }

    /// The user named, if any (`None` for nobody's identifier: the caller answers alike).
    fn find(&self, state: &AppState) -> Result<Option<User>, ApiError> {
        let db = &state.db;
        if let Some(e) = present(&self.email) {
            return Ok(crate::model::login::find(db, Some(e), None)?);
        }
        if let Some(n) = present(&self.username) {
            return Ok(user::by_username(db, n)?);
        }
        if let Some(id) = present(&self.user_id) {
            return Ok(db.get::<User>(id.as_bytes())?);
        }
        if let Some(p) = present(&self.phone_number) {
            let digits = user::phone_digits(p);
            let mut found = user::by_phone(db, &digits)?;
            found.retain(|u| {
                u.login_phones
                    .iter()
                    .any(|l| l.verified && user::phone_digits(&l.phone_number) == digits)
            });
            // A number two users verified names neither.
            return Ok((found.len() == 1).then(|| found.remove(0)));
        }
        Ok(None)
    }
}

#[derive(Deserialize)]
pub(super) struct PreloginRequest {
    #[serde(flatten)]
    who: Identifier,
}

/// The SMS prelogin reply: the number only when the caller gave it (nothing that tells a
/// known user from an unknown one).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SmsPreloginReply {
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
}

fn enabled(config: &VendorConfig, kind: Kind) -> Result<(), ApiError> {
    if kind.enabled_by(&config.auth_strategy) {
        return Ok(());
    }
    let name = match kind {
        Kind::MagicLink => "MagicLink",
        Kind::Code => "Code",
        Kind::SmsCode => "SmsCode",
    };
    Err(PasswordlessError::NotEnabled(name).into())
}

/// Whether `u` may get a link or code of `kind` now (else the request is answered as for
/// nobody): not locked or expired, an account to log in to, a verified phone for SMS. (The
/// send budget is counted with the pending login, in one transaction.)
fn eligible(state: &AppState, config: &VendorConfig, kind: Kind, u: &User) -> bool {
    let now = state.clock.unix();
    if u.is_locked || u.expired(now) || u.login_tenant().is_none() {
        return false;
    }
    !(kind == Kind::SmsCode
        && (u.sms_phone().is_none() || !(u.verified || config.allow_not_verified_users_login)))
}

async fn prelogin(
    state: AppState,
    ip: ClientIp,
    kind: Kind,
    req: PreloginRequest,
) -> Result<Response, ApiError> {
    let phone = present(&req.who.phone_number).map(str::to_owned);
    let cookie = begin(&state, ip, kind, &req).await?;
    let mut res = match kind {
        Kind::SmsCode => (
            StatusCode::CREATED,
            Json(SmsPreloginReply {
                phone_number: phone,
            }),
        )
            .into_response(),
        Kind::MagicLink => StatusCode::OK.into_response(),
        Kind::Code => StatusCode::CREATED.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(SET_COOKIE, v);
    }
    Ok(res)
}

/// The kind of passwordless sign-in the hosted pages offer under the environment's
/// `authStrategy` (the mailed kinds; none for passwords or texted codes).
pub(super) fn page_kind(config: &VendorConfig) -> Option<Kind> {
    [Kind::MagicLink, Kind::Code]
        .into_iter()
        .find(|k| k.enabled_by(&config.auth_strategy))
}

/// A passwordless sign-in begun by the hosted sign-in page for `email`: the link or code
/// sent (the same writes for nobody); the browser's binding cookie.
pub(super) async fn begin_for_email(
    state: &AppState,
    ip: std::net::IpAddr,
    kind: Kind,
    email: &str,
) -> Result<String, ApiError> {
    let req = PreloginRequest {
        who: Identifier {
            email: Some(email.to_owned()),
            ..Identifier::default()
        },
    };
    begin(state, ClientIp(ip), kind, &req).await
}

/// Send the link or code; the `Set-Cookie` that binds the browser to it.
async fn begin(
    state: &AppState,
    ip: ClientIp,
    kind: Kind,
    req: &PreloginRequest,
) -> Result<String, ApiError> {
    let config = crate::model::vendor_config::current(&state.db)?;
    enabled(&config, kind)?;
    crate::http::guard::check_ip(state, None, ip.0)?;
    let who = &req.who;
    crate::http::guard::check_captcha(
        state,
        who.recaptcha_token.as_deref(),
        present(&who.email),
        ip.0,
    )
    .await?;
    if req.who.given() != 1 {
        return Err(ApiError::bad_request(
            "exactly one of email, username, userId or phoneNumber is required",
        ));
    }
    let found = req.who.find(state)?;
    let user = found.filter(|u| eligible(state, &config, kind, u));
    let binding = crate::model::otp::new_token();
    let ttl = config.default_passwordless_token_expiration.max(60);
    passwordless::prelogin(
        &state.db,
        &state.clock,
        state.links(),
        kind,
        user.as_ref(),
        &binding,
        ttl,
    )
    .await?;
    Ok(login_cookie(
        state,
        &config,
        &binding_name(state.env.client_id()),
        &binding,
        ttl,
    ))
}

#[derive(Deserialize)]
pub(super) struct PostloginRequest {
    token: String,
    #[serde(flatten)]
    who: Identifier,
}

async fn postlogin(
    state: AppState,
    ip: ClientIp,
    headers: HeaderMap,
    kind: Kind,
    req: PostloginRequest,
) -> Result<Response, ApiError> {
    let (ended, config) = sign_in(&state, ip, &headers, kind, req).await?;
    let mut issued = match ended {
        Ok(issued) => issued,
        Err(stop) => return Ok(stop.into_response()),
    };
    issued.cookies.push(clear_binding(&state, &config));
    Ok(issued.respond(&state, &config))
}

/// The cookie that ends the browser's binding to its pending passwordless login.
fn clear_binding(state: &AppState, config: &VendorConfig) -> String {
    login_cookie(state, config, &binding_name(state.env.client_id()), "", 0)
}

/// A passwordless sign-in finished on a hosted page (a magic link's token posted by its
/// form, or the mailed code): the login box's postlogin, and the cookie that ends the
/// browser's binding.
pub(super) async fn finish_on_page(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    kind: Kind,
    token: &str,
) -> Result<(Result<Issued, super::mfa::Stop>, VendorConfig, String), ApiError> {
    let req = PostloginRequest {
        token: token.to_owned(),
        who: Identifier::default(),
    };
    let (ended, config) = sign_in(state, ClientIp(ip), headers, kind, req).await?;
    let clear = clear_binding(state, &config);
    Ok((ended, config, clear))
}

/// A passwordless postlogin, whoever presents it: the first factor proven, then the pipeline
/// after every first factor.
async fn sign_in(
    state: &AppState,
    ip: ClientIp,
    headers: &HeaderMap,
    kind: Kind,
    req: PostloginRequest,
) -> Result<(Result<Issued, super::mfa::Stop>, VendorConfig), ApiError> {
    let config = crate::model::vendor_config::current(&state.db)?;
    enabled(&config, kind)?;
    crate::http::guard::check_ip(state, None, ip.0)?;
    if kind == Kind::MagicLink {
        crate::http::guard::check_captcha(state, req.who.recaptcha_token.as_deref(), None, ip.0)
            .await?;
    }
    if req.token.trim().is_empty() || req.token.len() > 512 {
        return Err(ApiError::bad_request("token is required"));
    }
    let binding = cookie(headers, &binding_name(state.env.client_id()));
    // A custom client may name the user beside a code; the login box sends the code alone.
    let named = if kind != Kind::MagicLink && req.who.given() == 1 {
        req.who.find(state)?
    } else {
        None
    };
    let lookup = match (&named, &binding) {
        (_, Some(b)) => Lookup::Browser {
            token: &req.token,
            binding: Some(b),
        },
        (Some(u), None) => Lookup::User {
            token: &req.token,
            user_id: &u.id,
        },
        (None, None) => Lookup::Browser {
            token: &req.token,
            binding: None,
        },
    };
    let uid = passwordless::postlogin(
        &state.db,
        &state.clock,
        kind,
        lookup,
        config.force_same_device_on_auth,
    )
    .await?;
    let user = if kind.proves_email() {
        passwordless::prove_email(&state.db, &uid).await?
    } else {
        state.db.get::<User>(uid.as_bytes())?
    }
    .ok_or(LoginError::BadCredentials)?;
    if user.is_locked || user.expired(state.clock.unix()) {
        return Err(LoginError::BadCredentials.into());
    }
    let mut tenant = crate::model::login::admit(&config, &user)?;
    let mut user = user;
    if let Some(t) = present(&req.who.invitation_token)
        && let Some((u, joined)) = super::invitations::join_with(state, user.clone(), t).await?
    {
        user = u;
        tenant = joined;
    }
    crate::http::guard::check_ip(state, Some(&tenant), ip.0)?;
    crate::http::guard::check_email(state, &[&tenant], &user.email_norm)?;
    state.metrics.logins.with_label_values(&["success"]).inc();
    let ended = super::mfa::after_first_factor(state, &config, headers, user, tenant, ip.0).await;
    Ok((ended, config))
}

macro_rules! kind_handlers {
    ($pre:ident, $post:ident, $kind:expr) => {
        async fn $pre(
            State(state): State<AppState>,
            ip: ClientIp,
            ApiJson(req): ApiJson<PreloginRequest>,
        ) -> Result<Response, ApiError> {
            prelogin(state, ip, $kind, req).await
        }

        async fn $post(
            State(state): State<AppState>,
            ip: ClientIp,
            headers: HeaderMap,
            ApiJson(req): ApiJson<PostloginRequest>,
        ) -> Result<Response, ApiError> {
            postlogin(state, ip, headers, $kind, req).await
        }
    };
}

kind_handlers!(magic_prelogin, magic_postlogin, Kind::MagicLink);
kind_handlers!(code_prelogin, code_postlogin, Kind::Code);
kind_handlers!(sms_prelogin, sms_postlogin, Kind::SmsCode);

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "AuthenticationPasswordlessControllerV1_magicLinkPrelogin",
            magic_prelogin,
        )
        .add(
            "AuthenticationPasswordlessControllerV1_magicLinkPostLogin",
            magic_postlogin,
        )
        .add(
            "AuthenticationPasswordlessControllerV1_emailCodePrelogin",
            code_prelogin,
        )
        .add(
            "AuthenticationPasswordlessControllerV1_emailCodePostLogin",
            code_postlogin,
        )
        .add(
            "AuthenticationPasswordlessControllerV1_smsCodePreLogin",
            sms_prelogin,
        )
        .add(
            "AuthenticationPasswordlessControllerV1_smsCodePostLogin",
            sms_postlogin,
        )
        .add_extra(
            "/resources/auth/v1/passwordless/usernameandmagiclink/postlogin",
            post(magic_postlogin),
        )
        .add_extra(
            "/resources/auth/v1/passwordless/usernameandcode/postlogin",
            post(code_postlogin),
        )
        .add_extra(
            "/resources/auth/v1/passwordless/usernameandsms/postlogin",
            post(sms_postlogin),
        )
}
