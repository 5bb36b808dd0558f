//! Managing users: create, read, list, update, flags, roles and account membership.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::dto::{Catalog, UserCreatedResponse, UserResponse, created_response, user_response};
use super::{check_grantable, default_role_ids, load_user, require_tenant_exists, user_not_found};
use crate::api::Ops;
use crate::crypto::new_uuid;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::{ListQuery, Page};
use crate::http::reply;
use crate::model::clock::rfc3339;
use crate::model::user::{self, Loss, Membership, User};
use crate::model::{email, password};
use crate::store::Tx;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_createUser", create_user)
        .add("UsersControllerV2_createUser", create_user)
        .add("VendorOnlyUsers_createUser", create_user_vendor_only)
        .add("UsersControllerV1_getUserById", get_user)
        .add("VendorOnlyUsers_getUserById", get_user_vendor_only)
        .add("UsersControllerV1_getUserByEmail", get_user_by_email)
        .add("UsersControllerV3_getUsers", list_users)
        .add("UsersControllerV1_updateUserForVendor", update_user_vendor)
        .add("UsersControllerV1_verifyUser", verify_user)
        .add("UsersControllerV1_lockUser", lock_user)
        .add("UsersControllerV1_unlockUser", unlock_user)
        .add("UsersControllerV1_setUserSuperuserMode", set_superuser)
        .add("UsersControllerV1_setUserInvisibleMode", set_invisible)
        .add("UsersControllerV1_addRolesToUser", add_roles)
        .add("UsersControllerV1_deleteRolesFromUser", remove_roles)
        .add("UsersControllerV1_removeUserFromTenant", remove_user)
        .add("UsersControllerV1_addUserToTenantForVendor", add_to_tenant)
        .add(
            "UsersControllerV1_updateUserTenantForVendor",
            set_active_tenant,
        )
        .add(
            "UsersTenantsControllerV1_disableUserTenant",
            disable_in_tenant,
        )
        .add(
            "UsersTenantsControllerV1_enableUserTenant",
            enable_in_tenant,
        )
        .add("UsersControllerV3_getUsersRoles", users_roles)
        .add("UsersControllerV3_getUsersGroups", users_groups)
}

/// The users named by `ids` that are members of the caller's account (others are skipped).
fn users_by_ids(
    state: &AppState,
    caller: &Caller,
    q: &ListQuery,
) -> Result<(String, Vec<User>), ApiError> {
    caller.require(Perm::ReadUsers)?;
    let tenant = caller.tenant()?;
    let ids = q.all("ids");
    if ids.is_empty() || ids.len() > 200 {
        return Err(ApiError::bad_request("ids: 1 to 200 user ids"));
    }
    let mut out = Vec::new();
    for id in ids {
        if let Some(u) = state
            .db
            .get::<User>(id.as_bytes())?
            .filter(|u| u.membership(&tenant).is_some())
        {
            out.push(u);
        }
    }
    Ok((tenant, out))
}

