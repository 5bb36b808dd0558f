//! Effective roles and permissions: **one** function computes them, so tokens and
//! `users/v1/me/authorization` always agree.
//!
//! Effective permissions in an account = the permissions of the user's roles there
//! (including roles granted through the user's groups, once groups exist) + every `ALWAYS`
//! permission. `NEVER` permissions are never granted.

use std::collections::BTreeSet;

use super::group::Group;
use super::rbac::{AssignmentType, Permission, Role};
use super::user::User;

/// What a user may do in one account.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effective {
    /// The roles (records), in a stable order.
    pub roles: Vec<Role>,
    /// The permissions (records), in a stable order.
    pub permissions: Vec<Permission>,
}

impl Effective {
    /// Role keys.
    pub fn role_keys(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.key.clone()).collect()
    }

    /// Permission keys.
    pub fn permission_keys(&self) -> Vec<String> {
        self.permissions.iter().map(|p| p.key.clone()).collect()
    }

    /// Whether a permission key is held (wildcards `x.*` included).
    pub fn allows(&self, wanted: &str) -> bool {
        self.permissions
            .iter()
            .any(|p| super::builtin::grants(&p.key, wanted))
    }

    /// The best (lowest) level among the roles; `None` without roles.
    pub fn best_level(&self) -> Option<u16> {
        self.roles.iter().map(|r| r.level).min()
    }
}

/// The effective roles and permissions of `user` in `tenant_id`, given every role,
/// permission and granting group (see `group::granting`). Role ids that no longer exist, or belong to another account, are ignored.
pub fn effective(
    user: &User,
    tenant_id: &str,
    roles: &[Role],
    permissions: &[Permission],
    groups: &[Group],
) -> Effective {
    let Some(m) = user.membership(tenant_id) else {
        return Effective::default();
    };
    let mut held: BTreeSet<&str> = m.role_ids.iter().map(String::as_str).collect();
    for g in groups
        .iter()
        .filter(|g| g.tenant_id == tenant_id && g.user_ids.contains(&user.id))
    {
        held.extend(g.role_ids.iter().map(String::as_str));
    }
    let roles: Vec<Role> = roles
        .iter()
        .filter(|r| held.contains(r.id.as_str()))
        .filter(|r| r.tenant_id.as_deref().is_none_or(|t| t == tenant_id))
        .cloned()
        .collect();
    let granted: BTreeSet<&str> = roles
        .iter()
        .flat_map(|r| r.permission_ids.iter().map(String::as_str))
        .collect();
    let permissions = permissions
        .iter()
        .filter(|p| match p.assignment_type {
            AssignmentType::Always => true,
            AssignmentType::Never => false,
            AssignmentType::Assignable => granted.contains(p.id.as_str()),
        })
        .cloned()
        .collect();
    Effective { roles, permissions }
}
