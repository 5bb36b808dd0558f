//! The built-in `fe.*` permissions, their categories and the default roles
//! (`../shared/docs/builtin-permissions.md`), seeded on first start. Built-ins cannot be
//! deleted or renamed.

/// Categories of built-in permissions, each with its keys.
pub const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "Wildcards",
        &[
            "fe.secure.*",
            "fe.secure.read.*",
            "fe.secure.write.*",
            "fe.secure.delete.*",
            "fe.account-settings.*",
            "fe.account-hierarchy.*",
        ],
    ),
    (
        "Users management",
        &[
            "fe.secure.read.users",
            "fe.secure.write.users",
            "fe.secure.write.updateUser",
            "fe.secure.delete.users",
            "fe.secure.write.usersRoles",
            "fe.secure.delete.usersRoles",
            "fe.secure.write.enableDisable",
            "fe.secure.write.resendActivationEmail",
            "fe.secure.write.tenantInvites",
            "fe.secure.delete.tenantInvites",
            "fe.secure.delete.sessions",
            "fe.secure.write.delegation",
            "fe.secure.write.userSubTenants",
            "fe.secure.delete.userSubTenants",
        ],
    ),
    (
        "Roles and permissions",
        &[
            "fe.secure.read.roles",
            "fe.secure.write.roles",
            "fe.secure.write.updateRole",
            "fe.secure.delete.role",
            "fe.secure.read.permissions",
        ],
    ),
    (
        "Groups",
        &[
            "fe.secure.read.groups",
            "fe.secure.write.groups",
            "fe.secure.delete.groups",
            "fe.secure.write.groupsRoles",
            "fe.secure.write.groupsUsers",
            "fe.secure.delete.groupsUsers",
        ],
    ),
    (
        "Security",
        &[
            "fe.secure.read.securityPolicy",
            "fe.secure.write.securityPolicy",
            "fe.secure.delete.securityPolicy",
            "fe.secure.read.ipRestrictions",
            "fe.secure.write.ipRestrictions",
            "fe.secure.delete.ipRestrictions",
            "fe.secure.read.emailDomainRestrictions",
            "fe.secure.write.emailDomainRestrictions",
            "fe.secure.delete.emailDomainRestrictions",
            "fe.secure.read.passwordExpirationConfiguration",
            "fe.secure.write.passwordExpirationConfiguration",
            "fe.secure.read.audits",
        ],
    ),
    (
        "Account settings",
        &[
            "fe.secure.read.accountSettings",
            "fe.secure.write.accountSettings",
            "fe.account-settings.read.app",
            "fe.account-settings.delete.account",
        ],
    ),
    (
        "API tokens",
        &[
            "fe.secure.read.tenantApiTokens",
            "fe.secure.write.tenantApiTokens",
            "fe.secure.delete.tenantApiTokens",
            "fe.secure.read.userApiTokens",
            "fe.secure.write.userApiTokens",
            "fe.secure.delete.userApiTokens",
        ],
    ),
    (
        "SSO and provisioning",
        &[
            "fe.secure.read.samlConfiguration",
            "fe.secure.write.samlConfiguration",
            "fe.secure.delete.samlConfiguration",
            "fe.secure.read.provisioningConfiguration",
            "fe.secure.write.provisioningConfiguration",
            "fe.secure.delete.provisioningConfiguration",
        ],
    ),
    (
        "Applications",
        &["fe.secure.write.appsUsers", "fe.secure.delete.appsUsers"],
    ),
    (
        "Account hierarchy",
        &[
            "fe.account-hierarchy.read.subAccount",
            "fe.account-hierarchy.write.subAccount",
            "fe.account-hierarchy.delete.subAccount",
            "fe.account-hierarchy.write.subAccountAccess",
        ],
    ),
];

/// The default roles: key, name, level, permission keys. `Admin` is what the first user of
/// a new account gets.
pub const ROLES: &[(&str, &str, u16, &[&str])] = &[
    (
        "Admin",
        "Admin",
        0,
        &[
            "fe.secure.*",
            "fe.account-settings.*",
            "fe.account-hierarchy.*",
        ],
    ),
    ("ReadOnly", "Read only", 1, &["fe.secure.read.*"]),
];

pub use shared::rights::grants;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_role_permission_is_seeded() {
        let all: Vec<&str> = CATEGORIES
            .iter()
            .flat_map(|(_, keys)| keys.iter().copied())
            .collect();
        for (_, _, _, perms) in ROLES {
            for p in *perms {
                assert!(all.contains(p), "{p}");
            }
        }
        let mut dedup = all.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), all.len(), "a key is listed twice");
    }
}
