//! Login phone numbers (tags SMS, Users; `compat-wave2.md` §9.1): the user's own numbers,
//! added and removed with a texted code, the portal's lookup by user ids, and the
//! environment's verified adds and removals. The rules live in `model::user::phones`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::http::page::{ListQuery, Page};
use crate::model::user::phones;
use crate::model::user::{self, LoginPhone, User};

/// `UserPhoneNumberResponseDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PhoneDto {
    id: String,
    user_id: String,
    phone_number: String,
    verified: bool,
    created_at: String,
    updated_at: String,
}

fn dto(user_id: &str, p: &LoginPhone) -> PhoneDto {
    PhoneDto {
        id: p.id.clone(),
        user_id: user_id.to_owned(),
        phone_number: p.phone_number.clone(),
        verified: p.verified,
        created_at: p.created_at.clone(),
        updated_at: p.updated_at.clone(),
    }
}

fn all_of(u: &User) -> Vec<PhoneDto> {
    u.login_phones.iter().map(|p| dto(&u.id, p)).collect()
}

/// `{otcToken}` (and the phone it is about).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OtcReply {
    otc_token: String,
    phone_id: String,
}

fn text(c: &phones::CodeToSend) -> OtcReply {
    OtcReply {
        otc_token: c.token.clone(),
        phone_id: c.phone.id.clone(),
    }
}

/// The caller's own numbers (user token, or environment token with `frontegg-user-id`).
pub(super) async fn mine(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<PhoneDto>>, ApiError> {
    let (u, _) = caller.me(&state)?;
    Ok(Json(all_of(&u)))
}

/// Deprecated list: the caller's own numbers, paginated (what the portal reads); every
/// user's with an environment token and no `frontegg-user-id`.
pub(super) async fn list(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<PhoneDto>>, ApiError> {
    let page = q.page(200)?;
    let items = match &caller {
        Caller::Env(e) if e.user_id.is_none() => state
            .db
            .scan::<User>(b"")?
            .iter()
            .flat_map(all_of)
            .collect(),
        _ => all_of(&caller.me(&state)?.0),
    };
    Ok(Json(page.apply(items)))
}

/// `fe.secure.read.users`: the numbers of users of the caller's account (`userIds`
/// comma-joined or repeated; or a number search with `_phoneNumber`); any user's with an
/// environment token.
pub(super) async fn by_users(
    caller: Caller,
    State(state): State<AppState>,
    q: ListQuery,
) -> Result<Json<Page<PhoneDto>>, ApiError> {
    caller.require(Perm::ReadUsers)?;
    let page = q.page(200)?;
    let scope = match &caller {
        Caller::User(u) => Some(u.tenant_id.clone()),
        Caller::Env(e) => e.tenant.clone(),
    };
    let ids = q.all("userIds");
    let users = match q.get("_phoneNumber").filter(|n| !n.is_empty()) {
        Some(n) if ids.is_empty() => user::by_phone(&state.db, &user::phone_digits(n))?
            .into_iter()
            .filter(|u| scope.as_deref().is_none_or(|t| u.membership(t).is_some()))
            .collect(),
        _ => super::dto::looked_up(&state, scope.as_deref(), &ids)?,
    };
    let digits = q.get("_phoneNumber").map(user::phone_digits);
    let items: Vec<PhoneDto> = users
        .iter()
        .flat_map(|u| {
            u.login_phones
                .iter()
                .filter(|p| {
                    digits
                        .as_deref()
                        .is_none_or(|d| user::phone_digits(&p.phone_number).contains(d))
                })
                .map(|p| dto(&u.id, p))
        })
        .collect();
    Ok(Json(page.apply(items)))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AddRequest {
    phone_number: String,
    #[serde(default)]
    verify: Option<bool>,
}

/// Add a number to the caller: a code is texted to it (`{otcToken}` to verify with); with
/// `verify: false` the number is stored unverified (not usable for login until proven).
pub(super) async fn add(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AddRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let (u, _) = caller.me(&state)?;
    let c = phones::start_add(&state.db, &state.clock, &u.id, &req.phone_number).await?;
    if req.verify == Some(false) {
        return Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({"phoneId": c.phone.id})),
        ));
    }
    let r = text(&c);
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"otcToken": r.otc_token, "phoneId": r.phone_id})),
    ))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PreverifyRequest {
    phone_number: String,
}

/// Text a (new) code to one of the caller's numbers, adding it unverified if new.
pub(super) async fn preverify(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PreverifyRequest>,
) -> Result<Json<OtcReply>, ApiError> {
    let (u, _) = caller.me(&state)?;
    let c = phones::start_add(&state.db, &state.clock, &u.id, &req.phone_number).await?;
    Ok(Json(text(&c)))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CodeRequest {
    otc_token: String,
    code: String,
}

/// Verify the number the code was texted to.
pub(super) async fn verify(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<StatusCode, ApiError> {
    let (u, _) = caller.me(&state)?;
    phones::finish_add(&state.db, &state.clock, &u.id, &req.otc_token, &req.code).await?;
    Ok(StatusCode::OK)
}

/// Ask to remove one of the caller's numbers: a code is texted to it; nothing is removed yet.
pub(super) async fn remove(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OtcReply>, ApiError> {
    let (u, _) = caller.me(&state)?;
    let c = phones::start_remove(&state.db, &state.clock, &u.id, &id).await?;
    Ok(Json(text(&c)))
}

/// Remove the number with the texted code; the caller's other sessions end.
pub(super) async fn remove_verify(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<StatusCode, ApiError> {
    let (u, sid) = caller.me(&state)?;
    phones::finish_remove(
        &state.db,
        &state.clock,
        &u.id,
        &id,
        &req.otc_token,
        &req.code,
        sid.as_deref(),
    )
    .await?;
    Ok(StatusCode::OK)
}

/// Environment token: add a verified number to a user.
pub(super) async fn vendor_add(
    caller: Caller,
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    ApiJson(req): ApiJson<PreverifyRequest>,
) -> Result<(StatusCode, Json<PhoneDto>), ApiError> {
    caller.require(Perm::Environment)?;
    let p = phones::add_verified(&state.db, &state.clock, &user_id, &req.phone_number).await?;
    Ok((StatusCode::CREATED, Json(dto(&user_id, &p))))
}

/// Environment token: remove a user's number; the user's sessions end.
pub(super) async fn vendor_remove(
    caller: Caller,
    State(state): State<AppState>,
    Path((user_id, phone_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    phones::remove(&state.db, &state.clock, &user_id, &phone_id).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UserPhoneNumbersControllerV1_getAllPhoneNumbers", list)
        .add("UserPhoneNumbersControllerV1_getUserOwnPhoneNumbers", mine)
        .add("UserPhoneNumbersControllerV1_createUserPhoneNumber", add)
        .add(
            "UserPhoneNumbersControllerV1_preVerifyUserPhoneNumber",
            preverify,
        )
        .add(
            "UserPhoneNumbersControllerV1_verifyCreateUserPhoneNumber",
            verify,
        )
        .add("UserPhoneNumbersControllerV1_deleteUserPhoneNumber", remove)
        .add(
            "UserPhoneNumbersControllerV1_verifyDeleteUserPhoneNumber",
            remove_verify,
        )
        .add("UserPhoneNumbersControllerV2_getAllPhoneNumbers", by_users)
        .add(
            "UserPhoneNumbersControllerV1_createUserPhoneNumberVendor",
            vendor_add,
        )
        .add(
            "UserPhoneNumbersControllerV1_deleteUserPhoneNumberVendor",
            vendor_remove,
        )
}