/// `fe.secure.read.users`: each listed user's roles in the account (direct and via groups).
async fn users_roles(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Vec<Value>>, ApiError> {
    let (tenant, users) = users_by_ids(&state, &caller, &q)?;
    let cat = state.catalog()?;
    let mut out = Vec::with_capacity(users.len());
    for u in &users {
        let roles: Vec<_> = cat
            .effective(u, &tenant)?
            .roles
            .into_iter()
            .map(|r| reply::role(&state, r))
            .collect();
        out.push(serde_json::json!({"userId": u.id, "roles": roles}));
    }
    Ok(Json(out))
}

/// `fe.secure.read.users`: each listed user's groups in the account.
async fn users_groups(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Vec<Value>>, ApiError> {
    let (tenant, users) = users_by_ids(&state, &caller, &q)?;
    let mut out = Vec::with_capacity(users.len());
    for u in &users {
        let mine: Vec<Value> = crate::model::group::of_user(&state.db, &u.id)?
            .into_iter()
            .filter(|g| g.tenant_id == tenant)
            .map(|g| serde_json::json!({"id": g.id, "name": g.name, "color": g.color, "description": g.description}))
            .collect();
        out.push(serde_json::json!({"userId": u.id, "groups": mine}));
    }
    Ok(Json(out))
}

/// The fields of a new user shared by both create routes.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewUser {
    email: String,
    name: Option<String>,
    password: Option<String>,
    phone_number: Option<String>,
    profile_picture_url: Option<String>,
    metadata: Option<Value>,
    #[serde(default)]
    role_ids: Option<Vec<String>>,
}

/// Build the record (hashing the password) before the transaction.
async fn build_user(
    state: &AppState,
    req: &NewUser,
    tenant: &str,
    role_ids: Vec<String>,
) -> Result<User, ApiError> {
    let email_norm =
        email::normalize(&req.email).map_err(|e| ApiError::bad_request(e.to_string()))?;
    crate::http::guard::check_email(state, &[tenant], &email_norm)?;
    let password_hash = match req.password.clone() {
        Some(p) if p.is_empty() => return Err(ApiError::bad_request("password must not be empty")),
        Some(p) => {
            crate::model::password_policy::enforce(&state.db, Some(tenant), &p)?;
            Some(password::hash(&state.hasher, p).await?)
        }
        None => None,
    };
    let now = rfc3339(state.clock.now());
    Ok(User {
        id: new_uuid().to_string(),
        email: req.email.trim().to_owned(),
        email_norm,
        name: crate::model::text::checked("name", req.name.as_deref().unwrap_or(""), 255, false)?,
        profile_picture_url: req
            .profile_picture_url
            .as_deref()
            .map(|u| crate::model::text::checked("profilePictureUrl", u, 2048, false))
            .transpose()?,
        phone_number: req
            .phone_number
            .as_deref()
            .map(|p| crate::model::text::checked("phoneNumber", p, 32, false))
            .transpose()?,
        metadata: user::metadata_text(req.metadata.as_ref())?,
        vendor_metadata: "{}".into(),
        external_id: None,
        password_hash,
        verified: false,
        is_locked: false,
        super_user: false,
        invisible: false,
        mfa_bypass: false,
        memberships: vec![Membership {
            tenant_id: tenant.to_owned(),
            role_ids,
            disabled: false,
            created_at: now.clone(),
        }],
        active_tenant_id: Some(tenant.to_owned()),
        created_at: now,
        last_login: None,
        sub_account_access_allowed: false,
        failed_logins: 0,
        failures_in_window: 0,
        failure_window_start: 0,
        password_history: Vec::new(),
        password_changed_at: req.password.as_ref().map(|_| state.clock.unix()),
        username: None,
    })
}

/// Insert a new user; 409 when the (normalised) email is taken.
fn insert_new(tx: &mut Tx<'_>, u: &User) -> Result<(), ApiError> {
    if user::email_owner(tx, &u.email_norm)?.is_some() {
        return Err(ApiError::conflict("a user with this email already exists"));
    }
    tx.put(u)?;
    Ok(())
}

/// `fe.secure.write.users` (user token) or environment token with `frontegg-tenant-id`:
/// create a user in the account, with the given roles or the account's default roles.
async fn create_user(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<UserCreatedResponse>), ApiError> {
    caller.require(Perm::WriteUsers)?;
    let tenant = caller.tenant()?;
    require_tenant_exists(&state, &tenant)?;
    let cat = state.catalog()?;
    // The account's default roles are given by the caller as much as named ones are: the
    // same rule decides (a user could otherwise create an account holding a role above its
    // own, with a password it chose).
    let ids = match &req.role_ids {
        Some(ids) => ids.clone(),
        None => default_role_ids(&cat, &tenant),
    };
    let roles = check_grantable(&caller, &cat, &tenant, &ids)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let u = build_user(&state, &req, &tenant, roles).await?;
    state.db.write(|tx| insert_new(tx, &u)).await?;
    Ok((
        StatusCode::CREATED,
        Json(created_response(&state, &cat, &u, &tenant)?),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VendorNewUser {
    #[serde(flatten)]
    user: NewUser,
    tenant_id: String,
    vendor_metadata: Option<Value>,
    #[serde(default)]
    mfa_bypass: bool,
    external_id: Option<String>,
}

/// Environment token: create a user in `tenantId` (any roles of that account).
async fn create_user_vendor_only(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VendorNewUser>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    caller.require(Perm::Environment)?;
    let tenant = crate::model::tenant::parse_id(&req.tenant_id)
        .ok_or_else(|| ApiError::bad_request("tenantId must be a UUID"))?;
    require_tenant_exists(&state, &tenant)?;
    let cat = state.catalog()?;
    let env = Caller::Env(crate::http::caller::EnvContext {
        tenant: Some(tenant.clone()),
        user_id: None,
    });
    let roles = match &req.user.role_ids {
        Some(ids) => check_grantable(&env, &cat, &tenant, ids)?
            .into_iter()
            .map(|r| r.id)
            .collect(),
        None => default_role_ids(&cat, &tenant),
    };
    let mut u = build_user(&state, &req.user, &tenant, roles).await?;
    u.vendor_metadata =
        crate::model::json::object_text("vendorMetadata", req.vendor_metadata.as_ref())?;
    u.mfa_bypass = req.mfa_bypass;
    u.external_id = req
        .external_id
        .as_deref()
        .map(|e| crate::model::text::checked("externalId", e, 255, false))
        .transpose()?;
    state.db.write(|tx| insert_new(tx, &u)).await?;
    Ok((
        StatusCode::CREATED,
        Json(user_response(&state, &cat, &u, Some(&tenant), true)?),
    ))
}

/// `fe.secure.read.users`: one user of the account.
async fn get_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::ReadUsers)?;
    let tenant = caller.tenant()?;
    let u = load_user(&state, &id, Some(&tenant))?;
    if u.invisible && caller.user().is_some() {
        return Err(user_not_found());
    }
    Ok(Json(user_response(
        &state,
        &*state.catalog()?,
        &u,
        Some(&tenant),
        true,
    )?))
}

/// Environment token: any user, as seen in its active account.
async fn get_user_vendor_only(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let u = load_user(&state, &id, None)?;
    Ok(Json(user_response(
        &state,
        &*state.catalog()?,
        &u,
        None,
        true,
    )?))
}

#[derive(Deserialize)]
struct EmailQuery {
    email: String,
}

/// Environment token: the user with this email (compared as normalised).
async fn get_user_by_email(
    caller: Caller,
    State(state): State<AppState>,
    Query(q): Query<EmailQuery>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let norm = email::normalize(&q.email).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let id = state
        .db
        .get_raw(crate::store::Tree::UserEmails, norm.as_bytes())?
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(user_not_found)?;
    let u = load_user(&state, &id, None)?;
    Ok(Json(user_response(
        &state,
        &*state.catalog()?,
        &u,
        None,
        false,
    )?))
}

const USER_SORT: &[&str] = &[
    "createdAt",
    "name",
    "email",
    "id",
    "verified",
    "isLocked",
    "provider",
    "tenantId",
];

/// `fe.secure.read.users`: the account's users, paginated and filtered (`_email`,
/// `_tenantId` for environment tokens, `ids`, `_filter`/`_namePrefix` on name or email).
/// Without `frontegg-tenant-id` an environment token lists every user.
async fn list_users(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<UserResponse>>, ApiError> {
    list_matching(&caller, &state, &q, |_| true).map(Json)
}

/// The users visible to the caller that pass the common filters and `extra`, sorted and
/// paginated (`users/v3`, phrase search).
pub(super) fn list_matching(
    caller: &Caller,
    state: &AppState,
    q: &ListQuery,
    extra: impl Fn(&User) -> bool,
) -> Result<Page<UserResponse>, ApiError> {
    caller.require(Perm::ReadUsers)?;
    let page = q.page(200)?;
    let sort = q.sort_by(USER_SORT, "createdAt")?;
    let desc = q.descending()?;
    // A user token never reaches another account, whatever `_tenantId` says.
    let tenant = match &caller {
        Caller::User(u) => Some(u.tenant_id.clone()),
        Caller::Env(e) => e
            .tenant
            .clone()
            .or_else(|| q.get("_tenantId").map(str::to_owned)),
    };
    let ids: BTreeSet<&str> = q.all("ids").into_iter().collect();
    let email_filter = q.get("_email").map(str::to_lowercase);
    let text = q
        .get("_filter")
        .or(q.get("_namePrefix"))
        .map(str::to_lowercase);
    let hide_invisible = caller.user().is_some();
    // An account's users by index; only an environment-wide listing reads every user.
    let candidates = match tenant.as_deref() {
        Some(t) => user::members(&state.db, t)?,
        None => state.db.scan::<User>(b"")?,
    };
    let mut users: Vec<User> = candidates
        .into_iter()
        .filter(|u| tenant.as_deref().is_none_or(|t| u.membership(t).is_some()))
        .filter(|u| !(hide_invisible && u.invisible))
        .filter(|u| ids.is_empty() || ids.contains(u.id.as_str()))
        .filter(|u| {
            email_filter
                .as_deref()
                .is_none_or(|e| u.email_norm.contains(e))
        })
        .filter(|u| {
            text.as_deref()
                .is_none_or(|t| u.name.to_lowercase().contains(t) || u.email_norm.contains(t))
        })
        .filter(|u| extra(u))
        .collect();
    users.sort_by(|a, b| {
        let ord = match sort {
            "name" => a.name.cmp(&b.name),
            "email" => a.email_norm.cmp(&b.email_norm),
            "id" => a.id.cmp(&b.id),
            "verified" => a.verified.cmp(&b.verified),
            "isLocked" => a.is_locked.cmp(&b.is_locked),
            "tenantId" => a.active_tenant_id.cmp(&b.active_tenant_id),
            _ => a.created_at.cmp(&b.created_at),
        }
        .then_with(|| a.id.cmp(&b.id));
        if desc { ord.reverse() } else { ord }
    });
    let cat = state.catalog()?;
    let p = page.apply(users);
    let items = p
        .items
        .iter()
        .map(|u| user_response(state, &cat, u, tenant.as_deref(), false))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        _links: p._links,
        _metadata: p._metadata,
    })
}

/// Apply `change` to a stored user in one transaction; `events` are recorded with it.
pub(super) async fn update_user(
    state: &AppState,
    id: &str,
    tenant: Option<&str>,
    change: impl Fn(&mut User) -> Result<Option<Loss>, ApiError>,
) -> Result<User, ApiError> {
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            let old = tx.get::<User>(id.as_bytes())?.ok_or_else(user_not_found)?;
            if tenant.is_some_and(|t| old.membership(t).is_none()) {
                return Err(user_not_found());
            }
            let mut u = old.clone();
            let event = change(&mut u)?;
            tx.put(&u)?;
            if let Some(loss) = event {
                loss.event(&u.id).record(tx, &at)?;
            }
            Ok(u)
        })
        .await
}

