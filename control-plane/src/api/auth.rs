//! Password login, `POST /resources/auth/v1/user` (tag General): email or username and
//! password -> access token, refresh token and the `fe_refresh_<clientId>` cookie.
//! An unknown user, a wrong password and a locked user get the same reply after the same
//! work (an argon2 verification either way).

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::claims::{AccessClaims, TokenType};

use super::Ops;
use crate::crypto::new_uuid;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::extract::ApiJson;
use crate::model::authz;
use crate::model::clock::rfc3339;
use crate::model::session::{self, Session};
use crate::model::user::{self, User};
use crate::model::vendor_config::VendorConfig;
use crate::model::{email, password};

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "AuthenticatioAuthenticationControllerV1_authenticateLocalUser",
            login,
        )
        .add(
            "AuthenticatioAuthenticationControllerV1_refreshToken",
            refresh,
        )
        .add("AuthenticatioAuthenticationControllerV1_logout", logout)
        .add("UsersControllerV3_unlock", unlock_me)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginRequest {
    email: Option<String>,
    username: Option<String>,
    password: String,
}

/// `AuthenticationResponseDto` without the MFA fields (absent until MFA exists).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoginResponse {
    token_type: &'static str,
    mfa_required: bool,
    access_token: String,
    refresh_token: String,
    /// Seconds.
    expires_in: i64,
    /// RFC 3339 expiry of the access token.
    expires: String,
    user_id: String,
    user_email: String,
    email_verified: bool,
    /// Minutes until the password expires, when within the notification period.
    #[serde(skip_serializing_if = "Option::is_none")]
    password_expires_in: Option<i64>,
    /// The notification period, minutes, alongside `passwordExpiresIn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    notification_period: Option<u32>,
}

fn bad_credentials() -> ApiError {
    ApiError::unauthorized("Incorrect email or password")
}

/// The refresh cookie name: `fe_refresh_` + the client id without dashes.
pub(crate) fn refresh_cookie_name(client_id: &str) -> String {
    format!("fe_refresh_{}", client_id.replace('-', ""))
}

/// Public: log in with a password.
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    // The environment's IP rules apply to everyone alike: checked before anything about the
    // user is looked at, so the reply reveals nothing about accounts.
    let client_ip = crate::http::guard::client_ip(&state, peer, &headers);
    crate::http::guard::check_ip(&state, None, client_ip)?;
    let index = match (&req.email, &req.username) {
        (Some(e), _) => email::normalize(e)
            .ok()
            .map(|n| (crate::store::Tree::UserEmails, n)),
        (None, Some(name)) => Some((crate::store::Tree::Usernames, user::username_key(name))),
        (None, None) => return Err(ApiError::bad_request("email or username is required")),
    };
    let user = match &index {
        Some((tree, key)) if !key.is_empty() => state
            .db
            .get_raw(*tree, key.as_bytes())?
            .and_then(|id| String::from_utf8(id).ok())
            .map(|id| state.db.get::<User>(id.as_bytes()))
            .transpose()?
            .flatten(),
        _ => None,
    };
    let Some(user) = user else {
        // Unknown user: the same turn-taking (parallel guesses at one address queue as a
        // user's do), the same argon2 work as a real check, the same durable write as
        // counting a real failure (else the flush would tell known addresses apart by
        // timing, `security.md` §D), the same reply.
        let key = index.as_ref().map_or("", |(_, k)| k.as_str());
        let _turn = state.login_gate.enter(&format!("address/{key}")).await;
        password::verify(&state.hasher, req.password.clone(), None).await?;
        record_decoy_failure(&state).await?;
        state.metrics.logins.with_label_values(&["failure"]).inc();
        return Err(bad_credentials());
    };
    let user = match counted_check(&state, &user.id, &req.password).await? {
        PasswordCheck::Correct(u) => *u,
        PasswordCheck::Wrong => {
            state.metrics.logins.with_label_values(&["failure"]).inc();
            return Err(bad_credentials());
        }
    };
    state.metrics.logins.with_label_values(&["success"]).inc();
    let config = crate::model::vendor_config::current(&state.db)?;
    if !user.verified && !config.allow_not_verified_users_login {
        return Err(ApiError::unauthorized("User is not verified"));
    }
    let tenant = user
        .login_tenant()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::unauthorized("The user has no active account"))?;
    // The account's rules, only once the password proved who is asking.
    crate::http::guard::check_ip(&state, Some(&tenant), client_ip)?;
    crate::http::guard::check_email(&state, &[&tenant], &user.email_norm)?;
    // Password expiration: an expired password must be reset first (no tokens, a reset
    // token instead); one about to expire is announced in the reply.
    let now = state.clock.unix();
    let rotation =
        crate::model::password_policy::rotation(&state.db, Some(&tenant))?.filter(|p| p.is_active);
    let mut expires_in = None;
    if let (Some(p), Some(changed)) = (&rotation, user.password_changed_at) {
        let expires_at = changed + i64::from(p.rotation_period) * 60;
        if now >= expires_at {
            let token = crate::model::otp::new_token();
            let uid = user.id.clone();
            state
                .db
                .write(|tx| {
                    crate::model::otp::issue(
                        tx,
                        &token,
                        crate::model::otp::Purpose::PasswordReset,
                        &uid,
                        now + 3600,
                    )
                })
                .await?;
            return Ok(Json(serde_json::json!({
                "mfaRequired": false,
                "resetPasswordToken": token,
                "userId": user.id,
                "userEmail": user.email,
                "emailVerified": user.verified,
                "passwordExpiresIn": 0,
            }))
            .into_response());
        }
        let left = (expires_at - now) / 60;
        if left <= i64::from(p.notification_period) {
            expires_in = Some((left, p.notification_period));
        }
    }
    let ua = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect());
    let mut issued = start_session(
        &state,
        &config,
        user,
        &tenant,
        Some(client_ip.to_string()),
        ua,
    )
    .await?;
    if let Some((left, period)) = expires_in {
        issued.body.password_expires_in = Some(left);
        issued.body.notification_period = Some(period);
    }
    Ok(issued.into_response_with_cookie(&state, &config))
}

