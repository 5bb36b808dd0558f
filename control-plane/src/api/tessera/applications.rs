//! The environment's applications as the hosted login's OAuth clients (Tessera's route;
//! Frontegg keeps them in its portal): `GET /tessera/v1/applications`,
//! `PUT|DELETE /tessera/v1/applications/{id}`, environment token. The default application,
//! the environment's client id, always exists; registering it sets its redirect URIs. An
//! application's `allowedOrigins` join the environment's for CORS and the session cookie.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::oauth::{self, Client};

/// An application, both ways (the id is the path's).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ApplicationDto {
    #[serde(default, skip_deserializing)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
}

impl From<Client> for ApplicationDto {
    fn from(c: Client) -> Self {
        ApplicationDto {
            id: c.id,
            name: c.name,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            allowed_origins: c.allowed_origins,
        }
    }
}

/// `{items}`.
#[derive(Serialize)]
pub(super) struct Applications {
    items: Vec<ApplicationDto>,
}

async fn list(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Applications>, ApiError> {
    caller.require(Perm::Environment)?;
    let items = oauth::clients(&state.db, state.env.client_id())?
        .into_iter()
        .map(ApplicationDto::from)
        .collect();
    Ok(Json(Applications { items }))
}

/// Register or replace an application (every URI checked; nothing changes on a bad one).
async fn put(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ApplicationDto>,
) -> Result<Json<ApplicationDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let c = oauth::put_client(
        &state.db,
        Client {
            id,
            name: req.name,
            redirect_uris: req.redirect_uris,
            post_logout_redirect_uris: req.post_logout_redirect_uris,
            allowed_origins: req.allowed_origins,
        },
    )
    .await?;
    Ok(Json(c.into()))
}

async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    oauth::delete_client(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add_root("/tessera/v1/applications", routing::get(list))
        .add_root(
            "/tessera/v1/applications/{id}",
            routing::put(put).delete(delete),
        )
}
