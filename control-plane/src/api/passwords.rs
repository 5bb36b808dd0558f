//! Passwords (tag Password Settings): the complexity policy and its public read, the history
//! policy, change, reset by email, vendor reset links and the vendor password check. Every
//! path that sets a password goes through [`enforce`] and [`set_password`].

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Ops;
use super::users::load_user;
use crate::crypto::new_uuid;
use crate::delivery::Message;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::clock::rfc3339;
use crate::model::otp::{self, Purpose};
use crate::model::password_policy::{self};
use crate::model::session::{self, Session, UserSessions};
use crate::model::user::User;
use crate::model::{email, password};
use crate::store::{Tree, Tx};

/// Reset links live this long.
const RESET_TTL: i64 = 3600;
/// Previous hashes kept per user (the history policy allows up to 10).
const MAX_HISTORY: usize = 10;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("UsersPasswordControllerV1_changePassword", change_password)
        .add("UsersPasswordControllerV1_resetPassword", request_reset)
        .add(
            "UsersPasswordControllerV1_verifyResetPassword",
            verify_reset,
        )
        .add(
            "UsersControllerV1_generateUserPasswordResetLink",
            generate_reset_link,
        )
        .add("VendorOnlyUsers_verifyUserPassword", vendor_verify_password)
        .add(
            "UsersPasswordControllerV2_resetPasswordViaEmail",
            request_reset_v2,
        )
        .add(
            "UsersPasswordControllerV2_resetPasswordViaSms",
            request_reset_sms,
        )
        .add(
            "UsersPasswordControllerV2_verifyResetPasswordViaSmsOtc",
            verify_reset_sms,
        )
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetV2Request {
    identifier: String,
    identifier_type: String,
}

/// Public: the v2 reset by email (`identifierType: email`); the same mail and the same reply
/// for every address. Phone numbers and usernames arrive with their issues.
async fn request_reset_v2(
    state: State<AppState>,
    ApiJson(req): ApiJson<ResetV2Request>,
) -> Result<Json<Value>, ApiError> {
    if req.identifier_type != "email" {
        return Err(ApiError::bad_request("identifierType must be email"));
    }
    request_reset(
        state,
        ApiJson(ResetRequest {
            email: req.identifier,
        }),
    )
    .await?;
    Ok(Json(json!({"sessionId": new_uuid().to_string()})))
}

/// Refuse a password equal to the current one or one of the last `history` ones.
async fn enforce_history(state: &AppState, user: &User, new: &str) -> Result<(), ApiError> {
    let n = password_policy::history_size(&state.db, user.login_tenant())?;
    if n == 0 {
        return Ok(());
    }
    let recent = user
        .password_hash
        .iter()
        .chain(user.password_history.iter().rev().take(n.saturating_sub(1)));
    for h in recent {
        if password::verify(&state.hasher, new.to_owned(), Some(h.clone())).await? {
            return Err(ApiError::bad_request(
                "The password was used recently; choose another.",
            ));
        }
    }
    Ok(())
}

/// Replace a user's password hash inside a transaction, keeping the previous one in history.
pub(crate) fn set_password(u: &mut User, new_hash: String, now: i64) {
    u.password_changed_at = Some(now);
    if let Some(old) = u.password_hash.replace(new_hash) {
        u.password_history.push(old);
        if u.password_history.len() > MAX_HISTORY {
            u.password_history.remove(0);
        }
    }
}

/// End every session of the user except `keep`, inside the caller's transaction.
fn revoke_sessions(
    tx: &mut Tx<'_>,
    user_id: &str,
    keep: Option<&str>,
    at: &str,
) -> Result<(), crate::store::StoreError> {
    let ids = tx
        .get::<UserSessions>(user_id.as_bytes())?
        .map(|i| i.session_ids)
        .unwrap_or_default();
    for id in ids.iter().filter(|id| Some(id.as_str()) != keep) {
        if let Some(s) = tx.get::<Session>(id.as_bytes())? {
            session::revoke(tx, &s, at)?;
        }
    }
    Ok(())
}

// === change and reset ===

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeRequest {
    password: String,
    new_password: String,
}

