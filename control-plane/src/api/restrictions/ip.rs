//! IP restrictions: entries (addresses and CIDR blocks on an ALLOW or BLOCK list), the
//! scope's configuration, and checks of the caller's own address. A self-service change
//! (user token) that would block the caller's current address is refused unless `force`.

use crate::http::page::Params;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing;
use serde::{Deserialize, Serialize};
use shared::net;
use shared::wire::ListType;

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::guard::ClientIp;
use crate::http::page::{ListQuery, Page};
use crate::model::restrictions::{self, IpConfig, IpRule, NewIpRule};

/// `IpRestrictionResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IpRuleReply {
    id: String,
    ip: String,
    strategy: ListType,
    is_active: bool,
    description: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<IpRule> for IpRuleReply {
    fn from(r: IpRule) -> Self {
        IpRuleReply {
            id: r.id,
            ip: r.ip,
            strategy: r.strategy,
            is_active: r.is_active,
            description: r.description,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// `IpRestrictionConfigResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IpConfigReply {
    strategy: ListType,
    is_active: bool,
    updated_at: String,
}

impl From<IpConfig> for IpConfigReply {
    fn from(c: IpConfig) -> Self {
        IpConfigReply {
            strategy: c.strategy,
            is_active: c.is_active,
            updated_at: c.updated_at,
        }
    }
}

/// `{valid}`: the caller's address against the scope.
#[derive(Serialize)]
pub(super) struct VerifyReply {
    valid: bool,
}

/// The address a change must not block: the caller's, for a self-service change that is
/// not forced.
fn guard(caller: &Caller, ip: ClientIp, force: Option<bool>) -> Option<std::net::IpAddr> {
    (caller.user().is_some() && !force.unwrap_or(false)).then_some(ip.0)
}

/// The scope's entries, oldest first; `_filter` is the strategy (`ALLOW` or `BLOCK`) the
/// portal lists by, not a text search.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<IpRuleReply>>, ApiError> {
    let scope = caller.scope(&state, Perm::ReadIpRestrictions)?;
    let page = q.page(1000)?;
    let mut all = restrictions::ip_rules(&state.db, scope.as_deref())?;
    if let Some(f) = q.get("_filter") {
        let strategy = match f.to_ascii_uppercase().as_str() {
            "ALLOW" => ListType::Allow,
            "BLOCK" => ListType::Block,
            _ => return Err(ApiError::bad_request("_filter must be ALLOW or BLOCK")),
        };
        all.retain(|r| r.strategy == strategy);
    }
    all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(Json(page.apply(all.into_iter().map(Into::into).collect())))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IpRuleRequest {
    ip: String,
    strategy: ListType,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    force: Option<bool>,
}

impl From<IpRuleRequest> for NewIpRule {
    fn from(r: IpRuleRequest) -> Self {
        NewIpRule {
            ip: r.ip,
            strategy: Some(r.strategy),
            is_active: r.is_active,
            description: r.description,
        }
    }
}

pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<IpRuleRequest>,
) -> Result<(StatusCode, Json<IpRuleReply>), ApiError> {
    let scope = caller.scope(&state, Perm::WriteIpRestrictions)?;
    let guard = guard(&caller, ip, req.force);
    let mut added = restrictions::add_ip_rules(
        &state.db,
        &state.clock,
        scope.as_deref(),
        &[req.into()],
        guard,
    )
    .await?;
    let rule = added
        .pop()
        .ok_or_else(|| ApiError::internal("no rule stored"))?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum BulkItem {
    Text(String),
    Rule(IpRuleRequest),
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BulkRequest {
    ips: Vec<BulkItem>,
    #[serde(default)]
    strategy: Option<ListType>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    force: Option<bool>,
}

/// Not in the spec; rest-api calls it: `{ips: [...]}` with addresses or entry objects.
pub(super) async fn bulk(
    caller: Caller,
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<BulkRequest>,
) -> Result<(StatusCode, Json<Vec<IpRuleReply>>), ApiError> {
    let scope = caller.scope(&state, Perm::WriteIpRestrictions)?;
    let guard = guard(&caller, ip, req.force);
    let new: Vec<NewIpRule> = req
        .ips
        .into_iter()
        .map(|item| match item {
            BulkItem::Text(ip) => NewIpRule {
                ip,
                strategy: req.strategy,
                is_active: req.is_active,
                description: None,
            },
            BulkItem::Rule(r) => r.into(),
        })
        .collect();
    let added =
        restrictions::add_ip_rules(&state.db, &state.clock, scope.as_deref(), &new, guard).await?;
    Ok((
        StatusCode::CREATED,
        Json(added.into_iter().map(Into::into).collect()),
    ))
}

#[derive(Deserialize, Default)]
pub(super) struct ForceQuery {
    #[serde(default)]
    force: Option<bool>,
}

pub(super) async fn delete(
    caller: Caller,
    State(state): State<AppState>,
    ip: ClientIp,
    Path(id): Path<String>,
    Params(q): Params<ForceQuery>,
) -> Result<StatusCode, ApiError> {
    let scope = caller.scope(&state, Perm::DeleteIpRestrictions)?;
    let guard = guard(&caller, ip, q.force);
    restrictions::delete_ip_rule(&state.db, &state.clock, scope.as_deref(), &id, guard).await?;
    Ok(StatusCode::OK)
}

pub(super) async fn get_config(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<IpConfigReply>, ApiError> {
    let scope = caller.scope(&state, Perm::ReadIpRestrictions)?;
    Ok(Json(
        restrictions::ip_config(&state.db, scope.as_deref())?.into(),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IpConfigRequest {
    #[serde(default)]
    strategy: Option<ListType>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    force: Option<bool>,
}

pub(super) async fn set_config(
    caller: Caller,
    State(state): State<AppState>,
    ip: ClientIp,
    ApiJson(req): ApiJson<IpConfigRequest>,
) -> Result<(StatusCode, Json<IpConfigReply>), ApiError> {
    let scope = caller.scope(&state, Perm::WriteIpRestrictions)?;
    let guard = guard(&caller, ip, req.force);
    let c = restrictions::set_ip_config(
        &state.db,
        &state.clock,
        scope.as_deref(),
        req.strategy,
        req.is_active,
        guard,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// Is the caller's address allowed by this scope's active configuration?
pub(super) async fn verify(
    caller: Caller,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<(StatusCode, Json<VerifyReply>), ApiError> {
    let scope = caller.scope(&state, Perm::ReadIpRestrictions)?;
    let valid = state
        .restrictions
        .policy(&state.db, scope.as_deref())?
        .ip_allowed(ip);
    Ok((StatusCode::CREATED, Json(VerifyReply { valid })))
}

/// Is the caller's address in this scope's allow list (active ALLOW entries)?
pub(super) async fn verify_allow_list(
    caller: Caller,
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<(StatusCode, Json<VerifyReply>), ApiError> {
    let scope = caller.scope(&state, Perm::ReadIpRestrictions)?;
    let blocks: Vec<net::Cidr> = restrictions::ip_rules(&state.db, scope.as_deref())?
        .iter()
        .filter(|r| r.is_active && r.strategy == ListType::Allow)
        .filter_map(|r| net::parse_cidr(&r.ip).ok())
        .collect();
    let valid = net::IpSet::new(&blocks).contains(ip);
    Ok((StatusCode::CREATED, Json(VerifyReply { valid })))
}

pub(super) fn ops() -> Ops {
    Ops::default()
        // The bulk IP route real clients call though the spec omits it (`compat.md` §6.1).
        .add_extra(
            "/resources/configurations/v1/restrictions/ip/bulk",
            routing::post(bulk),
        )
        .add("IPRestrictionsControllerV1_getAllIpRestrictions", list)
        .add("IPRestrictionsControllerV1_createIpRestriction", create)
        .add(
            "IPRestrictionsControllerV1_getIpRestrictionConfig",
            get_config,
        )
        .add(
            "IPRestrictionsControllerV1_createDomainRestriction",
            set_config,
        )
        .add("IPRestrictionsControllerV1_testCurrentIp", verify)
        .add("testCurrentIpInAllowList", verify_allow_list)
        .add("IPRestrictionsControllerV1_deleteIpRestrictionById", delete)
}
