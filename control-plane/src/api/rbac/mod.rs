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
        .add("PermissionsControllerV1_getAllRoles", roles::list)
        .add("PermissionsControllerV1_addRoles", roles::create)
        .add("PermissionsControllerV1_updateRole", roles::update)
        .add("PermissionsControllerV1_deleteRole", roles::delete)
        .add(
            "PermissionsControllerV1_setPermissionsToRole",
            roles::set_permissions,
        )
        .add("PermissionsControllerV1_updateRoleTenant", roles::move_to)
        .add("PermissionsControllerV2_getAllRoles", roles::list_paginated)
        .add("RolesControllerV2_addRole", roles::create_from_base)
        .add(
            "RolesControllerV2_getDistinctLevels",
            roles::distinct_levels,
        )
        .add(
            "RolesControllerV2_getDistinctTenants",
            roles::distinct_tenants,
        )
        .add(
            "PermissionsControllerV1_getAllPermissions",
            permissions::list,
        )
        .add(
            "PermissionsControllerV1_addPermissions",
            permissions::create,
        )
        .add(
            "PermissionsControllerV1_updatePermission",
            permissions::update,
        )
        .add(
            "PermissionsControllerV1_deletePermission",
            permissions::delete,
        )
        .add(
            "PermissionsControllerV1_setRolesToPermission",
            permissions::add_to_roles,
        )
        .add(
            "PermissionsControllerV1_updatePermissionsAssignmentType",
            permissions::classify,
        )
        .add(
            "PermissionsCategoriesController_getAllCategoriesWithPermissions",
            categories::list,
        )
        .add(
            "PermissionsCategoriesController_createPermissionCategory",
            categories::create,
        )
        .add(
            "PermissionsCategoriesController_updateCategory",
            categories::update,
        )
        .add(
            "PermissionsCategoriesController_deleteCategory",
            categories::delete,
        )
        .add("GroupsControllerV1_getAllGroups", groups::list)
        .add(
            "GroupsControllerV2_getAllGroupsPaginated",
            groups::list_paginated,
        )
        .add("GroupsControllerV1_createGroup", groups::create)
        .add("GroupsControllerV1_getGroupsByIds", groups::by_ids)
        .add("GroupsControllerV1_getGroupById", groups::get)
        .add("GroupsControllerV1_updateGroup", groups::update)
        .add("GroupsControllerV1_deleteGroup", groups::delete)
        .add("GroupsControllerV1_addRolesToGroup", groups::add_roles)
        .add(
            "GroupsControllerV1_removeRolesFromGroup",
            groups::remove_roles,
        )
        .add("GroupsControllerV1_addUsersToGroup", groups::add_users)
        .add(
            "GroupsControllerV1_removeUsersFromGroup",
            groups::remove_users,
        )
        .add(
            "GroupsControllerV1_getGroupsConfiguration",
            groups::get_config,
        )
        .add(
            "GroupsControllerV1_createOrUpdateGroupsConfiguration",
            groups::set_config,
        )
}
