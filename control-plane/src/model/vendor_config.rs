//! The environment's identity configuration (Frontegg's "vendor config"): token lifetimes,
//! signup and login switches, refresh rotation, what goes into JWTs.

use serde::{Deserialize, Serialize};

use crate::store::{Db, Record, StoreError, Tree};

/// The stored configuration. Field names are the API's; every field has a default so records
/// written by older versions still load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VendorConfig {
    /// Stable id (UUID).
    pub id: String,
    /// Access-token lifetime, seconds.
    pub default_token_expiration: u32,
    /// Refresh-token (session) lifetime, seconds (at most 180 days).
    pub default_refresh_token_expiration: u32,
    /// `SameSite` of the refresh cookie: STRICT, LAX or NONE.
    pub cookie_same_site: String,
    /// Whether self-service signup is open.
    pub allow_signups: bool,
    /// Whether API tokens may be used.
    pub api_tokens_enabled: bool,
    /// Whether accounts may override the password complexity policy.
    pub allow_override_password_complexity: bool,
    /// Whether accounts may override password expiration.
    pub allow_override_password_expiration: bool,
    /// Whether accounts may override password history.
    pub allow_override_enforce_password_history: bool,
    /// Always RS256 (HS256 would break every SDK, `compat.md` §1.1).
    pub jwt_algorithm: String,
    /// Whether unverified users may log in.
    pub allow_not_verified_users_login: bool,
    /// Whether permissions are enforced even without roles.
    pub force_permissions: bool,
    /// Login strategy.
    pub auth_strategy: String,
    /// Passwordless code/link lifetime, seconds.
    pub default_passwordless_token_expiration: u32,
    /// Whether magic links must be opened on the requesting device.
    pub force_same_device_on_auth: bool,
    /// Whether accounts may create invitation links.
    pub allow_tenant_invitations: bool,
    /// Whether each refresh returns a new refresh token.
    pub rotate_refresh_tokens: bool,
    /// Machine-to-machine strategy: ClientCredentials or AccessToken.
    pub machine_to_machine_auth_strategy: String,
    /// Whether role keys go into user JWTs.
    pub add_roles_to_jwt: bool,
    /// Whether permission keys go into user JWTs.
    pub add_permissions_to_jwt: bool,
    /// How many rotated refresh tokens stay usable.
    pub refresh_tokens_rotation_limit: u32,
    /// Whether SAML attributes go into JWTs.
    pub add_saml_attributes_to_jwt: bool,
    /// Whether the login box may switch account.
    pub allow_custom_login_tenant_switch: bool,
    /// Whether tenant validation is skipped on user creation.
    pub skip_tenant_validation: bool,
}

impl Default for VendorConfig {
    fn default() -> Self {
        VendorConfig {
            id: String::new(),
            default_token_expiration: 3600,
            default_refresh_token_expiration: 2_592_000,
            cookie_same_site: "NONE".into(),
            allow_signups: true,
            api_tokens_enabled: true,
            allow_override_password_complexity: false,
            allow_override_password_expiration: false,
            allow_override_enforce_password_history: false,
            jwt_algorithm: "RS256".into(),
            allow_not_verified_users_login: false,
            force_permissions: false,
            auth_strategy: "EmailAndPassword".into(),
            default_passwordless_token_expiration: 300,
            force_same_device_on_auth: false,
            allow_tenant_invitations: true,
            rotate_refresh_tokens: true,
            machine_to_machine_auth_strategy: "ClientCredentials".into(),
            add_roles_to_jwt: true,
            add_permissions_to_jwt: true,
            refresh_tokens_rotation_limit: 1,
            add_saml_attributes_to_jwt: false,
            allow_custom_login_tenant_switch: false,
            skip_tenant_validation: false,
        }
    }
}

impl Record for VendorConfig {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        b"vendor-config".to_vec()
    }
}

/// Store the default configuration with a fresh id on first start.
pub async fn ensure(db: &Db) -> Result<(), StoreError> {
    if db.get::<VendorConfig>(b"vendor-config")?.is_some() {
        return Ok(());
    }
    let id = crate::crypto::new_uuid().to_string();
    db.write(|tx| {
        if tx.get::<VendorConfig>(b"vendor-config")?.is_none() {
            tx.put(&VendorConfig {
                id: id.clone(),
                ..VendorConfig::default()
            })?;
        }
        Ok(())
    })
    .await
}
