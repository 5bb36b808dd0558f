//! Signup and activation (tags General, User Management): self-service signup creates an
//! account and its first user (who gets the first-user roles, `Admin` by default) and mails
//! an activation link; activation verifies the user (setting a password if none) and logs
//! it in. Replies never reveal whether an address was already registered.

use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Ops;
use super::auth::{self, start_session};
use crate::crypto::new_uuid;
use crate::delivery::Message;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::clock::rfc3339;
use crate::model::otp::{self, Purpose};
use crate::model::tenant::Tenant;
use crate::model::user::{self, Membership, User};
use crate::model::{email, password};
use crate::store::Tree;

/// Activation links live this long.
const ACTIVATION_TTL: i64 = 24 * 3600;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersControllerV1_signUpUser", sign_up)
        .add(
            "UsersSignUpControllerV1_signUpUserUsername",
            sign_up_username,
        )
        .add(
            "UsersActivationControllerV1_activateUserWithCode",
            activate_with_code,
        )
        .add("UsersActivationControllerV1_activateUser", activate)
        .add(
            "UsersActivationControllerV1_getActivationStrategy",
            activation_strategy,
        )
        .add(
            "UsersActivationControllerV1_resetActivationToken",
            resend_activation,
        )
        .add(
            "UsersControllerV1_generateUserActivationLink",
            generate_activation_link,
        )
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignUpRequest {
    email: String,
    password: Option<String>,
    name: Option<String>,
    company_name: Option<String>,
    metadata: Option<Value>,
    #[allow(dead_code)] // accepted for compatibility; only local signup exists
    provider: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignUpUsernameRequest {
    username: String,
    email: Option<String>,
    password: Option<String>,
    name: Option<String>,
    company_name: Option<String>,
    metadata: Option<Value>,
    #[allow(dead_code)] // accepted for compatibility; only local signup exists
    provider: Option<String>,
}

fn activation_link(state: &AppState, user_id: &str, token: &str) -> String {
    format!(
        "{}/oauth/account/activate?userId={user_id}&token={token}",
        state.public_url
    )
}

fn activation_mail(state: &AppState, user: &User, token: &str, code: Option<&str>) -> Message {
    let link = activation_link(state, &user.id, token);
    let code = code
        .map(|c| format!("\nOr enter this activation code: {c}\n"))
        .unwrap_or_default();
    Message {
        channel: Default::default(),
        to: user.email.clone(),
        subject: "Activate your account".into(),
        body: format!(
            "Welcome!\n\nActivate your account by opening this link within 24 hours:\n{link}\n{code}"
        ),
        kind: "activation",
    }
}

/// Issue an activation token for `user_id` in its own transaction; returns the token.
async fn new_activation_token(state: &AppState, user_id: &str) -> Result<String, ApiError> {
    let token = otp::new_token();
    let expires = state.clock.unix() + ACTIVATION_TTL;
    state
        .db
        .write(|tx| otp::issue(tx, &token, Purpose::Activation, user_id, expires))
        .await?;
    Ok(token)
}

/// Public: sign up a new account and its first user. Refused (403) when the environment
/// closed signups. The reply has the same shape whether or not the address was registered;
/// the owner of an existing address gets a notice by mail instead of a second account.
async fn sign_up(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SignUpRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let form = SignUp {
        email: Some(req.email),
        username: None,
        password: req.password,
        name: req.name,
        company_name: req.company_name,
        metadata: req.metadata,
    };
    create_account(&state, form)
        .await
        .map(|v| (StatusCode::CREATED, Json(v)))
}

/// Public: sign up with a username (and optionally an address). A user without an address
/// has nothing to verify and is active at once; one with an address activates as usual.
/// Usernames are public handles, so a taken one answers 409 (the caller must pick another).
async fn sign_up_username(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SignUpUsernameRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    user::validate_username(&req.username).map_err(ApiError::bad_request)?;
    if req.password.as_deref().is_none_or(str::is_empty) && req.email.is_none() {
        return Err(ApiError::bad_request(
            "a password is required to sign up with a username and no email",
        ));
    }
    let form = SignUp {
        email: req.email,
        username: Some(req.username),
        password: req.password,
        name: req.name,
        company_name: req.company_name,
        metadata: req.metadata,
    };
    create_account(&state, form)
        .await
        .map(|v| (StatusCode::CREATED, Json(v)))
}

/// The fields both sign-up routes share.
struct SignUp {
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
    name: Option<String>,
    company_name: Option<String>,
    metadata: Option<Value>,
}

/// Create the account and its first user. The reply carries `activationToken`, which
/// activates only together with the code mailed to the address (`activate/code`); for an
/// address that already has an account the reply carries random ids and a token that
/// activates nothing, so the two cannot be told apart.
async fn create_account(state: &AppState, req: SignUp) -> Result<Value, ApiError> {
    let config = crate::model::vendor_config::current(&state.db)?;
    if !config.allow_signups {
        return Err(ApiError::forbidden("Sign up is disabled"));
    }
    let email_norm = match &req.email {
        Some(e) => email::normalize(e).map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => String::new(),
    };
    // The environment's email-domain rules decide who may sign up.
    crate::http::guard::check_email(state, &[], &email_norm)?;
    let password_hash = match req.password.clone() {
        Some(p) if p.is_empty() => return Err(ApiError::bad_request("password must not be empty")),
        Some(p) => {
            crate::model::password_policy::enforce(&state.db, None, &p)?;
            Some(password::hash(&state.hasher, p).await?)
        }
        None => None,
    };
    let display = req
        .email
        .as_deref()
        .or(req.username.as_deref())
        .unwrap_or_default()
        .trim()
        .to_owned();
    let name = crate::model::text::checked("name", req.name.as_deref().unwrap_or(""), 255, false)?;
    let company = crate::model::text::checked(
        "companyName",
        req.company_name.as_deref().unwrap_or(&display),
        255,
        true,
    )?;
    let metadata = user::metadata_text(req.metadata.as_ref())?;
    let cat = state.catalog()?;
    let first_roles: Vec<String> = cat
        .roles
        .iter()
        .filter(|r| r.first_user_role && r.tenant_id.is_none())
        .map(|r| r.id.clone())
        .collect();
    let now = rfc3339(state.clock.now());
    let tenant_id = new_uuid().to_string();
    let changed_at = password_hash.as_ref().map(|_| state.clock.unix());
    let has_address = !email_norm.is_empty();
    let u = User {
        id: new_uuid().to_string(),
        email: req.email.as_deref().unwrap_or_default().trim().to_owned(),
        email_norm,
        name,
        profile_picture_url: None,
        phone_number: None,
        metadata,
        vendor_metadata: "{}".into(),
        external_id: None,
        password_hash,
        // Nothing to verify without an address.
        verified: !has_address,
        is_locked: false,
        super_user: false,
        invisible: false,
        mfa_bypass: false,
        memberships: vec![Membership {
            tenant_id: tenant_id.clone(),
            role_ids: first_roles,
            disabled: false,
            created_at: now.clone(),
        }],
        active_tenant_id: Some(tenant_id.clone()),
        created_at: now.clone(),
        last_login: None,
        sub_account_access_allowed: false,
        failed_logins: 0,
        failures_in_window: 0,
        failure_window_start: 0,
        password_history: Vec::new(),
        password_changed_at: changed_at,
        username: req.username.clone(),
    };
    let tenant = Tenant {
        id: new_uuid().to_string(),
        tenant_id: tenant_id.clone(),
        name: company,
        metadata: serde_json::Map::new(),
        profile: Default::default(),
        created_at: now.clone(),
        updated_at: now,
    };
    let link_token = otp::new_token();
    let code_token = otp::new_token();
    let code = otp::new_code();
    let expires = state.clock.unix() + ACTIVATION_TTL;
    let existing = state
        .db
        .write(|tx| {
            if let Some(name) = &u.username
                && user::username_owner(tx, name)?.is_some()
            {
                return Err(ApiError::conflict("this username is taken"));
            }
            if has_address && let Some(owner) = user::email_owner(tx, &u.email_norm)? {
                // The reply's token must behave as a new account's would: a wrong code is
                // "incorrect", five burn it. It is bound to the fresh id of a user that is
                // never created, so even the right code activates nothing.
                otp::issue_with_code(tx, &code_token, &code, &u.id, expires)?;
                return Ok(Some(owner));
            }
            tx.put(&tenant)?;
            tx.put(&u)?;
            if has_address {
                otp::issue(tx, &link_token, Purpose::Activation, &u.id, expires)?;
                otp::issue_with_code(tx, &code_token, &code, &u.id, expires)?;
            }
            Ok::<_, ApiError>(None)
        })
        .await?;
    if !has_address {
        return Ok(json!({"shouldActivate": false, "userId": u.id, "tenantId": tenant_id}));
    }
    match existing {
        None => state
            .mailer
            .send(activation_mail(state, &u, &link_token, Some(&code))),
        Some(owner) => {
            if let Some(o) = state.db.get::<User>(owner.as_bytes())? {
                state.mailer.send(Message {
                    channel: Default::default(),
                    to: o.email,
                    subject: "Sign-up attempt".into(),
                    body:
                        "Someone tried to sign up with this address, which already has an account. \
                           If it was you, log in or reset your password."
                            .into(),
                    kind: "signup-existing",
                });
            }
        }
    }
    // For an existing address these ids are fresh and unused, and the token is unknown.
    Ok(json!({
        "shouldActivate": true,
        "userId": u.id,
        "tenantId": tenant_id,
        "activationToken": code_token,
    }))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivateRequest {
    user_id: String,
    token: String,
    password: Option<String>,
}

fn bad_token() -> ApiError {
    ApiError::bad_request("The activation link is invalid or has expired")
}

/// Public: activate with the mailed token (single use, expiring), set the password if the
/// user has none, and log in (the login reply and refresh cookie).
async fn activate(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    ApiJson(req): ApiJson<ActivateRequest>,
) -> Result<Response, ApiError> {
    let new_hash = activation_password(&state, &req.user_id, req.password.clone()).await?;
    let now = state.clock.unix();
    let activated = state
        .db
        .write(|tx| {
            let Some(uid) = otp::consume(tx, &req.token, Purpose::Activation, now)? else {
                return Ok(None);
            };
            if uid != req.user_id {
                return Ok(None);
            }
            mark_verified(tx, &uid, &new_hash, now)
        })
        .await?;
    log_in_activated(&state, peer, activated.ok_or_else(bad_token)?).await
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivateWithCodeRequest {
    user_id: String,
    token: String,
    code: String,
    password: Option<String>,
}

/// Public: activate with the token of the sign-up reply and the code mailed to the address.
/// A wrong code counts against the token; the fifth burns it.
async fn activate_with_code(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    ApiJson(req): ApiJson<ActivateWithCodeRequest>,
) -> Result<Response, ApiError> {
    let new_hash = activation_password(&state, &req.user_id, req.password.clone()).await?;
    let now = state.clock.unix();
    let outcome = state
        .db
        .write(|tx| -> Result<Result<User, ApiError>, ApiError> {
            // Check the user id before spending an attempt: a mismatch is a bad token.
            let Some(t) = otp::peek_tx(tx, &req.token)? else {
                return Ok(Err(bad_token()));
            };
            if t != req.user_id {
                return Ok(Err(bad_token()));
            }
            match otp::consume_with_code(tx, &req.token, &req.code, now)? {
                otp::CodeOutcome::Accepted(uid) => {
                    Ok(mark_verified(tx, &uid, &new_hash, now)?.ok_or_else(bad_token))
                }
                otp::CodeOutcome::BadToken => Ok(Err(bad_token())),
                otp::CodeOutcome::WrongCode => Ok(Err(ApiError::bad_request(
                    "The activation code is incorrect",
                ))),
            }
        })
        .await?;
    log_in_activated(&state, peer, outcome?).await
}

/// Hash the password an activation sets (checked against the user's account policy).
async fn activation_password(
    state: &AppState,
    user_id: &str,
    password: Option<String>,
) -> Result<Option<String>, ApiError> {
    match password {
        Some(p) if !p.is_empty() => {
            let tenant = state
                .db
                .get::<User>(user_id.as_bytes())?
                .and_then(|u| u.login_tenant().map(str::to_owned));
            crate::model::password_policy::enforce(&state.db, tenant.as_deref(), &p)?;
            Ok(Some(password::hash(&state.hasher, p).await?))
        }
        _ => Ok(None),
    }
}

/// Verify the user, setting the password if it has none (one is then required).
fn mark_verified(
    tx: &mut crate::store::Tx<'_>,
    uid: &str,
    new_hash: &Option<String>,
    now: i64,
) -> Result<Option<User>, ApiError> {
    let Some(mut u) = tx.get::<User>(uid.as_bytes())? else {
        return Ok(None);
    };
    if u.password_hash.is_none() {
        match new_hash {
            Some(h) => super::passwords::set_password(&mut u, h.clone(), now),
            None => {
                return Err(ApiError::bad_request(
                    "a password is required to activate this account",
                ));
            }
        }
    }
    u.verified = true;
    tx.put(&u)?;
    Ok(Some(u))
}

/// Log the freshly activated user in: the login reply and the refresh cookie.
async fn log_in_activated(
    state: &AppState,
    peer: std::net::SocketAddr,
    user: User,
) -> Result<Response, ApiError> {
    let tenant = user
        .login_tenant()
        .map(str::to_owned)
        .ok_or_else(bad_token)?;
    let config = crate::model::vendor_config::current(&state.db)?;
    let issued = start_session(
        state,
        &config,
        user,
        &tenant,
        Some(peer.ip().to_string()),
        None,
    )
    .await?;
    Ok(auth::respond_with_cookie(issued, state, &config))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StrategyQuery {
    user_id: String,
    token: String,
}

/// Public: whether activating needs a password (the user has none yet).
async fn activation_strategy(
    State(state): State<AppState>,
    Query(q): Query<StrategyQuery>,
) -> Result<Json<Value>, ApiError> {
    let uid = otp::peek(&state.db, &q.token, Purpose::Activation, state.clock.unix())?
        .filter(|u| *u == q.user_id)
        .ok_or_else(bad_token)?;
    let u = state
        .db
        .get::<User>(uid.as_bytes())?
        .ok_or_else(bad_token)?;
    Ok(Json(
        json!({"shouldSetPassword": u.password_hash.is_none()}),
    ))
}

#[derive(Clone, Deserialize)]
struct ResendRequest {
    email: String,
}

/// Public: mail a fresh activation link to an unverified user. The reply is the same for
/// every address.
async fn resend_activation(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ResendRequest>,
) -> Result<StatusCode, ApiError> {
    if let Ok(norm) = email::normalize(&req.email) {
        let owner = state
            .db
            .get_raw(Tree::UserEmails, norm.as_bytes())?
            .and_then(|b| String::from_utf8(b).ok())
            .map(|id| state.db.get::<User>(id.as_bytes()))
            .transpose()?
            .flatten();
        if let Some(u) = owner.filter(|u| !u.verified) {
            let token = new_activation_token(&state, &u.id).await?;
            state.mailer.send(activation_mail(&state, &u, &token, None));
            return Ok(StatusCode::CREATED);
        }
    }
    // Nobody's address (or an active user's): the same durable write, no mail.
    let token = otp::new_token();
    state
        .db
        .write(|tx| otp::issue_decoy(tx, &token, Purpose::Activation))
        .await?;
    Ok(StatusCode::CREATED)
}

/// Environment token: an activation link for a user (e.g. to send through your own mail).
async fn generate_activation_link(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Perm::Environment)?;
    let u = super::users::load_user(&state, &id, None)?;
    if u.verified {
        return Err(ApiError::conflict("the user is already activated"));
    }
    let token = new_activation_token(&state, &u.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"link": activation_link(&state, &u.id, &token), "token": token, "userId": u.id}),
        ),
    ))
}