/// What a counted password check decided.
pub(crate) enum PasswordCheck {
    /// The user's password, checked (the user as stored after the check).
    Correct(Box<User>),
    /// Wrong, or not evaluated (locked, hourly budget spent, no such user): all alike.
    Wrong,
}

/// The one guarded check of a user's password — login, and every endpoint that asks for it
/// again (`passwords/change`): one check of a user at a time; a locked user or a spent hourly
/// budget is refused without evaluating the password, with the same argon2 work and the same
/// durable write as a wrong one; a wrong one counts toward the lockout and the hourly budget
/// (`security.md` C1, C9, M6).
pub(crate) async fn counted_check(
    state: &AppState,
    user_id: &str,
    password: &str,
) -> Result<PasswordCheck, ApiError> {
    let _turn = state.login_gate.enter(user_id).await;
    let Some(user) = state.db.get::<User>(user_id.as_bytes())? else {
        password::verify(&state.hasher, password.to_owned(), None).await?;
        record_decoy_failure(state).await?;
        return Ok(PasswordCheck::Wrong);
    };
    let max = crate::model::lockout::max_attempts(&state.db, user.login_tenant())?;
    let unevaluated =
        user.is_locked || crate::model::lockout::budget_spent(&user, state.clock.unix());
    let hash = if unevaluated {
        None
    } else {
        user.password_hash.clone()
    };
    let correct = password::verify(&state.hasher, password.to_owned(), hash).await?;
    if unevaluated || !correct {
        record_failure(state, &user.id, max).await?;
        return Ok(PasswordCheck::Wrong);
    }
    Ok(PasswordCheck::Correct(Box::new(user)))
}

/// Unlock links live this long.
const UNLOCK_TTL: i64 = 24 * 3600;

/// Count a failed login; at `max` consecutive failures the user is locked (event) and gets
/// a single-use unlock link by mail.
/// Where an unknown address's failed login leaves its trace: a user-shaped record in the
/// metadata tree, never listed anywhere.
const DECOY_KEY: &[u8] = b"login-decoy";

