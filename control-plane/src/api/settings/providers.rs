//! The environment's mail and SMS providers (tags Email Configuration, SMS Configuration;
//! `compat-wave2.md` §9.2, §10.1): Terraform's provider POSTs `{"payload": …}` to create
//! and update, reads the secret back (so it is returned to the environment token), and
//! deletes before switching provider. Environment token only. The rules live in
//! `model::provider`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::provider::{
    self, MailConfig, MailProvider, MailRequest, ProviderError, SmsRequest,
};

/// `{extensionName, extensionValue}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Extension {
    extension_name: &'static str,
    extension_value: String,
}

/// `GetMailConfigResponseDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MailReply {
    provider: MailProvider,
    secret: String,
    created_at: String,
    updated_at: String,
    extension: Vec<Extension>,
}

fn mail_reply(state: &AppState, c: MailConfig) -> Result<MailReply, ApiError> {
    let secret = provider::mail_secret(&state.db, &c)?;
    let mut extension = Vec::new();
    for (name, v) in [("id", &c.id), ("region", &c.region), ("domain", &c.domain)] {
        if let Some(v) = v {
            extension.push(Extension {
                extension_name: name,
                extension_value: v.clone(),
            });
        }
    }
    Ok(MailReply {
        provider: c.provider,
        secret,
        created_at: c.created_at,
        updated_at: c.updated_at,
        extension,
    })
}

#[derive(Clone, Deserialize)]
pub(super) struct V2Request {
    payload: MailRequest,
}

/// Environment token: set the mail provider (`{"payload": {provider, secret, …}}`).
pub(super) async fn set_v2(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<V2Request>,
) -> Result<(StatusCode, Json<MailReply>), ApiError> {
    caller.require(Perm::Environment)?;
    let c = provider::set_mail(&state.db, &state.clock, req.payload).await?;
    Ok((StatusCode::CREATED, Json(mail_reply(&state, c)?)))
}

#[derive(Clone, Deserialize)]
pub(super) struct V1Request {
    secret: String,
}

/// Environment token (deprecated): set SendGrid with its API key.
pub(super) async fn set_v1(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<V1Request>,
) -> Result<(StatusCode, Json<MailReply>), ApiError> {
    caller.require(Perm::Environment)?;
    let c = provider::set_mail(
        &state.db,
        &state.clock,
        MailRequest {
            provider: MailProvider::Sendgrid,
            secret: req.secret,
            id: None,
            region: None,
            domain: None,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(mail_reply(&state, c)?)))
}

/// Environment token: the mail provider, with its secret (404 when none).
pub(super) async fn get_mail(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<MailReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let c = provider::mail(&state.db)?.ok_or(ProviderError::NotFound)?;
    Ok(Json(mail_reply(&state, c)?))
}

/// Environment token: back to the control plane's own transport (200 whether or not one was
/// set: Terraform deletes before switching).
pub(super) async fn delete_mail(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    provider::delete_mail(&state.db).await?;
    Ok(StatusCode::OK)
}

/// The SMS configuration, without the token.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SmsReply {
    provider: String,
    account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender_name: Option<String>,
    created_at: String,
    updated_at: String,
}

fn sms_reply(c: provider::SmsConfig) -> SmsReply {
    SmsReply {
        provider: c.provider,
        account_id: c.account_id,
        service_id: c.service_id,
        sender_name: c.sender_name,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

/// Environment token: set Twilio (account SID, auth token, service or sender).
pub(super) async fn set_sms(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SmsRequest>,
) -> Result<(StatusCode, Json<SmsReply>), ApiError> {
    caller.require(Perm::Environment)?;
    let c = provider::set_sms(&state.db, &state.clock, req).await?;
    Ok((StatusCode::CREATED, Json(sms_reply(c))))
}

/// Environment token: the SMS provider, without its token (404 when none).
pub(super) async fn get_sms(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<SmsReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let c = provider::sms(&state.db)?.ok_or(ProviderError::NotFound)?;
    Ok(Json(sms_reply(c)))
}

/// Environment token: back to the outbox.
pub(super) async fn delete_sms(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    provider::delete_sms(&state.db).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("MailConfigController_createOrUpdateMailConfigV2", set_v2)
        .add("MailConfigController_createOrUpdateMailConfig", set_v1)
        .add("MailConfigController_getMailConfig", get_mail)
        .add("MailConfigController_deleteMailConfig", delete_mail)
        .add("VendorSmsController_createSmsVendorConfig", set_sms)
        .add("VendorSmsController_getSmsVendorConfig", get_sms)
        .add("VendorSmsController_deleteSmsVendorConfig", delete_sms)
}
