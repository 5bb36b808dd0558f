//! MFA settings (tags MFA Settings, MFA Configuration; `compat-wave2.md` §6): the MFA
//! policy per account or for the environment (404 until created, 409 on a second create —
//! Terraform retries as PATCH), the environment's policy the portal shows as inherited, the
//! strategies, and the environment's MFA configuration. The rules live in
//! `model::mfa::policy`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::scoped::Routes;
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::mfa::Strategy;
use crate::model::mfa::policy::{self, ConfigChange, MfaConfig, MfaPolicy};
use crate::model::setting::{self, SettingError};

/// `MfaPolicyResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PolicyReply {
    id: String,
    #[serde(rename = "enforceMFAType")]
    enforce_mfa_type: policy::Enforce,
    allow_remember_my_device: bool,
    mfa_device_expiration: u32,
    created_at: String,
    updated_at: String,
}

impl Routes for MfaPolicy {
    const READ: Perm = Perm::ReadSecurityPolicy;
    const WRITE: Perm = Perm::WriteSecurityPolicy;
    const UPSERTED: StatusCode = StatusCode::OK;
    type Reply = PolicyReply;
    fn reply(&self) -> PolicyReply {
        PolicyReply {
            id: self.id.clone(),
            enforce_mfa_type: self.enforce_mfa_type,
            allow_remember_my_device: self.allow_remember_my_device,
            mfa_device_expiration: self.mfa_device_expiration,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// The environment's policy, to users who may read the account's (outside the spec: the
/// portal shows what an account inherits). 404 when the environment has none.
async fn vendor_policy(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<PolicyReply>, ApiError> {
    caller.require(Perm::ReadSecurityPolicy)?;
    let p = setting::own::<MfaPolicy>(&state.db, None)?.ok_or(SettingError::Missing(
        <MfaPolicy as setting::ScopedSetting>::NAME,
    ))?;
    Ok(Json(p.reply()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StrategyReply {
    strategy: Strategy,
    is_active: bool,
}

#[derive(Serialize)]
struct StrategiesReply {
    strategies: Vec<StrategyReply>,
}

fn strategies_of(c: &MfaConfig) -> StrategiesReply {
    StrategiesReply {
        strategies: Strategy::ALL
            .into_iter()
            .map(|s| StrategyReply {
                strategy: s,
                is_active: c.active(s),
            })
            .collect(),
    }
}

/// Any signed-in caller (the portal reads it with a user token): every strategy and
/// whether it is on.
async fn get_strategies(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<StrategiesReply>, ApiError> {
    Ok(Json(strategies_of(&policy::config(&state.db)?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StrategyRequest {
    strategy: Strategy,
    is_active: bool,
}

/// Environment token: turn a strategy on or off.
async fn set_strategy(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<StrategyRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    policy::set_strategy(&state.db, req.strategy, req.is_active).await?;
    Ok(StatusCode::CREATED)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppReply {
    active: bool,
    service_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SmsReply {
    active: bool,
    token_lifetime_seconds: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmailReply {
    active: bool,
    token_lifetime_seconds: u32,
    sender: String,
}

/// `MfaConfigResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfigReply {
    authentication_app: AppReply,
    sms: SmsReply,
    email: EmailReply,
}

fn config_reply(c: MfaConfig) -> ConfigReply {
    ConfigReply {
        authentication_app: AppReply {
            active: c.authenticator,
            service_name: c.service_name,
        },
        sms: SmsReply {
            active: c.sms,
            token_lifetime_seconds: c.sms_ttl,
        },
        email: EmailReply {
            active: c.email,
            token_lifetime_seconds: c.email_ttl,
            sender: c.email_sender,
        },
    }
}

/// Environment token: the MFA configuration.
async fn get_config(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<ConfigReply>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(config_reply(policy::config(&state.db)?)))
}

/// Environment token: change any part of the MFA configuration.
async fn set_config(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(change): ApiJson<ConfigChange>,
) -> Result<(StatusCode, Json<ConfigReply>), ApiError> {
    caller.require(Perm::Environment)?;
    let c = policy::update_config(&state.db, &change).await?;
    Ok((StatusCode::CREATED, Json(config_reply(c))))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "SecurityPolicyController_getSecurityPolicy",
            super::scoped::get_own::<MfaPolicy>,
        )
        .add(
            "SecurityPolicyController_createMfaPolicy",
            super::scoped::create::<MfaPolicy>,
        )
        .add(
            "SecurityPolicyController_updateSecurityPolicy",
            super::scoped::update::<MfaPolicy>,
        )
        .add(
            "SecurityPolicyController_upsertSecurityPolicy",
            super::scoped::upsert::<MfaPolicy>,
        )
        .add("MFAStrategiesControllerV1_getMFAStrategies", get_strategies)
        .add(
            "MFAStrategiesControllerV1_createOrUpdateMFAStrategy",
            set_strategy,
        )
        .add("MfaController_getMfaConfig", get_config)
        .add("MfaController_upsertMfaConfig", set_config)
        .add_extra(
            "/resources/configurations/v1/mfa-policy/vendor",
            get(vendor_policy),
        )
}