/// An unknown address's failed login does what counting a known user's failure does, step
/// for step — the lockout-policy read, a second record read, then a transaction that reads,
/// decodes, updates, encodes and writes back a user-sized record, flushed — so the two
/// cannot be told apart by timing (`security.md` §D1). The record is a `User` that belongs to
/// no one, kept in the metadata tree.
async fn record_decoy_failure(state: &AppState) -> Result<(), ApiError> {
    let _ = crate::model::lockout::max_attempts(&state.db, None)?;
    let _ = state.db.get_raw(crate::store::Tree::Meta, DECOY_KEY)?;
    let at = rfc3339(state.clock.now());
    state
        .db
        .write(|tx| {
            let mut decoy = tx
                .get_raw(crate::store::Tree::Meta, DECOY_KEY)?
                .and_then(|b| serde_json::from_slice::<User>(&b).ok())
                .unwrap_or_else(|| decoy_user(&at));
            decoy.failed_logins = decoy.failed_logins.wrapping_add(1) % 1000;
            crate::model::lockout::count_in_window(&mut decoy, state.clock.unix());
            decoy.last_login = Some(at.clone());
            let bytes = serde_json::to_vec(&decoy).map_err(ApiError::internal)?;
            tx.put_raw(crate::store::Tree::Meta, DECOY_KEY, &bytes)?;
            Ok::<_, ApiError>(())
        })
        .await
}

/// A user record of typical size that belongs to no one.
fn decoy_user(at: &str) -> User {
    User {
        id: new_uuid().to_string(),
        email: "decoy@login.invalid".into(),
        email_norm: "decoy@login.invalid".into(),
        name: "Login Decoy".into(),
        profile_picture_url: None,
        phone_number: None,
        metadata: "{}".into(),
        vendor_metadata: "{}".into(),
        external_id: None,
        // The shape of a real PHC string (never checked).
        password_hash: Some(format!(
            "$argon2id$v=19$m=19456,t=2,p=1${}${}",
            "A".repeat(22),
            "A".repeat(43)
        )),
        verified: true,
        is_locked: false,
        super_user: false,
        invisible: true,
        mfa_bypass: false,
        memberships: vec![user::Membership {
            tenant_id: new_uuid().to_string(),
            role_ids: vec![new_uuid().to_string()],
            disabled: false,
            created_at: at.to_owned(),
        }],
        active_tenant_id: None,
        created_at: at.to_owned(),
        last_login: None,
        sub_account_access_allowed: false,
        failed_logins: 0,
        failures_in_window: 0,
        failure_window_start: 0,
        password_history: Vec::new(),
        password_changed_at: None,
        username: None,
    }
}

async fn record_failure(state: &AppState, user_id: &str, max: Option<u32>) -> Result<(), ApiError> {
    let at = rfc3339(state.clock.now());
    let now = state.clock.unix();
    let token = crate::model::otp::new_token();
    let expires = state.clock.unix() + UNLOCK_TTL;
    let locked = state
        .db
        .write(|tx| {
            let Some(mut u) = tx.get::<User>(user_id.as_bytes())? else {
                return Ok(None);
            };
            u.failed_logins = u.failed_logins.saturating_add(1);
            crate::model::lockout::count_in_window(&mut u, now);
            let lock_now = !u.is_locked && max.is_some_and(|m| u.failed_logins >= m);
            if lock_now {
                u.is_locked = true;
                crate::model::event::Event::UserLocked { user: &u.id }.record(tx, &at)?;
                crate::model::otp::issue(
                    tx,
                    &token,
                    crate::model::otp::Purpose::Unlock,
                    &u.id,
                    expires,
                )?;
            }
            tx.put(&u)?;
            Ok::<_, ApiError>(lock_now.then_some(u))
        })
        .await?;
    if let Some(u) = locked {
        tracing::warn!(
            user.id = user_id,
            "account locked after repeated failed logins"
        );
        state.mailer.send(crate::delivery::Message {
            channel: Default::default(),
            to: u.email.clone(),
            subject: "Your account was locked".into(),
            body: format!(
                "Your account was locked after repeated failed sign-in attempts.\n\n\
                 If these were you, unlock it with this link within 24 hours:\n{}/oauth/account/unlock?token={token}\n",
                state.public_url
            ),
            kind: "unlock",
        });
    }
    Ok(())
}

