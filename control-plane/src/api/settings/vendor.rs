//! The environment's identity configuration, `GET/POST /resources/configurations/v1`
//! (tag Core Settings). The reply carries the active signing key as an SPKI PEM in
//! `publicKey`, which is how the Node, Python and Go SDKs get the key (`compat.md` §1.1).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::vendor_config::{self, ConfigChange, VendorConfig};

/// `VendorConfigBasicResponse`: what SDKs read at start-up.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BasicReply {
    force_permissions: bool,
    machine_to_machine_auth_strategy: String,
}

/// Environment token: the settings SDKs need at start-up (permission enforcement and the
/// machine-to-machine strategy).
pub(super) async fn get_basic(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<BasicReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let c = vendor_config::current(&state.db)?;
    Ok(Json(BasicReply {
        force_permissions: c.force_permissions,
        machine_to_machine_auth_strategy: c.machine_to_machine_auth_strategy,
    }))
}

/// The public configuration the login box reads at boot (`configurations/v1/public`,
/// outside the spec: `compat-wave2.md` Appendix A): what a page before login may know —
/// whether it may offer signup, which first factor it shows, how passwordless behaves.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PublicReply {
    allow_signups: bool,
    allow_not_verified_users_login: bool,
    auth_strategy: String,
    default_passwordless_token_expiration: u32,
    force_same_device_on_auth: bool,
}

/// No credentials: the login box calls it before anyone signed in.
pub(super) async fn get_public(
    State(state): State<AppState>,
) -> Result<Json<PublicReply>, ApiError> {
    let c = vendor_config::current(&state.db)?;
    Ok(Json(PublicReply {
        allow_signups: c.allow_signups,
        allow_not_verified_users_login: c.allow_not_verified_users_login,
        auth_strategy: c.auth_strategy,
        default_passwordless_token_expiration: c.default_passwordless_token_expiration,
        force_same_device_on_auth: c.force_same_device_on_auth,
    }))
}

/// `VendorConfigResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConfigReply {
    id: String,
    default_token_expiration: u32,
    default_refresh_token_expiration: u32,
    cookie_same_site: String,
    allow_signups: bool,
    api_tokens_enabled: bool,
    allow_override_password_complexity: bool,
    allow_override_password_expiration: bool,
    allow_override_enforce_password_history: bool,
    jwt_algorithm: String,
    allow_not_verified_users_login: bool,
    force_permissions: bool,
    auth_strategy: String,
    default_passwordless_token_expiration: u32,
    force_same_device_on_auth: bool,
    allow_tenant_invitations: bool,
    rotate_refresh_tokens: bool,
    machine_to_machine_auth_strategy: String,
    add_roles_to_jwt: bool,
    add_permissions_to_jwt: bool,
    refresh_tokens_rotation_limit: u32,
    add_saml_attributes_to_jwt: bool,
    allow_custom_login_tenant_switch: bool,
    skip_tenant_validation: bool,
    /// The active signing key, SPKI PEM.
    public_key: String,
    /// Never used: Tessera signs RS256 only.
    jwt_secret: String,
}

fn reply(state: &AppState, c: VendorConfig) -> ConfigReply {
    ConfigReply {
        id: c.id,
        default_token_expiration: c.default_token_expiration,
        default_refresh_token_expiration: c.default_refresh_token_expiration,
        cookie_same_site: c.cookie_same_site,
        allow_signups: c.allow_signups,
        api_tokens_enabled: c.api_tokens_enabled,
        allow_override_password_complexity: c.allow_override_password_complexity,
        allow_override_password_expiration: c.allow_override_password_expiration,
        allow_override_enforce_password_history: c.allow_override_enforce_password_history,
        jwt_algorithm: c.jwt_algorithm,
        allow_not_verified_users_login: c.allow_not_verified_users_login,
        force_permissions: c.force_permissions,
        auth_strategy: c.auth_strategy,
        default_passwordless_token_expiration: c.default_passwordless_token_expiration,
        force_same_device_on_auth: c.force_same_device_on_auth,
        allow_tenant_invitations: c.allow_tenant_invitations,
        rotate_refresh_tokens: c.rotate_refresh_tokens,
        machine_to_machine_auth_strategy: c.machine_to_machine_auth_strategy,
        add_roles_to_jwt: c.add_roles_to_jwt,
        add_permissions_to_jwt: c.add_permissions_to_jwt,
        refresh_tokens_rotation_limit: c.refresh_tokens_rotation_limit,
        add_saml_attributes_to_jwt: c.add_saml_attributes_to_jwt,
        allow_custom_login_tenant_switch: c.allow_custom_login_tenant_switch,
        skip_tenant_validation: c.skip_tenant_validation,
        public_key: state.issuer.public_key_pem(),
        jwt_secret: String::new(),
    }
}

/// Environment token, or a user's with `fe.secure.read.securityPolicy` (the portal's
/// security page): the configuration with the public signing key (nothing in it is secret).
pub(super) async fn get_config(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<ConfigReply>, ApiError> {
    caller.require(Perm::ReadSecurityPolicy)?;
    let c = vendor_config::current(&state.db)?;
    Ok(Json(reply(&state, c)))
}

/// Environment token: change the given fields; 201 with the whole configuration.
pub(super) async fn update_config(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(change): ApiJson<ConfigChange>,
) -> Result<(StatusCode, Json<ConfigReply>), ApiError> {
    caller.require(Perm::Environment)?;
    let saved = vendor_config::update(&state.db, &state.clock, &change).await?;
    Ok((StatusCode::CREATED, Json(reply(&state, saved))))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("VendorConfigController_getVendorConfig", get_config)
        .add("VendorConfigController_addOrUpdateConfig", update_config)
        .add("VendorConfigController_getVendorConfigBasic", get_basic)
        // The login box's boot read (`compat-wave2.md` Appendix A).
        .add_extra("/resources/configurations/v1/public", get(get_public))
}
