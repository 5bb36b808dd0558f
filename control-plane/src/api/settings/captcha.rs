//! The captcha policy (tag Core Settings; `compat-wave2.md` §12.1): Terraform POSTs and PUTs
//! on 409, reads the secret back (returned to the environment token only), and disables by
//! PUTting the policy back with `enabled: false`; the login box reads the public view (no
//! secret, no ignored addresses) to render reCAPTCHA v3. The rules live in `model::captcha`;
//! the check of each public flow in `http::guard::check_captcha`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::captcha::{self, CaptchaError, CaptchaPolicy, PolicyRequest};

/// `CaptchaPolicyResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PolicyDto {
    id: String,
    site_key: String,
    secret_key: String,
    enabled: bool,
    min_score: f64,
    ignored_emails: Vec<String>,
    created_at: String,
    updated_at: String,
}

fn dto(state: &AppState, p: CaptchaPolicy) -> Result<PolicyDto, ApiError> {
    Ok(PolicyDto {
        secret_key: captcha::secret(&state.db, &p)?,
        id: p.id,
        site_key: p.site_key,
        enabled: p.enabled,
        min_score: p.min_score,
        ignored_emails: p.ignored_emails,
        created_at: p.created_at,
        updated_at: p.updated_at,
    })
}

pub(super) async fn get_policy(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<PolicyDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let p = captcha::policy(&state.db)?.ok_or(CaptchaError::NotFound)?;
    Ok(Json(dto(&state, p)?))
}

pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PolicyRequest>,
) -> Result<(StatusCode, Json<PolicyDto>), ApiError> {
    caller.require(Perm::Environment)?;
    let p = captcha::save(&state.db, &state.clock, req, true).await?;
    Ok((StatusCode::CREATED, Json(dto(&state, p)?)))
}

pub(super) async fn update(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PolicyRequest>,
) -> Result<Json<PolicyDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let p = captcha::save(&state.db, &state.clock, req, false).await?;
    Ok(Json(dto(&state, p)?))
}

/// What the login box reads.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PublicDto {
    site_key: String,
    enabled: bool,
    min_score: f64,
}

/// Public (non-spec): the policy without its secret.
pub(super) async fn public(State(state): State<AppState>) -> Result<Json<PublicDto>, ApiError> {
    let p = captcha::policy(&state.db)?.ok_or(CaptchaError::NotFound)?;
    Ok(Json(PublicDto {
        site_key: p.site_key,
        enabled: p.enabled,
        min_score: p.min_score,
    }))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("CaptchaPolicyController_getCaptchaPolicy", get_policy)
        .add("CaptchaPolicyController_createCaptchaPolicy", create)
        .add("CaptchaPolicyController_updateCaptchaPolicy", update)
        .add_extra(
            "/resources/configurations/v1/captcha-policy/public",
            get(public),
        )
}
