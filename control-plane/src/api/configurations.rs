//! The environment's identity configuration, `GET/POST /resources/configurations/v1`
//! (tag Core Settings). The reply carries the active signing key as an SPKI PEM in
//! `publicKey`, which is how the Node, Python and Go SDKs get the key (`compat.md` §1.1).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::Ops;
use crate::error::ApiError;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::vendor_config::VendorConfig;
use crate::state::AppState;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("VendorConfigController_getVendorConfig", get_vendor_config)
        .add(
            "VendorConfigController_addOrUpdateConfig",
            update_vendor_config,
        )
        .add("VendorConfigController_getVendorConfigBasic", get_basic)
}

/// Environment token: the settings SDKs need at start-up (permission enforcement and the
/// machine-to-machine strategy).
async fn get_basic(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Perm::Environment)?;
    let c = current(&state)?;
    Ok(Json(serde_json::json!({
        "forcePermissions": c.force_permissions,
        "machineToMachineAuthStrategy": c.machine_to_machine_auth_strategy,
    })))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VendorConfigResponse {
    #[serde(flatten)]
    config: VendorConfig,
    public_key: String,
    /// Never used: Tessera signs RS256 only.
    jwt_secret: String,
}

/// Every field optional: only the given ones change.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateVendorConfigRequest {
    default_token_expiration: Option<u32>,
    default_refresh_token_expiration: Option<u32>,
    cookie_same_site: Option<String>,
    machine_to_machine_auth_strategy: Option<String>,
    allow_signups: Option<bool>,
    api_tokens_enabled: Option<bool>,
    allow_override_password_complexity: Option<bool>,
    allow_override_password_expiration: Option<bool>,
    allow_override_enforce_password_history: Option<bool>,
    jwt_algorithm: Option<String>,
    allow_not_verified_users_login: Option<bool>,
    force_permissions: Option<bool>,
    add_saml_attributes_to_jwt: Option<bool>,
    auth_strategy: Option<String>,
    default_passwordless_token_expiration: Option<u32>,
    force_same_device_on_auth: Option<bool>,
    allow_tenant_invitations: Option<bool>,
    rotate_refresh_tokens: Option<bool>,
    skip_tenant_validation: Option<bool>,
    add_roles_to_jwt: Option<bool>,
    add_permissions_to_jwt: Option<bool>,
    allow_custom_login_tenant_switch: Option<bool>,
}

/// The stored configuration, or the defaults.
pub(crate) fn current(state: &AppState) -> Result<VendorConfig, ApiError> {
    Ok(state
        .db
        .get::<VendorConfig>(b"vendor-config")?
        .unwrap_or_default())
}

fn respond(state: &AppState, config: VendorConfig) -> VendorConfigResponse {
    VendorConfigResponse {
        config,
        public_key: state.issuer.public_key_pem(),
        jwt_secret: String::new(),
    }
}

/// Environment token: the configuration with the public signing key.
async fn get_vendor_config(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<VendorConfigResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let config = current(&state)?;
    Ok(Json(respond(&state, config)))
}

fn one_of(
    field: &str,
    value: Option<String>,
    allowed: &[&str],
    target: &mut String,
) -> Result<(), ApiError> {
    if let Some(v) = value {
        if !allowed.contains(&v.as_str()) {
            return Err(ApiError::bad_request(format!(
                "{field} must be one of {}",
                allowed.join(", ")
            )));
        }
        *target = v;
    }
    Ok(())
}

fn in_range(
    field: &str,
    value: Option<u32>,
    range: std::ops::RangeInclusive<u32>,
    target: &mut u32,
) -> Result<(), ApiError> {
    if let Some(v) = value {
        if !range.contains(&v) {
            return Err(ApiError::bad_request(format!(
                "{field} must be between {} and {}",
                range.start(),
                range.end()
            )));
        }
        *target = v;
    }
    Ok(())
}

