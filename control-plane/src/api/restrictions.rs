//! IP restrictions and email-domain restrictions (tags IP Restrictions, Domain
//! Restrictions), at the environment level (environment token, no `frontegg-tenant-id`) and
//! the account level (environment token with the header, or a user token holding the
//! `fe.secure.*.ipRestrictions` / `fe.secure.*.emailDomainRestrictions` permissions), and
//! their enforcement by the control plane (login, refresh, signup, user creation, email
//! change). Every change is an event, so sidecars get the new rules in the next delta.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::net::{self, ScopePolicy};
use shared::wire::ListType;

use super::Ops;
use crate::crypto::new_uuid;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::ListQuery;
use crate::model::clock::rfc3339;
use crate::model::event::Event;
use crate::model::restrictions::{
    self, DomainConfig, DomainRule, IpConfig, IpRule, MAX_ENTRIES, scope_key,
};
use crate::store::Record;

/// Most entries one bulk call may carry.
const MAX_BULK: usize = 1_000;

pub(super) fn ops() -> Ops {
    Ops::default()
        // The bulk IP route real clients call though the spec omits it (`compat.md` §6.1).
        .add_extra(
            "/resources/configurations/v1/restrictions/ip/bulk",
            axum::routing::post(bulk_ip),
        )
        .add("IPRestrictionsControllerV1_getAllIpRestrictions", list_ip)
        .add("IPRestrictionsControllerV1_createIpRestriction", create_ip)
        .add(
            "IPRestrictionsControllerV1_getIpRestrictionConfig",
            get_ip_config,
        )
        .add(
            "IPRestrictionsControllerV1_createDomainRestriction",
            set_ip_config,
        )
        .add("IPRestrictionsControllerV1_testCurrentIp", verify_ip)
        .add("testCurrentIpInAllowList", verify_ip_allow)
        .add(
            "IPRestrictionsControllerV1_deleteIpRestrictionById",
            delete_ip,
        )
        .add(
            "DomainRestrictionsController_getDomainRestrictions",
            list_domains,
        )
        .add(
            "DomainRestrictionsController_createDomainRestriction",
            create_domain,
        )
        .add(
            "DomainRestrictionsController_getDomainRestrictionsConfig",
            get_domain_config,
        )
        .add(
            "DomainRestrictionsController_updateDomainRestrictionsConfig",
            set_domain_config,
        )
        .add(
            "DomainRestrictionsController_createBulkDomainsRestriction",
            replace_domains,
        )
        .add(
            "DomainRestrictionsController_deleteDomainRestriction",
            delete_domain,
        )
}

use super::users::policy_scope as scope;

/// In the changing transaction: record the change (the sidecars' next delta) and bump the
/// scope's generation (the control plane's cached policy).
fn changed(tx: &mut crate::store::Tx<'_>, scope: Option<&str>, at: &str) -> Result<(), ApiError> {
    Event::RestrictionsChanged { tenant: scope }.record(tx, at)?;
    restrictions::bump_generation(tx, scope)?;
    Ok(())
}

#[derive(Deserialize, Default)]
struct ForceQuery {
    #[serde(default)]
    force: Option<bool>,
}

/// A self-service change (user token) must not lock the caller out of their own account
/// from where they are now, unless `force`.
fn guard_self_lockout(
    caller: &Caller,
    ip: IpAddr,
    after: &shared::wire::ScopeRestrictions,
    force: bool,
) -> Result<(), ApiError> {
    if force || caller.user().is_none() {
        return Ok(());
    }
    let compiled = ScopePolicy::compile(after).map_err(ApiError::bad_request)?;
    if compiled.ip_allowed(ip) {
        return Ok(());
    }
    Err(ApiError::conflict(format!(
        "this change would block your current IP address ({ip}) from this account; send \"force\": true to apply it anyway"
    )))
}

/// Delete the entry stored under `key` in `scope` (404 `missing` when absent).
async fn delete_entry<R: Record>(
    state: &AppState,
    scope: Option<&str>,
    key: &str,
    missing: &'static str,
) -> Result<StatusCode, ApiError> {
    let at = rfc3339(state.clock.now());
    let found = state
        .db
        .write(|tx| {
            if tx.get::<R>(key.as_bytes())?.is_none() {
                return Ok(false);
            }
            tx.delete::<R>(key.as_bytes())?;
            changed(tx, scope, &at)?;
            Ok::<_, ApiError>(true)
        })
        .await?;
    if found {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found(missing))
    }
}

