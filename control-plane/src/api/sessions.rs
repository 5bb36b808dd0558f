//! Sessions (tags Sessions Configuration, Sessions Management, User Sessions): the session
//! limits of an account or of the environment, and users listing and revoking their own
//! sessions. Limits are enforced at login (concurrency) and refresh (idle, absolute).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::Ops;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::session::{
    self, ConcurrentToggle, Session, SessionPolicy, StoredSessionPolicy, Toggle, UserSessions,
};
use crate::state::AppState;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "SessionConfigurationControllerV1_getSessionConfiguration",
            get_policy,
        )
        .add(
            "SessionConfigurationControllerV1_createSessionConfiguration",
            set_policy,
        )
        .add(
            "SessionConfigurationControllerV1_getVendorSessionConfiguration",
            get_vendor_policy,
        )
        .add(
            "UserSessionsControllerV1_getActiveSessions",
            list_my_sessions,
        )
        .add(
            "UserSessionsControllerV1_deleteAllUserActiveSessions",
            revoke_my_other_sessions,
        )
        .add(
            "UserSessionsControllerV1_deleteUserSession",
            revoke_my_session,
        )
}

/// `fe.secure.read.securityPolicy`: the limits in force for the account (its own, else the
/// environment default); environment tokens without `frontegg-tenant-id` read the default.
async fn get_policy(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<SessionPolicy>, ApiError> {
    caller.require(Perm::ReadSecurityPolicy)?;
    Ok(Json(match caller.tenant_opt() {
        Some(t) => session::effective_policy(&state.db, &t)?,
        None => vendor_default(&state)?,
    }))
}

fn vendor_default(state: &AppState) -> Result<SessionPolicy, ApiError> {
    Ok(state
        .db
        .get::<StoredSessionPolicy>(&session::policy_key(None))?
        .map(|p| p.policy)
        .unwrap_or_default())
}

/// Environment token: the environment's default limits.
async fn get_vendor_policy(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<SessionPolicy>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(vendor_default(&state)?))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyRequest {
    session_idle_timeout_configuration: Option<Toggle<i64>>,
    session_timeout_configuration: Option<Toggle<i64>>,
    session_concurrent_configuration: Option<ConcurrentRequest>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConcurrentRequest {
    is_active: bool,
    max_sessions: i64,
}

fn seconds(
    field: &str,
    t: Toggle<i64>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Toggle<u32>, ApiError> {
    if !range.contains(&t.timeout) {
        return Err(ApiError::bad_request(format!(
            "{field}.timeout must be between {} and {} seconds",
            range.start(),
            range.end()
        )));
    }
    Ok(Toggle {
        is_active: t.is_active,
        timeout: u32::try_from(t.timeout).unwrap_or(u32::MAX),
    })
}

/// `fe.secure.write.securityPolicy`: set the limits of the account (with
/// `frontegg-tenant-id` or a user token) or the environment default. Given parts replace
/// the stored ones.
async fn set_policy(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PolicyRequest>,
) -> Result<(StatusCode, Json<SessionPolicy>), ApiError> {
    caller.require(Perm::WriteSecurityPolicy)?;
    let tenant = caller.tenant_opt();
    if let Some(t) = &tenant {
        super::users::require_tenant_exists(&state, t)?;
    }
    let idle = req
        .session_idle_timeout_configuration
        .map(|t| seconds("sessionIdleTimeoutConfiguration", t, 60..=2_073_600))
        .transpose()?;
    let absolute = req
        .session_timeout_configuration
        .map(|t| seconds("sessionTimeoutConfiguration", t, 60..=i64::from(u32::MAX)))
        .transpose()?;
    let concurrent = req
        .session_concurrent_configuration
        .map(|c| {
            u32::try_from(c.max_sessions)
                .ok()
                .filter(|m| (1..=10_000).contains(m))
                .map(|m| ConcurrentToggle {
                    is_active: c.is_active,
                    max_sessions: m,
                })
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "sessionConcurrentConfiguration.maxSessions must be 1 to 10000",
                    )
                })
        })
        .transpose()?;
    let key = session::policy_key(tenant.as_deref());
    let saved = state
        .db
        .write(|tx| {
            let mut p = tx
                .get::<StoredSessionPolicy>(&key)?
                .map(|p| p.policy)
                .unwrap_or_default();
            if let Some(v) = idle {
                p.session_idle_timeout_configuration = v;
            }
            if let Some(v) = absolute {
                p.session_timeout_configuration = v;
            }
            if let Some(v) = concurrent {
                p.session_concurrent_configuration = v;
            }
            tx.put(&StoredSessionPolicy {
                tenant_id: tenant.clone(),
                policy: p,
            })?;
            Ok::<_, ApiError>(p)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionResponse {
    id: String,
    user_agent: Option<String>,
    ip_address: Option<String>,
    created_at: String,
    updated_at: String,
    current: bool,
}

fn time_of(secs: i64) -> String {
    crate::clock::rfc3339_of(secs).unwrap_or_default()
}

/// The calling user and its current session (user tokens; environment tokens with
/// `frontegg-user-id`).
fn me(caller: &Caller) -> Result<(String, Option<String>), ApiError> {
    match caller {
        Caller::User(u) => Ok((u.user.id.clone(), u.session_id.clone())),
        Caller::Env(e) => e.user_id.clone().map(|id| (id, None)).ok_or_else(|| {
            ApiError::bad_request("frontegg-user-id is required with an environment token")
        }),
    }
}

fn my_sessions(state: &AppState, user_id: &str) -> Result<Vec<Session>, ApiError> {
    let ids = state
        .db
        .get::<UserSessions>(user_id.as_bytes())?
        .map(|i| i.session_ids)
        .unwrap_or_default();
    let now = state.clock.unix();
    let mut out = Vec::new();
    for id in ids {
        if let Some(s) = state
            .db
            .get::<Session>(id.as_bytes())?
            .filter(|s| s.expires_at > now)
        {
            out.push(s);
        }
    }
    Ok(out)
}

/// User token: the caller's live sessions, the current one marked.
async fn list_my_sessions(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<SessionResponse>>, ApiError> {
    let (user, current) = me(&caller)?;
    Ok(Json(
        my_sessions(&state, &user)?
            .into_iter()
            .map(|s| SessionResponse {
                current: current.as_deref() == Some(s.id.as_str()),
                id: s.id,
                user_agent: s.user_agent,
                ip_address: s.ip,
                created_at: time_of(s.created_at),
                updated_at: time_of(s.last_used_at),
            })
            .collect(),
    ))
}

async fn revoke_where(
    state: &AppState,
    user: &str,
    keep: impl Fn(&Session) -> bool,
) -> Result<usize, ApiError> {
    let doomed: Vec<Session> = my_sessions(state, user)?
        .into_iter()
        .filter(|s| !keep(s))
        .collect();
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            for s in &doomed {
                if let Some(cur) = tx.get::<Session>(s.id.as_bytes())? {
                    session::revoke(tx, &cur, &at)?;
                }
            }
            Ok::<_, ApiError>(doomed.len())
        })
        .await
}

/// User token: end every other session of the caller (the current one stays).
async fn revoke_my_other_sessions(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    let (user, current) = me(&caller)?;
    revoke_where(&state, &user, |s| current.as_deref() == Some(s.id.as_str())).await?;
    Ok(StatusCode::OK)
}

/// User token: end one of the caller's sessions (404 for anyone else's).
async fn revoke_my_session(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (user, _) = me(&caller)?;
    if !my_sessions(&state, &user)?.iter().any(|s| s.id == id) {
        return Err(ApiError::not_found("Session not found"));
    }
    revoke_where(&state, &user, |s| s.id != id).await?;
    Ok(StatusCode::OK)
}
