//! Tenants (accounts), outside the identity spec but needed by every area:
//! `/tenants/resources/tenants/v1` with environment auth.

mod accounts;

use axum::routing::{delete, get, post};

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root(
            "/tenants/resources/tenants/v1",
            get(accounts::list).post(accounts::create),
        )
        .add_root(
            "/tenants/resources/tenants/v1/{tenant_id}",
            get(accounts::get).delete(accounts::delete),
        )
        .add_root(
            "/tenants/resources/tenants/v1/{tenant_id}/metadata",
            post(accounts::add_metadata),
        )
        .add_root(
            "/tenants/resources/tenants/v1/{tenant_id}/metadata/{key}",
            delete(accounts::delete_metadata),
        )
}
