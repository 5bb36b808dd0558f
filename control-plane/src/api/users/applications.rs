//! Users and applications (tag Users-applications Management; `compat-wave2.md` §14): which
//! users of an account may get tokens for which application, and the account a user is
//! active in per application. The portal's non-spec routes (Appendix A) read and write the
//! same assignments by user. DELETE routes take a JSON body, as the clients send them. An
//! environment token names the account in the body; a user token acts in its own account
//! only. The rules live in `model::application`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete as delete_route, get, post};
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::ListQuery;
use crate::model::application::{self, Assignment};

/// The account a body names, as the caller may act in it: an existing one for the
/// environment, the caller's own for a user token.
fn account(
    caller: &Caller,
    state: &AppState,
    perm: Perm,
    tenant: &str,
) -> Result<String, ApiError> {
    caller.require(perm)?;
    if let Some(u) = caller.user()
        && u.tenant_id != tenant
    {
        return Err(ApiError::forbidden(
            "a user token acts in its own account only",
        ));
    }
    crate::model::tenant::require(&state.db, tenant)?;
    Ok(tenant.to_owned())
}

/// What a user token may read: assignments in its own account (the environment: all).
fn visible(caller: &Caller) -> Result<Option<String>, ApiError> {
    caller.require(Perm::ReadUsers)?;
    Ok(caller.user().map(|u| u.tenant_id.clone()))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AppUsersRequest {
    app_id: String,
    tenant_id: String,
    user_ids: Vec<String>,
}

/// `ApplicationUserTenantsResponseDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AssignedDto {
    app_id: String,
    user_tenant_id: String,
    created_at: String,
}

fn assigned_dto(a: Assignment) -> AssignedDto {
    AssignedDto {
        app_id: a.app_id,
        user_tenant_id: format!("{}:{}", a.user_id, a.tenant_id),
        created_at: a.created_at,
    }
}

pub(super) async fn assign(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AppUsersRequest>,
) -> Result<(StatusCode, Json<Vec<AssignedDto>>), ApiError> {
    let tenant = account(&caller, &state, Perm::WriteAppsUsers, &req.tenant_id)?;
    let done = application::assign(
        &state.db,
        &state.clock,
        &tenant,
        &[req.app_id],
        &req.user_ids,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(done.into_iter().map(assigned_dto).collect()),
    ))
}

pub(super) async fn unassign(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AppUsersRequest>,
) -> Result<StatusCode, ApiError> {
    let tenant = account(&caller, &state, Perm::DeleteAppsUsers, &req.tenant_id)?;
    application::unassign(&state.db, &tenant, &[req.app_id], &req.user_ids).await?;
    Ok(StatusCode::OK)
}

/// `GET applications/v1/{appId}/users` and `GET applications/v1/{userId}/apps` share one
/// route parameter; the route's last segment tells them apart.
fn in_view(state: &AppState, user: &str, only: Option<&str>) -> Result<Vec<String>, ApiError> {
    let db = &state.db;
    application::id_like("userId", user)?;
    Ok(match only {
        None => application::apps_of(db, user)?,
        Some(t) => application::apps_in(db, user, t)?,
    })
}

pub(super) async fn users_of_app(
    caller: Caller,
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    let only = visible(&caller)?;
    application::id_like("appId", &app)?;
    Ok(Json(application::users_of(
        &state.db,
        &app,
        only.as_deref(),
    )?))
}

pub(super) async fn apps_of_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    let only = visible(&caller)?;
    Ok(Json(in_view(&state, &user, only.as_deref())?))
}

/// `{userId, appIds}` (portal).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserApps {
    user_id: String,
    app_ids: Vec<String>,
}

/// Non-spec: `GET applications/v1/users-apps?userIds=a,b`.
pub(super) async fn users_apps(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Vec<UserApps>>, ApiError> {
    let only = visible(&caller)?;
    let ids = q.all("userIds");
    if ids.len() > 100 {
        return Err(ApiError::bad_request("at most 100 userIds"));
    }
    let mut out = Vec::new();
    for id in ids {
        out.push(UserApps {
            user_id: id.to_owned(),
            app_ids: in_view(&state, id, only.as_deref())?,
        });
    }
    Ok(Json(out))
}

/// `{appId, userIds}` (portal).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AppUsers {
    app_id: String,
    user_ids: Vec<String>,
}