async fn respond(
    state: &AppState,
    u: &User,
    tenant: Option<&str>,
) -> Result<Json<UserResponse>, ApiError> {
    Ok(Json(user_response(
        state,
        &*state.catalog()?,
        u,
        tenant,
        true,
    )?))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VendorUpdate {
    name: Option<String>,
    phone_number: Option<String>,
    profile_picture_url: Option<String>,
    metadata: Option<Value>,
    vendor_metadata: Option<Value>,
    mfa_bypass: Option<bool>,
    external_id: Option<String>,
}

/// Environment token: partial update of a user's profile and vendor fields.
async fn update_user_vendor(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<VendorUpdate>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let profile = super::ProfileChange::validate(
        req.name.as_deref(),
        req.phone_number.as_deref(),
        req.profile_picture_url.as_deref(),
        req.metadata.as_ref(),
    )?;
    let vendor = req
        .vendor_metadata
        .as_ref()
        .map(|m| crate::model::json::object_text("vendorMetadata", Some(m)))
        .transpose()?;
    let external = req
        .external_id
        .as_deref()
        .map(|e| crate::model::text::checked("externalId", e, 255, false))
        .transpose()?;
    let u = update_user(&state, &id, None, |u| {
        profile.apply(u);
        if let Some(v) = &vendor {
            u.vendor_metadata = v.clone();
        }
        if let Some(v) = req.mfa_bypass {
            u.mfa_bypass = v;
        }
        if external.is_some() {
            u.external_id = external.clone();
        }
        Ok(None)
    })
    .await?;
    respond(&state, &u, None).await
}

/// Environment token: mark the user's email verified.
async fn verify_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    update_user(&state, &id, None, |u| {
        u.verified = true;
        Ok(None)
    })
    .await?;
    Ok(StatusCode::OK)
}

