//! Sessions (tags Sessions Configuration, Sessions Management, User Sessions): the session
//! limits of an account or of the environment, and users listing and revoking their own
//! sessions. Limits are enforced at login (concurrency) and refresh (idle, absolute).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use super::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::model::clock::rfc3339;
use crate::model::session::{self, Session, UserSessions};

pub(super) fn ops() -> Ops {
    Ops::default()
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
    crate::model::clock::rfc3339_of(secs).unwrap_or_default()
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
