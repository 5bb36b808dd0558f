//! Managing users: create, read, list and search, the environment's update, flags, and
//! removal from an account.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::dto::{self, UserCreatedResponse, UserResponse, created_response, user_response};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, EnvContext, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::{ListQuery, Page};
use crate::model::grant;
use crate::model::user::change::{self, NewUser, ProfileChange, VendorFields};
use crate::model::user::list::{self, Filter};
use crate::model::user::{self, Loss, User};

/// The roles a new user of `tenant` gets: the named ones, or the account's defaults — given
/// by the caller as much as named ones are, so the same rule decides (a user could
/// otherwise create an account holding a role above its own, with a password it chose).
fn roles_for(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
    named: Option<&[String]>,
) -> Result<Vec<String>, ApiError> {
    let cat = state.catalog()?;
    let ids = match named {
        Some(ids) => ids.to_vec(),
        None => grant::default_role_ids(&cat.roles, tenant),
    };
    Ok(grant::roles(caller.grantor(), &cat.roles, tenant, &ids)?
        .into_iter()
        .map(|r| r.id)
        .collect())
}

/// The account's email-domain rules on a new address.
fn check_address(state: &AppState, tenant: &str, email: &str) -> Result<(), ApiError> {
    let norm =
        crate::model::email::normalize(email).map_err(|e| ApiError::bad_request(e.to_string()))?;
    crate::http::guard::check_email(state, &[tenant], &norm)
}

/// `POST users/v1|v2`: the user, and whether to skip the invitation mail.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Invite {
    #[serde(flatten)]
    user: NewUser,
    #[serde(default)]
    skip_invite_email: bool,
}

/// `fe.secure.write.users` (user token) or environment token with `frontegg-tenant-id`:
/// create a user in the account, with the given roles or the account's default roles, and
/// mail the invitation (its activation link) unless `skipInviteEmail`.
pub(super) async fn create(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(Invite {
        user: new,
        skip_invite_email,
    }): ApiJson<Invite>,
) -> Result<(StatusCode, Json<UserCreatedResponse>), ApiError> {
    let tenant = caller.account(&state, Perm::WriteUsers)?;
    let u = invite(&state, &caller, &tenant, &new, skip_invite_email).await?;
    let cat = state.catalog()?;
    Ok((
        StatusCode::CREATED,
        Json(created_response(&state, &cat, &u, &tenant)?),
    ))
}

/// Invite one user to `tenant` as the caller: a new user is created (with the named roles
/// or the account's defaults, as far as the caller may give them) and mailed its activation
/// link unless `skip_mail`; an address that already has a user gets a membership pending
/// the invitation (disabled until the mailed link is accepted). The one path of `users/v1`
/// and bulk invitations.
pub(super) async fn invite(
    state: &AppState,
    caller: &Caller,
    tenant: &str,
    new: &NewUser,
    skip_mail: bool,
) -> Result<User, ApiError> {
    let roles = roles_for(state, caller, tenant, new.role_ids.as_deref())?;
    check_address(state, tenant, &new.email)?;
    let norm = crate::model::email::normalize(&new.email)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Some(existing) = user::by_email(&state.db, &norm)?
        && existing
            .membership(tenant)
            .is_none_or(|m| m.pending_invitation)
    {
        crate::model::invitation::mail_for(
            &state.db,
            &state.clock,
            state.links(),
            &existing,
            tenant,
            Some(roles),
            caller.user().map(|c| c.user.id.as_str()),
        )
        .await?;
        return Ok(user::get(&state.db, &existing.id)?);
    }
    let u = change::create(
        &state.db,
        &state.clock,
        &state.hasher,
        tenant,
        new,
        roles,
        &VendorFields::default(),
    )
    .await?;
    if !skip_mail {
        let account = crate::model::tenant::get(&state.db, tenant)?.name;
        crate::model::signup::invitation(
            &state.db,
            &state.clock,
            state.links(),
            &u,
            &account,
            caller.user().map(|c| c.user.id.as_str()),
        )
        .await?;
    }
    Ok(u)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VendorNewUser {
    #[serde(flatten)]
    user: NewUser,
    tenant_id: String,
    #[serde(flatten)]
    vendor: VendorFields,
}

/// Environment token: create a user in `tenantId` (any roles of that account).
pub(super) async fn create_vendor_only(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VendorNewUser>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    caller.require(Perm::Environment)?;
    let tenant = crate::model::tenant::id_of("tenantId", &req.tenant_id)?;
    crate::model::tenant::require(&state.db, &tenant)?;
    let env = Caller::Env(EnvContext {
        tenant: Some(tenant.clone()),
        user_id: None,
    });
    let roles = roles_for(&state, &env, &tenant, req.user.role_ids.as_deref())?;
    check_address(&state, &tenant, &req.user.email)?;
    let u = change::create(
        &state.db,
        &state.clock,
        &state.hasher,
        &tenant,
        &req.user,
        roles,
        &req.vendor,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(dto::full(&state, &u, Some(&tenant))?),
    ))
}