/// Environment token: lock the user everywhere; its tokens stop working (event).
async fn lock_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    update_user(&state, &id, None, |u| {
        u.is_locked = true;
        Ok(Some(Loss::Locked))
    })
    .await?;
    Ok(StatusCode::OK)
}

/// Environment token: unlock the user.
async fn unlock_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    update_user(&state, &id, None, |u| {
        u.is_locked = false;
        u.failed_logins = 0;
        u.failures_in_window = 0;
        Ok(None)
    })
    .await?;
    Ok(StatusCode::OK)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SuperUserRequest {
    super_user: bool,
}

/// Environment token: set the super-user flag.
async fn set_superuser(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SuperUserRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let u = update_user(&state, &id, None, |u| {
        // Tokens carry `superUser`: taking it away voids the ones that say so.
        let taken = u.super_user && !req.super_user;
        u.super_user = req.super_user;
        Ok(taken.then_some(Loss::SuperUser))
    })
    .await?;
    respond(&state, &u, None).await
}

#[derive(Clone, Deserialize)]
struct InvisibleRequest {
    invisible: bool,
}

/// Environment token: hide the user from account user lists (or show it again).
async fn set_invisible(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<InvisibleRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let u = update_user(&state, &id, None, |u| {
        u.invisible = req.invisible;
        Ok(None)
    })
    .await?;
    respond(&state, &u, None).await
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleIds {
    role_ids: Vec<String>,
}

/// `{tenantId, userId, roles}` with the user's roles in the account as role objects.
fn roles_reply(state: &AppState, cat: &Catalog, u: &User, tenant: &str) -> Result<Value, ApiError> {
    let roles: Vec<_> = cat
        .direct(u, tenant)?
        .roles
        .into_iter()
        .map(|r| reply::role(state, r))
        .collect();
    Ok(serde_json::json!({"tenantId": tenant, "userId": u.id, "roles": roles}))
}

/// `fe.secure.write.usersRoles`: grant roles in the account (at or below the caller's level).
async fn add_roles(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleIds>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Perm::WriteUsersRoles)?;
    let tenant = caller.tenant()?;
    let cat = state.catalog()?;
    let grant: Vec<String> = check_grantable(&caller, &cat, &tenant, &req.role_ids)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let u = update_user(&state, &id, Some(&tenant), |u| {
        let m = u.membership_mut(&tenant).ok_or_else(user_not_found)?;
        crate::model::add_unique(&mut m.role_ids, &grant);
        Ok(None)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(roles_reply(&state, &cat, &u, &tenant)?),
    ))
}

