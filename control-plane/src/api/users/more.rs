//! The remaining user operations: email change, account migration, active-account switch,
//! per-account statuses, bulk role updates across accounts (with their task record),
//! sub-account access, the account hierarchy and phrase search.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::dto::{UserResponse, user_response};
use super::manage::{list_matching, update_user};
use super::{load_user, require_tenant_exists, user_not_found};
use crate::api::Ops;
use crate::crypto::new_uuid;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::{ListQuery, Page};
use crate::model::clock::rfc3339;
use crate::model::email;
use crate::model::event::Event;
use crate::model::tenant::{Tenant, parse_id};
use crate::model::user::{self, Membership, User};
use crate::store::{Record, Tree};

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_updateUserEmail", update_email)
        .add("UsersControllerV1_moveAllUsersTenants", migrate_users)
        .add("UsersControllerV1_updateUserTenant", switch_my_tenant)
        .add("get", tenant_statuses)
        .add(
            "VendorOnlyUsers_bulkUpdateRolesAcrossAllTenants",
            bulk_roles,
        )
        .add("VendorOnlyUsers_getBulkRolesTaskStatus", bulk_roles_status)
        .add(
            "UsersControllerV1_setUserRolesFromSubTenants",
            set_sub_account_access,
        )
        .add("UsersControllerV2_getUserTenantsHierarchy", my_hierarchy)
        .add("UsersControllerV1_searchUsers", search_users)
}

#[derive(Clone, Deserialize)]
struct EmailRequest {
    email: String,
}