/// `fe.secure.read.users`: one user of the account (invisible ones only to the
/// environment).
pub(super) async fn get(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::ReadUsers)?;
    let tenant = caller.tenant()?;
    let u = user::get_in(&state.db, &id, Some(&tenant))?;
    if u.invisible && caller.user().is_some() {
        return Err(user::UserError::NotFound.into());
    }
    Ok(Json(dto::full(&state, &u, Some(&tenant))?))
}

/// Environment token: any user, as seen in its active account.
pub(super) async fn get_vendor_only(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let u = user::get(&state.db, &id)?;
    Ok(Json(dto::full(&state, &u, None)?))
}

/// The users visible to the caller that pass the common filters and `extra`, sorted and
/// paginated (`users/v3`, phrase search). Without `frontegg-tenant-id` an environment token
/// lists every user; a user token never reaches another account, whatever `_tenantId` says.
fn list_matching(
    caller: &Caller,
    state: &AppState,
    q: &ListQuery,
    extra: impl Fn(&User) -> bool,
) -> Result<Page<UserResponse>, ApiError> {
    caller.require(Perm::ReadUsers)?;
    let page = q.page(200)?;
    let sort = q.sort_by(list::SORT, "createdAt")?;
    let desc = q.descending()?;
    let tenant = match &caller {
        Caller::User(u) => Some(u.tenant_id.clone()),
        Caller::Env(e) => e
            .tenant
            .clone()
            .or_else(|| q.get("_tenantId").map(str::to_owned)),
    };
    let filter = Filter {
        tenant: tenant.as_deref(),
        hide_invisible: caller.user().is_some(),
        ids: q.all("ids").into_iter().collect::<BTreeSet<_>>(),
        email: q.get("_email").map(str::to_lowercase),
        text: q
            .get("_filter")
            .or(q.get("_namePrefix"))
            .map(str::to_lowercase),
    };
    let users = list::list(&state.db, &filter, sort, desc, extra)?;
    let cat = state.catalog()?;
    page.apply(users)
        .try_map(|u| user_response(state, &cat, &u, tenant.as_deref(), false))
}

/// `fe.secure.read.users`: the account's users, paginated and filtered (`_email`,
/// `_tenantId` for environment tokens, `ids`, `_filter`/`_namePrefix` on name or email).
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<UserResponse>>, ApiError> {
    list_matching(&caller, &state, &q, |_| true).map(Json)
}

/// `fe.secure.read.users`: phrase search over names and emails (`_phraseSearchContains`,
/// or any of the other phrase parameters), with the same filters and pagination.
pub(super) async fn search(
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

#[derive(Clone, Deserialize)]
pub(super) struct VendorUpdate {
    #[serde(flatten)]
    profile: ProfileChange,
    #[serde(flatten)]
    vendor: VendorFields,
}

/// Environment token: partial update of a user's profile and vendor fields.
pub(super) async fn update_vendor(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<VendorUpdate>,
) -> Result<Json<UserResponse>, ApiError> {
    caller.require(Perm::Environment)?;
    let u = change::update(&state.db, &state.clock, &id, None, |u| {
        req.profile.apply(u)?;
        req.vendor.apply(u)?;
        Ok(None)
    })
    .await?;
    Ok(Json(dto::full(&state, &u, None)?))
}

/// Apply an environment-only flag change.
async fn flag(
    caller: &Caller,
    state: &AppState,
    id: &str,
    change: impl Fn(&mut User) -> Option<Loss>,
) -> Result<User, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(change::update(&state.db, &state.clock, id, None, |u| Ok(change(u))).await?)
}

