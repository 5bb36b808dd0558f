//! The lockout policy (tag Lockout Policy): consecutive failed logins that lock a user, per
//! account or for the environment. Created once (409 after), then updated; 404 until created.

use serde::Serialize;

use super::scoped::Routes;
use crate::api::Ops;
use crate::http::caller::Perm;
use crate::model::lockout::LockoutPolicy;

/// `LockoutPolicyResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LockoutReply {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<String>,
    enabled: bool,
    max_attempts: u32,
    created_at: String,
    updated_at: String,
}

impl Routes for LockoutPolicy {
    const READ: Perm = Perm::ReadSecurityPolicy;
    const WRITE: Perm = Perm::WriteSecurityPolicy;
    type Reply = LockoutReply;
    fn reply(&self) -> LockoutReply {
        LockoutReply {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            enabled: self.enabled,
            max_attempts: self.max_attempts,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "LockoutPolicyController_createLockoutPolicy",
            super::scoped::create::<LockoutPolicy>,
        )
        .add(
            "LockoutPolicyController_updateLockoutPolicy",
            super::scoped::update::<LockoutPolicy>,
        )
        .add(
            "LockoutPolicyController_getLockoutPolicy",
            super::scoped::get_own::<LockoutPolicy>,
        )
}