/// Environment token: change a user's email (normalised uniqueness, index updated in the same
/// transaction); the address must be verified again.
async fn update_email(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<EmailRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let norm = email::normalize(&req.email).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Some(u) = state.db.get::<User>(id.as_bytes())? {
        let tenants = u.tenant_ids();
        let tenants: Vec<&str> = tenants.iter().map(String::as_str).collect();
        crate::http::guard::check_email(&state, &tenants, &norm)?;
    }
    let display = req.email.trim().to_owned();
    let saved = state
        .db
        .write(|tx| {
            let old = tx.get::<User>(id.as_bytes())?.ok_or_else(user_not_found)?;
            if let Some(owner) = user::email_owner(tx, &norm)?
                && owner != old.id
            {
                return Err(ApiError::conflict("a user with this email already exists"));
            }
            let mut u = old.clone();
            if u.email_norm != norm {
                u.verified = false;
            }
            u.email = display.clone();
            u.email_norm = norm.clone();
            tx.put(&u)?;
            Ok(u)
        })
        .await?;
    Ok(Json(user_response(
        &state,
        &*state.catalog()?,
        &saved,
        None,
        true,
    )?))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MigrateRequest {
    src_tenant_id: String,
    target_tenant_id: String,
}

/// Environment token: move every user of one account to another. Roles of the source
/// account do not exist in the target and are dropped; users already in the target keep
/// their membership there.
async fn migrate_users(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<MigrateRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    let src = parse_id(&req.src_tenant_id)
        .ok_or_else(|| ApiError::bad_request("srcTenantId must be a UUID"))?;
    let dst = parse_id(&req.target_tenant_id)
        .ok_or_else(|| ApiError::bad_request("targetTenantId must be a UUID"))?;
    if src == dst {
        return Err(ApiError::bad_request(
            "source and target accounts are the same",
        ));
    }
    require_tenant_exists(&state, &src)?;
    require_tenant_exists(&state, &dst)?;
    let src_roles: Vec<String> = crate::model::rbac::all_roles(&state.db)?
        .into_iter()
        .filter(|r| r.tenant_id.as_deref() == Some(src.as_str()))
        .map(|r| r.id)
        .collect();
    let members = crate::model::user::member_ids(&state.db, &src)?;
    // What hangs on each member in the source account ends with its membership there.
    let deps = members
        .iter()
        .map(|id| crate::model::cascade::UserDependents::read(&state.db, id, Some(&src)))
        .collect::<Result<Vec<_>, _>>()?;
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            for (id, deps) in members.iter().zip(&deps) {
                let Some(u) = tx.get::<User>(id.as_bytes())? else {
                    continue;
                };
                let Some(m) = u.membership(&src).cloned() else {
                    continue;
                };
                let mut moved = u.clone();
                if moved.membership(&dst).is_none() {
                    let mut m: Membership = m;
                    m.tenant_id = dst.clone();
                    m.role_ids.retain(|r| !src_roles.contains(r));
                    moved.memberships.push(m);
                }
                if moved.active_tenant_id.as_deref() == Some(src.as_str()) {
                    moved.active_tenant_id = Some(dst.clone());
                }
                crate::model::cascade::remove_from_tenant(tx, moved, &src, deps, &at)?;
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantRequest {
    tenant_id: String,
}

/// User token: make another of the caller's accounts the active one (the next login or
/// refresh issues tokens for it).
async fn switch_my_tenant(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TenantRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let me = match &caller {
        Caller::User(u) => u.user.id.clone(),
        Caller::Env(e) => e
            .user_id
            .clone()
            .ok_or_else(|| ApiError::bad_request("frontegg-user-id is required"))?,
    };
    let tenant =
        parse_id(&req.tenant_id).ok_or_else(|| ApiError::bad_request("tenantId must be a UUID"))?;
    let u = update_user(&state, &me, None, |u| {
        if u.membership(&tenant).is_none_or(|m| m.disabled) {
            return Err(ApiError::bad_request(
                "not an active member of this account",
            ));
        }
        u.active_tenant_id = Some(tenant.clone());
        Ok(None)
    })
    .await?;
    Ok(Json(user_response(
        &state,
        &*state.catalog()?,
        &u,
        Some(&tenant),
        true,
    )?))
}

fn status_of(u: &User, m: &Membership) -> &'static str {
    match (u.verified && !m.disabled, u.last_login.is_some()) {
        (false, _) => "NotActivated",
        (true, false) => "PendingLogin",
        (true, true) => "Activated",
    }
}

/// Environment token: each listed user's status in each of its accounts
/// (`NotActivated`, `PendingLogin`, `Activated`), optionally filtered by status.
async fn tenant_statuses(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Vec<Value>>, ApiError> {
    caller.require(Perm::Environment)?;
    let ids = q.all("userIds");
    if ids.is_empty() || ids.len() > 200 {
        return Err(ApiError::bad_request("userIds: 1 to 200 user ids"));
    }
    let wanted = q.all("userTenantStatuses");
    const KNOWN: [&str; 4] = [
        "PendingInvitation",
        "PendingLogin",
        "Activated",
        "NotActivated",
    ];
    if let Some(bad) = wanted.iter().find(|s| !KNOWN.contains(s)) {
        return Err(ApiError::bad_request(format!("unknown status {bad}")));
    }
    let mut out = Vec::new();
    for id in ids {
        let Some(u) = state.db.get::<User>(id.as_bytes())? else {
            continue;
        };
        let statuses: Vec<Value> = u
            .memberships
            .iter()
            .map(|m| (m, status_of(&u, m)))
            .filter(|(_, s)| wanted.is_empty() || wanted.contains(s))
            .map(|(m, s)| json!({"tenantId": m.tenant_id, "status": s}))
            .collect();
        out.push(json!({"userId": u.id, "tenantsStatuses": statuses}));
    }
    Ok(Json(out))
}

/// A completed bulk role update, kept so its status can be read back.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkRolesTask {
    id: String,
    user_id: String,
    status: String,
    total_tenants: usize,
    processed_tenants: usize,
    added_role_ids: Vec<String>,
    removed_role_ids: Vec<String>,
}

impl Record for BulkRolesTask {
    const TREE: Tree = Tree::Meta;
    fn key(&self) -> Vec<u8> {
        format!("bulk-roles/{}", self.id).into_bytes()
    }
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkRolesRequest {
    #[serde(default)]
    add_role_ids: Vec<String>,
    #[serde(default)]
    remove_role_ids: Vec<String>,
    tenant_ids: Option<Vec<String>>,
}

/// Environment token: add and remove roles in every account of the user (or the listed
/// ones), in one transaction. A role applies in an account when it is environment-wide or
/// that account's own. Replies with the summary and the id of the (completed) task.
async fn bulk_roles(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<BulkRolesRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Perm::Environment)?;
    if req.add_role_ids.len() + req.remove_role_ids.len() > 200 {
        return Err(ApiError::bad_request("at most 200 role ids"));
    }
    let roles = crate::model::rbac::all_roles(&state.db)?;
    for r in req.add_role_ids.iter().chain(&req.remove_role_ids) {
        if !roles.iter().any(|x| x.id == *r) {
            return Err(ApiError::bad_request(format!("role {r} does not exist")));
        }
    }
    let applies = |role: &str, tenant: &str| {
        roles
            .iter()
            .any(|r| r.id == role && r.tenant_id.as_deref().is_none_or(|t| t == tenant))
    };
    let task_id = new_uuid().to_string();
    let at = rfc3339(state.clock.now());
    let task = state
        .db
        .write(|tx| {
            let mut u = tx.get::<User>(id.as_bytes())?.ok_or_else(user_not_found)?;
            let mut affected = 0;
            let total = u.memberships.len();
            for m in &mut u.memberships {
                if req
                    .tenant_ids
                    .as_ref()
                    .is_some_and(|ts| !ts.contains(&m.tenant_id))
                {
                    continue;
                }
                let before = m.role_ids.clone();
                let add: Vec<String> = req
                    .add_role_ids
                    .iter()
                    .filter(|r| applies(r, &m.tenant_id))
                    .cloned()
                    .collect();
                crate::model::add_unique(&mut m.role_ids, &add);
                m.role_ids.retain(|r| !req.remove_role_ids.contains(r));
                if m.role_ids != before {
                    affected += 1;
                    if before.iter().any(|r| !m.role_ids.contains(r)) {
                        Event::UserRolesRemoved {
                            tenant: &m.tenant_id,
                            user: &id,
                        }
                        .record(tx, &at)?;
                    }
                }
            }
            tx.put(&u)?;
            let task = BulkRolesTask {
                id: task_id.clone(),
                user_id: u.id.clone(),
                status: "Completed".into(),
                total_tenants: total,
                processed_tenants: affected,
                added_role_ids: req.add_role_ids.clone(),
                removed_role_ids: req.remove_role_ids.clone(),
            };
            tx.put(&task)?;
            Ok::<_, ApiError>(task)
        })
        .await?;
    Ok(Json(json!({
        "userId": task.user_id,
        "affectedTenants": task.processed_tenants,
        "rolesAdded": task.added_role_ids,
        "rolesRemoved": task.removed_role_ids,
        "taskId": task.id,
    })))
}

/// Environment token: the status of a bulk role update.
async fn bulk_roles_status(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BulkRolesTask>, ApiError> {
    caller.require(Perm::Environment)?;
    state
        .db
        .get::<BulkRolesTask>(format!("bulk-roles/{id}").as_bytes())?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Task not found"))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessRequest {
    allow_access: bool,
}

/// `fe.account-hierarchy.write.subAccountAccess`: allow or deny a user of the account access
/// to its sub-accounts.
async fn set_sub_account_access(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AccessRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::AccountHierarchyWriteSubAccountAccess)?;
    let tenant = caller.tenant()?;
    load_user(&state, &id, Some(&tenant))?;
    update_user(&state, &id, Some(&tenant), |u| {
        u.sub_account_access_allowed = req.allow_access;
        Ok(None)
    })
    .await?;
    Ok(StatusCode::OK)
}

/// User token: the caller's accounts as a hierarchy. Accounts have no parents yet, so each
/// is a root.
async fn my_hierarchy(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let user = caller
        .user()
        .map(|u| u.user.clone())
        .ok_or_else(|| ApiError::bad_request("a user token is required"))?;
    let mut out = Vec::new();
    for m in &user.memberships {
        if let Some(t) = state.db.get::<Tenant>(m.tenant_id.as_bytes())? {
            out.push(json!({"tenantId": t.tenant_id, "name": t.name, "parentTenantId": null, "children": []}));
        }
    }
    Ok(Json(out))
}

/// `fe.secure.read.users`: phrase search over names and emails (`_phraseSearchContains`,
/// or any of the other phrase parameters), with the same filters and pagination as
/// `users/v3`.
async fn search_users(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<UserResponse>>, ApiError> {
    let phrase = [
        "_phraseSearchContains",
        "_phraseSearchApproximate",
        "_phraseSearchOptional",
    ]
    .iter()
    .find_map(|k| q.get(k))
    .map(str::to_lowercase);
    let excludes = q.get("_phraseSearchExcludes").map(str::to_lowercase);
    list_matching(&caller, &state, &q, |u| {
        let hay = format!("{} {}", u.name.to_lowercase(), u.email_norm);
        phrase
            .as_deref()
            .is_none_or(|p| p.split_whitespace().all(|w| hay.contains(w)))
            && excludes.as_deref().is_none_or(|x| !hay.contains(x))
    })
    .map(Json)
}
