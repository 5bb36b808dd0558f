//! Lockout policy (tag Lockout Policy): the environment's (environment token without
//! `frontegg-tenant-id`) or an account's (with it, or a user token with
//! `fe.secure.*.securityPolicy`). A policy that was never created answers 404; creating one
//! twice answers 409.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::Ops;
use crate::clock::rfc3339;
use crate::crypto::new_uuid;
use crate::error::ApiError;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::lockout::{LockoutPolicy, policy_key};
use crate::state::AppState;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("LockoutPolicyController_createLockoutPolicy", create_policy)
        .add("LockoutPolicyController_updateLockoutPolicy", update_policy)
        .add("LockoutPolicyController_getLockoutPolicy", get_policy)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyRequest {
    enabled: Option<bool>,
    max_attempts: Option<i64>,
}

fn max_attempts(v: i64) -> Result<u32, ApiError> {
    u32::try_from(v)
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| ApiError::bad_request("maxAttempts must be between 1 and 1000"))
}

use super::users::policy_scope as scope;

fn missing() -> ApiError {
    ApiError::not_found("Lockout policy is not defined")
}

/// `fe.secure.write.securityPolicy`: create the policy (409 if it exists).
async fn create_policy(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PolicyRequest>,
) -> Result<(StatusCode, Json<LockoutPolicy>), ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteSecurityPolicy)?;
    let (Some(enabled), Some(max)) = (req.enabled, req.max_attempts) else {
        return Err(ApiError::bad_request(
            "enabled and maxAttempts are required",
        ));
    };
    let now = rfc3339(state.clock.now());
    let p = LockoutPolicy {
        id: new_uuid().to_string(),
        tenant_id: tenant.clone(),
        enabled,
        max_attempts: max_attempts(max)?,
        created_at: now.clone(),
        updated_at: now,
    };
    state
        .db
        .write(|tx| {
            if tx
                .get::<LockoutPolicy>(&policy_key(tenant.as_deref()))?
                .is_some()
            {
                return Err(ApiError::conflict("Lockout policy already exists"));
            }
            tx.put(&p)?;
            Ok(())
        })
        .await?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// `fe.secure.write.securityPolicy`: change the policy (404 if it was never created).
async fn update_policy(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PolicyRequest>,
) -> Result<Json<LockoutPolicy>, ApiError> {
    let tenant = scope(&state, &caller, Perm::WriteSecurityPolicy)?;
    let max = req.max_attempts.map(max_attempts).transpose()?;
    let now = rfc3339(state.clock.now());
    let saved = state
        .db
        .write(|tx| {
            let mut p = tx
                .get::<LockoutPolicy>(&policy_key(tenant.as_deref()))?
                .ok_or_else(missing)?;
            p.enabled = req.enabled.unwrap_or(p.enabled);
            p.max_attempts = max.unwrap_or(p.max_attempts);
            p.updated_at = now.clone();
            tx.put(&p)?;
            Ok::<_, ApiError>(p)
        })
        .await?;
    Ok(Json(saved))
}

/// `fe.secure.read.securityPolicy`: the policy (404 if it was never created).
async fn get_policy(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<LockoutPolicy>, ApiError> {
    let tenant = scope(&state, &caller, Perm::ReadSecurityPolicy)?;
    state
        .db
        .get::<LockoutPolicy>(&policy_key(tenant.as_deref()))?
        .map(Json)
        .ok_or_else(missing)
}
