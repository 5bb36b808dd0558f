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

/// The built-in permissions a self-service route can require (`builtin-permissions.md`),
/// and `Environment` for the routes only an environment token may call. Every handler's first
/// line is `caller.require(Perm::…)` (`http::caller::Caller::require`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Environment (vendor) token only; a user token is refused as unauthenticated.
    Environment,
    /// `fe.secure.read.users`
    ReadUsers,
    /// `fe.secure.write.users`
    WriteUsers,
    /// `fe.secure.write.updateUser`
    WriteUpdateUser,
    /// `fe.secure.delete.users`
    DeleteUsers,
    /// `fe.secure.write.usersRoles`
    WriteUsersRoles,
    /// `fe.secure.delete.usersRoles`
    DeleteUsersRoles,
    /// `fe.secure.write.enableDisable`
    WriteEnableDisable,
    /// `fe.secure.write.resendActivationEmail`
    WriteResendActivationEmail,
    /// `fe.secure.write.tenantInvites`
    WriteTenantInvites,
    /// `fe.secure.delete.tenantInvites`
    DeleteTenantInvites,
    /// `fe.secure.delete.sessions`
    DeleteSessions,
    /// `fe.secure.write.delegation`
    WriteDelegation,
    /// `fe.secure.write.userSubTenants`
    WriteUserSubTenants,
    /// `fe.secure.delete.userSubTenants`
    DeleteUserSubTenants,
    /// `fe.secure.read.roles`
    ReadRoles,
    /// `fe.secure.write.roles`
    WriteRoles,
    /// `fe.secure.write.updateRole`
    WriteUpdateRole,
    /// `fe.secure.delete.role`
    DeleteRole,
    /// `fe.secure.read.permissions`
    ReadPermissions,
    /// `fe.secure.read.groups`
    ReadGroups,
    /// `fe.secure.write.groups`
    WriteGroups,
    /// `fe.secure.delete.groups`
    DeleteGroups,
    /// `fe.secure.write.groupsRoles`
    WriteGroupsRoles,
    /// `fe.secure.write.groupsUsers`
    WriteGroupsUsers,
    /// `fe.secure.delete.groupsUsers`
    DeleteGroupsUsers,
    /// `fe.secure.read.securityPolicy`
    ReadSecurityPolicy,
    /// `fe.secure.write.securityPolicy`
    WriteSecurityPolicy,
    /// `fe.secure.delete.securityPolicy`
    DeleteSecurityPolicy,
    /// `fe.secure.read.ipRestrictions`
    ReadIpRestrictions,
    /// `fe.secure.write.ipRestrictions`
    WriteIpRestrictions,
    /// `fe.secure.delete.ipRestrictions`
    DeleteIpRestrictions,
    /// `fe.secure.read.emailDomainRestrictions`
    ReadEmailDomainRestrictions,
    /// `fe.secure.write.emailDomainRestrictions`
    WriteEmailDomainRestrictions,
    /// `fe.secure.delete.emailDomainRestrictions`
    DeleteEmailDomainRestrictions,
    /// `fe.secure.read.passwordExpirationConfiguration`
    ReadPasswordExpirationConfiguration,
    /// `fe.secure.write.passwordExpirationConfiguration`
    WritePasswordExpirationConfiguration,
    /// `fe.secure.read.audits`
    ReadAudits,
    /// `fe.secure.read.accountSettings`
    ReadAccountSettings,
    /// `fe.secure.write.accountSettings`
    WriteAccountSettings,
    /// `fe.account-settings.read.app`
    AccountSettingsReadApp,
    /// `fe.account-settings.delete.account`
    AccountSettingsDeleteAccount,
    /// `fe.secure.read.tenantApiTokens`
    ReadTenantApiTokens,
    /// `fe.secure.write.tenantApiTokens`
    WriteTenantApiTokens,
    /// `fe.secure.delete.tenantApiTokens`
    DeleteTenantApiTokens,
    /// `fe.secure.read.userApiTokens`
    ReadUserApiTokens,
    /// `fe.secure.write.userApiTokens`
    WriteUserApiTokens,
    /// `fe.secure.delete.userApiTokens`
    DeleteUserApiTokens,
    /// `fe.secure.read.samlConfiguration`
    ReadSamlConfiguration,
    /// `fe.secure.write.samlConfiguration`
    WriteSamlConfiguration,
    /// `fe.secure.delete.samlConfiguration`
    DeleteSamlConfiguration,
    /// `fe.secure.read.provisioningConfiguration`
    ReadProvisioningConfiguration,
    /// `fe.secure.write.provisioningConfiguration`
    WriteProvisioningConfiguration,
    /// `fe.secure.delete.provisioningConfiguration`
    DeleteProvisioningConfiguration,
    /// `fe.secure.write.appsUsers`
    WriteAppsUsers,
    /// `fe.secure.delete.appsUsers`
    DeleteAppsUsers,
    /// `fe.account-hierarchy.read.subAccount`
    AccountHierarchyReadSubAccount,
    /// `fe.account-hierarchy.write.subAccount`
    AccountHierarchyWriteSubAccount,
    /// `fe.account-hierarchy.delete.subAccount`
    AccountHierarchyDeleteSubAccount,
    /// `fe.account-hierarchy.write.subAccountAccess`
    AccountHierarchyWriteSubAccountAccess,
}

