//! A user's own sessions (tag User Sessions): listing them, ending the others, ending one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::model::clock::rfc3339_of;
use crate::model::session;

/// `SessionResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionReply {
    id: String,
    user_agent: Option<String>,
    ip_address: Option<String>,
    created_at: String,
    updated_at: String,
    current: bool,
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

/// The caller's live sessions, the current one marked.
pub(super) async fn list_mine(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<SessionReply>>, ApiError> {
    let (user, current) = me(&caller)?;
    Ok(Json(
        session::live_of(&state.db, &user, state.clock.unix())?
            .into_iter()
            .map(|s| reply(s, current.as_deref()))
            .collect(),
    ))
}

fn reply(s: session::Session, current: Option<&str>) -> SessionReply {
    let time_of = |s: i64| rfc3339_of(s).unwrap_or_default();
    SessionReply {
        current: current == Some(s.id.as_str()),
        created_at: time_of(s.created_at),
        updated_at: time_of(s.last_used_at),
        id: s.id,
        user_agent: s.user_agent,
        ip_address: s.ip,
    }
}

/// The session the caller's token belongs to (`users/sessions/v1/me/current`, outside the
/// spec: the portal's sessions page); 404 when the token names no live session.
pub(super) async fn current_mine(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<SessionReply>, ApiError> {
    let (user, current) = me(&caller)?;
    let current = current.ok_or_else(|| ApiError::not_found("this token has no session"))?;
    session::live_of(&state.db, &user, state.clock.unix())?
        .into_iter()
        .find(|s| s.id == current)
        .map(|s| Json(reply(s, Some(&current))))
        .ok_or_else(|| ApiError::not_found("this token's session has ended"))
}

/// End every other session of the caller (the current one stays).
pub(super) async fn end_others(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    let (user, current) = me(&caller)?;
    session::end_where(&state.db, &state.clock, &user, |s| {
        current.as_deref() == Some(s.id.as_str())
    })
    .await?;
    Ok(StatusCode::OK)
}

/// End one of the caller's sessions (404 for anyone else's).
pub(super) async fn end_one(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (user, _) = me(&caller)?;
    if !session::live_of(&state.db, &user, state.clock.unix())?
        .iter()
        .any(|s| s.id == id)
    {
        return Err(ApiError::not_found("Session not found"));
    }
    session::end_where(&state.db, &state.clock, &user, |s| s.id != id).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UserSessionsControllerV1_getActiveSessions", list_mine)
        .add(
            "UserSessionsControllerV1_deleteAllUserActiveSessions",
            end_others,
        )
        .add("UserSessionsControllerV1_deleteUserSession", end_one)
        .add_extra(
            "/resources/users/sessions/v1/me/current",
            axum::routing::get(current_mine),
        )
}
