//! A user's addresses (tag User Management, `compat-wave2.md` §11.2–§11.3): the list the
//! portal reads (`{items}` by `userIds` or `_email`), adding, verifying, making primary and
//! removing — by the user and by the environment — the user's own email change with a code
//! sent to the new address, and the environment's user-emails policy (tag User Emails
//! Policy). The rules live in `model::user::emails`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::{ListQuery, Page};
use crate::model::identity_settings;
use crate::model::user::emails::{self, Entry};
use crate::model::user::{User, UserError};

/// `UserEmailResponseDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EmailDto {
    id: String,
    user_id: String,
    email: String,
    verified: bool,
    is_primary: bool,
    created_at: String,
    updated_at: String,
}

fn dto(user_id: &str, e: Entry) -> EmailDto {
    EmailDto {
        id: e.id,
        user_id: user_id.to_owned(),
        email: e.email,
        verified: e.verified,
        is_primary: e.is_primary,
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

fn all_of(u: &User) -> Vec<EmailDto> {
    emails::entries(u)
        .into_iter()
        .map(|e| dto(&u.id, e))
        .collect()
}

/// `fe.secure.read.users`: the addresses of the account's users (`userIds`, or an address
/// search with `_email`); any user's with an environment token and no account header.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<EmailDto>>, ApiError> {
    caller.require(Perm::ReadUsers)?;
    let page = q.page(200)?;
    let scope = caller.tenant_opt();
    let users = super::dto::looked_up(&state, scope.as_deref(), &q.all("userIds"))?;
    let needle = q.get("_email").map(str::to_ascii_lowercase);
    let items: Vec<EmailDto> = users
        .iter()
        .flat_map(all_of)
        .filter(|e| {
            needle
                .as_deref()
                .is_none_or(|n| e.email.to_ascii_lowercase().contains(n))
        })
        .collect();
    Ok(Json(page.apply(items)))
}

/// The caller's own addresses.
pub(super) async fn mine(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<EmailDto>>, ApiError> {
    let (u, _) = caller.me(&state)?;
    Ok(Json(all_of(&u)))
}

#[derive(Clone, Deserialize)]
pub(super) struct EmailRequest {
    email: String,
}

/// Add an address to the caller; a code is mailed to it.
pub(super) async fn add(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EmailRequest>,
) -> Result<Json<EmailDto>, ApiError> {
    let (u, _) = caller.me(&state)?;
    let entry = emails::start_add(&state.db, &state.clock, &u.id, &req.email).await?;
    Ok(Json(dto(&u.id, entry)))
}

#[derive(Clone, Deserialize)]
pub(super) struct VerifyRequest {
    email: String,
    code: String,
}

/// Verify one of the caller's addresses with the mailed code.
pub(super) async fn verify(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<StatusCode, ApiError> {
    let (u, _) = caller.me(&state)?;
    emails::verify(&state.db, &state.clock, &u.id, &req.email, &req.code).await?;
    Ok(StatusCode::OK)
}

/// Make one of the caller's verified addresses its login address; its other sessions end.
pub(super) async fn primary_mine(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EmailRequest>,
) -> Result<StatusCode, ApiError> {
    let (u, sid) = caller.me(&state)?;
    emails::make_primary(&state.db, &state.clock, &u.id, &req.email, sid.as_deref()).await?;
    Ok(StatusCode::OK)
}

/// Remove one of the caller's further addresses; its other sessions end.
pub(super) async fn remove_mine(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (u, sid) = caller.me(&state)?;
    emails::remove(&state.db, &state.clock, &u.id, &id, sid.as_deref()).await?;
    Ok(StatusCode::OK)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VendorAddRequest {
    email: String,
    #[serde(default)]
    is_verified: bool,
}

/// Environment token: add an address to a user.
pub(super) async fn vendor_add(
    caller: Caller,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<VendorAddRequest>,
) -> Result<Json<EmailDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let e = emails::add_by_environment(
        &state.db,
        &state.clock,
        &user_id,
        &req.email,
        req.is_verified,
    )
    .await?;
    Ok(Json(dto(&user_id, e)))
}

/// Environment token: make a verified address a user's login address (its sessions end).
pub(super) async fn vendor_primary(
    caller: Caller,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<EmailRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    emails::make_primary(&state.db, &state.clock, &user_id, &req.email, None).await?;
    Ok(StatusCode::OK)
}

/// Environment token: remove a user's further address (its sessions end).
pub(super) async fn vendor_remove(
    caller: Caller,
    State(state): State<AppState>,
    Path((user_id, email_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    emails::remove(&state.db, &state.clock, &user_id, &email_id, None).await?;
    Ok(StatusCode::OK)
}

/// Ask to change the caller's own email (when the policy allows): a code is mailed to the
/// new address; the same reply whoever holds it.
pub(super) async fn change(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EmailRequest>,
) -> Result<StatusCode, ApiError> {
    let (u, _) = caller.me(&state)?;
    if !identity_settings::current(&state.db)?.email_change_allowed() {
        return Err(UserError::Forbidden("Email change is disabled").into());
    }
    let norm = crate::model::email::normalize(&req.email)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let tenants = u.tenant_ids();
    let tenants: Vec<&str> = tenants.iter().map(String::as_str).collect();
    crate::http::guard::check_email(&state, &tenants, &norm)?;
    emails::start_change(&state.db, &state.clock, &u.id, &req.email).await?;
    Ok(StatusCode::OK)
}

/// Change the caller's email with the mailed code; the old address is told, the caller's
/// other sessions end (its next refresh carries the new address).
pub(super) async fn change_verify(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<StatusCode, ApiError> {
    let (u, sid) = caller.me(&state)?;
    if !identity_settings::current(&state.db)?.email_change_allowed() {
        return Err(UserError::Forbidden("Email change is disabled").into());
    }
    emails::finish_change(
        &state.db,
        &state.clock,
        &u.id,
        &req.email,
        &req.code,
        sid.as_deref(),
    )
    .await?;
    Ok(StatusCode::OK)
}

/// `{allowEmailChange}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PolicyReply {
    allow_email_change: bool,
}

/// Any token (the portal reads it with the user's).
pub(super) async fn policy(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<PolicyReply>, ApiError> {
    Ok(Json(PolicyReply {
        allow_email_change: identity_settings::current(&state.db)?.email_change_allowed(),
    }))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PolicyChange {
    allow_email_change: Option<bool>,
}

/// Environment token: whether users may change their own email.
pub(super) async fn set_policy(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PolicyChange>,
) -> Result<Json<PolicyReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let s = identity_settings::update(&state.db, |s| {
        if let Some(v) = req.allow_email_change {
            s.allow_email_change = Some(v);
        }
    })
    .await?;
    Ok(Json(PolicyReply {
        allow_email_change: s.email_change_allowed(),
    }))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UserEmailsControllerV1_getAllEmails", list)
        .add("UserEmailsControllerV1_getUserOwnEmails", mine)
        .add("UserEmailsControllerV1_createUserEmail", add)
        .add("UserEmailsControllerV1_verifyUserEmail", verify)
        .add("UserEmailsControllerV1_markEmailAsPrimaryMe", primary_mine)
        .add("UserEmailsControllerV1_deleteUserEmail", remove_mine)
        .add(
            "UserEmailsControllerV1_createUserEmailForVendor",
            vendor_add,
        )
        .add("UserEmailsControllerV1_markEmailAsPrimary", vendor_primary)
        .add(
            "UserEmailsControllerV1_deleteUserEmailForVendor",
            vendor_remove,
        )
        .add("SelfEmailUpdateControllerV1_updateEmailMe", change)
        .add("SelfEmailUpdateControllerV1_verifyEmailMe", change_verify)
        .add("UserEmailsPolicyControllerV1_getUserEmailsPolicy", policy)
        .add(
            "UserEmailsPolicyControllerV1_createOrUpdateUserEmailsPolicy",
            set_policy,
        )
}