#[derive(Deserialize)]
struct UnlockRequest {
    token: String,
}

/// Public: unlock an account with the single-use link mailed when it was locked.
async fn unlock_me(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<UnlockRequest>,
) -> Result<axum::http::StatusCode, ApiError> {
    let now = state.clock.unix();
    let done = state
        .db
        .write(|tx| {
            let Some(uid) = crate::model::otp::consume(
                tx,
                &req.token,
                crate::model::otp::Purpose::Unlock,
                now,
            )?
            else {
                return Ok(false);
            };
            let Some(mut u) = tx.get::<User>(uid.as_bytes())? else {
                return Ok(false);
            };
            u.is_locked = false;
            u.failed_logins = 0;
            tx.put(&u)?;
            Ok::<_, ApiError>(true)
        })
        .await?;
    if done {
        Ok(axum::http::StatusCode::OK)
    } else {
        Err(ApiError::bad_request(
            "The unlock link is invalid or has expired",
        ))
    }
}

/// A freshly issued login: the reply and the refresh token for the cookie.
pub(crate) struct Issued {
    body: LoginResponse,
    refresh_max_age: u32,
}

impl Issued {
    fn into_response_with_cookie(self, state: &AppState, config: &VendorConfig) -> Response {
        // Browsers refuse `SameSite=None` without `Secure`; without TLS in --dev, Lax.
        let same_site = match (config.cookie_same_site.as_str(), state.secure_cookies) {
            ("STRICT", _) => "Strict",
            ("LAX", _) | (_, false) => "Lax",
            _ => "None",
        };
        let cookie = format!(
            "{}={}; Path=/; Max-Age={}; HttpOnly{}; SameSite={same_site}",
            refresh_cookie_name(state.env.client_id()),
            self.body.refresh_token,
            self.refresh_max_age,
            if state.secure_cookies { "; Secure" } else { "" },
        );
        let mut res = Json(self.body).into_response();
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().insert(SET_COOKIE, v);
        }
        res
    }
}

/// The login reply with its refresh cookie (activation and other flows that log in).
pub(crate) fn respond_with_cookie(
    issued: Issued,
    state: &AppState,
    config: &VendorConfig,
) -> Response {
    issued.into_response_with_cookie(state, config)
}

/// Create a session for `user` in `tenant`, record the login, and sign the access token.
pub(crate) async fn start_session(
    state: &AppState,
    config: &VendorConfig,
    user: User,
    tenant: &str,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<Issued, ApiError> {
    let now = state.clock.unix();
    let (refresh, digest) = session::new_refresh_token();
    let s = Session {
        id: new_uuid().to_string(),
        user_id: user.id.clone(),
        tenant_id: tenant.to_owned(),
        refresh_sha256: digest,
        created_at: now,
        expires_at: now + i64::from(config.default_refresh_token_expiration),
        last_used_at: now,
        ip,
        user_agent,
        rotated_sha256: Vec::new(),
    };
    let at = rfc3339(state.clock.now());
    let policy = session::effective_policy(&state.db, tenant)?;
    let max = policy
        .session_concurrent_configuration
        .is_active
        .then_some(policy.session_concurrent_configuration.max_sessions.max(1));
    let user = state
        .db
        .write(|tx| {
            // Re-read: a lock or removal that landed since the password check wins.
            let mut u = tx
                .get::<User>(user.id.as_bytes())?
                .ok_or_else(bad_credentials)?;
            if u.is_locked || u.membership(tenant).is_none_or(|m| m.disabled) {
                return Err(bad_credentials());
            }
            u.last_login = Some(at.clone());
            u.failed_logins = 0;
            u.active_tenant_id = Some(tenant.to_owned());
            tx.put(&u)?;
            session::open(tx, &s, max, &at)?;
            Ok::<_, ApiError>(u)
        })
        .await?;
    issue(state, config, &user, tenant, &s.id, refresh, now)
}

/// Sign an access token for a session and build the login reply.
fn issue(
    state: &AppState,
    config: &VendorConfig,
    user: &User,
    tenant: &str,
    sid: &str,
    refresh: String,
    now: i64,
) -> Result<Issued, ApiError> {
    let claims = user_claims(state, config, user, tenant, sid, now)?;
    let access = state.issuer.sign(&claims).map_err(ApiError::internal)?;
    let exp = now + i64::from(config.default_token_expiration);
    let expires = time::OffsetDateTime::from_unix_timestamp(exp)
        .map(rfc3339)
        .unwrap_or_default();
    Ok(Issued {
        body: LoginResponse {
            token_type: "bearer",
            mfa_required: false,
            access_token: access,
            refresh_token: refresh,
            expires_in: i64::from(config.default_token_expiration),
            expires,
            user_id: user.id.clone(),
            user_email: user.email.clone(),
            email_verified: user.verified,
            password_expires_in: None,
            notification_period: None,
        },
        refresh_max_age: config.default_refresh_token_expiration,
    })
}

/// The refresh token from the `fe_refresh_…` cookie. The name is the client id without
/// dashes; the un-stripped and single-dash-stripped variants Next.js tolerates are read too.
fn refresh_cookie(headers: &HeaderMap, client_id: &str) -> Option<String> {
    let names = [
        refresh_cookie_name(client_id),
        format!("fe_refresh_{client_id}"),
        format!("fe_refresh_{}", client_id.replacen('-', "", 1)),
    ];
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| names.iter().any(|n| n == k) && !v.is_empty() && v.len() <= 256)
        .map(|(_, v)| v.to_owned())
}

