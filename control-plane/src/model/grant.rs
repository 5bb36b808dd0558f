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