/// `fe.secure.delete.usersRoles`: take roles away in the account (same level rule); the
/// user's earlier tokens carry too much from now on (event).
async fn remove_roles(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleIds>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Perm::DeleteUsersRoles)?;
    let tenant = caller.tenant()?;
    let cat = state.catalog()?;
    let take: Vec<String> = check_grantable(&caller, &cat, &tenant, &req.role_ids)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    let u = update_user(&state, &id, Some(&tenant), |u| {
        let m = u.membership_mut(&tenant).ok_or_else(user_not_found)?;
        m.role_ids.retain(|r| !take.contains(r));
        Ok(Some(Loss::Roles(tenant.clone())))
    })
    .await?;
    Ok(Json(roles_reply(&state, &cat, &u, &tenant)?))
}

/// `fe.secure.delete.users`: remove the user from the account (a user left without any
/// account is deleted). An environment token without `frontegg-tenant-id` deletes the user.
async fn remove_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::DeleteUsers)?;
    let tenant = caller.tenant_opt();
    if let Some(u) = caller.user()
        && u.user.id == id
    {
        return Err(ApiError::bad_request(
            "use the account settings to leave an account; you cannot remove yourself here",
        ));
    }
    // Everything that hangs on the user there (everywhere, for a deletion) goes with it.
    let deps = crate::model::cascade::UserDependents::read(&state.db, &id, tenant.as_deref())?;
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            let u = tx.get::<User>(id.as_bytes())?.ok_or_else(user_not_found)?;
            match tenant.as_deref() {
                Some(t) => {
                    if u.membership(t).is_none() {
                        return Err(user_not_found());
                    }
                    crate::model::cascade::remove_from_tenant(tx, u, t, &deps, &at)?;
                }
                None => crate::model::cascade::delete_user(tx, &u, &deps, &at)?,
            }
            Ok(())
        })
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantRequest {
    tenant_id: String,
}

