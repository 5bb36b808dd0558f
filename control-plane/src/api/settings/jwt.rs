//! JWT templates and their targeting (tag Core Settings; `compat-wave2.md` §12.2, §12.3):
//! Terraform creates a template and reads its `id`, treats a 404 on read as gone, and POSTs
//! the targeting then PUTs on 409 (the PUT answers an empty body; it GETs afterwards).
//! Environment token only. The rules live in `model::jwt_template`.

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
use crate::model::jwt_template::{self, JwtTemplate, Rule, Targeting, TemplateChange, Write};

/// `JwtTemplatePayloadResponseDto`.
#[derive(Serialize)]
pub(super) struct SchemaDto {
    claims: Map<String, Value>,
}

/// `JwtTemplateResponseDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TemplateDto {
    id: String,
    vendor_id: String,
    key: String,
    name: String,
    description: Option<String>,
    expiration: u32,
    algorithm: &'static str,
    template_schema: SchemaDto,
    created_at: String,
    updated_at: String,
}

fn dto(state: &AppState, t: JwtTemplate) -> TemplateDto {
    TemplateDto {
        id: t.id,
        vendor_id: state.env.client_id().to_owned(),
        key: t.key,
        name: t.name,
        description: t.description,
        expiration: t.expiration,
        algorithm: "RS256",
        template_schema: SchemaDto { claims: t.claims },
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TemplateChange>,
) -> Result<(StatusCode, Json<TemplateDto>), ApiError> {
    caller.require(Perm::Environment)?;
    let t = jwt_template::create(&state.db, &state.clock, req).await?;
    Ok((StatusCode::CREATED, Json(dto(&state, t))))
}

/// `?keys=&ids=` filters, sorted by `_sortBy`/`_order`, paginated.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<TemplateDto>>, ApiError> {
    caller.require(Perm::Environment)?;
    let keys = q.all("keys");
    let ids = q.all("ids");
    let by = q.sort_by(
        &["id", "key", "name", "createdAt", "updatedAt"],
        "createdAt",
    )?;
    let descending = q.descending()?;
    let page = q.page(200)?;
    let mut all: Vec<JwtTemplate> = jwt_template::list(&state.db)?
        .into_iter()
        .filter(|t| keys.is_empty() || keys.contains(&t.key.as_str()))
        .filter(|t| ids.is_empty() || ids.contains(&t.id.as_str()))
        .collect();
    all.sort_by(|a, b| {
        let field = |t: &JwtTemplate| match by {
            "id" => t.id.clone(),
            "key" => t.key.clone(),
            "name" => t.name.to_lowercase(),
            "updatedAt" => t.updated_at.clone(),
            _ => t.created_at.clone(),
        };
        field(a).cmp(&field(b)).then_with(|| a.id.cmp(&b.id))
    });
    if descending {
        all.reverse();
    }
    Ok(Json(page.apply(all).map(|t| dto(&state, t))))
}

pub(super) async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TemplateDto>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(dto(&state, jwt_template::get(&state.db, &id)?)))
}

pub(super) async fn update(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TemplateChange>,
) -> Result<Json<TemplateDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let t = jwt_template::update(&state.db, &state.clock, &id, req).await?;
    Ok(Json(dto(&state, t)))
}

pub(super) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    jwt_template::delete(&state.db, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `UpdateJwtTemplateTargetingRequestDto`.
#[derive(Clone, Deserialize)]
pub(super) struct TargetingRequest {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Serialize)]
pub(super) struct RulesDto {
    rules: Vec<Rule>,
}

/// `JwtTemplateTargetingResponseDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TargetingDto {
    id: String,
    created_at: String,
    updated_at: String,
    targeting: RulesDto,
}

fn targeting_dto(t: Targeting) -> TargetingDto {
    TargetingDto {
        id: t.id,
        created_at: t.created_at,
        updated_at: t.updated_at,
        targeting: RulesDto { rules: t.rules },
    }
}

pub(super) async fn get_targeting(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<TargetingDto>, ApiError> {
    caller.require(Perm::Environment)?;
    let t = jwt_template::targeting(&state.db)?.ok_or(jwt_template::JwtTemplateError::NotFound(
        "JWT template targeting",
    ))?;
    Ok(Json(targeting_dto(t)))
}

/// 409 when a targeting exists (Terraform then PUTs).
pub(super) async fn create_targeting(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TargetingRequest>,
) -> Result<(StatusCode, Json<TargetingDto>), ApiError> {
    caller.require(Perm::Environment)?;
    let t = jwt_template::set_targeting(&state.db, &state.clock, Write::Create, None, req.rules)
        .await?;
    Ok((StatusCode::CREATED, Json(targeting_dto(t))))
}

/// Create or replace; the reply has no body.
pub(super) async fn put_targeting(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TargetingRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    jwt_template::set_targeting(&state.db, &state.clock, Write::Upsert, None, req.rules).await?;
    Ok(StatusCode::OK)
}

/// Replace the rules of targeting `id`; the reply has no body.
pub(super) async fn patch_targeting(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TargetingRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    jwt_template::set_targeting(
        &state.db,
        &state.clock,
        Write::Replace,
        Some(&id),
        req.rules,
    )
    .await?;
    Ok(StatusCode::OK)
}

pub(super) async fn delete_targeting(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    jwt_template::delete_targeting(&state.db, &id).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("JwtTemplatesController_createJwtTemplate", create)
        .add("JwtTemplatesController_getJwtTemplates", list)
        .add("JwtTemplatesController_getJwtTemplateById", get)
        .add("JwtTemplatesController_updateJwtTemplate", update)
        .add("JwtTemplatesController_deleteJwtTemplate", delete)
        .add(
            "JwtTemplateTargetingControllerV1_getJwtTemplateTargeting",
            get_targeting,
        )
        .add(
            "JwtTemplateTargetingControllerV1_createJwtTemplateTargeting",
            create_targeting,
        )
        .add(
            "JwtTemplateTargetingControllerV1_updateJwtTemplateTargeting",
            put_targeting,
        )
        .add(
            "JwtTemplateTargetingControllerV1_patchJwtTemplateTargeting",
            patch_targeting,
        )
        .add(
            "JwtTemplateTargetingControllerV1_deleteJwtTemplateTargeting",
            delete_targeting,
        )
}