/// Non-spec: `GET applications/v1/apps-users?appIds=a,b`.
pub(super) async fn apps_users(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Vec<AppUsers>>, ApiError> {
    let only = visible(&caller)?;
    let ids = q.all("appIds");
    if ids.len() > 100 {
        return Err(ApiError::bad_request("at most 100 appIds"));
    }
    let mut out = Vec::new();
    for id in ids {
        application::id_like("appIds", id)?;
        out.push(AppUsers {
            app_id: id.to_owned(),
            user_ids: application::users_of(&state.db, id, only.as_deref())?,
        });
    }
    Ok(Json(out))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserAppsRequest {
    user_id: String,
    tenant_id: String,
    app_ids: Vec<String>,
}

/// Non-spec: `POST applications/v1/apps-user {userId, tenantId, appIds}`.
pub(super) async fn assign_user(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<UserAppsRequest>,
) -> Result<(StatusCode, Json<Vec<AssignedDto>>), ApiError> {
    let tenant = account(&caller, &state, Perm::WriteAppsUsers, &req.tenant_id)?;
    let done = application::assign(
        &state.db,
        &state.clock,
        &tenant,
        &req.app_ids,
        &[req.user_id],
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(done.into_iter().map(assigned_dto).collect()),
    ))
}

/// Non-spec: `DELETE applications/v1/user-apps {userId, tenantId, appIds}`.
pub(super) async fn unassign_user(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<UserAppsRequest>,
) -> Result<StatusCode, ApiError> {
    let tenant = account(&caller, &state, Perm::DeleteAppsUsers, &req.tenant_id)?;
    application::unassign(&state.db, &tenant, &req.app_ids, &[req.user_id]).await?;
    Ok(StatusCode::OK)
}

/// `UserApplicationActiveTenantResponse`.
#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActiveDto {
    tenant_id: String,
    application_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ActiveReply {
    application_active_tenants: Vec<ActiveDto>,
}

/// The acting user: the token's, or `frontegg-user-id` with an environment token.
fn me(caller: &Caller, state: &AppState) -> Result<String, ApiError> {
    Ok(caller.me(state)?.0.id)
}

pub(super) async fn get_active(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<ActiveReply>, ApiError> {
    let user = me(&caller, &state)?;
    Ok(Json(ActiveReply {
        application_active_tenants: application::active_of(&state.db, &user)?
            .into_iter()
            .map(|(application_id, tenant_id)| ActiveDto {
                tenant_id,
                application_id,
            })
            .collect(),
    }))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SwitchRequest {
    active_application_tenants: Vec<ActiveDto>,
}

pub(super) async fn switch_active(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SwitchRequest>,
) -> Result<StatusCode, ApiError> {
    let user = me(&caller, &state)?;
    let pairs: Vec<(String, String)> = req
        .active_application_tenants
        .into_iter()
        .map(|a| (a.application_id, a.tenant_id))
        .collect();
    application::set_active(&state.db, &user, &pairs).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("ApplicationsControllerV1_assignUsersToApplication", assign)
        .add(
            "ApplicationsControllerV1_unassignUsersFromApplication",
            unassign,
        )
        .add(
            "ApplicationsControllerV1_getUsersForApplication",
            users_of_app,
        )
        .add(
            "ApplicationsControllerV1_getApplicationsForUser",
            apps_of_user,
        )
        .add(
            "ApplicationsActiveUserTenantsControllerV1_getUserApplicationActiveTenants",
            get_active,
        )
        .add(
            "ApplicationsActiveUserTenantsControllerV1_switchUserApplicationActiveTenant",
            switch_active,
        )
        .add_extra("/resources/applications/v1/users-apps", get(users_apps))
        .add_extra("/resources/applications/v1/apps-users", get(apps_users))
        .add_extra("/resources/applications/v1/apps-user", post(assign_user))
        .add_extra(
            "/resources/applications/v1/user-apps",
            delete_route(unassign_user),
        )
}
