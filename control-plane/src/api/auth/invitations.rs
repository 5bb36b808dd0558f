//! Invitations (tags Account Invitations, Account Invitations Settings, User Management;
//! `compat-wave2.md` §8): an account's shareable invitation link (`tenants/invites/*`), its
//! verification by the login box, joining through `invitationToken` on any first factor
//! ([`join_with`]), the environment's invite tokens and strategies, and email invitations of
//! existing users (`users/v1/invitation/*`). The rules live in `model::invitation`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::clock::rfc3339_of;
use crate::model::identity_settings::{self, LinkOrCode};
use crate::model::invitation::{self, InviteError, NewLink, OpenLink};
use crate::model::user::{self, User};

/// `InviteTokenDto`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InviteDto {
    id: String,
    vendor_id: String,
    tenant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    token: String,
    expires: String,
    should_send_email: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_ids: Option<Vec<String>>,
}

fn dto(state: &AppState, o: OpenLink) -> InviteDto {
    let name = crate::model::tenant::get(&state.db, &o.link.tenant_id)
        .ok()
        .map(|t| t.name);
    InviteDto {
        id: o.link.id,
        vendor_id: state.env.client_id().to_owned(),
        tenant_id: o.link.tenant_id,
        user_id: o.link.user_id,
        token: o.token,
        expires: rfc3339_of(o.link.expires_at).unwrap_or_default(),
        should_send_email: o.link.should_send_email,
        name,
        role_ids: Some(o.link.role_ids),
    }
}

/// Join the account of the invitation link `token` (a first factor proved who `user` is):
/// the user and the account to log in to, or `None` for a token that names no live link
/// (the login goes on to the user's own account). A link of a disabled feature, or whose
/// account's email-domain rules refuse the user, refuses the login.
pub(super) async fn join_with(
    state: &AppState,
    user: User,
    token: &str,
) -> Result<Option<(User, String)>, ApiError> {
    let config = crate::model::vendor_config::current(&state.db)?;
    if !config.allow_tenant_invitations {
        return Err(InviteError::Disabled.into());
    }
    let link = invitation::find(&state.db, &state.clock, token)?;
    crate::http::guard::check_email(state, &[&link.tenant_id], &user.email_norm)?;
    let roles = {
        let cat = state.catalog()?;
        let ids = if link.role_ids.is_empty() {
            crate::model::grant::default_role_ids(&cat.roles, &link.tenant_id)
        } else {
            link.role_ids.clone()
        };
        // Only roles that still exist in the account.
        ids.into_iter()
            .filter(|id| {
                cat.roles.iter().any(|r| {
                    r.id == *id && r.tenant_id.as_deref().is_none_or(|t| t == link.tenant_id)
                })
            })
            .collect::<Vec<_>>()
    };
    let u = invitation::join(&state.db, &state.clock, &link, &user.id, &roles).await?;
    Ok(Some((u, link.tenant_id)))
}

/// `{tenantInvitationsAllowed, emailsEnabled}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ConfigurationReply {
    tenant_invitations_allowed: bool,
    emails_enabled: bool,
}

