//! Tenants (accounts), outside the identity spec but needed by every area:
//! `/tenants/resources/tenants/v1` with environment auth.

mod accounts;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default().merge(accounts::ops())
}
