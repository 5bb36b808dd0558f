//! Email-domain restrictions: entries (`example.com`, `*.example.com`) on an ALLOW or BLOCK
//! list and the scope's configuration; enforced wherever an address is used or set.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::wire::ListType;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::{ListQuery, Page};
use crate::model::restrictions::{self, DomainConfig, DomainRule};

/// `DomainRestrictionResponse`.
#[derive(Serialize)]
pub(super) struct DomainReply {
    id: String,
    domain: String,
    #[serde(rename = "type")]
    kind: ListType,
}

impl From<DomainRule> for DomainReply {
    fn from(r: DomainRule) -> Self {
        DomainReply {
            id: r.id,
            domain: r.domain,
            kind: r.kind,
        }
    }
}

/// `DomainRestrictionConfigResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DomainConfigReply {
    active: bool,
    list_type: ListType,
    block_public_domains: bool,
}

impl From<DomainConfig> for DomainConfigReply {
    fn from(c: DomainConfig) -> Self {
        DomainConfigReply {
            active: c.active,
            list_type: c.list_type,
            block_public_domains: c.block_public_domains,
        }
    }
}

/// The scope's entries, by domain.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<DomainReply>>, ApiError> {
    let scope = caller.scope(&state, Perm::ReadEmailDomainRestrictions)?;
    let page = q.page(1000)?;
    let mut all = restrictions::domain_rules(&state.db, scope.as_deref())?;
    all.sort_by(|a, b| a.domain.cmp(&b.domain).then(a.id.cmp(&b.id)));
    Ok(Json(page.apply(all.into_iter().map(Into::into).collect())))
}

#[derive(Clone, Deserialize)]
pub(super) struct DomainRequest {
    domain: String,
    #[serde(rename = "type")]
    kind: ListType,
}

pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<DomainRequest>,
) -> Result<(StatusCode, Json<DomainReply>), ApiError> {
    let scope = caller.scope(&state, Perm::WriteEmailDomainRestrictions)?;
    let rule = restrictions::add_domain_rule(
        &state.db,
        &state.clock,
        scope.as_deref(),
        &req.domain,
        req.kind,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

#[derive(Clone, Deserialize)]
pub(super) struct ReplaceRequest {
    #[serde(rename = "type")]
    kind: ListType,
    domains: Vec<String>,
}

/// Replace every entry of `type` in the scope with `domains`.
pub(super) async fn replace(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ReplaceRequest>,
) -> Result<(StatusCode, Json<Vec<DomainReply>>), ApiError> {
    let scope = caller.scope(&state, Perm::WriteEmailDomainRestrictions)?;
    let fresh = restrictions::replace_domain_rules(
        &state.db,
        &state.clock,
        scope.as_deref(),
        req.kind,
        &req.domains,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(fresh.into_iter().map(Into::into).collect()),
    ))
}

pub(super) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let scope = caller.scope(&state, Perm::DeleteEmailDomainRestrictions)?;
    restrictions::delete_domain_rule(&state.db, &state.clock, scope.as_deref(), &id).await?;
    Ok(StatusCode::OK)
}

pub(super) async fn get_config(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<DomainConfigReply>, ApiError> {
    let scope = caller.scope(&state, Perm::ReadEmailDomainRestrictions)?;
    Ok(Json(
        restrictions::domain_config(&state.db, scope.as_deref())?.into(),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DomainConfigRequest {
    active: bool,
    #[serde(default, rename = "type")]
    kind: Option<ListType>,
    #[serde(default)]
    block_public_domains: Option<bool>,
}

pub(super) async fn set_config(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<DomainConfigRequest>,
) -> Result<(StatusCode, Json<DomainConfigReply>), ApiError> {
    let scope = caller.scope(&state, Perm::WriteEmailDomainRestrictions)?;
    let c = restrictions::set_domain_config(
        &state.db,
        &state.clock,
        scope.as_deref(),
        req.active,
        req.kind,
        req.block_public_domains,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("DomainRestrictionsController_getDomainRestrictions", list)
        .add(
            "DomainRestrictionsController_createDomainRestriction",
            create,
        )
        .add(
            "DomainRestrictionsController_getDomainRestrictionsConfig",
            get_config,
        )
        .add(
            "DomainRestrictionsController_updateDomainRestrictionsConfig",
            set_config,
        )
        .add(
            "DomainRestrictionsController_createBulkDomainsRestriction",
            replace,
        )
        .add(
            "DomainRestrictionsController_deleteDomainRestriction",
            delete,
        )
}