/// Environment token: mark the user's email verified.
pub(super) async fn verify(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    flag(&caller, &state, &id, |u| {
        u.verified = true;
        None
    })
    .await?;
    Ok(StatusCode::OK)
}

/// Environment token: lock the user everywhere; its tokens stop working.
pub(super) async fn lock(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    flag(&caller, &state, &id, |u| {
        u.is_locked = true;
        Some(Loss::Locked)
    })
    .await?;
    Ok(StatusCode::OK)
}

/// Environment token: unlock the user.
pub(super) async fn unlock(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    flag(&caller, &state, &id, |u| {
        u.is_locked = false;
        u.failed_logins = 0;
        u.failures_in_window = 0;
        None
    })
    .await?;
    Ok(StatusCode::OK)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SuperUserRequest {
    super_user: bool,
}

/// Environment token: set the super-user flag (taking it away voids the tokens that say
/// so).
pub(super) async fn set_super_user(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SuperUserRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let u = flag(&caller, &state, &id, |u| {
        let taken = u.super_user && !req.super_user;
        u.super_user = req.super_user;
        taken.then_some(Loss::SuperUser)
    })
    .await?;
    Ok(Json(dto::full(&state, &u, None)?))
}

#[derive(Clone, Deserialize)]
pub(super) struct InvisibleRequest {
    invisible: bool,
}

/// Environment token: hide the user from account user lists (or show it again).
pub(super) async fn set_invisible(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<InvisibleRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let u = flag(&caller, &state, &id, |u| {
        u.invisible = req.invisible;
        None
    })
    .await?;
    Ok(Json(dto::full(&state, &u, None)?))
}

/// `fe.secure.delete.users`: remove the user from the account (a user left without any
/// account is deleted). An environment token without `frontegg-tenant-id` deletes the user.
pub(super) async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::DeleteUsers)?;
    if caller.user().is_some_and(|u| u.user.id == id) {
        return Err(ApiError::bad_request(
            "use the account settings to leave an account; you cannot remove yourself here",
        ));
    }
    change::remove(&state.db, &state.clock, &id, caller.tenant_opt().as_deref()).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_createUser", create)
        .add("UsersControllerV2_createUser", create)
        .add("VendorOnlyUsers_createUser", create_vendor_only)
        .add("UsersControllerV1_getUserById", get)
        .add("VendorOnlyUsers_getUserById", get_vendor_only)
        .add("UsersControllerV3_getUsers", list)
        .add("UsersControllerV1_searchUsers", search)
        .add("UsersControllerV1_updateUserForVendor", update_vendor)
        .add("UsersControllerV1_verifyUser", verify)
        .add("UsersControllerV1_lockUser", lock)
        .add("UsersControllerV1_unlockUser", unlock)
        .add("UsersControllerV1_setUserSuperuserMode", set_super_user)
        .add("UsersControllerV1_setUserInvisibleMode", set_invisible)
        .add("UsersControllerV1_removeUserFromTenant", remove)
        // The Rust management client (`frontegg` 0.9 on crates.io) lists users with
        // `GET users/v1?_limit&_offset`, which the spec lacks: the same paginated list.
        .add_extra("/resources/users/v1", axum::routing::get(list))
        // The admin portal's team page removes a member through Frontegg's team service
        // (`api.teams.deleteUser`), outside the identity API and the spec.
        .add_team(
            "/team/resources/members/v1/{id}",
            axum::routing::delete(remove),
        )
}
