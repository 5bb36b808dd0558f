//! Password settings (tag Password Settings): the complexity policy (and its public read for
//! login pages), the history policy and expiration ("rotation"). Every path that sets a
//! password enforces them through `model::password_policy`.

use crate::http::page::Params;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::scoped::Routes;
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::Perm;
use crate::model::password_policy::{
    self, HistoryPolicy, OptionalTests, PasswordPolicy, RequiredTests, RotationPolicy,
    StoredPasswordPolicy,
};

/// `PasswordConfigResponse`'s tests that a password must pass `minOptionalTestsToPass` of.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OptionalTestsReply {
    require_lowercase: bool,
    require_uppercase: bool,
    require_numbers: bool,
    require_special_chars: bool,
}

/// The tests every password passes.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RequiredTestsReply {
    check_three_repeated_chars: bool,
}

/// `PasswordConfigResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PasswordPolicyReply {
    allow_passphrases: bool,
    max_length: u32,
    min_length: u32,
    min_phrase_length: u32,
    min_optional_tests_to_pass: u32,
    block_pwned_passwords: bool,
    optional_tests: OptionalTestsReply,
    required_tests: RequiredTestsReply,
}

fn policy_reply(p: &PasswordPolicy) -> PasswordPolicyReply {
    let OptionalTests {
        require_lowercase,
        require_uppercase,
        require_numbers,
        require_special_chars,
    } = p.optional_tests;
    let RequiredTests {
        check_three_repeated_chars,
    } = p.required_tests;
    PasswordPolicyReply {
        allow_passphrases: p.allow_passphrases,
        max_length: p.max_length,
        min_length: p.min_length,
        min_phrase_length: p.min_phrase_length,
        min_optional_tests_to_pass: p.min_optional_tests_to_pass,
        block_pwned_passwords: p.block_pwned_passwords,
        optional_tests: OptionalTestsReply {
            require_lowercase,
            require_uppercase,
            require_numbers,
            require_special_chars,
        },
        required_tests: RequiredTestsReply {
            check_three_repeated_chars,
        },
    }
}

impl Routes for StoredPasswordPolicy {
    const READ: Perm = Perm::ReadSecurityPolicy;
    const WRITE: Perm = Perm::WriteSecurityPolicy;
    type Reply = PasswordPolicyReply;
    fn reply(&self) -> PasswordPolicyReply {
        policy_reply(&self.policy)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PublicPolicyQuery {
    user_id: Option<String>,
}

/// Public: the policy a password must meet (the user's account policy with `userId`), so
/// login pages can show the rules.
pub(super) async fn public_policy(
    State(state): State<AppState>,
    Params(q): Params<PublicPolicyQuery>,
) -> Result<Json<PasswordPolicyReply>, ApiError> {
    let tenant = match q.user_id.as_deref() {
        Some(id) => crate::model::user::get(&state.db, id)
            .ok()
            .and_then(|u| u.login_tenant().map(str::to_owned)),
        None => None,
    };
    let p = password_policy::effective(&state.db, tenant.as_deref())?;
    Ok(Json(policy_reply(&p)))
}

/// `PasswordHistoryPolicyResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HistoryReply {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<String>,
    enabled: bool,
    history_size: u32,
    created_at: String,
    updated_at: String,
}

impl Routes for HistoryPolicy {
    const READ: Perm = Perm::ReadSecurityPolicy;
    const WRITE: Perm = Perm::WriteSecurityPolicy;
    type Reply = HistoryReply;
    fn reply(&self) -> HistoryReply {
        HistoryReply {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            enabled: self.enabled,
            history_size: self.history_size,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

/// `PasswordRotationConfigResponse` (minutes).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RotationReply {
    tenant_id: Option<String>,
    is_active: bool,
    rotation_period: u32,
    notification_period: u32,
    created_at: String,
    updated_at: String,
}

impl Routes for RotationPolicy {
    const READ: Perm = Perm::ReadPasswordExpirationConfiguration;
    const WRITE: Perm = Perm::WritePasswordExpirationConfiguration;
    const UPSERTED: StatusCode = StatusCode::OK;
    type Reply = RotationReply;
    fn reply(&self) -> RotationReply {
        RotationReply {
            tenant_id: self.tenant_id.clone(),
            is_active: self.is_active,
            rotation_period: self.rotation_period,
            notification_period: self.notification_period,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "PasswordPolicyController_getPasswordConfig",
            super::scoped::get_in_force::<StoredPasswordPolicy>,
        )
        .add(
            "PasswordPolicyController_addOrUpdatePasswordConfig",
            super::scoped::upsert::<StoredPasswordPolicy>,
        )
        .add(
            "UsersPasswordControllerV1_getUserPasswordConfig",
            public_policy,
        )
        .add(
            "PasswordHistoryPolicyController_createPolicy",
            super::scoped::create::<HistoryPolicy>,
        )
        .add(
            "PasswordHistoryPolicyController_updatePolicy",
            super::scoped::update::<HistoryPolicy>,
        )
        .add(
            "PasswordHistoryPolicyController_getPolicy",
            super::scoped::get_own::<HistoryPolicy>,
        )
        .add(
            "PasswordRotationConfigControllerV1_getPasswordRotationConfiguration",
            super::scoped::get_in_force::<RotationPolicy>,
        )
        .add(
            "PasswordRotationConfigControllerV1_upsertPasswordRotationConfiguration",
            super::scoped::upsert::<RotationPolicy>,
        )
        .add(
            "PasswordRotationConfigControllerV1_getVendorPasswordRotationConfiguration",
            super::scoped::get_environment::<RotationPolicy>,
        )
}