// ---- IP restrictions ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IpRuleView {
    id: String,
    ip: String,
    strategy: ListType,
    is_active: bool,
    description: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<IpRule> for IpRuleView {
    fn from(r: IpRule) -> Self {
        IpRuleView {
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

fn ip_config_view(c: &IpConfig) -> Value {
    json!({"strategy": c.strategy, "isActive": c.is_active, "updatedAt": c.updated_at})
}

async fn list_ip(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Value>, ApiError> {
    let scope = scope(&state, &caller, Perm::ReadIpRestrictions)?;
    let page = q.page(1000)?;
    let mut all = restrictions::ip_rules(&state.db, scope.as_deref())?;
    if let Some(f) = q.get("_filter").map(str::to_ascii_lowercase) {
        all.retain(|r| {
            r.ip.contains(&f)
                || r.description
                    .as_deref()
                    .is_some_and(|d| d.to_lowercase().contains(&f))
        });
    }
    all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let views: Vec<IpRuleView> = all.into_iter().map(Into::into).collect();
    Ok(Json(
        serde_json::to_value(page.apply(views)).map_err(ApiError::internal)?,
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpRuleRequest {
    ip: String,
    strategy: ListType,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    force: Option<bool>,
}

fn new_rule(
    scope: Option<&str>,
    r: &IpRuleRequest,
    now: &str,
    at: &str,
) -> Result<IpRule, ApiError> {
    let cidr = net::parse_cidr(&r.ip).map_err(|e| ApiError::bad_request(format!("{at}{e}")))?;
    let description = match &r.description {
        Some(d) => Some(super::permissions::validate_text(
            "description",
            d,
            1000,
            false,
        )?),
        None => None,
    };
    Ok(IpRule {
        id: new_uuid().to_string(),
        scope: scope.map(str::to_owned),
        ip: cidr.to_string(),
        strategy: r.strategy,
        is_active: r.is_active.unwrap_or(true),
        description,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
}

/// Store new entries for `scope` after the checks every IP change shares (entry limit,
/// self-lockout). Returns them.
async fn add_ip_rules(
    state: &AppState,
    caller: &Caller,
    scope: Option<String>,
    ip: IpAddr,
    rules: Vec<IpRule>,
    force: bool,
) -> Result<Vec<IpRule>, ApiError> {
    let existing = restrictions::ip_rules(&state.db, scope.as_deref())?;
    if existing.len() + rules.len() > MAX_ENTRIES {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_ENTRIES} IP entries per scope"
        )));
    }
    let config = restrictions::ip_config(&state.db, scope.as_deref())?;
    let mut after = existing.clone();
    after.extend(rules.iter().cloned());
    let dom = restrictions::domain_config(&state.db, scope.as_deref())?;
    let projected = restrictions::policy_of(scope.as_deref(), &config, &after, &dom, &[]);
    guard_self_lockout(caller, ip, &projected, force)?;
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            for r in &rules {
                tx.put(r)?;
            }
            changed(tx, scope.as_deref(), &at)
        })
        .await?;
    Ok(rules)
}

async fn create_ip(
    caller: Caller,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<IpRuleRequest>,
) -> Result<(StatusCode, Json<IpRuleView>), ApiError> {
    let scope = scope(&state, &caller, Perm::WriteIpRestrictions)?;
    let now = rfc3339(state.clock.now());
    let rule = new_rule(scope.as_deref(), &req, &now, "")?;
    let ip = crate::http::guard::client_ip(&state, peer, &headers);
    let mut stored = add_ip_rules(
        &state,
        &caller,
        scope,
        ip,
        vec![rule],
        req.force.unwrap_or(false),
    )
    .await?;
    let rule = stored
        .pop()
        .ok_or_else(|| ApiError::internal("no rule stored"))?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum BulkItem {
    Text(String),
    Rule(IpRuleRequest),
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkRequest {
    ips: Vec<BulkItem>,
    #[serde(default)]
    strategy: Option<ListType>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    force: Option<bool>,
}

/// Not in the spec; rest-api calls it: `{ips: [...]}` with addresses or entry objects.
async fn bulk_ip(
    caller: Caller,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<BulkRequest>,
) -> Result<(StatusCode, Json<Vec<IpRuleView>>), ApiError> {
    let scope = scope(&state, &caller, Perm::WriteIpRestrictions)?;
    if req.ips.is_empty() || req.ips.len() > MAX_BULK {
        return Err(ApiError::bad_request(format!(
            "ips must hold 1 to {MAX_BULK} entries"
        )));
    }
    let default_strategy = match req.strategy {
        Some(s) => s,
        None => restrictions::ip_config(&state.db, scope.as_deref())?.strategy,
    };
    let now = rfc3339(state.clock.now());
    let mut rules = Vec::with_capacity(req.ips.len());
    for (i, item) in req.ips.iter().enumerate() {
        let r = match item {
            BulkItem::Text(ip) => IpRuleRequest {
                ip: ip.clone(),
                strategy: default_strategy,
                is_active: req.is_active,
                description: None,
                force: None,
            },
            BulkItem::Rule(r) => r.clone(),
        };
        rules.push(new_rule(
            scope.as_deref(),
            &r,
            &now,
            &format!("ips[{i}]: "),
        )?);
    }
    let ip = crate::http::guard::client_ip(&state, peer, &headers);
    let stored = add_ip_rules(
        &state,
        &caller,
        scope,
        ip,
        rules,
        req.force.unwrap_or(false),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(stored.into_iter().map(Into::into).collect()),
    ))
}

async fn delete_ip(
    caller: Caller,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ForceQuery>,
) -> Result<StatusCode, ApiError> {
    let scope = scope(&state, &caller, Perm::DeleteIpRestrictions)?;
    let key = format!("{}/{id}", scope_key(scope.as_deref()));
    if state.db.get::<IpRule>(key.as_bytes())?.is_none() {
        return Err(ApiError::not_found("IP restriction not found"));
    }
    let remaining: Vec<IpRule> = restrictions::ip_rules(&state.db, scope.as_deref())?
        .into_iter()
        .filter(|r| r.id != id)
        .collect();
    let config = restrictions::ip_config(&state.db, scope.as_deref())?;
    let dom = restrictions::domain_config(&state.db, scope.as_deref())?;
    let projected = restrictions::policy_of(scope.as_deref(), &config, &remaining, &dom, &[]);
    let ip = crate::http::guard::client_ip(&state, peer, &headers);
    guard_self_lockout(&caller, ip, &projected, q.force.unwrap_or(false))?;
    delete_entry::<IpRule>(&state, scope.as_deref(), &key, "IP restriction not found").await
}

async fn get_ip_config(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let scope = scope(&state, &caller, Perm::ReadIpRestrictions)?;
    Ok(Json(ip_config_view(&restrictions::ip_config(
        &state.db,
        scope.as_deref(),
    )?)))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IpConfigRequest {
    #[serde(default)]
    strategy: Option<ListType>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    force: Option<bool>,
}

async fn set_ip_config(
    caller: Caller,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<IpConfigRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = scope(&state, &caller, Perm::WriteIpRestrictions)?;
    let now = rfc3339(state.clock.now());
    let mut config = restrictions::ip_config(&state.db, scope.as_deref())?;
    if let Some(s) = req.strategy {
        config.strategy = s;
    }
    if let Some(a) = req.is_active {
        config.is_active = a;
    }
    config.updated_at = now.clone();
    let entries = restrictions::ip_rules(&state.db, scope.as_deref())?;
    let dom = restrictions::domain_config(&state.db, scope.as_deref())?;
    let projected = restrictions::policy_of(scope.as_deref(), &config, &entries, &dom, &[]);
    let ip = crate::http::guard::client_ip(&state, peer, &headers);
    guard_self_lockout(&caller, ip, &projected, req.force.unwrap_or(false))?;
    state
        .db
        .write(|tx| {
            tx.put(&config)?;
            changed(tx, scope.as_deref(), &now)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(ip_config_view(&config))))
}

/// Is the caller's address allowed by this scope's active configuration?
async fn verify_ip(
    caller: Caller,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = scope(&state, &caller, Perm::ReadIpRestrictions)?;
    let ip = crate::http::guard::client_ip(&state, peer, &headers);
    let valid = state
        .restrictions
        .policy(&state.db, scope.as_deref())?
        .ip_allowed(ip);
    Ok((StatusCode::CREATED, Json(json!({"valid": valid}))))
}

/// Is the caller's address in this scope's allow list (active ALLOW entries)?
async fn verify_ip_allow(
    caller: Caller,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = scope(&state, &caller, Perm::ReadIpRestrictions)?;
    let ip = crate::http::guard::client_ip(&state, peer, &headers);
    let blocks: Vec<net::Cidr> = restrictions::ip_rules(&state.db, scope.as_deref())?
        .iter()
        .filter(|r| r.is_active && r.strategy == ListType::Allow)
        .filter_map(|r| net::parse_cidr(&r.ip).ok())
        .collect();
    let valid = net::IpSet::new(&blocks).contains(ip);
    Ok((StatusCode::CREATED, Json(json!({"valid": valid}))))
}

// ---- Email-domain restrictions ----

fn domain_view(r: &DomainRule) -> Value {
    json!({"id": r.id, "domain": r.domain, "type": r.kind})
}

fn domain_config_view(c: &DomainConfig) -> Value {
    json!({"active": c.active, "listType": c.list_type, "blockPublicDomains": c.block_public_domains})
}

async fn list_domains(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Value>, ApiError> {
    let scope = scope(&state, &caller, Perm::ReadEmailDomainRestrictions)?;
    let page = q.page(1000)?;
    let mut all = restrictions::domain_rules(&state.db, scope.as_deref())?;
    all.sort_by(|a, b| a.domain.cmp(&b.domain).then(a.id.cmp(&b.id)));
    let views: Vec<Value> = all.iter().map(domain_view).collect();
    Ok(Json(
        serde_json::to_value(page.apply(views)).map_err(ApiError::internal)?,
    ))
}

#[derive(Clone, Deserialize)]
struct DomainRequest {
    domain: String,
    #[serde(rename = "type")]
    kind: ListType,
}

fn domain_rule(
    scope: Option<&str>,
    raw: &str,
    kind: ListType,
    now: &str,
    at: &str,
) -> Result<DomainRule, ApiError> {
    if raw.len() > 255 {
        return Err(ApiError::bad_request(format!(
            "{at}a domain is at most 253 characters"
        )));
    }
    let domain =
        net::normalize_domain_rule(raw).map_err(|e| ApiError::bad_request(format!("{at}{e}")))?;
    Ok(DomainRule {
        id: new_uuid().to_string(),
        scope: scope.map(str::to_owned),
        domain,
        kind,
        created_at: now.to_owned(),
    })
}

async fn create_domain(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<DomainRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = scope(&state, &caller, Perm::WriteEmailDomainRestrictions)?;
    let now = rfc3339(state.clock.now());
    let rule = domain_rule(scope.as_deref(), &req.domain, req.kind, &now, "")?;
    let existing = restrictions::domain_rules(&state.db, scope.as_deref())?;
    if existing.len() >= MAX_ENTRIES {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_ENTRIES} domain entries per scope"
        )));
    }
    if existing
        .iter()
        .any(|r| r.domain == rule.domain && r.kind == rule.kind)
    {
        return Err(ApiError::conflict("this domain is already listed"));
    }
    state
        .db
        .write(|tx| {
            tx.put(&rule)?;
            changed(tx, scope.as_deref(), &now)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(domain_view(&rule))))
}

#[derive(Clone, Deserialize)]
struct ReplaceRequest {
    #[serde(rename = "type")]
    kind: ListType,
    domains: Vec<String>,
}

/// Replace every entry of `type` in the scope with `domains`.
async fn replace_domains(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ReplaceRequest>,
) -> Result<(StatusCode, Json<Vec<Value>>), ApiError> {
    let scope = scope(&state, &caller, Perm::WriteEmailDomainRestrictions)?;
    if req.domains.len() > MAX_BULK {
        return Err(ApiError::bad_request(format!(
            "domains must hold at most {MAX_BULK} entries"
        )));
    }
    let now = rfc3339(state.clock.now());
    let mut fresh: Vec<DomainRule> = Vec::with_capacity(req.domains.len());
    for (i, d) in req.domains.iter().enumerate() {
        let r = domain_rule(
            scope.as_deref(),
            d,
            req.kind,
            &now,
            &format!("domains[{i}]: "),
        )?;
        if !fresh.iter().any(|f| f.domain == r.domain) {
            fresh.push(r);
        }
    }
    let old: Vec<DomainRule> = restrictions::domain_rules(&state.db, scope.as_deref())?
        .into_iter()
        .filter(|r| r.kind == req.kind)
        .collect();
    state
        .db
        .write(|tx| {
            for r in &old {
                tx.delete::<DomainRule>(&r.key())?;
            }
            for r in &fresh {
                tx.put(r)?;
            }
            changed(tx, scope.as_deref(), &now)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(fresh.iter().map(domain_view).collect()),
    ))
}

async fn delete_domain(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let scope = scope(&state, &caller, Perm::DeleteEmailDomainRestrictions)?;
    let key = format!("{}/{id}", scope_key(scope.as_deref()));
    delete_entry::<DomainRule>(
        &state,
        scope.as_deref(),
        &key,
        "Domain restriction not found",
    )
    .await
}

async fn get_domain_config(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let scope = scope(&state, &caller, Perm::ReadEmailDomainRestrictions)?;
    Ok(Json(domain_config_view(&restrictions::domain_config(
        &state.db,
        scope.as_deref(),
    )?)))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DomainConfigRequest {
    active: bool,
    #[serde(default, rename = "type")]
    kind: Option<ListType>,
    #[serde(default)]
    block_public_domains: Option<bool>,
}

async fn set_domain_config(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<DomainConfigRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = scope(&state, &caller, Perm::WriteEmailDomainRestrictions)?;
    let mut config = restrictions::domain_config(&state.db, scope.as_deref())?;
    config.active = req.active;
    if let Some(k) = req.kind {
        config.list_type = k;
    }
    if let Some(b) = req.block_public_domains {
        config.block_public_domains = b;
    }
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            tx.put(&config)?;
            changed(tx, scope.as_deref(), &at)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(domain_config_view(&config))))
}
