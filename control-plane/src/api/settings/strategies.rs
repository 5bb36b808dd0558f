//! The first factors the login box may offer, read at boot without credentials (outside the
//! spec: `compat-wave2.md` Appendix A): `configurations/v1/auth/strategies/public` (and the
//! same for a signed-in user), `configurations/v1/sign-up/strategies`.
//!
//! The main strategy is the environment's `authStrategy`; no secondary strategy (passkeys,
//! SMS codes, usernames) is active until the feature exists, and sign-up is by email.

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::model::vendor_config;

/// `IAuthStrategiesConfig`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuthStrategies {
    main_auth_strategies: Vec<Strategy>,
    secondary_auth_strategies: Vec<Secondary>,
}

#[derive(Serialize)]
pub(super) struct Strategy {
    strategy: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Secondary {
    strategy: &'static str,
    is_active: bool,
}

/// No credentials (a stale bearer token is ignored).
pub(super) async fn auth_strategies(
    State(state): State<AppState>,
) -> Result<Json<AuthStrategies>, ApiError> {
    let c = vendor_config::current(&state.db)?;
    Ok(Json(AuthStrategies {
        main_auth_strategies: vec![Strategy {
            strategy: c.auth_strategy,
        }],
        secondary_auth_strategies: Vec::new(),
    }))
}

/// `TSignupStrategy`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SignUpStrategy {
    strategy: &'static str,
    is_active: bool,
    is_required: bool,
}

/// No credentials: sign-up takes an email address (required) while sign-ups are allowed.
pub(super) async fn sign_up_strategies(
    State(state): State<AppState>,
) -> Result<Json<Vec<SignUpStrategy>>, ApiError> {
    let c = vendor_config::current(&state.db)?;
    Ok(Json(vec![
        SignUpStrategy {
            strategy: "email",
            is_active: c.allow_signups,
            is_required: true,
        },
        SignUpStrategy {
            strategy: "phoneNumber",
            is_active: false,
            is_required: false,
        },
        SignUpStrategy {
            strategy: "username",
            is_active: false,
            is_required: false,
        },
    ]))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_extra(
            "/resources/configurations/v1/auth/strategies/public",
            get(auth_strategies),
        )
        .add_extra(
            "/resources/configurations/v1/auth/strategies",
            get(auth_strategies),
        )
        .add_extra(
            "/resources/configurations/v1/sign-up/strategies",
            get(sign_up_strategies),
        )
}
