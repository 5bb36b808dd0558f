//! Custom social OAuth providers (tag Custom Social OAuth Provider, `compat-wave2.md` §17):
//! the environment registers them (`POST`, `PATCH`, `DELETE sso/custom/v1`); the login box
//! reads them on every load (`GET sso/custom/v1`, public, `{providers}`, never a secret),
//! after `GET sso/v2` (built-in social providers: none are configured in Tessera, so an
//! empty list). Signing in through one is `api::auth::social`. The rules live in
//! `model::social`.

use axum::Json;
use axum::extract::{Path, State};
use axum::routing::get;
use serde::Serialize;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::social::{self, Provider, ProviderChange};

/// `ICustomSocialLoginProviderConfigurationV1` (no secret).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProviderDto {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    client_id: String,
    redirect_url: String,
    redirect_url_pattern: String,
    authorization_url: String,
    token_url: String,
    user_info_url: String,
    scopes: String,
    sso_logo_url: String,
    display_name: String,
    active: bool,
}

impl From<Provider> for ProviderDto {
    fn from(p: Provider) -> Self {
        ProviderDto {
            id: p.id,
            kind: p.kind,
            client_id: p.client_id,
            redirect_url_pattern: p.redirect_url.clone(),
            redirect_url: p.redirect_url,
            authorization_url: p.authorization_url,
            token_url: p.token_url,
            user_info_url: p.user_info_url,
            scopes: p.scopes,
            sso_logo_url: p.sso_logo_url,
            display_name: p.display_name,
            active: p.active,
        }
    }
}

/// A built-in social provider as `sso/v2` lists it (none are configured).
#[derive(Serialize)]
pub(super) struct SocialProvider {}

/// `GET sso/v2`: Tessera configures no built-in social provider; custom ones are listed by
/// `sso/custom/v1`.
pub(super) async fn social() -> Json<Vec<SocialProvider>> {
    Json(Vec::new())
}

/// `{providers}`.
#[derive(Serialize)]
pub(super) struct CustomProviders {
    providers: Vec<ProviderDto>,
}

/// Public: `GET sso/custom/v1`, every registered provider without its secret.
pub(super) async fn custom(
    State(state): State<AppState>,
) -> Result<Json<CustomProviders>, ApiError> {
    Ok(Json(CustomProviders {
        providers: social::all(&state.db)?
            .into_iter()
            .map(ProviderDto::from)
            .collect(),
    }))
}

/// Environment: register a provider (every field required).
async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ProviderChange>,
) -> Result<Json<ProviderDto>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(
        social::create(&state.db, &state.clock, &req).await?.into(),
    ))
}

/// Environment: change a provider (absent fields stay; a new secret replaces the old).
async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ProviderChange>,
) -> Result<Json<ProviderDto>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(
        social::update(&state.db, &state.clock, &id, &req)
            .await?
            .into(),
    ))
}

/// Environment: remove a provider.
async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Perm::Environment)?;
    social::delete(&state.db, &id).await?;
    Ok(Json(serde_json::json!({})))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("SsoV2Controller_getSsoProviders", custom)
        .add("CustomSsoV1Controller_createSsoProvider", create)
        .add("CustomSsoV1Controller_updateSsoProvider", update)
        .add("CustomSsoV1Controller_deleteCustomSsoConfig", delete)
        .add_extra("/resources/sso/v2", get(social))
}