/// User token: change the caller's password (the current one is required); every other
/// session of the user ends.
async fn change_password(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ChangeRequest>,
) -> Result<StatusCode, ApiError> {
    let (user_id, current_session) = match &caller {
        Caller::User(u) => (u.user.id.clone(), u.session_id.clone()),
        Caller::Env(e) => (
            e.user_id
                .clone()
                .ok_or_else(|| ApiError::bad_request("frontegg-user-id is required"))?,
            None,
        ),
    };
    load_user(&state, &user_id, None)?;
    // The current password is a guessable secret like a login's: the same turn, budget and
    // lockout (a burst of wrong ones locks the account as a burst of logins would).
    let user = match super::auth::counted_check(&state, &user_id, &req.password).await? {
        super::auth::PasswordCheck::Correct(u) => *u,
        super::auth::PasswordCheck::Wrong => {
            return Err(ApiError::bad_request("The current password is incorrect"));
        }
    };
    crate::model::password_policy::enforce(&state.db, user.login_tenant(), &req.new_password)?;
    enforce_history(&state, &user, &req.new_password).await?;
    let hash = password::hash(&state.hasher, req.new_password.clone()).await?;
    let at = rfc3339(state.clock.now());
    let now = state.clock.unix();
    state
        .db
        .write(|tx| {
            let mut u = tx
                .get::<User>(user_id.as_bytes())?
                .ok_or_else(super::users::user_not_found)?;
            set_password(&mut u, hash.clone(), now);
            u.failed_logins = 0;
            tx.put(&u)?;
            revoke_sessions(tx, &u.id, current_session.as_deref(), &at)?;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Clone, Deserialize)]
struct ResetRequest {
    email: String,
}

fn reset_link(state: &AppState, user_id: &str, token: &str) -> String {
    format!(
        "{}/oauth/account/reset-password?userId={user_id}&token={token}",
        state.public_url
    )
}

async fn new_reset_token(state: &AppState, user_id: &str) -> Result<String, ApiError> {
    let token = otp::new_token();
    let expires = state.clock.unix() + RESET_TTL;
    state
        .db
        .write(|tx| otp::issue(tx, &token, Purpose::PasswordReset, user_id, expires))
        .await?;
    Ok(token)
}

/// Public: mail a reset link to the address's owner, if any. The reply is the same for every
/// address and the mail goes to the stored address, not the one typed.
async fn request_reset(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    if let Ok(norm) = email::normalize(&req.email)
        && let Some(u) = state
            .db
            .get_raw(Tree::UserEmails, norm.as_bytes())?
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|id| state.db.get::<User>(id.as_bytes()).ok().flatten())
    {
        let token = new_reset_token(&state, &u.id).await?;
        state.mailer.send(Message {
            channel: Default::default(),
            to: u.email.clone(),
            subject: "Reset your password".into(),
            body: format!(
                "Reset your password by opening this link within an hour:\n{}\n",
                reset_link(&state, &u.id, &token)
            ),
            kind: "password-reset",
        });
        return Ok(StatusCode::CREATED);
    }
    // Nobody's address: the same durable write as issuing a token, no mail (`security.md`
    // D2: the reply's timing must not tell the two apart).
    let token = otp::new_token();
    state
        .db
        .write(|tx| otp::issue_decoy(tx, &token, Purpose::PasswordReset))
        .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyResetRequest {
    user_id: String,
    token: String,
    password: String,
}

/// Public: set a new password with a mailed reset token (single use, one hour). Proving
/// the mailbox also unlocks a locked account; every session of the user ends.
async fn verify_reset(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyResetRequest>,
) -> Result<StatusCode, ApiError> {
    let bad = || ApiError::bad_request("The reset link is invalid or has expired");
    let now = state.clock.unix();
    let user_id = otp::peek(&state.db, &req.token, Purpose::PasswordReset, now)?
        .filter(|u| *u == req.user_id)
        .ok_or_else(bad)?;
    let user = load_user(&state, &user_id, None).map_err(|_| bad())?;
    crate::model::password_policy::enforce(&state.db, user.login_tenant(), &req.password)?;
    enforce_history(&state, &user, &req.password).await?;
    let hash = password::hash(&state.hasher, req.password.clone()).await?;
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            if otp::consume(tx, &req.token, Purpose::PasswordReset, now)?.as_deref()
                != Some(user_id.as_str())
            {
                return Err(bad());
            }
            let mut u = tx.get::<User>(user_id.as_bytes())?.ok_or_else(bad)?;
            set_password(&mut u, hash.clone(), now);
            u.is_locked = false;
            u.failed_logins = 0;
            u.failures_in_window = 0;
            tx.put(&u)?;
            revoke_sessions(tx, &u.id, None, &at)?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::CREATED)
}

/// Environment token: a reset link for a user.
async fn generate_reset_link(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Perm::Environment)?;
    let u = load_user(&state, &id, None)?;
    let token = new_reset_token(&state, &u.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"link": reset_link(&state, &u.id, &token), "token": token, "userId": u.id})),
    ))
}

#[derive(Clone, Deserialize)]
struct VerifyPasswordRequest {
    email: String,
    password: String,
}

