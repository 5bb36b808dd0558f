//! Conferring rights: **one** function decides whether a caller may give roles and
//! permissions to someone else — a user's roles, a group's roles (to every member), a group's
//! membership (the group's roles to the new member), an account API token's or access
//! token's roles and permissions — so no path can confer more than its caller may
//! (`security.md` M1).
//!
//! Rules: a `NEVER` permission is never conferred, by anyone. The environment (its token)
//! confers any role of the account and any other permission. A user confers only roles at or
//! below its own best level (level 0 is the highest; a user without roles confers none), and
//! only permissions it holds itself (wildcards as [`shared::rights::grants`] reads them).
//! Taking a role away follows the same level rule.

use super::authz::Effective;
use super::rbac::{AssignmentType, Permission, Role};

/// Who confers.
#[derive(Clone, Copy, Debug)]
pub enum Grantor<'a> {
    /// An environment token.
    Environment,
    /// A user, with its current rights in the account.
    User(&'a Effective),
}

/// Why a grant is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The role is above the caller's own level (or the caller holds no role).
    #[error("role {0} is above your own level")]
    AboveLevel(String),
    /// The caller does not hold the permission it would confer.
    #[error("permission {0} is not yours to give")]
    NotHeld(String),
    /// The permission is classified `NEVER`.
    #[error("permission {0} is classified NEVER and cannot be given")]
    Never(String),
    /// A role or permission that does not exist where it would be given.
    #[error("{0}")]
    Unknown(String),
    /// More at once than one grant may carry.
    #[error("at most {0} at once")]
    TooMany(&'static str),
}

/// Most roles one assignment names.
pub const MAX_ROLES: usize = 100;
/// Most roles and permissions one token carries.
pub const MAX_TOKEN_RIGHTS: usize = 500;

/// The roles named by `ids` (deduplicated, in order) among the environment's and `tenant`'s
/// in `catalog`.
pub fn resolve_roles(
    catalog: &[Role],
    tenant: &str,
    ids: &[String],
) -> Result<Vec<Role>, GrantError> {
    let mut out: Vec<Role> = Vec::new();
    for id in ids {
        let role = catalog
            .iter()
            .find(|r| r.id == *id && r.tenant_id.as_deref().is_none_or(|t| t == tenant))
            .ok_or_else(|| {
                GrantError::Unknown(format!("role {id} does not exist in this account"))
            })?;
        if !out.iter().any(|r| r.id == role.id) {
            out.push(role.clone());
        }
    }
    Ok(out)
}

/// The permissions named by `ids` among `catalog`'s (each must exist).
pub fn resolve_permissions(
    catalog: &[Permission],
    ids: &[String],
) -> Result<Vec<Permission>, GrantError> {
    ids.iter()
        .map(|id| {
            catalog
                .iter()
                .find(|p| p.id == *id)
                .cloned()
                .ok_or_else(|| GrantError::Unknown(format!("permission {id} does not exist")))
        })
        .collect()
}

/// The permissions `ids` names, if `grantor` may give them all (a role's permissions).
pub fn permissions(
    grantor: Grantor<'_>,
    catalog: &[Permission],
    ids: &[String],
) -> Result<Vec<Permission>, GrantError> {
    if ids.len() > MAX_TOKEN_RIGHTS {
        return Err(GrantError::TooMany("500 permissions"));
    }
    let perms = resolve_permissions(catalog, ids)?;
    may_confer(grantor, &[], &perms)?;
    Ok(perms)
}

/// The roles `ids` names in `tenant`, if `grantor` may give (or take) them all.
pub fn roles(
    grantor: Grantor<'_>,
    catalog: &[Role],
    tenant: &str,
    ids: &[String],
) -> Result<Vec<Role>, GrantError> {
    if ids.len() > MAX_ROLES {
        return Err(GrantError::TooMany("100 roles"));
    }
    let roles = resolve_roles(catalog, tenant, ids)?;
    may_confer(grantor, &roles, &[])?;
    Ok(roles)
}

