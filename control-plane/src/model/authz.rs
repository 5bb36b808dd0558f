//! Effective roles and permissions: **one** computation, so tokens, access-token records and
//! `users/v1/me/authorization` always agree.
//!
//! Effective permissions in an account = the permissions of the roles held there (directly,
//! and through the user's groups while group roles count) + every `ALWAYS` permission (users
//! only; tokens carry what their roles give). `NEVER` permissions are never granted, and a
//! role of another account never counts, whatever a stored id list says.
//!
//! The inputs are read through [`Rbac`]: from the store by id ([`crate::store::Db`], what a
//! request needs for one caller — nothing environment-wide is loaded), or from records
//! already loaded for a page of replies ([`Loaded`]).

use std::collections::BTreeSet;

use super::group::Group;
use super::rbac::{AssignmentType, Permission, Role};
use super::user::User;
use crate::store::{Db, StoreError};

/// What a user (or a token) may do in one account.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effective {
    /// The roles (records), in id order.
    pub roles: Vec<Role>,
    /// The permissions (records), in id order.
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

/// Where roles and permissions are read from.
pub trait Rbac {
    /// A role by id.
    fn role(&self, id: &str) -> Result<Option<Role>, StoreError>;
    /// A permission by id.
    fn permission(&self, id: &str) -> Result<Option<Permission>, StoreError>;
    /// Every permission classified `ALWAYS`.
    fn always(&self) -> Result<Vec<Permission>, StoreError>;
}

impl Rbac for Db {
    fn role(&self, id: &str) -> Result<Option<Role>, StoreError> {
        self.get::<Role>(id.as_bytes())
    }
    fn permission(&self, id: &str) -> Result<Option<Permission>, StoreError> {
        self.get::<Permission>(id.as_bytes())
    }
    fn always(&self) -> Result<Vec<Permission>, StoreError> {
        let mut out = Vec::new();
        for id in self.keys(super::rbac::ALWAYS, b"")? {
            if let Some(p) = self
                .get::<Permission>(id.as_bytes())?
                .filter(|p| p.assignment_type == AssignmentType::Always)
            {
                out.push(p);
            }
        }
        Ok(out)
    }
}

/// Roles and permissions already loaded (bulk replies).
#[derive(Clone, Copy)]
pub struct Loaded<'a> {
    /// Every role.
    pub roles: &'a [Role],
    /// Every permission.
    pub permissions: &'a [Permission],
}

impl Rbac for Loaded<'_> {
    fn role(&self, id: &str) -> Result<Option<Role>, StoreError> {
        Ok(self.roles.iter().find(|r| r.id == id).cloned())
    }
    fn permission(&self, id: &str) -> Result<Option<Permission>, StoreError> {
        Ok(self.permissions.iter().find(|p| p.id == id).cloned())
    }
    fn always(&self) -> Result<Vec<Permission>, StoreError> {
        Ok(self
            .permissions
            .iter()
            .filter(|p| p.assignment_type == AssignmentType::Always)
            .cloned()
            .collect())
    }
}

/// The rights that role ids (and explicit permission ids) give in `tenant_id`.
fn compute(
    tenant_id: &str,
    role_ids: &BTreeSet<&str>,
    permission_ids: &[String],
    with_always: bool,
    rbac: &impl Rbac,
) -> Result<Effective, StoreError> {
    let mut roles = Vec::new();
    for id in role_ids {
        if let Some(r) = rbac
            .role(id)?
            .filter(|r| r.tenant_id.as_deref().is_none_or(|t| t == tenant_id))
        {
            roles.push(r);
        }
    }
    roles.sort_by(|a, b| a.id.cmp(&b.id));
    let granted: BTreeSet<&str> = roles
        .iter()
        .flat_map(|r| r.permission_ids.iter().map(String::as_str))
        .chain(permission_ids.iter().map(String::as_str))
        .collect();
    let mut permissions = Vec::new();
    for id in granted {
        if let Some(p) = rbac
            .permission(id)?
            .filter(|p| p.assignment_type == AssignmentType::Assignable)
        {
            permissions.push(p);
        }
    }
    if with_always {
        permissions.extend(rbac.always()?);
    }
    permissions.sort_by(|a, b| a.id.cmp(&b.id));
    permissions.dedup_by(|a, b| a.id == b.id);
    Ok(Effective { roles, permissions })
}

/// The effective roles and permissions of `user` in `tenant_id`, given the groups whose roles
/// count for it there (`group::granting_for`; others are ignored). Role ids that no longer
/// exist, or belong to another account, are ignored.
pub fn effective(
    user: &User,
    tenant_id: &str,
    groups: &[Group],
    rbac: &impl Rbac,
) -> Result<Effective, StoreError> {
    let Some(m) = user.membership(tenant_id) else {
        return Ok(Effective::default());
    };
    let mut held: BTreeSet<&str> = m.role_ids.iter().map(String::as_str).collect();
    for g in groups
        .iter()
        .filter(|g| g.tenant_id == tenant_id && g.user_ids.contains(&user.id))
    {
        held.extend(g.role_ids.iter().map(String::as_str));
    }
    compute(tenant_id, &held, &[], true, rbac)
}

/// The rights an account token carries: its roles' permissions plus `permission_ids`, with
/// the same exclusions as a user's (no `NEVER`, no other account's role).
pub fn of_roles(
    tenant_id: &str,
    role_ids: &[String],
    permission_ids: &[String],
    rbac: &impl Rbac,
) -> Result<Effective, StoreError> {
    let held: BTreeSet<&str> = role_ids.iter().map(String::as_str).collect();
    compute(tenant_id, &held, permission_ids, false, rbac)
}