/// Environment token: whether the password is the user's (no lockout counting; for
/// migrations and re-authentication in your own backend).
async fn vendor_verify_password(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyPasswordRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Perm::Environment)?;
    let hash = email::normalize(&req.email)
        .ok()
        .and_then(|n| {
            state
                .db
                .get_raw(Tree::UserEmails, n.as_bytes())
                .ok()
                .flatten()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|id| state.db.get::<User>(id.as_bytes()).ok().flatten())
        .and_then(|u| u.password_hash);
    let valid = password::verify(&state.hasher, req.password, hash).await?;
    Ok(Json(json!({"valid": valid})))
}

// === reset by SMS code ===

/// A pending SMS reset: the code's digest, bounded attempts, ten minutes.
#[derive(Clone, Debug, serde::Serialize, Deserialize)]
struct SmsReset {
    session_id: String,
    user_id: String,
    code_sha256: String,
    expires_at: i64,
    attempts: u32,
}

impl crate::store::Record for SmsReset {
    const TREE: Tree = Tree::OneTimeTokens;
    fn key(&self) -> Vec<u8> {
        format!("sms-reset/{}", self.session_id).into_bytes()
    }
}

/// Wrong codes allowed per SMS reset before it is void.
const SMS_ATTEMPTS: u32 = 5;

use crate::model::user::phone_digits;

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmsResetRequest {
    identifier: String,
    identifier_type: String,
}

/// Public: text a six-digit code to the user with this phone number. The reply (a session id
/// to verify the code with) is the same whether or not the number is known.
async fn request_reset_sms(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SmsResetRequest>,
) -> Result<Json<Value>, ApiError> {
    if req.identifier_type != "phoneNumber" {
        return Err(ApiError::bad_request("identifierType must be phoneNumber"));
    }
    let wanted = phone_digits(&req.identifier);
    if wanted.len() < 6 || wanted.len() > 15 {
        return Err(ApiError::bad_request("identifier must be a phone number"));
    }
    let session_id = new_uuid().to_string();
    // By index: a public route never reads every user.
    let owner = crate::model::user::by_phone(&state.db, &wanted)?
        .into_iter()
        .next();
    if let Some(u) = owner {
        let n = u32::from_be_bytes(crate::crypto::random_bytes::<4>()) % 1_000_000;
        let code = format!("{n:06}");
        let pending = SmsReset {
            session_id: session_id.clone(),
            user_id: u.id.clone(),
            code_sha256: crate::crypto::hex(&crate::crypto::sha256(code.as_bytes())),
            expires_at: state.clock.unix() + 600,
            attempts: 0,
        };
        state.db.write(|tx| tx.put(&pending)).await?;
        state.mailer.send(Message {
            channel: crate::delivery::Channel::Sms,
            to: u.phone_number.clone().unwrap_or_default(),
            subject: String::new(),
            body: format!("Your password reset code is {code}. It expires in 10 minutes."),
            kind: "sms-password-reset",
        });
    }
    Ok(Json(json!({"sessionId": session_id})))
}

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmsVerifyRequest {
    session_id: String,
    otc_token: String,
}

/// Public: exchange the texted code for a reset token (for `passwords/reset/verify`). Five
/// wrong codes void the session; the code works once.
async fn verify_reset_sms(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SmsVerifyRequest>,
) -> Result<Json<Value>, ApiError> {
    let bad = || ApiError::bad_request("The code is invalid or has expired");
    let now = state.clock.unix();
    let given = crate::crypto::sha256(req.otc_token.trim().as_bytes());
    let token = otp::new_token();
    let key = format!("sms-reset/{}", req.session_id).into_bytes();
    let outcome = state
        .db
        .write(|tx| {
            let Some(mut p) = tx.get::<SmsReset>(&key)? else {
                return Ok(None);
            };
            if p.expires_at <= now || p.attempts >= SMS_ATTEMPTS {
                tx.delete::<SmsReset>(&key)?;
                return Ok(None);
            }
            // A code is a guessable secret of the user's: wrong ones count toward the same
            // hourly budget as wrong passwords, and once it is spent no code is evaluated.
            let mut owner = tx.get::<User>(p.user_id.as_bytes())?;
            let spent = owner
                .as_ref()
                .is_some_and(|u| crate::model::lockout::budget_spent(u, now));
            let expected = crate::crypto::unhex(&p.code_sha256).unwrap_or_default();
            if spent || !crate::crypto::ct_eq(&expected, &given) {
                p.attempts += 1;
                tx.put(&p)?;
                if let Some(u) = owner.as_mut() {
                    crate::model::lockout::count_in_window(u, now);
                    tx.put(u)?;
                }
                return Ok(None);
            }
            tx.delete::<SmsReset>(&key)?;
            otp::issue(
                tx,
                &token,
                Purpose::PasswordReset,
                &p.user_id,
                now + RESET_TTL,
            )?;
            Ok::<_, ApiError>(Some(p.user_id))
        })
        .await?;
    let user_id = outcome.ok_or_else(bad)?;
    Ok(Json(json!({"userId": user_id, "token": token})))
}
