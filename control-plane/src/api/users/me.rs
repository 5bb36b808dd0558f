//! Self-service: the calling user's own profile, accounts and authorization. Environment
//! tokens reach these routes only with `frontegg-user-id` (and `frontegg-tenant-id`).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::dto::{UserResponse, user_response};
use super::load_user;
use super::manage::update_user;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::extract::ApiJson;
use crate::http::reply;
use crate::model::tenant::Tenant;
use crate::model::user::User;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV2_getUserProfile", get_me)
        .add("UsersControllerV3_getUserProfile", get_me_v3)
        .add("UsersControllerV1_getMeAuthorization", get_me_authorization)
        .add("UsersControllerV2_getUserTenants", get_my_tenants)
        .add("UsersControllerV1_getUserTenants", get_my_tenants)
        .add("UsersControllerV2_updateUserProfile", update_me)
        .add("UsersControllerV1_updateUser", update_me)
}

use crate::api::Ops;

/// The calling user and the account in context.
fn me(state: &AppState, caller: &Caller) -> Result<(User, String), ApiError> {
    match caller {
        Caller::User(u) => Ok((u.user.clone(), u.tenant_id.clone())),
        Caller::Env(e) => {
            let id = e.user_id.as_deref().ok_or_else(|| {
                ApiError::bad_request("frontegg-user-id is required with an environment token")
            })?;
            let user = load_user(state, id, e.tenant.as_deref())?;
            let tenant = e
                .tenant
                .clone()
                .or_else(|| user.login_tenant().map(str::to_owned))
                .ok_or_else(|| ApiError::bad_request("frontegg-tenant-id is required"))?;
            Ok((user, tenant))
        }
    }
}

/// User token: the caller's profile with roles and permissions in the token's account.
async fn get_me(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<UserResponse>, ApiError> {
    let (u, tenant) = me(&state, &caller)?;
    Ok(Json(user_response(
        &state,
        &*state.catalog()?,
        &u,
        Some(&tenant),
        true,
    )?))
}

/// User token: the caller's profile (v3 shape).
async fn get_me_v3(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<UserResponse>, ApiError> {
    let (u, tenant) = me(&state, &caller)?;
    Ok(Json(user_response(
        &state,
        &*state.catalog()?,
        &u,
        Some(&tenant),
        false,
    )?))
}

/// User token: the caller's effective roles and permissions (the same function as tokens).
async fn get_me_authorization(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let (u, tenant) = me(&state, &caller)?;
    let cat = state.catalog()?;
    let eff = cat.effective(&u, &tenant)?;
    let roles: Vec<_> = eff
        .roles
        .iter()
        .cloned()
        .map(|r| reply::role(&state, r))
        .collect();
    let permissions: Vec<_> = eff
        .permissions
        .iter()
        .cloned()
        .map(|p| reply::permission(p, &cat.roles))
        .collect();
    Ok(Json(json!({"roles": roles, "permissions": permissions})))
}

/// User token: the caller's accounts.
async fn get_my_tenants(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let (u, _) = me(&state, &caller)?;
    let mut out = Vec::new();
    for m in &u.memberships {
        if let Some(t) = state.db.get::<Tenant>(m.tenant_id.as_bytes())? {
            out.push(json!({"tenantId": t.tenant_id, "name": t.name, "id": t.id, "isDisabled": m.disabled}));
        }
    }
    Ok(Json(out))
}

/// What a user may change about itself. Privileged fields are refused by name; anything
/// else unknown is ignored.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SelfUpdate {
    name: Option<String>,
    phone_number: Option<String>,
    profile_picture_url: Option<String>,
    metadata: Option<Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

const PRIVILEGED: &[&str] = &[
    "superUser",
    "tenantId",
    "tenantIds",
    "roles",
    "roleIds",
    "isLocked",
    "verified",
    "mfaBypass",
    "email",
    "id",
    "sub",
    "invisible",
    "vendorMetadata",
    "tenants",
    "permissions",
    "externalId",
];

/// User token: update the caller's own profile (name, phone, picture, metadata).
async fn update_me(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SelfUpdate>,
) -> Result<Json<UserResponse>, ApiError> {
    if let Some(field) = PRIVILEGED.iter().find(|f| req.rest.contains_key(**f)) {
        return Err(ApiError::bad_request(format!(
            "{field} cannot be changed here"
        )));
    }
    let (u, tenant) = me(&state, &caller)?;
    let profile = super::ProfileChange::validate(
        req.name.as_deref(),
        req.phone_number.as_deref(),
        req.profile_picture_url.as_deref(),
        req.metadata.as_ref(),
    )?;
    let saved = update_user(&state, &u.id, None, |u| {
        profile.apply(u);
        Ok(None)
    })
    .await?;
    Ok(Json(user_response(
        &state,
        &*state.catalog()?,
        &saved,
        Some(&tenant),
        true,
    )?))
}
