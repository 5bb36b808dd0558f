//! Passwords outside a login (tags Password Settings, Users): change, reset by mailed link
//! (v1 and the v2 email form) or texted code, reset links for the environment, and the
//! environment's password check (`model::credentials`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::activation::LinkReply;
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::credentials::{self, Change};

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ChangeRequest {
    password: String,
    new_password: String,
}

/// User token (or environment token with `frontegg-user-id`): change the password; the
/// current one is required; every other session of the user ends.
pub(super) async fn change(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ChangeRequest>,
) -> Result<StatusCode, ApiError> {
    let (user_id, keep) = match &caller {
        Caller::User(u) => (u.user.id.clone(), u.session_id.clone()),
        Caller::Env(e) => (
            e.user_id
                .clone()
                .ok_or_else(|| ApiError::bad_request("frontegg-user-id is required"))?,
            None,
        ),
    };
    credentials::change(
        &state.db,
        &state.clock,
        &state.hasher,
        state.links(),
        Change {
            user_id: &user_id,
            keep: keep.as_deref(),
            current: &req.password,
            new: &req.new_password,
        },
    )
    .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Clone, Deserialize)]
pub(super) struct ResetRequest {
    email: String,
}

/// Public: mail a reset link to the address's owner, if any; the same reply for every
/// address.
pub(super) async fn request_reset(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    credentials::request_reset(&state.db, &state.clock, state.links(), &req.email).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IdentifierRequest {
    identifier: String,
    identifier_type: String,
}

/// `{sessionId}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionReply {
    session_id: String,
}

/// Public: the v2 reset by email (`identifierType: email`); the same mail and reply as v1.
pub(super) async fn request_reset_by_email(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<IdentifierRequest>,
) -> Result<Json<SessionReply>, ApiError> {
    if req.identifier_type != "email" {
        return Err(ApiError::bad_request("identifierType must be email"));
    }
    credentials::request_reset(&state.db, &state.clock, state.links(), &req.identifier).await?;
    Ok(Json(SessionReply {
        session_id: crate::model::tenant::new_id(),
    }))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerifyResetRequest {
    user_id: String,
    token: String,
    password: String,
}

/// Public: set a new password with a reset token (single use, one hour); unlocks a locked
/// account; every session of the user ends.
pub(super) async fn verify_reset(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyResetRequest>,
) -> Result<StatusCode, ApiError> {
    credentials::reset(
        &state.db,
        &state.clock,
        &state.hasher,
        &req.user_id,
        &req.token,
        &req.password,
    )
    .await?;
    Ok(StatusCode::CREATED)
}

/// Environment token: a reset link for a user.
pub(super) async fn generate_link(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<LinkReply>), ApiError> {
    caller.require(Perm::Environment)?;
    let (link, token) =
        credentials::reset_link(&state.db, &state.clock, state.links(), &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkReply {
            link,
            token,
            user_id: id,
        }),
    ))
}

#[derive(Clone, Deserialize)]
pub(super) struct VerifyPasswordRequest {
    email: String,
    password: String,
}

/// `{valid}`.
#[derive(Serialize)]
pub(super) struct ValidReply {
    valid: bool,
}

/// Environment token: whether the password is the user's (uncounted).
pub(super) async fn vendor_verify(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyPasswordRequest>,
) -> Result<Json<ValidReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let valid = credentials::verify(&state.db, &state.hasher, &req.email, &req.password).await?;
    Ok(Json(ValidReply { valid }))
}

/// Public: text a six-digit code to the user with this phone number; the same reply whether
/// or not the number is known.
pub(super) async fn request_reset_by_sms(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<IdentifierRequest>,
) -> Result<Json<SessionReply>, ApiError> {
    if req.identifier_type != "phoneNumber" {
        return Err(ApiError::bad_request("identifierType must be phoneNumber"));
    }
    let session_id =
        credentials::request_sms_reset(&state.db, &state.clock, &req.identifier).await?;
    Ok(Json(SessionReply { session_id }))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SmsVerifyRequest {
    session_id: String,
    otc_token: String,
}

/// `{userId, token}`: a reset token for `passwords/reset/verify`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResetTokenReply {
    user_id: String,
    token: String,
}

/// Public: exchange the texted code for a reset token; five wrong codes void the session.
pub(super) async fn verify_reset_by_sms(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SmsVerifyRequest>,
) -> Result<Json<ResetTokenReply>, ApiError> {
    let (user_id, token) =
        credentials::verify_sms(&state.db, &state.clock, &req.session_id, &req.otc_token).await?;
    Ok(Json(ResetTokenReply { user_id, token }))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersPasswordControllerV1_changePassword", change)
        .add("UsersPasswordControllerV1_resetPassword", request_reset)
        .add(
            "UsersPasswordControllerV1_verifyResetPassword",
            verify_reset,
        )
        .add(
            "UsersControllerV1_generateUserPasswordResetLink",
            generate_link,
        )
        .add("VendorOnlyUsers_verifyUserPassword", vendor_verify)
        .add(
            "UsersPasswordControllerV2_resetPasswordViaEmail",
            request_reset_by_email,
        )
        .add(
            "UsersPasswordControllerV2_resetPasswordViaSms",
            request_reset_by_sms,
        )
        .add(
            "UsersPasswordControllerV2_verifyResetPasswordViaSmsOtc",
            verify_reset_by_sms,
        )
}