fn refresh_refused() -> ApiError {
    ApiError::unauthorized("Unauthorized")
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest {
    tenant_id: Option<String>,
}

/// What a refresh transaction decided (committed either way, so revocations stick).
enum Refreshed {
    Issued(Box<(User, Session, String)>),
    Refused,
}

/// Public (refresh cookie): a new access token for the session; with rotation on, a new
/// refresh token too. `{tenantId}` moves the session to another of the user's accounts.
/// A rotated-out refresh token presented again revokes its whole session.
async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    crate::http::extract::check_cookie_request(&state, &headers, &body)?;
    let client_ip = crate::http::guard::client_ip(&state, peer, &headers);
    crate::http::guard::check_ip(&state, None, client_ip)?;
    let req: RefreshRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RefreshRequest::default()
    } else {
        crate::http::extract::parse_json(&body, state.limits.max_json_depth)?
    };
    let target = req
        .tenant_id
        .as_deref()
        .map(|t| {
            crate::model::tenant::parse_id(t)
                .ok_or_else(|| ApiError::bad_request("tenantId must be a UUID"))
        })
        .transpose()?;
    let token = refresh_cookie(&headers, state.env.client_id()).ok_or_else(refresh_refused)?;
    let digest = session::refresh_digest(&token);
    let config = crate::model::vendor_config::current(&state.db)?;
    let now = state.clock.unix();
    let at = rfc3339(state.clock.now());
    // The session's account decides the policy; read it before the transaction.
    let found = session::by_refresh_token(&state.db, &digest)?;
    let sid = found
        .as_ref()
        .map(|s| s.id.clone())
        .ok_or_else(refresh_refused)?;
    let policy = match found {
        Some(s) => {
            // The target account's rules and the user's address, before anything is issued.
            let tenant = target.clone().unwrap_or_else(|| s.tenant_id.clone());
            crate::http::guard::check_ip(&state, Some(&tenant), client_ip)?;
            if let Some(u) = state.db.get::<User>(s.user_id.as_bytes())? {
                crate::http::guard::check_email(&state, &[&tenant], &u.email_norm)?;
            }
            session::effective_policy(&state.db, &s.tenant_id)?
        }
        None => return Err(refresh_refused()),
    };
    let outcome = state
        .db
        .write(|tx| {
            let Some(mut s) = tx.get::<Session>(sid.as_bytes())? else {
                return Ok(Refreshed::Refused);
            };
            if s.refresh_sha256 != digest {
                // Not the current token: a rotated one replayed (or a lost race). Revoke.
                session::revoke(tx, &s, &at)?;
                return Ok(Refreshed::Refused);
            }
            if !policy.allows(&s, now) {
                session::revoke(tx, &s, &at)?;
                return Ok(Refreshed::Refused);
            }
            let Some(mut user) = tx.get::<User>(s.user_id.as_bytes())? else {
                return Ok(Refreshed::Refused);
            };
            let tenant = target.clone().unwrap_or_else(|| s.tenant_id.clone());
            if user.is_locked || user.membership(&tenant).is_none_or(|m| m.disabled) {
                return Ok(Refreshed::Refused);
            }
            let refresh = if config.rotate_refresh_tokens {
                session::rotate(&mut s)
            } else {
                token.clone()
            };
            s.tenant_id = tenant.clone();
            s.last_used_at = now;
            tx.put(&s)?;
            if user.active_tenant_id.as_deref() != Some(tenant.as_str()) {
                user.active_tenant_id = Some(tenant);
                tx.put(&user)?;
            }
            Ok::<_, ApiError>(Refreshed::Issued(Box::new((user, s, refresh))))
        })
        .await?;
    let Refreshed::Issued(issued) = outcome else {
        return Err(refresh_refused());
    };
    let (user, s, refresh) = *issued;
    let issued = issue(&state, &config, &user, &s.tenant_id, &s.id, refresh, now)?;
    let mut res = issued.into_response_with_cookie(&state, &config);
    *res.status_mut() = axum::http::StatusCode::CREATED;
    Ok(res)
}

