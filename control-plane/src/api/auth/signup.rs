//! Self-service signup (tag General): an account and its first user, by address or by
//! username. The reply never says whether an address was registered (`model::signup`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::extract::ApiJson;
use crate::http::guard::ClientIp;
use crate::model::signup::{self, SignUp, SignedUp};

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SignUpRequest {
    email: String,
    password: Option<String>,
    name: Option<String>,
    company_name: Option<String>,
    metadata: Option<Value>,
    /// Accepted for compatibility; only local signup exists.
    #[allow(dead_code)]
    provider: Option<String>,
    /// The new user also joins the invitation link's account (`compat-wave2.md` §8.3).
    invitation_token: Option<String>,
    /// The reCAPTCHA token (checked when a captcha policy is enabled).
    recaptcha_token: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SignUpUsernameRequest {
    username: String,
    email: Option<String>,
    password: Option<String>,
    name: Option<String>,
    company_name: Option<String>,
    metadata: Option<Value>,
    /// Accepted for compatibility; only local signup exists.
    #[allow(dead_code)]
    provider: Option<String>,
    /// The reCAPTCHA token (checked when a captcha policy is enabled).
    recaptcha_token: Option<String>,
}

/// `SignUpResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SignUpReply {
    should_activate: bool,
    user_id: String,
    tenant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    activation_token: Option<String>,
}

impl From<SignedUp> for SignUpReply {
    fn from(s: SignedUp) -> Self {
        SignUpReply {
            should_activate: s.should_activate,
            user_id: s.user_id,
            tenant_id: s.tenant_id,
            activation_token: s.activation_token,
        }
    }
}

async fn create(
    state: &AppState,
    form: SignUp,
    invitation_token: Option<&str>,
) -> Result<(StatusCode, Json<SignUpReply>), ApiError> {
    let reply = register(state, form, invitation_token).await?;
    Ok((StatusCode::CREATED, Json(reply.into())))
}

/// A sign-up, whoever presents it (the login box's JSON, the hosted sign-up page): the
/// environment's email-domain rules, the account and user, the invitation's account.
pub(super) async fn register(
    state: &AppState,
    form: SignUp,
    invitation_token: Option<&str>,
) -> Result<SignedUp, ApiError> {
    // The environment's email-domain rules decide who may sign up.
    if let Some(e) = &form.email
        && let Ok(norm) = crate::model::email::normalize(e)
    {
        crate::http::guard::check_email(state, &[], &norm)?;
    }
    let reply =
        signup::sign_up(&state.db, &state.clock, &state.hasher, state.links(), form).await?;
    // A new user joins the invitation's account (an existing address created nobody: the
    // reply's id names no user, and nothing is joined or said).
    let token = invitation_token.map(str::trim).filter(|t| !t.is_empty());
    if let Some(t) = token
        && let Some(u) = state
            .db
            .get::<crate::model::user::User>(reply.user_id.as_bytes())?
    {
        super::invitations::join_with(state, u, t).await?;
    }
    Ok(reply)
}

/// Public: sign up a new account and its first user (403 when signups are closed). The
/// owner of an existing address gets a notice by mail instead of a second account.
pub(super) async fn sign_up(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<SignUpRequest>,
) -> Result<(StatusCode, Json<SignUpReply>), ApiError> {
    crate::http::guard::check_captcha(&state, req.recaptcha_token.as_deref(), Some(&req.email), ip)
        .await?;
    let form = SignUp {
        email: Some(req.email),
        username: None,
        password: req.password,
        name: req.name,
        company_name: req.company_name,
        metadata: req.metadata,
    };
    create(&state, form, req.invitation_token.as_deref()).await
}

/// Public: sign up with a username (and optionally an address). A user without an address
/// has nothing to verify and is active at once. Usernames are public handles, so a taken
/// one answers 409.
pub(super) async fn sign_up_username(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<SignUpUsernameRequest>,
) -> Result<(StatusCode, Json<SignUpReply>), ApiError> {
    crate::http::guard::check_captcha(
        &state,
        req.recaptcha_token.as_deref(),
        req.email.as_deref(),
        ip,
    )
    .await?;
    let form = SignUp {
        email: req.email,
        username: Some(req.username),
        password: req.password,
        name: req.name,
        company_name: req.company_name,
        metadata: req.metadata,
    };
    create(&state, form, None).await
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_signUpUser", sign_up)
        .add(
            "UsersSignUpControllerV1_signUpUserUsername",
            sign_up_username,
        )
}
