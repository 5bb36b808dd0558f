//! Approval flows (tag Approval Flows; `compat-wave2.md` §15): definitions, executions and
//! the approver page's endpoints.

mod flows;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default().merge(flows::ops())
}
