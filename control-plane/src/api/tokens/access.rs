//! Access tokens of an account (with roles) or of a user (the user's own rights). The
//! `secret` is an RS256 JWT of type `tenantAccessToken` / `userAccessToken` whose `sub` is
//! the token's id, sent as `x-api-key`; it carries no roles: SDKs look the token up in the
//! vendor-only routes here (the active-id lists and per-id data), which answer from the
//! current state — a deleted, expired or orphaned token is gone at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing;
use serde::{Deserialize, Serialize};

use super::owner::{ForAccount, ForUser, Owner};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::access_token::{self, AccessToken, NewAccessToken};
use crate::model::api_token::Issuance;
use crate::model::clock::rfc3339_of;

/// `AccessTokenResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TokenReply {
    id: String,
    description: String,
    created_at: String,
    created_by_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
}

impl From<AccessToken> for TokenReply {
    fn from(t: AccessToken) -> Self {
        TokenReply {
            expires: t.expires_at.and_then(rfc3339_of),
            role_ids: t.user_id.is_none().then_some(t.role_ids),
            id: t.id,
            description: t.description,
            created_at: t.created_at,
            created_by_user_id: t.created_by_user_id,
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

/// `{accessTokens}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListReply {
    access_tokens: Vec<TokenReply>,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateRequest {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    expires_in_minutes: Option<f64>,
    #[serde(default)]
    role_ids: Option<Vec<String>>,
}

/// Create an access token for the owner (under the `AccessToken` strategy).
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
    let new = NewAccessToken {
        description: req.description,
        role_ids: req.role_ids.unwrap_or_default(),
        expires_in_minutes: req.expires_in_minutes,
        created_by,
    };
    let who = Issuance {
        issuer: &state.public_url,
        audience: state.env.client_id(),
        application: state.env.client_id(),
        ttl: 0,
    };
    let (t, claims) =
        access_token::create(&state.db, &state.clock, &owner, caller.grantor(), new, who).await?;
    let secret = state.issuer.sign(&claims).map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedReply {
            token: t.into(),
            secret,
        }),
    ))
}

/// The owner's access tokens, oldest first.
pub(super) async fn list<O: Owner>(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<ListReply>, ApiError> {
    let owner = O::of(&state, &caller, O::READ)?;
    Ok(Json(ListReply {
        access_tokens: access_token::of_owner(&state.db, &owner)?
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// Delete one of the owner's access tokens.
pub(super) async fn delete<O: Owner>(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let owner = O::of(&state, &caller, O::DELETE)?;
    access_token::delete(&state.db, &state.clock, &owner, &id).await?;
    Ok(StatusCode::OK)
}

/// Environment token: the ids of every active access token of the kind (the
/// `frontegg-tenant-id` header is optional here — the SDKs never send it — and narrows).
pub(super) async fn active_ids<O: Owner>(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<String>>, ApiError> {
    caller.require(Perm::Environment)?;
    let narrow = headers
        .get("frontegg-tenant-id")
        .and_then(|v| v.to_str().ok());
    let cat = state.catalog()?;
    Ok(Json(access_token::active_ids(
        &state.db,
        &cat,
        &state.restrictions,
        O::USERS,
        narrow,
        state.clock.unix(),
    )?))
}

/// An active token's current data.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DataReply {
    id: String,
    tenant_id: String,
    roles: Vec<String>,
    permissions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
}

/// Environment token: an active access token's current data (404 once it is not active).
pub(super) async fn data<O: Owner>(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DataReply>, ApiError> {
    caller.require(Perm::Environment)?;
    let cat = state.catalog()?;
    let (t, (roles, permissions)) = access_token::active(
        &state.db,
        &cat,
        &state.restrictions,
        &id,
        O::USERS,
        state.clock.unix(),
    )?;
    Ok(Json(DataReply {
        expires: t.expires_at.and_then(rfc3339_of),
        id: t.id,
        tenant_id: t.tenant_id,
        roles,
        permissions,
        user_id: t.user_id,
    }))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_extra(
            "/resources/vendor-only/tenants/access-tokens/v1/active",
            routing::get(active_ids::<ForAccount>),
        )
        .add(
            "TenantAccessTokensV1Controller_getTenantAccessTokens",
            list::<ForAccount>,
        )
        .add(
            "TenantAccessTokensV1Controller_createTenantAccessToken",
            create::<ForAccount>,
        )
        .add(
            "TenantAccessTokensV1Controller_deleteTenantAccessToken",
            delete::<ForAccount>,
        )
        .add(
            "UserAccessTokensV1Controller_getUserAccessTokens",
            list::<ForUser>,
        )
        .add(
            "UserAccessTokensV1Controller_createUserAccessToken",
            create::<ForUser>,
        )
        .add(
            "UserAccessTokensV1Controller_deleteUserAccessToken",
            delete::<ForUser>,
        )
        .add(
            "VendorOnlyUserAccessTokensV1Controller_getActiveAccessTokens",
            active_ids::<ForUser>,
        )
        .add(
            "VendorOnlyUserAccessTokensV1Controller_getUserAccessTokenData",
            data::<ForUser>,
        )
        .add(
            "VendorOnlyTenantAccessTokensV1Controller_getTenantAccessTokenData",
            data::<ForAccount>,
        )
}
