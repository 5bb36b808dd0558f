//! Users and account membership (tags Users, User Management, User Sessions): management
//! with an environment token (target account from `frontegg-tenant-id`) and self-service
//! with a user token, gated by the built-in `fe.secure.*` permissions. A foreign user id
//! answers 404. The rules live in `model::user`.

mod dto;
mod emails;
mod manage;
mod me;
mod roles;
mod sessions;
mod tenants;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_createUser", manage::create)
        .add("UsersControllerV2_createUser", manage::create)
        .add("VendorOnlyUsers_createUser", manage::create_vendor_only)
        .add("UsersControllerV1_getUserById", manage::get)
        .add("VendorOnlyUsers_getUserById", manage::get_vendor_only)
        .add("UsersControllerV3_getUsers", manage::list)
        .add("UsersControllerV1_searchUsers", manage::search)
        .add(
            "UsersControllerV1_updateUserForVendor",
            manage::update_vendor,
        )
        .add("UsersControllerV1_verifyUser", manage::verify)
        .add("UsersControllerV1_lockUser", manage::lock)
        .add("UsersControllerV1_unlockUser", manage::unlock)
        .add(
            "UsersControllerV1_setUserSuperuserMode",
            manage::set_super_user,
        )
        .add(
            "UsersControllerV1_setUserInvisibleMode",
            manage::set_invisible,
        )
        .add("UsersControllerV1_removeUserFromTenant", manage::remove)
        .add("UsersControllerV1_getUserByEmail", emails::get_by_email)
        .add("UsersControllerV1_updateUserEmail", emails::update_email)
        .add("UsersControllerV1_addRolesToUser", roles::add)
        .add("UsersControllerV1_deleteRolesFromUser", roles::remove)
        .add("UsersControllerV3_getUsersRoles", roles::of_users)
        .add("UsersControllerV3_getUsersGroups", roles::groups_of_users)
        .add(
            "VendorOnlyUsers_bulkUpdateRolesAcrossAllTenants",
            roles::bulk,
        )
        .add("VendorOnlyUsers_getBulkRolesTaskStatus", roles::bulk_status)
        .add("UsersControllerV1_addUserToTenantForVendor", tenants::join)
        .add(
            "UsersControllerV1_updateUserTenantForVendor",
            tenants::set_active,
        )
        .add(
            "UsersTenantsControllerV1_disableUserTenant",
            tenants::disable,
        )
        .add("UsersTenantsControllerV1_enableUserTenant", tenants::enable)
        .add("UsersControllerV1_moveAllUsersTenants", tenants::migrate)
        .add("UsersControllerV1_updateUserTenant", tenants::switch_mine)
        .add("get", tenants::statuses)
        .add(
            "UsersControllerV1_setUserRolesFromSubTenants",
            tenants::set_sub_account_access,
        )
        .add(
            "UsersControllerV2_getUserTenantsHierarchy",
            tenants::my_hierarchy,
        )
        .add("UsersControllerV2_getUserProfile", me::get)
        .add("UsersControllerV3_getUserProfile", me::get_v3)
        .add("UsersControllerV1_getMeAuthorization", me::authorization)
        .add("UsersControllerV2_getUserTenants", me::tenants)
        .add("UsersControllerV1_getUserTenants", me::tenants)
        .add("UsersControllerV2_updateUserProfile", me::update)
        .add("UsersControllerV1_updateUser", me::update)
        .add(
            "UserSessionsControllerV1_getActiveSessions",
            sessions::list_mine,
        )
        .add(
            "UserSessionsControllerV1_deleteAllUserActiveSessions",
            sessions::end_others,
        )
        .add(
            "UserSessionsControllerV1_deleteUserSession",
            sessions::end_one,
        )
}
