//! Roles, permissions, permission categories and user groups (tags Roles, Account Roles,
//! Permissions, Permissions Categories, User Groups). The catalogue's rules live in
//! `model::rbac`, groups' in `model::group`; who may give what in `model::grant`.

mod categories;
mod groups;
mod permissions;
mod roles;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .merge(roles::ops())
        .merge(permissions::ops())
        .merge(categories::ops())
        .merge(groups::ops())
}
