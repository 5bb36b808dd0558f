//! Password logins through user pools (`model::user_source`): an address with no local
//! password is offered, in `index` order, to the Auth0, Cognito and Firebase pools that
//! serve the login's application; the first that accepts the password decides who signed
//! in (found or created by `model::social::resolve`). With `isMigrated` the password then
//! becomes the user's own, hashed with argon2id, and the pool is not asked again.

use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::http::AppState;
use crate::model::social;
use crate::model::user::User;
use crate::model::user_source::{self, Kind, Source};
use crate::upstream::{self, UpstreamError};

/// Ask the pool `s` whether `password` is `email`'s there.
async fn ask(
    state: &AppState,
    s: &Source,
    email: &str,
    password: &str,
) -> Result<Option<social::Profile>, ApiError> {
    let c = user_source::configuration(&state.db, s)?;
    let field = |f: &str| {
        c.get(f)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let http = &state.upstream;
    let e = &state.endpoints;
    let answer = match s.kind {
        Kind::Auth0 => {
            let domain = field("domain");
            let base = e.auth0.replace("{domain}", &domain);
            let a = upstream::auth0::Auth0 {
                base: &base,
                domain: &domain,
                client_id: &field("clientId"),
                secret: &field("secret"),
            };
            upstream::auth0::password_login(http, &a, email, password).await
        }
        Kind::Cognito => {
            let base = e.cognito.replace("{region}", &field("region"));
            let secret = field("clientSecret");
            let c = upstream::cognito::Cognito {
                base: &base,
                client_id: &field("clientId"),
                client_secret: (!secret.is_empty()).then_some(secret.as_str()),
            };
            upstream::cognito::password_login(http, &c, email, password).await
        }
        Kind::Firebase => {
            let f = upstream::firebase::Firebase {
                base: &e.firebase,
                api_key: &field("apiKey"),
            };
            upstream::firebase::password_login(http, &f, email, password).await
        }
        Kind::Federation | Kind::CustomCode => Ok(None),
    };
    match answer {
        Ok(p) => Ok(p),
        // A pool that refuses our own credentials or fails is skipped (and logged): the
        // next may know the person.
        Err(UpstreamError::Refused(m) | UpstreamError::Unavailable(m)) => {
            tracing::warn!(source.id = %s.id, source.kind = s.kind.name(), reason = %m, "a user pool could not check a password");
            Ok(None)
        }
    }
}

/// The user the pools of this login's application say `email` with `password` is, if one
/// does; `None` when none accepts.
pub(super) async fn password_login(
    state: &AppState,
    headers: &HeaderMap,
    email: &str,
    password: &str,
) -> Result<Option<User>, ApiError> {
    if !user_source::may_ask(password) {
        return Ok(None);
    }
    let app = super::issue::requested_app(headers).unwrap_or(state.env.client_id());
    for s in user_source::for_app(&state.db, app)? {
        let Some(profile) = ask(state, &s, email, password).await? else {
            continue;
        };
        // The pool vouched for this address by accepting its password.
        let profile = social::Profile {
            email: profile.email.clone().or_else(|| Some(email.to_owned())),
            ..profile
        };
        let placement = s.placement_for(&profile.claims)?;
        let (user, created) = social::resolve(
            &state.db,
            &state.clock,
            &format!("source:{}", s.id),
            &profile,
            &placement,
            s.configuration.sync_on_login,
        )
        .await?;
        if created {
            tracing::info!(user.id = %user.id, source.id = %s.id, "user imported from a user pool at first login");
        }
        if s.configuration.is_migrated && user.password_hash.is_none() {
            let user = user_source::adopt_password(
                &state.db,
                &state.clock,
                &state.hasher,
                &user.id,
                password,
            )
            .await?;
            return Ok(Some(user));
        }
        return Ok(Some(user));
    }
    Ok(None)
}
