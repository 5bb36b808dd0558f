//! Activation (tags User Management, Users): with the mailed link, or with the signup reply's
//! token and the mailed code; the user is verified (its password set if it has none) and
//! logged in. Resending links, and links for the environment to send its own way.

use crate::http::page::Params;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::guard::ClientIp;
use crate::model::signup::{self, SignupError};
use crate::model::user::User;

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActivateRequest {
    user_id: String,
    token: String,
    password: Option<String>,
    /// The reCAPTCHA token (checked when a captcha policy is enabled).
    recaptcha_token: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActivateWithCodeRequest {
    user_id: String,
    token: String,
    code: String,
    password: Option<String>,
    /// The reCAPTCHA token (checked when a captcha policy is enabled).
    recaptcha_token: Option<String>,
}

/// Log the freshly activated user in: the login reply and the refresh cookie.
async fn log_in(state: &AppState, ip: ClientIp, user: User) -> Result<Response, ApiError> {
    let config = crate::model::vendor_config::current(&state.db)?;
    let tenant = user
        .login_tenant()
        .map(str::to_owned)
        .ok_or(SignupError::BadToken)?;
    // The new user's MFA, as for any first factor (a forced policy asks for enrolment).
    let headers = axum::http::HeaderMap::new();
    match super::mfa::after_first_factor(state, &config, &headers, user, tenant, ip.0).await {
        Ok(issued) => Ok(issued.respond(state, &config)),
        Err(stop) => Ok(stop.into_response()),
    }
}

/// Public: activate with the mailed token (single use, expiring), set the password if the
/// user has none, and log in.
pub(super) async fn activate(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<ActivateRequest>,
) -> Result<Response, ApiError> {
    // No address in the request: the ignored addresses cannot apply.
    crate::http::guard::check_captcha(&state, req.recaptcha_token.as_deref(), None, ip.0).await?;
    let user = signup::activate(
        &state.db,
        &state.clock,
        &state.hasher,
        &req.user_id,
        &req.token,
        req.password,
    )
    .await?;
    log_in(&state, ip, user).await
}

/// Public: activate with the signup reply's token and the mailed code (a wrong code counts
/// against the token; the fifth burns it).
pub(super) async fn activate_with_code(
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<ActivateWithCodeRequest>,
) -> Result<Response, ApiError> {
    crate::http::guard::check_captcha(&state, req.recaptcha_token.as_deref(), None, ip.0).await?;
    let user = signup::activate_with_code(
        &state.db,
        &state.clock,
        &state.hasher,
        &req.user_id,
        &req.token,
        &req.code,
        req.password,
    )
    .await?;
    log_in(&state, ip, user).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StrategyQuery {
    user_id: String,
    token: String,
}

/// `{shouldSetPassword}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StrategyReply {
    should_set_password: bool,
}

/// Public: whether activating needs a password (the user has none yet).
pub(super) async fn strategy(
    State(state): State<AppState>,
    Params(q): Params<StrategyQuery>,
) -> Result<Json<StrategyReply>, ApiError> {
    let should_set_password =
        signup::needs_password(&state.db, &state.clock, &q.user_id, &q.token)?;
    Ok(Json(StrategyReply {
        should_set_password,
    }))
}

#[derive(Clone, Deserialize)]
pub(super) struct ResendRequest {
    email: String,
}

/// Public: mail a fresh activation link to an unverified user; the same reply for every
/// address.
pub(super) async fn resend(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ResendRequest>,
) -> Result<StatusCode, ApiError> {
    signup::resend(&state.db, &state.clock, state.links(), &req.email).await?;
    Ok(StatusCode::CREATED)
}

/// `{link, token, userId}`: a link for the environment to send its own way.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LinkReply {
    pub(crate) link: String,
    pub(crate) token: String,
    pub(crate) user_id: String,
}

/// Environment token: an activation link for a user.
pub(super) async fn generate_link(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<LinkReply>), ApiError> {
    caller.require(Perm::Environment)?;
    let (link, token) =
        signup::activation_link(&state.db, &state.clock, state.links(), &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkReply {
            link,
            token,
            user_id: id,
        }),
    ))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "UsersActivationControllerV1_activateUserWithCode",
            activate_with_code,
        )
        .add("UsersActivationControllerV1_activateUser", activate)
        .add(
            "UsersActivationControllerV1_getActivationStrategy",
            strategy,
        )
        .add("UsersActivationControllerV1_resetActivationToken", resend)
        .add(
            "UsersControllerV1_generateUserActivationLink",
            generate_link,
        )
}
