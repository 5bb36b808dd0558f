//! What API tokens and access tokens share: who a user-token route acts for, expiry input,
//! and the rights a token carries (an account token's roles, or its user's current rights),
//! both from the one rights computation (`model::authz`).

use axum::http::StatusCode;

use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::model::clock::{rfc3339, rfc3339_of};
use crate::model::event::Event;
use crate::store::Record;

pub(super) use crate::model::clock::rfc3339_of as time_of;

/// The user a user-token route acts for: the token's user, or `frontegg-user-id` with an
/// environment token (a member of the account).
pub(super) fn acting_user(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
) -> Result<String, ApiError> {
    match caller {
        Caller::User(u) => Ok(u.user.id.clone()),
        Caller::Env(e) => {
            let id = e.user_id.clone().ok_or_else(|| {
                ApiError::bad_request("frontegg-user-id is required with an environment token")
            })?;
            super::users::load_user(state, &id, Some(tenant))?;
            Ok(id)
        }
    }
}

/// `expiresInMinutes` (whole minutes, 1 to ten years) as a Unix expiry.
pub(super) fn expiry(now: i64, minutes: Option<f64>) -> Result<Option<i64>, ApiError> {
    match minutes {
        None => Ok(None),
        Some(m) if m.fract() == 0.0 && (1.0..=5_256_000.0).contains(&m) => {
            Ok(Some(now + (m as i64) * 60))
        }
        Some(_) => Err(ApiError::bad_request(
            "expiresInMinutes must be a whole number from 1 to 5256000",
        )),
    }
}

/// Delete the token record `id` of type `R` if `owned` accepts it (returning its account,
/// user and the second through which its JWTs were issued, given `now`), recording the event
/// that revokes them at every sidecar (`subject` = `id`).
pub(super) async fn delete_owned<R: Record>(
    state: &AppState,
    id: &str,
    not_found: fn() -> ApiError,
    owned: impl Fn(&R, i64) -> Option<(String, Option<String>, i64)>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.unix();
    state
        .db
        .write(|tx| {
            let (tenant, user, through) = tx
                .get::<R>(id.as_bytes())?
                .and_then(|t| owned(&t, now))
                .ok_or_else(not_found)?;
            tx.delete::<R>(id.as_bytes())?;
            Event::TokenDeleted {
                tenant: &tenant,
                user: user.as_deref(),
                id,
            }
            .record(
                tx,
                &rfc3339_of(through).unwrap_or_else(|| rfc3339(state.clock.now())),
            )?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::OK)
}