/// Environment or user token (the portal reads it with the user's).
pub(super) async fn configuration(
    _caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<ConfigurationReply>, ApiError> {
    let c = crate::model::vendor_config::current(&state.db)?;
    Ok(Json(ConfigurationReply {
        tenant_invitations_allowed: c.allow_tenant_invitations,
        emails_enabled: true,
    }))
}

/// The caller's account and user for the `tenants/invites/v1/user` routes.
fn owner(caller: &Caller, state: &AppState, perm: Perm) -> Result<(String, String), ApiError> {
    let tenant = caller.account(state, perm)?;
    let user = caller.acting_user(state, &tenant)?;
    Ok((tenant, user))
}

/// `fe.secure.read.tenantInvites`… held as `write` here: the caller's link of its account.
pub(super) async fn get_mine(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<InviteDto>, ApiError> {
    let (tenant, user) = owner(&caller, &state, Perm::WriteTenantInvites)?;
    let link = invitation::link_of(&state.db, &tenant, &user)?.ok_or(InviteError::NotFound)?;
    Ok(Json(dto(&state, link)))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateMine {
    expires_in_minutes: Option<f64>,
    should_send_email: Option<bool>,
    #[serde(default)]
    role_ids: Option<Vec<String>>,
}

fn minutes(v: Option<f64>) -> Result<u32, ApiError> {
    match v {
        None => Ok(43_200),
        Some(m) if m.fract() == 0.0 && (1.0..=525_600.0).contains(&m) => Ok(m as u32),
        Some(_) => Err(ApiError::bad_request(
            "expiresInMinutes must be a whole number between 1 and 525600",
        )),
    }
}

async fn create_for_caller(
    caller: Caller,
    state: AppState,
    req: CreateMine,
) -> Result<InviteDto, ApiError> {
    let (tenant, user) = owner(&caller, &state, Perm::WriteTenantInvites)?;
    let c = crate::model::vendor_config::current(&state.db)?;
    if !c.allow_tenant_invitations {
        return Err(InviteError::Disabled.into());
    }
    let roles = match &req.role_ids {
        Some(ids) if !ids.is_empty() => caller.grantable_roles(&state, &tenant, ids)?,
        _ => Vec::new(),
    };
    let link = invitation::create_link(
        &state.db,
        &state.clock,
        NewLink {
            tenant_id: &tenant,
            user_id: Some(&user),
            expires_in_minutes: minutes(req.expires_in_minutes)?,
            should_send_email: req.should_send_email.unwrap_or(true),
            role_ids: roles,
        },
    )
    .await?;
    Ok(dto(&state, link))
}

/// `fe.secure.write.tenantInvites`: make (or replace) the caller's link of its account.
pub(super) async fn create_mine(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateMine>,
) -> Result<(StatusCode, Json<InviteDto>), ApiError> {
    let req = CreateMine {
        role_ids: None,
        ..req
    };
    Ok((
        StatusCode::CREATED,
        Json(create_for_caller(caller, state, req).await?),
    ))
}

/// V2, with roles for who joins (those the caller may give).
pub(super) async fn create_mine_v2(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateMine>,
) -> Result<Json<InviteDto>, ApiError> {
    Ok(Json(create_for_caller(caller, state, req).await?))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateMine {
    expires_in_minutes: Option<f64>,
    should_send_email: Option<bool>,
}

/// `fe.secure.write.tenantInvites`: change the caller's link.
pub(super) async fn update_mine(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<UpdateMine>,
) -> Result<Json<InviteDto>, ApiError> {
    let (tenant, user) = owner(&caller, &state, Perm::WriteTenantInvites)?;
    let m = req
        .expires_in_minutes
        .map(|m| minutes(Some(m)))
        .transpose()?;
    let link = invitation::update_link(
        &state.db,
        &state.clock,
        &tenant,
        &user,
        m,
        req.should_send_email,
    )
    .await?;
    Ok(Json(dto(&state, link)))
}

/// `fe.secure.delete.tenantInvites`: delete the caller's link (it stops working at once).
pub(super) async fn delete_mine(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<StatusCode, ApiError> {
    let (tenant, user) = owner(&caller, &state, Perm::DeleteTenantInvites)?;
    if !invitation::delete_link_of(&state.db, &tenant, &user).await? {
        return Err(InviteError::NotFound.into());
    }
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
pub(super) struct VerifyRequest {
    token: String,
}

/// `{id, tenantId, name, expires, …}` for an anonymous caller: no token echo beyond what it
/// sent, no roles, no creator.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerifyReply {
    id: String,
    vendor_id: String,
    tenant_id: String,
    token: String,
    expires: String,
    should_send_email: bool,
    name: String,
}

/// Public: what the login box shows for an `invitationToken` ("join {name}").
pub(super) async fn verify(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<VerifyReply>, ApiError> {
    let c = crate::model::vendor_config::current(&state.db)?;
    if !c.allow_tenant_invitations {
        return Err(InviteError::Disabled.into());
    }
    let link = invitation::find(&state.db, &state.clock, req.token.trim())?;
    let name = crate::model::tenant::get(&state.db, &link.tenant_id)?.name;
    Ok(Json(VerifyReply {
        id: link.id,
        vendor_id: state.env.client_id().to_owned(),
        tenant_id: link.tenant_id,
        token: req.token,
        expires: rfc3339_of(link.expires_at).unwrap_or_default(),
        should_send_email: link.should_send_email,
        name,
    }))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateGeneral {
    tenant_id: String,
    user_id: Option<String>,
    expires_in_minutes: Option<f64>,
    should_send_email: Option<bool>,
    #[serde(default)]
    role_ids: Vec<String>,
}

/// Environment token: an invite token for any account (never replaces another).
pub(super) async fn create_general(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateGeneral>,
) -> Result<(StatusCode, Json<InviteDto>), ApiError> {
    caller.require(Perm::Environment)?;
    let tenant = crate::model::tenant::id_of("tenantId", &req.tenant_id)?;
    crate::model::tenant::require(&state.db, &tenant)?;
    if let Some(u) = &req.user_id {
        user::get_in(&state.db, u, Some(&tenant))?;
    }
    let roles = if req.role_ids.is_empty() {
        Vec::new()
    } else {
        caller.grantable_roles(&state, &tenant, &req.role_ids)?
    };
    let link = invitation::create_link(
        &state.db,
        &state.clock,
        NewLink {
            tenant_id: &tenant,
            user_id: req.user_id.as_deref(),
            expires_in_minutes: minutes(req.expires_in_minutes)?,
            should_send_email: req.should_send_email.unwrap_or(false),
            role_ids: roles,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(dto(&state, link))))
}

/// Environment token: every invite token.
pub(super) async fn all(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Vec<InviteDto>>, ApiError> {
    caller.require(Perm::Environment)?;
    let links = invitation::all_links(&state.db)?;
    Ok(Json(links.into_iter().map(|l| dto(&state, l)).collect()))
}

/// Environment token: delete an invite token by id.
pub(super) async fn delete_general(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    if !invitation::delete_link(&state.db, &id).await? {
        return Err(InviteError::NotFound.into());
    }
    Ok(StatusCode::OK)
}

/// `{strategy, codeExpiration}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StrategyReply {
    strategy: LinkOrCode,
    code_expiration: u32,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StrategyChange {
    strategy: Option<LinkOrCode>,
    code_expiration: Option<f64>,
}

fn strategy_change(
    req: &StrategyChange,
    s: identity_settings::Strategy,
) -> Result<identity_settings::Strategy, ApiError> {
    let code_expiration = match req.code_expiration {
        None => s.code_expiration,
        Some(c) if c.fract() == 0.0 && (60.0..=2_592_000.0).contains(&c) => c as u32,
        Some(_) => {
            return Err(ApiError::bad_request(
                "codeExpiration must be a whole number of seconds between 60 and 2592000",
            ));
        }
    };
    Ok(identity_settings::Strategy {
        strategy: req.strategy.unwrap_or(s.strategy),
        code_expiration,
    })
}

macro_rules! strategy_routes {
    ($get:ident, $set:ident, $field:ident) => {
        /// Environment token.
        pub(super) async fn $get(
            caller: Caller,
            State(state): State<AppState>,
        ) -> Result<Json<StrategyReply>, ApiError> {
            caller.require(Perm::Environment)?;
            let s = identity_settings::current(&state.db)?.$field;
            Ok(Json(StrategyReply {
                strategy: s.strategy,
                code_expiration: s.code_expiration,
            }))
        }

        /// Environment token: `strategy` (`link`/`code`) and `codeExpiration` (≥ 60 s).
        pub(super) async fn $set(
            caller: Caller,
            State(state): State<AppState>,
            ApiJson(req): ApiJson<StrategyChange>,
        ) -> Result<Json<StrategyReply>, ApiError> {
            caller.require(Perm::Environment)?;
            let next = strategy_change(&req, identity_settings::current(&state.db)?.$field)?;
            let s = identity_settings::update(&state.db, |c| c.$field = next)
                .await?
                .$field;
            Ok(Json(StrategyReply {
                strategy: s.strategy,
                code_expiration: s.code_expiration,
            }))
        }
    };
}

strategy_routes!(get_invitation_strategy, set_invitation_strategy, invitation);
strategy_routes!(get_activation_strategy, set_activation_strategy, activation);

/// Mail `user` its pending invitation to `tenant` again (the earlier link stops working).
async fn resend(
    state: &AppState,
    user: &User,
    tenant: &str,
    issuer: Option<&str>,
) -> Result<(), ApiError> {
    invitation::mail_for(
        &state.db,
        &state.clock,
        state.links(),
        user,
        tenant,
        None,
        issuer,
    )
    .await?;
    Ok(())
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AcceptRequest {
    user_id: String,
    token: String,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AcceptCodeRequest {
    user_id: String,
    token: String,
    code: String,
}

/// Public: accept an email invitation with the mailed link's token.
pub(super) async fn accept(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AcceptRequest>,
) -> Result<StatusCode, ApiError> {
    invitation::accept(&state.db, &state.clock, &req.user_id, &req.token, None).await?;
    Ok(StatusCode::OK)
}

/// Public: accept with the token and the mailed code (code strategy).
pub(super) async fn accept_code(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AcceptCodeRequest>,
) -> Result<StatusCode, ApiError> {
    invitation::accept(
        &state.db,
        &state.clock,
        &req.user_id,
        &req.token,
        Some(&req.code),
    )
    .await?;
    Ok(StatusCode::OK)
}

#[derive(Clone, Deserialize)]
pub(super) struct ResetRequest {
    email: String,
}

fn member_by_email(state: &AppState, email: &str) -> Result<User, ApiError> {
    let norm =
        crate::model::email::normalize(email).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(user::by_email(&state.db, &norm)?.ok_or(user::UserError::NotFound)?)
}

/// `fe.secure.write.users`: send the account's invitation again — the accept link to an
/// existing user, the activation link to a new one; earlier links stop working.
pub(super) async fn reset(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    let tenant = caller.account(&state, Perm::WriteUsers)?;
    let u = member_by_email(&state, &req.email)?;
    let m = u.membership(&tenant).ok_or(user::UserError::NotFound)?;
    let issuer = caller.user().map(|c| c.user.id.as_str());
    if m.pending_invitation {
        resend(&state, &u, &tenant, issuer).await?;
    } else if !u.verified {
        let account = crate::model::tenant::get(&state.db, &tenant)?.name;
        crate::model::signup::invitation(
            &state.db,
            &state.clock,
            state.links(),
            &u,
            &account,
            issuer,
        )
        .await?;
    } else {
        return Err(ApiError::bad_request(
            "the user has no pending invitation to this account",
        ));
    }
    Ok(StatusCode::OK)
}

/// Environment token: send every pending invitation of the user again.
pub(super) async fn reset_all(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    let u = member_by_email(&state, &req.email)?;
    let pending = invitation::pending_of(&state.db, &u.id)?;
    if pending.is_empty() {
        return Err(ApiError::bad_request("the user has no pending invitation"));
    }
    for p in pending {
        resend(&state, &u, &p.tenant_id, None).await?;
    }
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("getInvitationConfiguration", configuration)
        .add("TenantInvitesController_getTenantInviteForUser", get_mine)
        .add(
            "TenantInvitesController_createTenantInviteForUser",
            create_mine,
        )
        .add(
            "TenantInvitesV2Controller_createTenantInviteForUser",
            create_mine_v2,
        )
        .add(
            "TenantInvitesController_updateTenantInviteForUser",
            update_mine,
        )
        .add(
            "TenantInvitesController_deleteTenantInviteForUser",
            delete_mine,
        )
        .add("TenantInvitesController_verifyTenantInvite", verify)
        .add("TenantInvitesController_createTenantInvite", create_general)
        .add("TenantInvitesController_getAllInvites", all)
        .add("TenantInvitesController_deleteTenantInvite", delete_general)
        .add(
            "InvitationStrategyControllerV1_getInvitationStrategy",
            get_invitation_strategy,
        )
        .add(
            "InvitationStrategyControllerV1_createOrUpdateInvitationStrategy",
            set_invitation_strategy,
        )
        .add(
            "ActivationStrategyControllerV1_getActivationStrategy",
            get_activation_strategy,
        )
        .add(
            "ActivationStrategyControllerV1_createOrUpdateActivationStrategy",
            set_activation_strategy,
        )
        .add("UsersTenantManagementControllerV1_acceptInvitation", accept)
        .add(
            "UsersTenantManagementControllerV1_acceptInvitationWithCode",
            accept_code,
        )
        .add(
            "UsersTenantManagementControllerV1_resetTenantInvitationToken",
            reset,
        )
        .add(
            "UsersTenantManagementControllerV1_resetAllTenantsInvitationToken",
            reset_all,
        )
}
