//! Machine-to-machine tokens (tags API Tokens, Personal Tokens, M2M Tokens, API Token): an
//! account's and a user's client-credentials API tokens and access tokens, the API-token
//! login and refresh, and the vendor-only lookups SDKs use for access tokens. The account
//! and user variants of each route are one handler over an [`owner::Owner`] kind.

mod access;
mod api;
mod login;
mod owner;

use crate::api::Ops;
use owner::{ForAccount, ForUser};

pub(super) fn ops() -> Ops {
    Ops::default()
        // The v1 login and refresh and the account active-id list real clients call though
        // the spec omits them (`compat.md` §4.5, §2.1).
        .add_extra(
            "/resources/auth/v1/api-token",
            axum::routing::post(login::login_v1),
        )
        .add_extra(
            "/resources/auth/v1/api-token/token/refresh",
            axum::routing::post(login::refresh_v1),
        )
        .add_extra(
            "/resources/vendor-only/tenants/access-tokens/v1/active",
            axum::routing::get(access::active_ids::<ForAccount>),
        )
        .add(
            "TenantApiTokensV1Controller_getTenantsApiTokens",
            api::list::<ForAccount>,
        )
        .add(
            "TenantApiTokensV1Controller_createTenantApiToken",
            api::create::<ForAccount>,
        )
        .add(
            "TenantApiTokensV2Controller_createTenantApiToken",
            api::create::<ForAccount>,
        )
        .add(
            "TenantApiTokensV1Controller_updateTenantApiToken",
            api::update,
        )
        .add(
            "TenantApiTokensV1Controller_deleteTenantApiToken",
            api::delete::<ForAccount>,
        )
        .add(
            "UserApiTokensV1Controller_getApiTokens",
            api::list::<ForUser>,
        )
        .add(
            "UserApiTokensV1Controller_createTenantApiToken",
            api::create::<ForUser>,
        )
        .add(
            "UserApiTokensV1Controller_deleteApiToken",
            api::delete::<ForUser>,
        )
        .add(
            "AuthenticationApiTokenControllerV2_authApiToken",
            login::login_v2,
        )
        .add(
            "AuthenticationApiTokenControllerV2_refreshToken",
            login::refresh_v2,
        )
        .add(
            "TenantAccessTokensV1Controller_getTenantAccessTokens",
            access::list::<ForAccount>,
        )
        .add(
            "TenantAccessTokensV1Controller_createTenantAccessToken",
            access::create::<ForAccount>,
        )
        .add(
            "TenantAccessTokensV1Controller_deleteTenantAccessToken",
            access::delete::<ForAccount>,
        )
        .add(
            "UserAccessTokensV1Controller_getUserAccessTokens",
            access::list::<ForUser>,
        )
        .add(
            "UserAccessTokensV1Controller_createUserAccessToken",
            access::create::<ForUser>,
        )
        .add(
            "UserAccessTokensV1Controller_deleteUserAccessToken",
            access::delete::<ForUser>,
        )
        .add(
            "VendorOnlyUserAccessTokensV1Controller_getActiveAccessTokens",
            access::active_ids::<ForUser>,
        )
        .add(
            "VendorOnlyUserAccessTokensV1Controller_getUserAccessTokenData",
            access::data::<ForUser>,
        )
        .add(
            "VendorOnlyTenantAccessTokensV1Controller_getTenantAccessTokenData",
            access::data::<ForAccount>,
        )
}
