//! Message templates (tags Email Templates, SMS Templates; `compat-wave2.md` §9.3, §10.2):
//! the environment's templates, upserted by type (Terraform's provider POSTs and re-reads),
//! each with an `id`, and the built-in defaults. Environment token only. The rules live in
//! `model::template`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::ListQuery;
use crate::model::template::{
    self, EmailChange, EmailTemplate, EmailType, SmsChange, SmsTemplate, SmsType, TemplateError,
};

/// `GetTemplateResponseDto` with its `id` (the spec lacks it; deleting needs it).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EmailDto {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    html_template: String,
    sender_email: String,
    #[serde(rename = "redirectURL")]
    redirect_url: String,
    #[serde(rename = "redirectURLPattern", skip_serializing_if = "Option::is_none")]
    redirect_url_pattern: Option<String>,
    success_redirect_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    success_redirect_url_pattern: Option<String>,
    subject: String,
    from_name: String,
    active: bool,
}

fn email_dto(t: EmailTemplate) -> EmailDto {
    EmailDto {
        id: t.id,
        kind: t.kind.name(),
        html_template: t.html_template,
        sender_email: t.sender_email.unwrap_or_default(),
        redirect_url: t.redirect_url.unwrap_or_default(),
        redirect_url_pattern: t.redirect_url_pattern,
        success_redirect_url: t.success_redirect_url.unwrap_or_default(),
        success_redirect_url_pattern: t.success_redirect_url_pattern,
        subject: t.subject,
        from_name: t.from_name.unwrap_or_default(),
        active: t.active,
    }
}

fn email_type(s: &str) -> Result<EmailType, ApiError> {
    EmailType::parse(s).ok_or_else(|| TemplateError::UnknownType(s.to_owned()).into())
}

fn sms_type(s: &str) -> Result<SmsType, ApiError> {
    SmsType::parse(s).ok_or_else(|| TemplateError::UnknownType(s.to_owned()).into())
}

/// Environment token: the stored templates (`?type=` one type's).
pub(super) async fn list_email(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Vec<EmailDto>>, ApiError> {
    caller.require(Perm::Environment)?;
    let only = q.get("type").map(email_type).transpose()?;
    Ok(Json(
        template::emails(&state.db)?
            .into_iter()
            .filter(|t| only.is_none_or(|o| o == t.kind))
            .map(email_dto)
            .collect(),
    ))
}

#[derive(Clone, Deserialize)]
pub(super) struct EmailUpsert {
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    change: EmailChange,
}

/// Environment token: create or update the template of a type.
pub(super) async fn upsert_email(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EmailUpsert>,
) -> Result<(StatusCode, Json<EmailDto>), ApiError> {
    caller.require(Perm::Environment)?;
    let t = email_type(&req.kind)?;
    let saved = template::save_email(&state.db, &state.clock, t, req.change).await?;
    Ok((StatusCode::CREATED, Json(email_dto(saved))))
}

/// Environment token: delete a stored template by id (its type sends the default again).
pub(super) async fn delete_email(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    template::delete_email(&state.db, &id).await?;
    Ok(StatusCode::OK)
}

/// Environment token: the built-in default of a type (404 for a type Tessera never sends).
pub(super) async fn default_email(
    caller: Caller,
    State(state): State<AppState>,
    Path(kind): Path<String>,
) -> Result<Json<EmailDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let _ = &state;
    let t = email_type(&kind)?;
    let d = template::email_as_default(t).ok_or(TemplateError::NotFound)?;
    Ok(Json(email_dto(d)))
}

/// An SMS template.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SmsDto {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender_name: Option<String>,
    active: bool,
    is_default: bool,
}

fn sms_dto(t: SmsTemplate) -> SmsDto {
    SmsDto {
        is_default: t.id.is_empty(),
        id: t.id,
        kind: t.kind.name(),
        message: t.message,
        sender_name: t.sender_name,
        active: t.active,
    }
}

/// `{items}` (the spec's reply is an object).
#[derive(Serialize)]
pub(super) struct SmsList {
    items: Vec<SmsDto>,
}

/// Environment token: every SMS type's template in force (stored, else the default).
pub(super) async fn list_sms(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<SmsList>, ApiError> {
    caller.require(Perm::Environment)?;
    let stored = template::smses(&state.db)?;
    Ok(Json(SmsList {
        items: SmsType::ALL
            .iter()
            .map(|t| {
                stored
                    .iter()
                    .find(|s| s.kind == *t)
                    .cloned()
                    .unwrap_or_else(|| template::sms_as_default(*t))
            })
            .map(sms_dto)
            .collect(),
    }))
}

/// Environment token: every SMS type's default.
pub(super) async fn sms_defaults(caller: Caller) -> Result<Json<SmsList>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(SmsList {
        items: SmsType::ALL
            .iter()
            .map(|t| sms_dto(template::sms_as_default(*t)))
            .collect(),
    }))
}

/// Environment token: one type's template in force.
pub(super) async fn get_sms(
    caller: Caller,
    State(state): State<AppState>,
    Path(kind): Path<String>,
) -> Result<Json<SmsDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let t = sms_type(&kind)?;
    let tpl = template::sms(&state.db, t)?.unwrap_or_else(|| template::sms_as_default(t));
    Ok(Json(sms_dto(tpl)))
}

/// Environment token: create or update one type's template.
pub(super) async fn upsert_sms(
    caller: Caller,
    State(state): State<AppState>,
    Path(kind): Path<String>,
    ApiJson(change): ApiJson<SmsChange>,
) -> Result<(StatusCode, Json<SmsDto>), ApiError> {
    caller.require(Perm::Environment)?;
    let t = sms_type(&kind)?;
    let saved = template::save_sms(&state.db, &state.clock, t, change).await?;
    Ok((StatusCode::CREATED, Json(sms_dto(saved))))
}

/// Environment token: back to the default (404 when nothing was stored).
pub(super) async fn delete_sms(
    caller: Caller,
    State(state): State<AppState>,
    Path(kind): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    let t = sms_type(&kind)?;
    if !template::delete_sms(&state.db, t).await? {
        return Err(TemplateError::NotFound.into());
    }
    Ok(StatusCode::OK)
}

/// Environment token: one type's default.
pub(super) async fn default_sms(
    caller: Caller,
    Path(kind): Path<String>,
) -> Result<Json<SmsDto>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(sms_dto(template::sms_as_default(sms_type(&kind)?))))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("MailV1Controller_getTemplateConfiguration", list_email)
        .add("MailV1Controller_addOrUpdateTemplate", upsert_email)
        .add("MailV1Controller_deleteTemplate", delete_email)
        .add(
            "MailV1Controller_getDefaultTemplateConfiguration",
            default_email,
        )
        .add("VendorSmsController_getAllSmsTemplates", list_sms)
        .add(
            "VendorSmsController_getAllSmsDefaultTemplates",
            sms_defaults,
        )
        .add("VendorSmsController_getSmsTemplate", get_sms)
        .add("VendorSmsController_createSmsTemplate", upsert_sms)
        .add("VendorSmsController_deleteSmsTemplate", delete_sms)
        .add("VendorSmsController_getSmsDefaultTemplate", default_sms)
}
