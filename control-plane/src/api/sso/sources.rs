//! User pools (tag User Sources, `compat-wave2.md` §13), environment token only: Terraform's
//! create, read, update and delete of Auth0, Cognito, Firebase, custom-code and federation
//! sources, the list with user counts, assigning applications, and who came from a source.
//! Replies never carry the configuration's secrets. The rules live in
//! `model::user_source`; signing in through one is `api::auth::{pools, social}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::{ListQuery, Page};
use crate::model::user_source::{self, Change, Kind, Source};

/// `GetUserSourceResponseDTO` (and, with `usersCount`, the list's extended one).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceDto {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    description: String,
    app_ids: Vec<String>,
    index: f64,
    configuration: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    users_count: Option<usize>,
}

fn dto(s: Source, users_count: Option<usize>) -> SourceDto {
    SourceDto {
        id: s.id,
        name: s.name,
        kind: s.kind.name(),
        description: s.description,
        app_ids: s.app_ids,
        index: s.index,
        configuration: s.public,
        users_count,
    }
}

/// `CreateUserSourceResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    app_ids: Vec<String>,
    description: String,
    index: f64,
}

async fn create(
    caller: Caller,
    state: AppState,
    kind: Kind,
    req: Change,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    caller.require(Perm::Environment)?;
    let s = user_source::create(&state.db, &state.clock, state.env.client_id(), kind, &req).await?;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            id: s.id,
            name: s.name,
            kind: s.kind.name(),
            app_ids: s.app_ids,
            description: s.description,
            index: s.index,
        }),
    ))
}

async fn update(
    caller: Caller,
    state: AppState,
    kind: Kind,
    id: String,
    req: Change,
) -> Result<Json<SourceDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let s = user_source::update(&state.db, &state.clock, kind, &id, &req).await?;
    Ok(Json(dto(s, None)))
}

macro_rules! per_kind {
    ($create:ident, $update:ident, $kind:expr) => {
        async fn $create(
            caller: Caller,
            State(state): State<AppState>,
            ApiJson(req): ApiJson<Change>,
        ) -> Result<(StatusCode, Json<Created>), ApiError> {
            create(caller, state, $kind, req).await
        }

        async fn $update(
            caller: Caller,
            State(state): State<AppState>,
            Path(id): Path<String>,
            ApiJson(req): ApiJson<Change>,
        ) -> Result<Json<SourceDto>, ApiError> {
            update(caller, state, $kind, id, req).await
        }
    };
}

per_kind!(create_auth0, update_auth0, Kind::Auth0);
per_kind!(create_cognito, update_cognito, Kind::Cognito);
per_kind!(create_firebase, update_firebase, Kind::Firebase);
per_kind!(create_custom_code, update_custom_code, Kind::CustomCode);
per_kind!(create_federation, update_federation, Kind::Federation);

fn users_of(state: &AppState, id: &str) -> Result<Vec<crate::model::user::User>, ApiError> {
    let mut users = Vec::new();
    for uid in crate::model::social::linked_users(&state.db, &format!("source:{id}"))? {
        if let Some(u) = state.db.get::<crate::model::user::User>(uid.as_bytes())? {
            users.push(u);
        }
    }
    Ok(users)
}

/// Every source, in consultation order, with how many users came from each.
async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<SourceDto>>, ApiError> {
    caller.require(Perm::Environment)?;
    let mut out = Vec::new();
    for s in user_source::all(&state.db)? {
        let n = users_of(&state, &s.id)?.len();
        out.push(dto(s, Some(n)));
    }
    Ok(Json(out))
}

/// One source (404 once deleted: Terraform's sign that it is gone).
async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SourceDto>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(dto(user_source::get(&state.db, &id)?, None)))
}

async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Perm::Environment)?;
    user_source::delete(&state.db, &id).await?;
    Ok(Json(serde_json::json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Assignment {
    user_source_id: String,
    app_ids: Vec<String>,
}

/// Add (`assign`) or take away applications of a source: 201 either way.
async fn assignment(
    caller: Caller,
    state: AppState,
    req: Assignment,
    assign: bool,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Perm::Environment)?;
    user_source::assign(
        &state.db,
        state.env.client_id(),
        &req.user_source_id,
        &req.app_ids,
        assign,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({}))))
}

async fn assign(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Assignment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    assignment(caller, state, req, true).await
}

async fn unassign(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<Assignment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    assignment(caller, state, req, false).await
}

/// `GetUserSourceUsersResponseDTO`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceUser {
    email: String,
    last_login: Option<String>,
}

/// The users who came from source `id` (paginated, by address).
async fn users(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: ListQuery,
) -> Result<Json<Page<SourceUser>>, ApiError> {
    caller.require(Perm::Environment)?;
    user_source::get(&state.db, &id)?;
    let mut all: Vec<SourceUser> = users_of(&state, &id)?
        .into_iter()
        .map(|u| SourceUser {
            email: u.email,
            last_login: u.last_login,
        })
        .collect();
    all.sort_by(|a, b| a.email.cmp(&b.email));
    Ok(Json(q.page(200)?.apply(all)))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "UserSourcesControllerV1_createAuth0ExternalUserSource",
            create_auth0,
        )
        .add(
            "UserSourcesControllerV1_updateAuth0ExternalUserSource",
            update_auth0,
        )
        .add(
            "UserSourcesControllerV1_createCognitoExternalUserSource",
            create_cognito,
        )
        .add(
            "UserSourcesControllerV1_updateCognitoExternalUserSource",
            update_cognito,
        )
        .add(
            "UserSourcesControllerV1_createFirebaseExternalUserSource",
            create_firebase,
        )
        .add(
            "UserSourcesControllerV1_updateFirebaseExternalUserSource",
            update_firebase,
        )
        .add(
            "UserSourcesControllerV1_createCustomCodeExternalUserSource",
            create_custom_code,
        )
        .add(
            "UserSourcesControllerV1_updateCustomCodeExternalUserSource",
            update_custom_code,
        )
        .add(
            "UserSourcesControllerV1_createFederationUserSource",
            create_federation,
        )
        .add(
            "UserSourcesControllerV1_updateFederationUserSource",
            update_federation,
        )
        .add("UserSourcesControllerV1_getUserSources", list)
        .add("UserSourcesControllerV1_getUserSource", get)
        .add("UserSourcesControllerV1_deleteUserSource", delete)
        .add("UserSourcesControllerV1_assignUserSource", assign)
        .add("UserSourcesControllerV1_unassignUserSource", unassign)
        .add("UserSourcesControllerV1_getUserSourceUsers", users)
}