fn parse_tenant(raw: &str) -> Result<String, ApiError> {
    crate::model::tenant::parse_id(raw)
        .ok_or_else(|| ApiError::bad_request("tenantId must be a UUID"))
}

/// Environment token: add the user to another account, with that account's default roles.
async fn add_to_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TenantRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    caller.require(Perm::Environment)?;
    let tenant = parse_tenant(&req.tenant_id)?;
    require_tenant_exists(&state, &tenant)?;
    let cat = state.catalog()?;
    let defaults = default_role_ids(&cat, &tenant);
    let now = rfc3339(state.clock.now());
    let u = update_user(&state, &id, None, |u| {
        if u.membership(&tenant).is_some() {
            return Err(ApiError::conflict(
                "the user is already a member of this account",
            ));
        }
        u.memberships.push(Membership {
            tenant_id: tenant.clone(),
            role_ids: defaults.clone(),
            disabled: false,
            created_at: now.clone(),
        });
        Ok(None)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(user_response(&state, &cat, &u, Some(&tenant), true)?),
    ))
}

/// Environment token: set the account the user's tokens are issued for (a membership).
async fn set_active_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TenantRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let tenant = parse_tenant(&req.tenant_id)?;
    let u = update_user(&state, &id, None, |u| {
        if u.membership(&tenant).is_none() {
            return Err(ApiError::bad_request(
                "the user is not a member of this account",
            ));
        }
        u.active_tenant_id = Some(tenant.clone());
        Ok(None)
    })
    .await?;
    respond(&state, &u, Some(&tenant)).await
}

async fn set_disabled(
    caller: Caller,
    state: AppState,
    id: String,
    disabled: bool,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::WriteEnableDisable)?;
    let tenant = caller.tenant()?;
    if caller.user().is_some_and(|u| u.user.id == id) {
        return Err(ApiError::bad_request(
            "you cannot disable or enable yourself",
        ));
    }
    update_user(&state, &id, Some(&tenant), |u| {
        let m = u.membership_mut(&tenant).ok_or_else(user_not_found)?;
        m.disabled = disabled;
        Ok(disabled.then(|| Loss::Disabled(tenant.clone())))
    })
    .await?;
    Ok(StatusCode::OK)
}

/// `fe.secure.write.enableDisable`: disable the user in the account (its tokens there stop).
async fn disable_in_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_disabled(caller, state, id, true).await
}

/// `fe.secure.write.enableDisable`: enable the user in the account again.
async fn enable_in_tenant(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_disabled(caller, state, id, false).await
}
