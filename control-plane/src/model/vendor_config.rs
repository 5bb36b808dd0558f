//! The environment's identity configuration (Frontegg's "vendor config"): token lifetimes,
//! signup and login switches, refresh rotation, what goes into JWTs.

use serde::{Deserialize, Serialize};

use crate::model::clock::Clock;
use crate::model::event::Event;
use crate::store::{Db, Record, StoreError, Tree, Tx};

const KEY: &[u8] = b"vendor-config";
/// The longest access-token lifetime ever configured (revocations must outlive it).
const MAX_TTL_KEY: &[u8] = b"max_token_ttl";

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
    /// Browser origins the environment allows (CORS with credentials, the session cookie),
    /// beside `--allowed-origins`; normalised `scheme://host[:port]` (Tessera's own field).
    pub allowed_origins: Vec<String>,
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
            allowed_origins: Vec::new(),
        }
    }
}

impl Record for VendorConfig {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        KEY.to_vec()
    }
}

/// The configuration in force: the stored one, or the defaults. The one reader.
pub fn current(db: &Db) -> Result<VendorConfig, StoreError> {
    Ok(db.get::<VendorConfig>(KEY)?.unwrap_or_default())
}

/// Tokens live at most this long: the largest access-token lifetime ever configured.
pub fn longest_token_ttl(db: &Db) -> Result<i64, StoreError> {
    let configured = current(db)?.default_token_expiration;
    let high = db
        .get_raw(Tree::Meta, MAX_TTL_KEY)?
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, i64::from_be_bytes);
    Ok(high.max(i64::from(configured)))
}

/// Record that tokens may live `ttl` seconds (the longest lifetime only grows).
pub(crate) fn note_token_ttl(tx: &mut Tx<'_>, ttl: i64) -> Result<(), StoreError> {
    let high = tx
        .get_raw(Tree::Meta, MAX_TTL_KEY)?
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, i64::from_be_bytes);
    if ttl > high {
        tx.put_raw(Tree::Meta, MAX_TTL_KEY, &ttl.to_be_bytes())?;
    }
    Ok(())
}

/// A configuration change that breaks a rule.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field out of its range or set.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A change to the configuration: only the given fields change, each checked.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigChange {
    pub default_token_expiration: Option<u32>,
    pub default_refresh_token_expiration: Option<u32>,
    pub cookie_same_site: Option<String>,
    pub machine_to_machine_auth_strategy: Option<String>,
    pub allow_signups: Option<bool>,
    pub api_tokens_enabled: Option<bool>,
    pub allow_override_password_complexity: Option<bool>,
    pub allow_override_password_expiration: Option<bool>,
    pub allow_override_enforce_password_history: Option<bool>,
    pub jwt_algorithm: Option<String>,
    pub allow_not_verified_users_login: Option<bool>,
    pub force_permissions: Option<bool>,
    pub add_saml_attributes_to_jwt: Option<bool>,
    pub auth_strategy: Option<String>,
    pub default_passwordless_token_expiration: Option<u32>,
    pub force_same_device_on_auth: Option<bool>,
    pub allow_tenant_invitations: Option<bool>,
    pub rotate_refresh_tokens: Option<bool>,
    pub skip_tenant_validation: Option<bool>,
    pub add_roles_to_jwt: Option<bool>,
    pub add_permissions_to_jwt: Option<bool>,
    pub allow_custom_login_tenant_switch: Option<bool>,
}

fn one_of(
    field: &str,
    value: &Option<String>,
    allowed: &[&str],
    target: &mut String,
) -> Result<(), ConfigError> {
    if let Some(v) = value {
        if !allowed.contains(&v.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "{field} must be one of {}",
                allowed.join(", ")
            )));
        }
        target.clone_from(v);
    }
    Ok(())
}

fn in_range(
    field: &str,
    value: Option<u32>,
    range: std::ops::RangeInclusive<u32>,
    target: &mut u32,
) -> Result<(), ConfigError> {
    if let Some(v) = value {
        if !range.contains(&v) {
            return Err(ConfigError::Invalid(format!(
                "{field} must be between {} and {}",
                range.start(),
                range.end()
            )));
        }
        *target = v;
    }
    Ok(())
}