/// Public (refresh cookie): end the session the cookie names; the cookie is cleared. An
/// unknown or forged cookie changes nothing and gets the same reply.
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    crate::http::extract::check_cookie_request(&state, &headers, &body)?;
    if let Some(token) = refresh_cookie(&headers, state.env.client_id()) {
        let digest = session::refresh_digest(&token);
        let at = rfc3339(state.clock.now());
        state
            .db
            .write(|tx| {
                if let Some(s) = tx.find(session::BY_REFRESH, digest.as_bytes())? {
                    session::revoke(tx, &s, &at)?;
                }
                Ok::<_, ApiError>(())
            })
            .await?;
    }
    let clear = format!(
        "{}=; Path=/; Max-Age=0; HttpOnly{}",
        refresh_cookie_name(state.env.client_id()),
        if state.secure_cookies { "; Secure" } else { "" },
    );
    let mut res = axum::http::StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&clear) {
        res.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(res)
}

/// The claims of a user token (`compat.md` §1.3), roles and permissions as keys from the
/// one effective-permission function.
fn user_claims(
    state: &AppState,
    config: &VendorConfig,
    user: &User,
    tenant: &str,
    sid: &str,
    now: i64,
) -> Result<AccessClaims, ApiError> {
    let groups = crate::model::group::granting_for(&state.db, &user.id, tenant)?;
    let eff = authz::effective(user, tenant, &groups, &state.db)?;
    let metadata =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&user.metadata)
            .unwrap_or_default();
    Ok(AccessClaims {
        sub: user.id.clone(),
        token_type: TokenType::UserToken,
        tenant_id: tenant.to_owned(),
        tenant_ids: user.tenant_ids(),
        roles: if config.add_roles_to_jwt {
            eff.role_keys()
        } else {
            Vec::new()
        },
        permissions: if config.add_permissions_to_jwt {
            eff.permission_keys()
        } else {
            Vec::new()
        },
        application_id: state.env.client_id().to_owned(),
        iss: state.public_url.to_string(),
        aud: state.env.client_id().to_owned(),
        iat: now,
        exp: Some(now + i64::from(config.default_token_expiration)),
        sid: Some(sid.to_owned()),
        user_id: Some(user.id.clone()),
        email: Some(user.email.clone()),
        email_verified: Some(user.verified),
        name: Some(user.name.clone()),
        profile_picture_url: user.profile_picture_url.clone(),
        metadata: Some(metadata),
        super_user: user.super_user.then_some(true),
        // Step-up claims arrive with MFA.
        acr: None,
        amr: None,
        auth_time: None,
        jti: None,
        nbf: None,
    })
}
