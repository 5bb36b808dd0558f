//! Client-credentials API tokens of an account (roles or permissions) or of a user (the
//! user's own rights, read at each login). The secret is in the creation reply only;
//! deleting a token revokes its JWTs at every sidecar.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::owner::{ForAccount, ForUser, Owner};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::extract::ApiJson;
use crate::model::api_token::{self, ApiToken, ApiTokenChange, NewApiToken};
use crate::model::clock::rfc3339_of;

/// `TenantApiTokenResponse` / `UserApiTokenResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TokenReply {
    client_id: String,
    description: String,
    tenant_id: String,
    created_by_user_id: Option<String>,
    metadata: Map<String, Value>,
    created_at: String,
    permission_ids: Vec<String>,
    role_ids: Vec<String>,
    /// `null` for a token that never expires (the list reply requires the field).
    expires: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
}

impl From<ApiToken> for TokenReply {
    fn from(t: ApiToken) -> Self {
        TokenReply {
            expires: t.expires_at.and_then(rfc3339_of),
            client_id: t.client_id,
            description: t.description,
            tenant_id: t.tenant_id,
            created_by_user_id: t.created_by_user_id,
            metadata: t.metadata,
            created_at: t.created_at,
            permission_ids: t.permission_ids,
            role_ids: t.role_ids,
            user_id: t.user_id,
        }
    }
}

/// A new token with its secret.
#[derive(Serialize)]
pub(super) struct CreatedReply {
    #[serde(flatten)]
    token: TokenReply,
    secret: String,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateRequest {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    role_ids: Option<Vec<String>>,
    #[serde(default)]
    permission_ids: Option<Vec<String>>,
    #[serde(default)]
    expires_in_minutes: Option<f64>,
}

/// The owner's tokens, oldest first.
pub(super) async fn list<O: Owner>(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<TokenReply>>, ApiError> {
    let owner = O::of(&state, &caller, O::READ)?;
    Ok(Json(
        api_token::of_owner(&state.db, &owner)?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// A token for the owner: an account's with roles (which win) or permissions, never more
/// than the caller may confer; a user's acting as the user.
pub(super) async fn create<O: Owner>(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateRequest>,
) -> Result<(StatusCode, Json<CreatedReply>), ApiError> {
    let owner = O::of(&state, &caller, O::WRITE)?;
    let created_by = owner
        .user
        .clone()
        .or_else(|| caller.user().map(|u| u.user.id.clone()));
    let new = NewApiToken {
        description: req.description,
        metadata: req.metadata,
        role_ids: req.role_ids.unwrap_or_default(),
        permission_ids: req.permission_ids.unwrap_or_default(),
        expires_in_minutes: req.expires_in_minutes,
        created_by,
    };
    let (t, secret) =
        api_token::create(&state.db, &state.clock, &owner, caller.grantor(), new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedReply {
            token: t.into(),
            secret,
        }),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateRequest {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    role_ids: Option<Vec<String>>,
    #[serde(default)]
    permission_ids: Option<Vec<String>>,
}

/// `fe.secure.write.tenantApiTokens`: change an account token's description, metadata,
/// roles or permissions (from its next login or refresh).
pub(super) async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateRequest>,
) -> Result<Json<TokenReply>, ApiError> {
    let owner = ForAccount::of(&state, &caller, ForAccount::WRITE)?;
    let change = ApiTokenChange {
        description: req.description,
        metadata: req.metadata,
        role_ids: req.role_ids,
        permission_ids: req.permission_ids,
    };
    let t = api_token::update(
        &state.db,
        &state.clock,
        &owner.tenant,
        caller.grantor(),
        &id,
        &change,
    )
    .await?;
    Ok(Json(t.into()))
}

/// Delete one of the owner's tokens.
pub(super) async fn delete<O: Owner>(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let owner = O::of(&state, &caller, O::DELETE)?;
    api_token::delete(&state.db, &state.clock, &owner, &id).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "TenantApiTokensV1Controller_getTenantsApiTokens",
            list::<ForAccount>,
        )
        .add(
            "TenantApiTokensV1Controller_createTenantApiToken",
            create::<ForAccount>,
        )
        .add(
            "TenantApiTokensV2Controller_createTenantApiToken",
            create::<ForAccount>,
        )
        .add("TenantApiTokensV1Controller_updateTenantApiToken", update)
        .add(
            "TenantApiTokensV1Controller_deleteTenantApiToken",
            delete::<ForAccount>,
        )
        .add("UserApiTokensV1Controller_getApiTokens", list::<ForUser>)
        .add(
            "UserApiTokensV1Controller_createTenantApiToken",
            create::<ForUser>,
        )
        .add(
            "UserApiTokensV1Controller_deleteApiToken",
            delete::<ForUser>,
        )
}