/// Apply a request to a configuration, validating every given field.
fn apply(req: UpdateVendorConfigRequest, c: &mut VendorConfig) -> Result<(), ApiError> {
    if req.jwt_algorithm.as_deref().is_some_and(|a| a != "RS256") {
        return Err(ApiError::bad_request(
            "jwtAlgorithm must be RS256: the SDKs accept RS256 tokens only",
        ));
    }
    in_range(
        "defaultTokenExpiration",
        req.default_token_expiration,
        30..=2_592_000,
        &mut c.default_token_expiration,
    )?;
    in_range(
        "defaultRefreshTokenExpiration",
        req.default_refresh_token_expiration,
        60..=15_552_000,
        &mut c.default_refresh_token_expiration,
    )?;
    in_range(
        "defaultPasswordlessTokenExpiration",
        req.default_passwordless_token_expiration,
        30..=86_400,
        &mut c.default_passwordless_token_expiration,
    )?;
    one_of(
        "cookieSameSite",
        req.cookie_same_site,
        &["STRICT", "LAX", "NONE"],
        &mut c.cookie_same_site,
    )?;
    one_of(
        "machineToMachineAuthStrategy",
        req.machine_to_machine_auth_strategy,
        &["ClientCredentials", "AccessToken"],
        &mut c.machine_to_machine_auth_strategy,
    )?;
    one_of(
        "authStrategy",
        req.auth_strategy,
        &[
            "Code",
            "EmailAndPassword",
            "MagicLink",
            "NoLocalAuthentication",
            "SmsCode",
        ],
        &mut c.auth_strategy,
    )?;
    let flags = [
        (req.allow_signups, &mut c.allow_signups),
        (req.api_tokens_enabled, &mut c.api_tokens_enabled),
        (
            req.allow_override_password_complexity,
            &mut c.allow_override_password_complexity,
        ),
        (
            req.allow_override_password_expiration,
            &mut c.allow_override_password_expiration,
        ),
        (
            req.allow_override_enforce_password_history,
            &mut c.allow_override_enforce_password_history,
        ),
        (
            req.allow_not_verified_users_login,
            &mut c.allow_not_verified_users_login,
        ),
        (req.force_permissions, &mut c.force_permissions),
        (
            req.add_saml_attributes_to_jwt,
            &mut c.add_saml_attributes_to_jwt,
        ),
        (
            req.force_same_device_on_auth,
            &mut c.force_same_device_on_auth,
        ),
        (
            req.allow_tenant_invitations,
            &mut c.allow_tenant_invitations,
        ),
        (req.rotate_refresh_tokens, &mut c.rotate_refresh_tokens),
        (req.skip_tenant_validation, &mut c.skip_tenant_validation),
        (req.add_roles_to_jwt, &mut c.add_roles_to_jwt),
        (req.add_permissions_to_jwt, &mut c.add_permissions_to_jwt),
        (
            req.allow_custom_login_tenant_switch,
            &mut c.allow_custom_login_tenant_switch,
        ),
    ];
    for (given, target) in flags {
        if let Some(v) = given {
            *target = v;
        }
    }
    Ok(())
}

/// Environment token: change the given fields; 201 with the whole configuration.
async fn update_vendor_config(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<UpdateVendorConfigRequest>,
) -> Result<(StatusCode, Json<VendorConfigResponse>), ApiError> {
    caller.require(Perm::Environment)?;
    let now = crate::clock::rfc3339(state.clock.now());
    let saved = state
        .db
        .write(|tx| {
            // Applied to the stored value inside the transaction, so concurrent updates of
            // different fields compose.
            let mut c = tx
                .get::<VendorConfig>(b"vendor-config")?
                .unwrap_or_default();
            let before = c.default_token_expiration;
            apply(req.clone(), &mut c)?;
            tx.put(&c)?;
            if c.default_token_expiration != before {
                // Sidecars size revocation lifetimes by the token lifetime.
                crate::push::note_token_ttl(tx, i64::from(before))?;
                crate::push::note_token_ttl(tx, i64::from(c.default_token_expiration))?;
                crate::model::event::Event::ConfigChanged.record(tx, &now)?;
            }
            Ok::<_, ApiError>(c)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(respond(&state, saved))))
}