/// Check the roles and permissions an account token is to carry: they exist (roles of the
/// environment or the account) and `grantor` may confer them — the same rule as giving them
/// to a user, and never a `NEVER` permission.
pub fn token_rights(
    grantor: Grantor<'_>,
    roles: &[Role],
    permissions: &[Permission],
    tenant: &str,
    role_ids: &[String],
    permission_ids: &[String],
) -> Result<(), GrantError> {
    if role_ids.len() + permission_ids.len() > MAX_TOKEN_RIGHTS {
        return Err(GrantError::TooMany("500 roles and permissions"));
    }
    let given = resolve_roles(roles, tenant, role_ids)?;
    let perms = resolve_permissions(permissions, permission_ids)?;
    may_confer(grantor, &given, &perms)
}

/// The default roles of an account: environment and account roles marked `isDefault`.
pub fn default_role_ids(catalog: &[Role], tenant: &str) -> Vec<String> {
    catalog
        .iter()
        .filter(|r| r.is_default && r.tenant_id.as_deref().is_none_or(|t| t == tenant))
        .map(|r| r.id.clone())
        .collect()
}

/// Whether `grantor` may confer (or, for roles, take away) `roles` and `permissions`.
pub fn may_confer(
    grantor: Grantor<'_>,
    roles: &[Role],
    permissions: &[Permission],
) -> Result<(), GrantError> {
    if let Some(p) = permissions
        .iter()
        .find(|p| p.assignment_type == AssignmentType::Never)
    {
        return Err(GrantError::Never(p.key.clone()));
    }
    let Grantor::User(own) = grantor else {
        return Ok(());
    };
    for r in roles {
        if own.best_level().is_none_or(|best| r.level < best) {
            return Err(GrantError::AboveLevel(r.key.clone()));
        }
    }
    for p in permissions {
        if !own.allows(&p.key) {
            return Err(GrantError::NotHeld(p.key.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(key: &str, level: u16) -> Role {
        Role {
            id: key.into(),
            key: key.into(),
            name: key.into(),
            description: String::new(),
            level,
            is_default: false,
            first_user_role: false,
            tenant_id: None,
            permission_ids: vec![],
            builtin: false,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn perm(key: &str, t: AssignmentType) -> Permission {
        Permission {
            id: key.into(),
            key: key.into(),
            name: key.into(),
            description: String::new(),
            category_id: None,
            fe_permission: false,
            assignment_type: t,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn levels_holdings_and_never_decide() {
        use AssignmentType::{Always, Assignable, Never};
        let writer = Effective {
            roles: vec![role("Writer", 5)],
            permissions: vec![
                perm("fe.secure.write.tenantApiTokens", Assignable),
                perm("app.*", Assignable),
            ],
        };
        let nobody = Effective::default();
        let admin = role("Admin", 0);
        let same = role("Peer", 5);
        let below = role("Viewer", 9);
        let secret = perm("fe.secure.read.users", Assignable);
        let mine = perm("app.read", Assignable);
        let never = perm("app.never", Never);
        let always = perm("other.always", Always);
        let w = Grantor::User(&writer);
        for (grantor, roles, perms, expected) in [
            (
                w,
                vec![below.clone(), same.clone()],
                vec![mine.clone()],
                Ok(()),
            ),
            (
                w,
                vec![admin.clone()],
                vec![],
                Err(GrantError::AboveLevel("Admin".into())),
            ),
            (
                w,
                vec![],
                vec![secret.clone()],
                Err(GrantError::NotHeld("fe.secure.read.users".into())),
            ),
            (
                w,
                vec![],
                vec![never.clone()],
                Err(GrantError::Never("app.never".into())),
            ),
            (
                w,
                vec![],
                vec![always.clone()],
                Err(GrantError::NotHeld("other.always".into())),
            ),
            (
                Grantor::User(&nobody),
                vec![below.clone()],
                vec![],
                Err(GrantError::AboveLevel("Viewer".into())),
            ),
            (
                Grantor::Environment,
                vec![admin.clone()],
                vec![secret.clone()],
                Ok(()),
            ),
            (
                Grantor::Environment,
                vec![],
                vec![never.clone()],
                Err(GrantError::Never("app.never".into())),
            ),
        ] {
            assert_eq!(
                may_confer(grantor, &roles, &perms),
                expected,
                "{roles:?} {perms:?}"
            );
        }
    }
}
