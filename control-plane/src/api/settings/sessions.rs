//! Session limits (tag Sessions Configuration): idle timeout, absolute lifetime and
//! concurrent sessions, per account or for the environment; enforced at login and refresh.

use serde::Serialize;

use super::scoped::Routes;
use crate::api::Ops;
use crate::http::caller::Perm;
use crate::model::session::StoredSessionPolicy;

/// A limit with its value.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ToggleReply {
    is_active: bool,
    timeout: u32,
}

/// The concurrent-session limit.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConcurrentReply {
    is_active: bool,
    max_sessions: u32,
}

/// `SessionConfigurationResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionPolicyReply {
    session_idle_timeout_configuration: ToggleReply,
    session_timeout_configuration: ToggleReply,
    session_concurrent_configuration: ConcurrentReply,
}

impl Routes for StoredSessionPolicy {
    const READ: Perm = Perm::ReadSecurityPolicy;
    const WRITE: Perm = Perm::WriteSecurityPolicy;
    type Reply = SessionPolicyReply;
    fn reply(&self) -> SessionPolicyReply {
        let p = &self.policy;
        let toggle = |t: crate::model::session::Toggle<u32>| ToggleReply {
            is_active: t.is_active,
            timeout: t.timeout,
        };
        SessionPolicyReply {
            session_idle_timeout_configuration: toggle(p.session_idle_timeout_configuration),
            session_timeout_configuration: toggle(p.session_timeout_configuration),
            session_concurrent_configuration: ConcurrentReply {
                is_active: p.session_concurrent_configuration.is_active,
                max_sessions: p.session_concurrent_configuration.max_sessions,
            },
        }
    }
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "SessionConfigurationControllerV1_getSessionConfiguration",
            super::scoped::get_in_force::<StoredSessionPolicy>,
        )
        .add(
            "SessionConfigurationControllerV1_createSessionConfiguration",
            super::scoped::upsert::<StoredSessionPolicy>,
        )
        .add(
            "SessionConfigurationControllerV1_getVendorSessionConfiguration",
            super::scoped::get_environment::<StoredSessionPolicy>,
        )
}
