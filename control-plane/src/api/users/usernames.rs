//! Usernames (tag User Management, `compat-wave2.md` §11.1): the portal reads them as
//! `{items}` for the users table and by prefix for search; a user sets and removes its own.
//! A username is the handle of username login: unique regardless of case (the `Usernames`
//! index), lower-cased, at most 128 of `a-z 0-9 ^ $ . ! - # + ' ~ _`.

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
use crate::model::user::{self, User, UserError};

/// `{userId, username}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UsernameDto {
    user_id: String,
    username: String,
}

fn dto(u: &User) -> Option<UsernameDto> {
    u.username.as_ref().map(|n| UsernameDto {
        user_id: u.id.clone(),
        username: n.clone(),
    })
}

/// A username as the spec allows it, lower-cased.
fn checked(name: &str) -> Result<String, ApiError> {
    let n = name.trim().to_ascii_lowercase();
    let ok = !n.is_empty()
        && n.len() <= 128
        && n.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(
                    b,
                    b'^' | b'$' | b'.' | b'!' | b'-' | b'#' | b'+' | b'\'' | b'~' | b'_'
                )
        });
    if ok {
        Ok(n)
    } else {
        Err(ApiError::bad_request(
            "username must be 1-128 characters of a-z, 0-9 and ^ $ . ! - # + ' ~ _",
        ))
    }
}

/// `fe.secure.read.users`: usernames of the caller's account's users, by `userIds` or by
/// `_usernamePrefix` (every user's with an environment token and no account header).
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<UsernameDto>>, ApiError> {
    caller.require(Perm::ReadUsers)?;
    let page = q.page(200)?;
    let scope = caller.tenant_opt();
    let users = super::dto::looked_up(&state, scope.as_deref(), &q.all("userIds"))?;
    let prefix = q.get("_usernamePrefix").map(str::to_ascii_lowercase);
    let mut items: Vec<UsernameDto> = users
        .iter()
        .filter_map(dto)
        .filter(|d| prefix.as_deref().is_none_or(|p| d.username.starts_with(p)))
        .collect();
    items.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(Json(page.apply(items)))
}

/// The caller's own username (404 without one).
pub(super) async fn mine(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<UsernameDto>, ApiError> {
    let (u, _) = caller.me(&state)?;
    Ok(Json(dto(&u).ok_or(UserError::Missing("username"))?))
}

#[derive(Clone, Deserialize)]
pub(super) struct SetRequest {
    username: String,
}

/// Set the caller's username (replacing its previous one); another user's is 409.
pub(super) async fn set(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SetRequest>,
) -> Result<Json<UsernameDto>, ApiError> {
    let (me, _) = caller.me(&state)?;
    let name = checked(&req.username)?;
    let u = state
        .db
        .write(|tx| {
            let mut u = tx
                .get::<User>(me.id.as_bytes())?
                .ok_or(UserError::NotFound)?;
            if user::username_owner(tx, &name)?.is_some_and(|o| o != u.id) {
                return Err(UserError::UsernameTaken);
            }
            u.username = Some(name.clone());
            tx.put(&u)?;
            Ok(u)
        })
        .await?;
    Ok(Json(dto(&u).ok_or(UserError::Missing("username"))?))
}

/// Remove a username: the caller's own; any user's with an environment token.
pub(super) async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let owner = user::by_username(&state.db, &name)?.ok_or(UserError::Missing("username"))?;
    let allowed = match &caller {
        Caller::Env(_) => true,
        Caller::User(u) => u.user.id == owner.id,
    };
    if !allowed {
        return Err(UserError::Missing("username").into());
    }
    let id = owner.id.clone();
    state
        .db
        .write(|tx| {
            let mut u = tx.get::<User>(id.as_bytes())?.ok_or(UserError::NotFound)?;
            if u.email_norm.is_empty() {
                return Err(UserError::Invalid(
                    "a user without an email keeps its username (its only login)".into(),
                ));
            }
            if u.username
                .as_deref()
                .is_some_and(|n| user::username_key(n) == user::username_key(&name))
            {
                u.username = None;
                tx.put(&u)?;
            }
            Ok::<_, UserError>(())
        })
        .await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsernamesControllerV1_getUsersUsernames", list)
        .add("UsernamesControllerV1_getMeUsernames", mine)
        .add("UsernamesControllerV1_createUsername", set)
        .add("UsernamesControllerV1_deleteUsername", remove)
}
