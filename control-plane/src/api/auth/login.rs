//! Password login, `POST /resources/auth/v1/user` (tag General): email or username and
//! password → access token, refresh token and cookie. An unknown user, a wrong password and
//! a locked user get the same reply after the same work (`model::login`). And the unlock
//! link a lock mails.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::extract::ApiJson;
use crate::http::guard::ClientIp;
use crate::model::login::{self, Expiry, LoginError, PasswordCheck};
use crate::model::vendor_config::VendorConfig;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LoginRequest {
    email: Option<String>,
    username: Option<String>,
    password: String,
    /// Joins the invitation link's account (`compat-wave2.md` §8.3).
    invitation_token: Option<String>,
    /// The login box's reCAPTCHA token (checked when a captcha policy is enabled).
    recaptcha_token: Option<String>,
}

/// An expired password: no tokens, a reset token instead.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExpiredReply {
    mfa_required: bool,
    reset_password_token: String,
    user_id: String,
    user_email: String,
    email_verified: bool,
    password_expires_in: i64,
}

fn failure(state: &AppState) -> ApiError {
    state.metrics.logins.with_label_values(&["failure"]).inc();
    LoginError::BadCredentials.into()
}

/// Where a password login ends.
pub(super) enum Outcome {
    /// Signed in: the reply and its cookies, and the configuration they were issued under.
    Issued(super::issue::Issued, Box<VendorConfig>),
    /// A second factor is needed: the MFA-required reply, as the login box reads it.
    Challenge(Box<super::mfa::MfaRequiredReply>),
    /// The password has expired: no tokens, a reset token instead.
    Expired(ExpiredReply),
}

/// What a password login presents.
pub(super) struct Credentials<'a> {
    pub(super) email: Option<&'a str>,
    pub(super) username: Option<&'a str>,
    pub(super) password: &'a str,
    pub(super) invitation_token: Option<&'a str>,
    pub(super) recaptcha_token: Option<&'a str>,
}

/// A password login, whoever presents it (the login box's JSON, the hosted login page's
/// form): the one sequence of checks.
pub(super) async fn password(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    c: Credentials<'_>,
) -> Result<Outcome, ApiError> {
    // The environment's IP rules apply to everyone alike: checked before anything about the
    // user is looked at, so the reply reveals nothing about accounts.
    crate::http::guard::check_ip(state, None, ip)?;
    crate::http::guard::check_captcha(state, c.recaptcha_token, c.email, ip).await?;
    let found = login::find(&state.db, c.email, c.username)?;
    // An address without a local password may be known to a user pool of this application.
    let pooled = match (&found, c.email) {
        (Some(u), _) if u.password_hash.is_some() => None,
        (_, Some(email)) => super::pools::password_login(state, headers, email, c.password).await?,
        _ => None,
    };
    let user = match (pooled, found) {
        (Some(u), _) => Box::new(u),
        (None, None) => {
            login::check_unknown(&state.db, &state.clock, &state.hasher, c.password).await?;
            return Err(failure(state));
        }
        (None, Some(found)) => {
            let links = state.links();
            let check = login::check_password(
                &state.db,
                &state.clock,
                &state.hasher,
                links,
                &found.id,
                c.password,
            )
            .await?;
            let PasswordCheck::Correct(user) = check else {
                return Err(failure(state));
            };
            user
        }
    };
    state.metrics.logins.with_label_values(&["success"]).inc();
    let config = crate::model::vendor_config::current(&state.db)?;
    let mut tenant = login::admit(&config, &user)?;
    let mut user = user;
    if let Some(t) = c.invitation_token.map(str::trim).filter(|t| !t.is_empty())
        && let Some((u, joined)) = super::invitations::join_with(state, *user.clone(), t).await?
    {
        *user = u;
        tenant = joined;
    }
    // The account's rules, only once the password proved who is asking.
    crate::http::guard::check_ip(state, Some(&tenant), ip)?;
    crate::http::guard::check_email(state, &[&tenant], &user.email_norm)?;
    let expiry = login::expiry(&state.db, &state.clock, &user, &tenant).await?;
    if let Expiry::Expired { reset_token } = expiry {
        return Ok(Outcome::Expired(ExpiredReply {
            mfa_required: false,
            reset_password_token: reset_token,
            user_id: user.id,
            user_email: user.email,
            email_verified: user.verified,
            password_expires_in: 0,
        }));
    }
    let mut issued =
        match super::mfa::after_first_factor(state, &config, headers, *user, tenant, ip).await {
            Ok(issued) => issued,
            Err(super::mfa::Stop::Challenge(c)) => return Ok(Outcome::Challenge(c)),
            Err(super::mfa::Stop::Refused(e)) => return Err(e),
        };
    if let Expiry::Soon { left, period } = expiry {
        issued.body.password_expires_in = Some(left);
        issued.body.notification_period = Some(period);
    }
    Ok(Outcome::Issued(issued, Box::new(config)))
}

/// Public: log in with a password.
pub(super) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let c = Credentials {
        email: req.email.as_deref(),
        username: req.username.as_deref(),
        password: &req.password,
        invitation_token: req.invitation_token.as_deref(),
        recaptcha_token: req.recaptcha_token.as_deref(),
    };
    Ok(match password(&state, ip, &headers, c).await? {
        Outcome::Issued(issued, config) => issued.respond(&state, &config),
        Outcome::Challenge(c) => super::mfa::Stop::Challenge(c).into_response(),
        Outcome::Expired(reply) => Json(reply).into_response(),
    })
}

#[derive(Deserialize)]
pub(super) struct UnlockRequest {
    token: String,
}

/// Public: unlock an account with the single-use link mailed when it was locked.
pub(super) async fn unlock(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<UnlockRequest>,
) -> Result<StatusCode, ApiError> {
    login::unlock(&state.db, &state.clock, &req.token).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "AuthenticatioAuthenticationControllerV1_authenticateLocalUser",
            login,
        )
        .add("UsersControllerV3_unlock", unlock)
}