impl VendorConfig {
    /// Apply `c`, checking every given field.
    pub fn apply(&mut self, c: &ConfigChange) -> Result<(), ConfigError> {
        if c.jwt_algorithm.as_deref().is_some_and(|a| a != "RS256") {
            return Err(ConfigError::Invalid(
                "jwtAlgorithm must be RS256: the SDKs accept RS256 tokens only".into(),
            ));
        }
        in_range(
            "defaultTokenExpiration",
            c.default_token_expiration,
            30..=2_592_000,
            &mut self.default_token_expiration,
        )?;
        in_range(
            "defaultRefreshTokenExpiration",
            c.default_refresh_token_expiration,
            60..=15_552_000,
            &mut self.default_refresh_token_expiration,
        )?;
        in_range(
            "defaultPasswordlessTokenExpiration",
            c.default_passwordless_token_expiration,
            30..=86_400,
            &mut self.default_passwordless_token_expiration,
        )?;
        one_of(
            "cookieSameSite",
            &c.cookie_same_site,
            &["STRICT", "LAX", "NONE"],
            &mut self.cookie_same_site,
        )?;
        one_of(
            "machineToMachineAuthStrategy",
            &c.machine_to_machine_auth_strategy,
            &["ClientCredentials", "AccessToken"],
            &mut self.machine_to_machine_auth_strategy,
        )?;
        one_of(
            "authStrategy",
            &c.auth_strategy,
            &[
                "Code",
                "EmailAndPassword",
                "MagicLink",
                "NoLocalAuthentication",
                "SmsCode",
                "UsernameAndPassword",
                "UsernameAndMagicLink",
                "UsernameAndCode",
                "UsernameAndSms",
            ],
            &mut self.auth_strategy,
        )?;
        let flags = [
            (c.allow_signups, &mut self.allow_signups),
            (c.api_tokens_enabled, &mut self.api_tokens_enabled),
            (
                c.allow_override_password_complexity,
                &mut self.allow_override_password_complexity,
            ),
            (
                c.allow_override_password_expiration,
                &mut self.allow_override_password_expiration,
            ),
            (
                c.allow_override_enforce_password_history,
                &mut self.allow_override_enforce_password_history,
            ),
            (
                c.allow_not_verified_users_login,
                &mut self.allow_not_verified_users_login,
            ),
            (c.force_permissions, &mut self.force_permissions),
            (
                c.add_saml_attributes_to_jwt,
                &mut self.add_saml_attributes_to_jwt,
            ),
            (
                c.force_same_device_on_auth,
                &mut self.force_same_device_on_auth,
            ),
            (
                c.allow_tenant_invitations,
                &mut self.allow_tenant_invitations,
            ),
            (c.rotate_refresh_tokens, &mut self.rotate_refresh_tokens),
            (c.skip_tenant_validation, &mut self.skip_tenant_validation),
            (c.add_roles_to_jwt, &mut self.add_roles_to_jwt),
            (c.add_permissions_to_jwt, &mut self.add_permissions_to_jwt),
            (
                c.allow_custom_login_tenant_switch,
                &mut self.allow_custom_login_tenant_switch,
            ),
        ];
        for (given, target) in flags {
            if let Some(v) = given {
                *target = v;
            }
        }
        Ok(())
    }
}

/// Apply `change` to the stored configuration (inside the transaction, so concurrent changes
/// of different fields compose). A new token lifetime is recorded as the longest ever seen
/// if it is, and sidecars hear of it ([`Event::ConfigChanged`]).
pub async fn update(
    db: &Db,
    clock: &Clock,
    change: &ConfigChange,
) -> Result<VendorConfig, ConfigError> {
    let now = crate::model::clock::rfc3339(clock.now());
    db.write(|tx| {
        let mut c = tx.get::<VendorConfig>(KEY)?.unwrap_or_default();
        let before = c.default_token_expiration;
        c.apply(change)?;
        tx.put(&c)?;
        if c.default_token_expiration != before {
            note_token_ttl(tx, i64::from(before))?;
            note_token_ttl(tx, i64::from(c.default_token_expiration))?;
            Event::ConfigChanged.record(tx, &now)?;
        }
        Ok(c)
    })
    .await
}

/// Most origins the environment lists.
pub const MAX_ALLOWED_ORIGINS: usize = 100;

/// Replace the environment's allowed browser origins (each normalised; duplicates folded;
/// anything that is not `scheme://host[:port]` refused, and nothing changed).
pub async fn set_allowed_origins(db: &Db, origins: &[String]) -> Result<VendorConfig, ConfigError> {
    if origins.len() > MAX_ALLOWED_ORIGINS {
        return Err(ConfigError::Invalid(format!(
            "allowedOrigins: at most {MAX_ALLOWED_ORIGINS}"
        )));
    }
    let mut normal = Vec::with_capacity(origins.len());
    for o in origins {
        let n = crate::config::normalize_origin(o).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "allowedOrigins: {o:?} is not an origin (scheme://host[:port])"
            ))
        })?;
        if !normal.contains(&n) {
            normal.push(n);
        }
    }
    db.write(|tx| {
        let mut c = tx.get::<VendorConfig>(KEY)?.unwrap_or_default();
        c.allowed_origins = normal.clone();
        tx.put(&c)?;
        Ok(c)
    })
    .await
}

/// Store the default configuration with a fresh id on first start.
pub async fn ensure(db: &Db) -> Result<(), StoreError> {
    if db.get::<VendorConfig>(KEY)?.is_some() {
        return Ok(());
    }
    let id = crate::crypto::new_uuid().to_string();
    db.write(|tx| {
        if tx.get::<VendorConfig>(KEY)?.is_none() {
            tx.put(&VendorConfig {
                id: id.clone(),
                ..VendorConfig::default()
            })?;
        }
        Ok(())
    })
    .await
}
