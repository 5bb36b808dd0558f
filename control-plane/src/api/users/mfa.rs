//! MFA self-service (tag MFA, the `users/v1/mfa/*` half; `compat-wave2.md` §3): the
//! signed-in user (or `frontegg-user-id` with an environment token) lists, enrols and
//! removes factors — removing one takes its proof. Every change ends the user's other
//! sessions. The vendor's unenrol removes them all. Rules in `model::mfa`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::mfa::{Devices, ceremony, failed, finish_ceremony};
use crate::model::mfa::{self, Target, policy};
use crate::model::user::User;

/// The user a self-service call acts for, and the session it keeps.
fn me(state: &AppState, caller: &Caller) -> Result<(User, Option<String>), ApiError> {
    caller.me(state)
}

/// After a change of factors: the user's other sessions end.
async fn end_others(state: &AppState, user: &User, keep: Option<String>) -> Result<(), ApiError> {
    crate::model::session::end_where(&state.db, &state.clock, &user.id, |s| {
        keep.as_deref() == Some(s.id.as_str())
    })
    .await?;
    Ok(())
}

/// The caller's factors (outside the spec; the portal reads it after every change).
async fn devices(caller: Caller, State(state): State<AppState>) -> Result<Json<Devices>, ApiError> {
    let (user, _) = me(&state, &caller)?;
    let m = mfa::of(&state.db, &user.id)?;
    let config = policy::config(&state.db)?;
    Ok(Json(Devices::of(&m, &config, &user.email, false)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QrReply {
    qr_code: String,
    secret: String,
}

/// Start enrolling an authenticator app (no body): its QR code and seed.
async fn enrol_app(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<QrReply>, ApiError> {
    let (user, _) = me(&state, &caller)?;
    let seed = mfa::self_enrol_authenticator(&state.db, &state.clock, &user).await?;
    let service = policy::config(&state.db)?.service_name;
    let uri = mfa::totp::otpauth_uri(&service, &user.email, &seed);
    Ok(Json(QrReply {
        qr_code: mfa::totp::qr_data_url(&uri),
        secret: mfa::totp::base32(&seed),
    }))
}

#[derive(Deserialize)]
struct CodeBody {
    token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnrolledReply {
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_code: Option<String>,
}

/// Complete the authenticator enrolment with its first code; the recovery code when it is
/// the user's first factor.
async fn enrol_app_verify(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CodeBody>,
) -> Result<Json<EnrolledReply>, ApiError> {
    let (user, keep) = me(&state, &caller)?;
    let recovery_code =
        mfa::self_verify_authenticator(&state.db, &state.clock, state.links(), &user, &req.token)
            .await
            .map_err(failed)?;
    end_others(&state, &user, keep).await?;
    Ok(Json(EnrolledReply { recovery_code }))
}

/// Remove the authenticator app (the deprecated form names none), proven by its code.
async fn disable_app(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CodeBody>,
) -> Result<StatusCode, ApiError> {
    let (user, keep) = me(&state, &caller)?;
    mfa::self_disable_authenticator(
        &state.db,
        &state.clock,
        state.links(),
        &user,
        None,
        &req.token,
    )
    .await
    .map_err(failed)?;
    end_others(&state, &user, keep).await?;
    Ok(StatusCode::OK)
}

/// Remove authenticator `deviceId`, proven by its code.
async fn disable_app_device(
    caller: Caller,
    State(state): State<AppState>,
    Path(device): Path<String>,
    ApiJson(req): ApiJson<CodeBody>,
) -> Result<StatusCode, ApiError> {
    let (user, keep) = me(&state, &caller)?;
    mfa::self_disable_authenticator(
        &state.db,
        &state.clock,
        state.links(),
        &user,
        Some(&device),
        &req.token,
    )
    .await
    .map_err(failed)?;
    end_others(&state, &user, keep).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneBody {
    phone_number: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CodeSent {
    otc_token: String,
    phone_number: String,
}

/// Text a code to a phone being enrolled.
async fn sms_enrol(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PhoneBody>,
) -> Result<Json<CodeSent>, ApiError> {
    let (user, _) = me(&state, &caller)?;
    let number = mfa::normalize_phone(&req.phone_number)?;
    let sent = mfa::self_send_sms(&state.db, &state.clock, &user, Target::NewPhone(number)).await?;
    Ok(Json(CodeSent {
        otc_token: sent.token,
        phone_number: sent.shown_to,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtcBody {
    otc_token: String,
    code: String,
}

/// The texted code enrols the phone; the recovery code when it is the first factor.
async fn sms_enrol_verify(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<OtcBody>,
) -> Result<Json<EnrolledReply>, ApiError> {
    let (user, keep) = me(&state, &caller)?;
    let recovery_code = mfa::self_verify_sms(
        &state.db,
        &state.clock,
        state.links(),
        &user,
        &req.otc_token,
        &req.code,
        None,
    )
    .await
    .map_err(failed)?;
    end_others(&state, &user, keep).await?;
    Ok(Json(EnrolledReply { recovery_code }))
}

/// Text a code to enrolled phone `deviceId` before removing it (no body).
async fn sms_disable(
    caller: Caller,
    State(state): State<AppState>,
    Path(device): Path<String>,
) -> Result<Json<CodeSent>, ApiError> {
    let (user, _) = me(&state, &caller)?;
    let sent =
        mfa::self_send_sms(&state.db, &state.clock, &user, Target::RemovePhone(device)).await?;
    Ok(Json(CodeSent {
        otc_token: sent.token,
        phone_number: mfa::mask_phone(&sent.shown_to),
    }))
}

/// The texted code removes phone `deviceId`.
async fn sms_disable_verify(
    caller: Caller,
    State(state): State<AppState>,
    Path(device): Path<String>,
    ApiJson(req): ApiJson<OtcBody>,
) -> Result<StatusCode, ApiError> {
    let (user, keep) = me(&state, &caller)?;
    mfa::self_verify_sms(
        &state.db,
        &state.clock,
        state.links(),
        &user,
        &req.otc_token,
        &req.code,
        Some(&device),
    )
    .await
    .map_err(failed)?;
    end_others(&state, &user, keep).await?;
    Ok(StatusCode::OK)
}

/// Begin registering a WebAuthn authenticator (outside the spec; no body).
async fn webauthn_enrol(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, _) = me(&state, &caller)?;
    let r = ceremony(
        &state,
        &headers,
        mfa::Scope::User(&user.id),
        mfa::Purpose::Register,
    )
    .await?;
    Ok(Json(serde_json::to_value(r).unwrap_or_default()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebAuthnBody {
    webauthn_token: String,
    device_type: Option<mfa::DeviceType>,
    options: serde_json::Value,
}

/// Complete a registration; the recovery code when it is the first factor.
async fn webauthn_enrol_verify(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<WebAuthnBody>,
) -> Result<Json<EnrolledReply>, ApiError> {
    let (user, keep) = me(&state, &caller)?;
    let done = finish_ceremony(
        &state,
        mfa::Scope::User(&user.id),
        &req.webauthn_token,
        &req.options,
        req.device_type,
        None,
    )
    .await?;
    end_others(&state, &user, keep).await?;
    let recovery_code = match done {
        mfa::Finished::User(r) => r,
        mfa::Finished::Login(_) => None,
    };
    Ok(Json(EnrolledReply { recovery_code }))
}

/// Begin removing authenticator `deviceId`: an assertion of it (no body).
async fn webauthn_disable(
    caller: Caller,
    State(state): State<AppState>,
    Path(device): Path<String>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, _) = me(&state, &caller)?;
    let scope = mfa::Scope::User(&user.id);
    let r = ceremony(&state, &headers, scope, mfa::Purpose::Remove(device)).await?;
    Ok(Json(serde_json::to_value(r).unwrap_or_default()))
}

/// The assertion removes authenticator `deviceId`.
async fn webauthn_disable_verify(
    caller: Caller,
    State(state): State<AppState>,
    Path(device): Path<String>,
    ApiJson(req): ApiJson<WebAuthnBody>,
) -> Result<StatusCode, ApiError> {
    let (user, keep) = me(&state, &caller)?;
    finish_ceremony(
        &state,
        mfa::Scope::User(&user.id),
        &req.webauthn_token,
        &req.options,
        None,
        Some(&device),
    )
    .await?;
    end_others(&state, &user, keep).await?;
    Ok(StatusCode::OK)
}

/// Environment token: remove every factor of the user, in every account, with its
/// remembered devices and recovery code; the user's sessions end.
async fn unenroll(
    caller: Caller,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    let user = crate::model::user::get(&state.db, &user_id)?;
    mfa::unenroll(&state.db, &user.id).await?;
    end_others(&state, &user, None).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersMfaControllerV1_enrollAuthAppMfa", enrol_app)
        .add("UsersMfaControllerV1_enrollAuthenticatorMfa", enrol_app)
        .add(
            "UsersMfaControllerV1_verifyAuthAppMfaEnrollment",
            enrol_app_verify,
        )
        .add(
            "UsersMfaControllerV1_verifyAuthenticatorMfaEnrollment",
            enrol_app_verify,
        )
        .add("UsersMfaControllerV1_disableAuthAppMfa", disable_app)
        .add(
            "UsersMfaControllerV1_disableAuthenticatorMfa",
            disable_app_device,
        )
        .add("UsersMfaControllerV1_preEnrollSmsMfa", sms_enrol)
        .add("UsersMfaControllerV1_enrollSmsMfa", sms_enrol_verify)
        .add("UsersMfaControllerV1_preDisableSMSMfa", sms_disable)
        .add("UsersMfaControllerV1_disableSMSMfa", sms_disable_verify)
        .add("VendorOnlyUsers_MFAUnenroll", unenroll)
        .add_extra("/resources/users/v1/mfa/devices", get(devices))
        .add_extra(
            "/resources/users/v1/mfa/webauthn/enroll",
            post(webauthn_enrol),
        )
        .add_extra(
            "/resources/users/v1/mfa/webauthn/enroll/verify",
            post(webauthn_enrol_verify),
        )
        .add_extra(
            "/resources/users/v1/mfa/webauthn/{deviceId}/disable",
            post(webauthn_disable),
        )
        .add_extra(
            "/resources/users/v1/mfa/webauthn/{deviceId}/disable/verify",
            post(webauthn_disable_verify),
        )
}