impl Perm {
    /// The permission key (`None` for [`Perm::Environment`]).
    pub const fn key(self) -> Option<&'static str> {
        match self {
            Perm::Environment => None,
            Perm::ReadUsers => Some("fe.secure.read.users"),
            Perm::WriteUsers => Some("fe.secure.write.users"),
            Perm::WriteUpdateUser => Some("fe.secure.write.updateUser"),
            Perm::DeleteUsers => Some("fe.secure.delete.users"),
            Perm::WriteUsersRoles => Some("fe.secure.write.usersRoles"),
            Perm::DeleteUsersRoles => Some("fe.secure.delete.usersRoles"),
            Perm::WriteEnableDisable => Some("fe.secure.write.enableDisable"),
            Perm::WriteResendActivationEmail => Some("fe.secure.write.resendActivationEmail"),
            Perm::WriteTenantInvites => Some("fe.secure.write.tenantInvites"),
            Perm::DeleteTenantInvites => Some("fe.secure.delete.tenantInvites"),
            Perm::DeleteSessions => Some("fe.secure.delete.sessions"),
            Perm::WriteDelegation => Some("fe.secure.write.delegation"),
            Perm::WriteUserSubTenants => Some("fe.secure.write.userSubTenants"),
            Perm::DeleteUserSubTenants => Some("fe.secure.delete.userSubTenants"),
            Perm::ReadRoles => Some("fe.secure.read.roles"),
            Perm::WriteRoles => Some("fe.secure.write.roles"),
            Perm::WriteUpdateRole => Some("fe.secure.write.updateRole"),
            Perm::DeleteRole => Some("fe.secure.delete.role"),
            Perm::ReadPermissions => Some("fe.secure.read.permissions"),
            Perm::ReadGroups => Some("fe.secure.read.groups"),
            Perm::WriteGroups => Some("fe.secure.write.groups"),
            Perm::DeleteGroups => Some("fe.secure.delete.groups"),
            Perm::WriteGroupsRoles => Some("fe.secure.write.groupsRoles"),
            Perm::WriteGroupsUsers => Some("fe.secure.write.groupsUsers"),
            Perm::DeleteGroupsUsers => Some("fe.secure.delete.groupsUsers"),
            Perm::ReadSecurityPolicy => Some("fe.secure.read.securityPolicy"),
            Perm::WriteSecurityPolicy => Some("fe.secure.write.securityPolicy"),
            Perm::DeleteSecurityPolicy => Some("fe.secure.delete.securityPolicy"),
            Perm::ReadIpRestrictions => Some("fe.secure.read.ipRestrictions"),
            Perm::WriteIpRestrictions => Some("fe.secure.write.ipRestrictions"),
            Perm::DeleteIpRestrictions => Some("fe.secure.delete.ipRestrictions"),
            Perm::ReadEmailDomainRestrictions => Some("fe.secure.read.emailDomainRestrictions"),
            Perm::WriteEmailDomainRestrictions => Some("fe.secure.write.emailDomainRestrictions"),
            Perm::DeleteEmailDomainRestrictions => Some("fe.secure.delete.emailDomainRestrictions"),
            Perm::ReadPasswordExpirationConfiguration => {
                Some("fe.secure.read.passwordExpirationConfiguration")
            }
            Perm::WritePasswordExpirationConfiguration => {
                Some("fe.secure.write.passwordExpirationConfiguration")
            }
            Perm::ReadAudits => Some("fe.secure.read.audits"),
            Perm::ReadAccountSettings => Some("fe.secure.read.accountSettings"),
            Perm::WriteAccountSettings => Some("fe.secure.write.accountSettings"),
            Perm::AccountSettingsReadApp => Some("fe.account-settings.read.app"),
            Perm::AccountSettingsDeleteAccount => Some("fe.account-settings.delete.account"),
            Perm::ReadTenantApiTokens => Some("fe.secure.read.tenantApiTokens"),
            Perm::WriteTenantApiTokens => Some("fe.secure.write.tenantApiTokens"),
            Perm::DeleteTenantApiTokens => Some("fe.secure.delete.tenantApiTokens"),
            Perm::ReadUserApiTokens => Some("fe.secure.read.userApiTokens"),
            Perm::WriteUserApiTokens => Some("fe.secure.write.userApiTokens"),
            Perm::DeleteUserApiTokens => Some("fe.secure.delete.userApiTokens"),
            Perm::ReadSamlConfiguration => Some("fe.secure.read.samlConfiguration"),
            Perm::WriteSamlConfiguration => Some("fe.secure.write.samlConfiguration"),
            Perm::DeleteSamlConfiguration => Some("fe.secure.delete.samlConfiguration"),
            Perm::ReadProvisioningConfiguration => Some("fe.secure.read.provisioningConfiguration"),
            Perm::WriteProvisioningConfiguration => {
                Some("fe.secure.write.provisioningConfiguration")
            }
            Perm::DeleteProvisioningConfiguration => {
                Some("fe.secure.delete.provisioningConfiguration")
            }
            Perm::WriteAppsUsers => Some("fe.secure.write.appsUsers"),
            Perm::DeleteAppsUsers => Some("fe.secure.delete.appsUsers"),
            Perm::AccountHierarchyReadSubAccount => Some("fe.account-hierarchy.read.subAccount"),
            Perm::AccountHierarchyWriteSubAccount => Some("fe.account-hierarchy.write.subAccount"),
            Perm::AccountHierarchyDeleteSubAccount => {
                Some("fe.account-hierarchy.delete.subAccount")
            }
            Perm::AccountHierarchyWriteSubAccountAccess => {
                Some("fe.account-hierarchy.write.subAccountAccess")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_perm_is_a_seeded_key() {
        let all: Vec<&str> = CATEGORIES
            .iter()
            .flat_map(|(_, keys)| keys.iter().copied())
            .collect();
        for p in [
            Perm::ReadUsers,
            Perm::AccountHierarchyWriteSubAccountAccess,
            Perm::AccountSettingsReadApp,
        ] {
            assert!(all.contains(&p.key().unwrap()), "{p:?}");
        }
        assert_eq!(Perm::Environment.key(), None);
    }

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
