//! Temporary users and bulk invitations (tags User Management, Users; `compat-wave2.md`
//! §11.4–§11.5). A temporary user has an end: past it the user cannot log in, refresh or
//! call anything, and its tokens never outlive it (their `exp` is capped at the end, so
//! sidecars stop them by themselves; moving the end earlier also voids the tokens issued
//! before). Bulk invitations run each user through the one invitation path and keep a
//! per-user report to read back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::clock::rfc3339_of;
use crate::model::identity_settings;
use crate::model::user::change::{self, BulkInviteTask, BulkResult, NewUser};
use crate::model::user::{Loss, UserError};

/// `{enabled}`.
#[derive(Serialize)]
pub(super) struct ConfigReply {
    enabled: bool,
}

/// Any token (the portal reads it with the user's).
pub(super) async fn configuration(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<ConfigReply>, ApiError> {
    Ok(Json(ConfigReply {
        enabled: identity_settings::current(&state.db)?.temporary_users_enabled,
    }))
}

#[derive(Clone, Deserialize)]
pub(super) struct ConfigChange {
    enabled: bool,
}

/// Environment token: allow temporary users (existing ones keep their end).
pub(super) async fn set_configuration(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ConfigChange>,
) -> Result<Json<ConfigReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let s =
        identity_settings::update(&state.db, |s| s.temporary_users_enabled = req.enabled).await?;
    Ok(Json(ConfigReply {
        enabled: s.temporary_users_enabled,
    }))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EditRequest {
    expiration_in_seconds: f64,
}

/// `{expirationInSeconds, temporaryExpirationDate}` (the portal reads the date).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EditReply {
    expiration_in_seconds: i64,
    temporary_expiration_date: String,
}

/// Longest a temporary user may be given (ten years).
const MAX_SECONDS: f64 = 315_360_000.0;

/// `fe.secure.write.users`: make a user of the account temporary, ending
/// `expirationInSeconds` (≥ 300) from now.
pub(super) async fn edit(
    caller: Caller,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<EditRequest>,
) -> Result<(StatusCode, Json<EditReply>), ApiError> {
    caller.require(Perm::WriteUsers)?;
    if !identity_settings::current(&state.db)?.temporary_users_enabled {
        return Err(ApiError::bad_request("Temporary users are not enabled"));
    }
    let secs = req.expiration_in_seconds;
    if secs.fract() != 0.0 || !(300.0..=MAX_SECONDS).contains(&secs) {
        return Err(ApiError::bad_request(
            "expirationInSeconds must be a whole number of seconds, at least 300",
        ));
    }
    let secs = secs as i64;
    let end = state.clock.unix() + secs;
    let tenant = caller.tenant_opt();
    change::update(&state.db, &state.clock, &user_id, tenant.as_deref(), |u| {
        let earlier = u.expires_at.is_none_or(|old| end < old);
        u.expires_at = Some(end);
        Ok(earlier.then_some(Loss::Expiry))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(EditReply {
            expiration_in_seconds: secs,
            temporary_expiration_date: rfc3339_of(end).unwrap_or_default(),
        }),
    ))
}

/// `fe.secure.write.users`: make a temporary user permanent.
pub(super) async fn make_permanent(
    caller: Caller,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::WriteUsers)?;
    let tenant = caller.tenant_opt();
    change::update(&state.db, &state.clock, &user_id, tenant.as_deref(), |u| {
        u.expires_at = None;
        Ok(None)
    })
    .await?;
    Ok(StatusCode::OK)
}

#[derive(Clone, Deserialize)]
pub(super) struct BulkRequest {
    users: Vec<NewUser>,
}

/// Users one bulk invitation may carry.
const MAX_BULK: usize = 1000;

/// `fe.secure.write.users` with the account: invite every user (each as `users/v1` would),
/// 202 with the task id; the status route reports each user's outcome.
pub(super) async fn bulk_invite(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<BulkRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let tenant = caller.account(&state, Perm::WriteUsers)?;
    if req.users.is_empty() || req.users.len() > MAX_BULK {
        return Err(ApiError::bad_request(format!(
            "users must hold 1 to {MAX_BULK} users"
        )));
    }
    let mut results = Vec::with_capacity(req.users.len());
    for new in &req.users {
        let r = super::manage::invite(&state, &caller, &tenant, new, false).await;
        results.push(match r {
            Ok(u) => BulkResult::ok(&new.email, u.id),
            Err(e) => BulkResult::failed(&new.email, e.message()),
        });
    }
    let task = change::record_bulk_invite(&state.db, tenant, results).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({"id": task.id, "status": task.status})),
    ))
}

/// `fe.secure.read.users` in the task's account (or the environment): a bulk invitation's
/// report.
pub(super) async fn bulk_status(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BulkInviteTask>, ApiError> {
    caller.require(Perm::ReadUsers)?;
    let task = change::bulk_invite(&state.db, &id)?
        .filter(|t| caller.tenant_opt().is_none_or(|c| c == t.tenant_id))
        .ok_or(UserError::Missing("task"))?;
    Ok(Json(task))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("TemporaryUsersV1Controller_getConfiguration", configuration)
        .add(
            "TemporaryUsersV1Controller_updateConfiguration",
            set_configuration,
        )
        .add("TemporaryUsersV1Controller_editTimeLimit", edit)
        .add(
            "TemporaryUsersV1Controller_setUserPermanent",
            make_permanent,
        )
        .add("UsersBulkControllerV1_bulkInviteUsers", bulk_invite)
        .add("UsersBulkControllerV1_getBulkInviteStatus", bulk_status)
}
