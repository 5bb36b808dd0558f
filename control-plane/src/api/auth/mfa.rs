//! The login pipeline after a first factor, and MFA during login (tag MFA, the
//! `auth/v1/user/mfa/*` half; `compat-wave2.md` §2): every first factor ends in
//! [`after_first_factor`], which issues tokens or answers the MFA-required reply; the
//! second factor's routes prove the challenge it left and issue the tokens, with the
//! step-up claims. Step-up (`auth/v1/user/step-up/generate`, outside the spec) opens the
//! same challenge for a signed-in user. The rules live in `model::mfa`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};

use super::issue::{Issued, cookie, issue};
use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::Caller;
use crate::http::extract::ApiJson;
use crate::http::guard::ClientIp;
use crate::http::mfa::{CeremonyReply, Devices, ceremony, failed, finish_ceremony};
use crate::http::page::Params;
use crate::model::login::{self, Authn};
use crate::model::mfa::{self, Expect, MfaError, Proof, Strategy, Target, policy};
use crate::model::user::User;
use crate::model::vendor_config::VendorConfig;

/// The remembered-device cookie: `fe_device_` + the client id without dashes (the
/// Next.js proxy forwards only `fe_` cookies).
fn device_cookie_name(client_id: &str) -> String {
    format!("fe_device_{}", client_id.replace('-', ""))
}

/// The MFA-required login reply (`compat-wave2.md` §2.2): no tokens, no cookie.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MfaRequiredReply {
    token_type: &'static str,
    mfa_required: bool,
    mfa_token: String,
    mfa_enrolled: bool,
    mfa_devices: Devices,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_strategies: Option<Vec<Strategy>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qr_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    user_id: String,
    user_email: String,
    email_verified: bool,
    is_breached_password: bool,
}

/// What a challenge asks of the user, from their factors and the configuration.
struct Ask {
    enrolled: bool,
    devices: Devices,
    strategies: Vec<Strategy>,
}

fn ask(state: &AppState, user: &User) -> Result<Ask, ApiError> {
    let m = mfa::of(&state.db, &user.id)?;
    let config = policy::config(&state.db)?;
    let strategies = config.strategies();
    Ok(Ask {
        enrolled: m.enrolled() || config.email,
        devices: Devices::of(&m, &config, &user.email, true),
        strategies,
    })
}

/// The end of every first factor: tokens, or the MFA challenge when the policy in force or
/// the user's enrolment asks for a second factor (a remembered device, `mfaBypass` and a
/// configuration offering no usable strategy skip it).
pub(super) async fn after_first_factor(
    state: &AppState,
    config: &VendorConfig,
    headers: &HeaderMap,
    user: User,
    tenant: String,
    ip: std::net::IpAddr,
) -> Result<Issued, Stop> {
    // A login for an application opens the account the user is active in there (whose
    // rules then apply, as the first choice's did).
    let chosen = crate::model::application::login_tenant(
        &state.db,
        super::issue::requested_app(headers),
        &user,
        tenant.clone(),
    )
    .map_err(ApiError::from)?;
    if chosen != tenant {
        crate::http::guard::check_ip(state, Some(&chosen), ip)?;
        crate::http::guard::check_email(state, &[&chosen], &user.email_norm)?;
    }
    let tenant = chosen;
    // Refused before a session opens: a refusal changes nothing.
    super::issue::check_app(state, headers, &user.id, &tenant)?;
    let needed = mfa_needed(state, headers, &user)?;
    if needed {
        let a = ask(state, &user)?;
        if a.enrolled || !a.strategies.is_empty() {
            let Json(reply) = challenge_reply(state, &user, &tenant, a).await?;
            return Err(Stop::Challenge(Box::new(reply)));
        }
        tracing::warn!(user.id = %user.id, "MFA is enforced but no MFA strategy is enabled; login proceeds without it");
    }
    let opened = login::open_session(
        &state.db,
        &state.clock,
        config,
        &user,
        &tenant,
        Some(ip.to_string()),
        user_agent(headers),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(issue(state, config, headers, opened, None)?)
}

/// Why a first factor did not end in tokens: a second factor is asked for, or a refusal.
pub(super) enum Stop {
    /// The MFA-required reply (no tokens, no cookie).
    Challenge(Box<MfaRequiredReply>),
    /// Refused; nothing changed.
    Refused(ApiError),
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::Refused(e)
    }
}

impl IntoResponse for Stop {
    fn into_response(self) -> Response {
        match self {
            Stop::Challenge(reply) => Json(*reply).into_response(),
            Stop::Refused(e) => e.into_response(),
        }
    }
}

/// What a hosted page shows of a challenge.
pub(super) struct PageChallenge {
    /// The challenge's token (a hidden field of the page's form).
    pub(super) mfa_token: String,
    /// An authenticator to enrol: the QR code (a `data:` URL) and the secret in base32.
    pub(super) enrol: Option<(String, String)>,
    /// Whether an enrolled authenticator app can answer.
    pub(super) app: bool,
    /// Whether a code can be mailed instead.
    pub(super) email: bool,
    /// An enrolled phone a code can be texted to: its id and number as shown.
    pub(super) phone: Option<(String, String)>,
    /// An enrolled security key (its id).
    pub(super) key: Option<String>,
}

impl MfaRequiredReply {
    /// What the hosted pages need of this challenge.
    pub(super) fn for_page(&self) -> PageChallenge {
        let email = self.mfa_devices.has_email()
            || self
                .mfa_strategies
                .as_ref()
                .is_some_and(|s| s.contains(&Strategy::EmailCode));
        PageChallenge {
            mfa_token: self.mfa_token.clone(),
            enrol: self.qr_code.clone().zip(self.secret.clone()),
            app: self.mfa_devices.has_app(),
            email,
            phone: self.mfa_devices.first_phone(),
            key: self.mfa_devices.first_webauthn(),
        }
    }
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect())
}

fn mfa_needed(state: &AppState, headers: &HeaderMap, user: &User) -> Result<bool, ApiError> {
    if user.mfa_bypass {
        return Ok(false);
    }
    let tenants = user.memberships.iter().map(|m| m.tenant_id.as_str());
    let req = policy::requirement(&state.db, tenants)?;
    let enrolled = mfa::of(&state.db, &user.id)?.enrolled();
    // A password login is never SAML: ForceExceptSAML forces it.
    if req.enforce == policy::Enforce::DontForce && !enrolled {
        return Ok(false);
    }
    if let Some(c) = cookie(headers, &device_cookie_name(state.env.client_id()))
        && req.remember.is_some()
        && mfa::remembered(&state.db, &state.clock, user, &c)?
    {
        return Ok(false);
    }
    Ok(true)
}

async fn challenge_reply(
    state: &AppState,
    user: &User,
    tenant: &str,
    a: Ask,
) -> Result<Json<MfaRequiredReply>, ApiError> {
    let offer = !a.enrolled && a.strategies.contains(&Strategy::AuthenticatorApp);
    let begun = mfa::begin(&state.db, &state.clock, user, tenant, None, offer).await?;
    let service = policy::config(&state.db)?.service_name;
    let qr = begun.secret.map(|s| {
        let uri = mfa::totp::otpauth_uri(&service, &user.email, &s);
        (mfa::totp::qr_data_url(&uri), mfa::totp::base32(&s))
    });
    Ok(Json(MfaRequiredReply {
        token_type: "bearer",
        mfa_required: true,
        mfa_token: begun.token,
        mfa_enrolled: a.enrolled,
        mfa_devices: a.devices,
        mfa_strategies: (!a.enrolled).then_some(a.strategies),
        qr_code: qr.as_ref().map(|q| q.0.clone()),
        secret: qr.map(|q| q.1),
        user_id: user.id.clone(),
        user_email: user.email.clone(),
        email_verified: user.verified,
        is_breached_password: false,
    }))
}

/// Tokens for a proven challenge: a new session (a step-up's old one ends), the step-up
/// claims, the recovery code of a first enrolment, and the remembered-device cookie when
/// asked for and allowed.
async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    proven: mfa::Proven,
    remember: bool,
) -> Result<Response, ApiError> {
    let (issued, config) = complete_issued(state, headers, ip, proven, remember).await?;
    let mut res = issued.respond(state, &config);
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

/// [`complete`]'s login, before it becomes a reply.
async fn complete_issued(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    proven: mfa::Proven,
    remember: bool,
) -> Result<(Issued, VendorConfig), ApiError> {
    let user = crate::model::user::get(&state.db, &proven.user_id)
        .map_err(|_| ApiError::from(MfaError::BadChallenge))?;
    crate::http::guard::check_ip(state, Some(&proven.tenant_id), ip)?;
    super::issue::check_app(state, headers, &user.id, &proven.tenant_id)?;
    let config = crate::model::vendor_config::current(&state.db)?;
    let authn = Authn {
        amr: proven.method.amr(),
        auth_time: state.clock.unix(),
    };
    let opened = login::open_session_as(
        &state.db,
        &state.clock,
        &config,
        &user,
        &proven.tenant_id,
        (Some(ip.to_string()), user_agent(headers)),
        crate::model::session::new_id(),
        authn.amr.clone(),
    )
    .await?;
    if let Some(old) = &proven.step_up_session {
        crate::model::session::end_where(&state.db, &state.clock, &user.id, |s| s.id != *old)
            .await?;
    }
    let mut issued = issue(state, &config, headers, opened, Some(&authn))?;
    issued.body.recovery_code = proven.recovery_code;
    if remember {
        let tenants = user.memberships.iter().map(|m| m.tenant_id.as_str());
        if let Some(lifetime) = policy::requirement(&state.db, tenants)?.remember {
            let token = mfa::remember(&state.db, &state.clock, &user.id, lifetime).await?;
            issued.cookies.push(super::issue::login_cookie(
                state,
                &config,
                &device_cookie_name(state.env.client_id()),
                &token,
                lifetime,
            ));
        }
    }
    Ok((issued, config))
}

/// A hosted page's proof of a challenge: the login it completes, with this device
/// remembered when asked and the policy allows it.
pub(super) async fn prove_on_page(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    (mfa_token, remember): (&str, bool),
    proof: Proof<'_>,
) -> Result<(Issued, VendorConfig), ApiError> {
    let proven = mfa::prove(&state.db, &state.clock, state.links(), mfa_token, proof)
        .await
        .map_err(failed)?;
    complete_issued(state, headers, ip, proven, remember).await
}

/// Mail the challenge's user a code; its `otcToken`.
pub(super) async fn mail_code(state: &AppState, mfa_token: &str) -> Result<String, ApiError> {
    Ok(
        mfa::send_code(&state.db, &state.clock, mfa_token, Target::Email)
            .await?
            .token,
    )
}

/// Begin asserting the challenge's user's security key `device` from a hosted page: the
/// ceremony's token and the browser's options.
pub(super) async fn begin_key(
    state: &AppState,
    headers: &HeaderMap,
    mfa_token: &str,
    device: &str,
) -> Result<(String, serde_json::Value), ApiError> {
    let scope = mfa::Scope::Login(mfa_token);
    let purpose = mfa::Purpose::Assert(device.to_owned());
    Ok(ceremony(state, headers, scope, purpose).await?.into_parts())
}

/// A hosted page's security-key assertion of a challenge: the login it completes.
pub(super) async fn prove_key_on_page(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    (mfa_token, webauthn_token, remember): (&str, &str, bool),
    credential: &serde_json::Value,
    device: &str,
) -> Result<(Issued, VendorConfig), ApiError> {
    let scope = mfa::Scope::Login(mfa_token);
    let finished =
        finish_ceremony(state, scope, webauthn_token, credential, None, Some(device)).await?;
    let mfa::Finished::Login(proven) = finished else {
        return Err(MfaError::BadChallenge.into());
    };
    complete_issued(state, headers, ip, proven, remember).await
}

/// Text a code to the challenge's user's enrolled phone `device`; its `otcToken`.
pub(super) async fn text_code(
    state: &AppState,
    mfa_token: &str,
    device: &str,
) -> Result<String, ApiError> {
    let target = Target::Phone(device.to_owned());
    Ok(mfa::send_code(&state.db, &state.clock, mfa_token, target)
        .await?
        .token)
}

/// The recovery code turns the user's MFA off (the login box's `mfa/recover`, one answer for
/// unknown addresses and wrong codes).
pub(super) async fn recover_with(
    state: &AppState,
    email: &str,
    recovery_code: &str,
) -> Result<(), ApiError> {
    mfa::recover(&state.db, &state.clock, state.links(), email, recovery_code)
        .await
        .map_err(|e| match e {
            MfaError::Locked => {
                let _ = failed(e);
                MfaError::Invalid("The recovery code is invalid".into()).into()
            }
            other => ApiError::from(other),
        })
}

/// Prove the challenge, then issue (the one path of every code-based verify route).
async fn prove_then_complete(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    mfa_token: &str,
    proof: Proof<'_>,
    remember: Option<bool>,
) -> Result<Response, ApiError> {
    let proven = mfa::prove(&state.db, &state.clock, state.links(), mfa_token, proof)
        .await
        .map_err(failed)?;
    complete(state, headers, ip, proven, remember == Some(true)).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyAppRequest {
    mfa_token: String,
    value: String,
    remember_device: Option<bool>,
}

/// Public: an authenticator code for the challenge — of an enrolled app, or of the seed the
/// login reply offered (completing the enrolment: the login box's force-enrol screen sends
/// its first code here).
async fn verify_app(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<VerifyAppRequest>,
) -> Result<Response, ApiError> {
    let proof = Proof::Totp {
        code: &req.value,
        device: None,
        enrol: false,
    };
    prove_then_complete(
        &state,
        &headers,
        ip,
        &req.mfa_token,
        proof,
        req.remember_device,
    )
    .await
}

/// Public: an enrolled authenticator's code, that device named.
async fn verify_app_device(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(device): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<VerifyAppRequest>,
) -> Result<Response, ApiError> {
    let proof = Proof::Totp {
        code: &req.value,
        device: Some(&device),
        enrol: false,
    };
    prove_then_complete(
        &state,
        &headers,
        ip,
        &req.mfa_token,
        proof,
        req.remember_device,
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnrolAppRequest {
    mfa_token: String,
    token: String,
    remember_device: Option<bool>,
}

/// Public: complete the enrolment of the seed the login reply offered.
async fn enrol_app_verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<EnrolAppRequest>,
) -> Result<Response, ApiError> {
    let proof = Proof::Totp {
        code: &req.token,
        device: None,
        enrol: true,
    };
    prove_then_complete(
        &state,
        &headers,
        ip,
        &req.mfa_token,
        proof,
        req.remember_device,
    )
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenOnly {
    mfa_token: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QrReply {
    qr_code: String,
    secret: String,
}

/// Public: the seed offered with the challenge, again (the login box shows it from the
/// login reply; this route serves clients that ask for it).
async fn enrol_app(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TokenOnly>,
) -> Result<(StatusCode, Json<QrReply>), ApiError> {
    let c = mfa::challenge(&state.db, &state.clock, &req.mfa_token)?;
    let sealed = c
        .pending_secret
        .ok_or_else(|| MfaError::Invalid("No authenticator enrolment is offered".into()))?;
    let seed = mfa::seal::open(&state.db, &c.user_id, &sealed)?.ok_or(MfaError::BadChallenge)?;
    let user = crate::model::user::get(&state.db, &c.user_id)
        .map_err(|_| ApiError::from(MfaError::BadChallenge))?;
    let service = policy::config(&state.db)?.service_name;
    let uri = mfa::totp::otpauth_uri(&service, &user.email, &seed);
    Ok((
        StatusCode::CREATED,
        Json(QrReply {
            qr_code: mfa::totp::qr_data_url(&uri),
            secret: mfa::totp::base32(&seed),
        }),
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CodeSent {
    otc_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<String>,
}

async fn send(
    state: &AppState,
    mfa_token: &str,
    target: Target,
) -> Result<(StatusCode, Json<CodeSent>), ApiError> {
    let sms = !matches!(target, Target::Email);
    let sent = mfa::send_code(&state.db, &state.clock, mfa_token, target).await?;
    Ok((
        StatusCode::CREATED,
        Json(CodeSent {
            otc_token: sent.token,
            phone_number: sms.then_some(sent.shown_to),
        }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SmsEnrolRequest {
    mfa_token: String,
    phone_number: String,
}

/// Public: text a code to a phone being enrolled with the challenge.
async fn sms_enrol(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SmsEnrolRequest>,
) -> Result<(StatusCode, Json<CodeSent>), ApiError> {
    let number = mfa::normalize_phone(&req.phone_number)?;
    send(&state, &req.mfa_token, Target::NewPhone(number)).await
}

/// Public: text a code to an enrolled phone.
async fn sms_pre_verify(
    State(state): State<AppState>,
    Path(device): Path<String>,
    ApiJson(req): ApiJson<TokenOnly>,
) -> Result<(StatusCode, Json<CodeSent>), ApiError> {
    send(&state, &req.mfa_token, Target::Phone(device)).await
}

/// Public: mail a code to the user's address.
async fn email_pre_verify(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TokenOnly>,
) -> Result<(StatusCode, Json<CodeSent>), ApiError> {
    send(&state, &req.mfa_token, Target::Email).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CodeRequest {
    mfa_token: String,
    otc_token: String,
    code: String,
    remember_device: Option<bool>,
}

async fn prove_code(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    req: CodeRequest,
    expect: Expect<'_>,
) -> Result<Response, ApiError> {
    let proof = Proof::Code {
        token: &req.otc_token,
        code: &req.code,
        expect,
    };
    prove_then_complete(
        state,
        headers,
        ip,
        &req.mfa_token,
        proof,
        req.remember_device,
    )
    .await
}

/// Public: the code texted to a phone being enrolled (enrols it).
async fn sms_enrol_verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    prove_code(&state, &headers, ip, req, Expect::NewPhone).await
}

/// Public: the code texted to enrolled phone `deviceId`.
async fn sms_verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(device): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    prove_code(&state, &headers, ip, req, Expect::Phone(&device)).await
}

/// Public: the mailed code.
async fn email_verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CodeRequest>,
) -> Result<Response, ApiError> {
    prove_code(&state, &headers, ip, req, Expect::Email).await
}

/// Public: begin registering a WebAuthn authenticator with the challenge.
async fn webauthn_enrol(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<TokenOnly>,
) -> Result<(StatusCode, Json<CeremonyReply>), ApiError> {
    let scope = mfa::Scope::Login(&req.mfa_token);
    let r = ceremony(&state, &headers, scope, mfa::Purpose::Register).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Public: begin asserting enrolled authenticator `deviceId`.
async fn webauthn_pre_verify(
    State(state): State<AppState>,
    Path(device): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<TokenOnly>,
) -> Result<(StatusCode, Json<CeremonyReply>), ApiError> {
    let scope = mfa::Scope::Login(&req.mfa_token);
    let r = ceremony(&state, &headers, scope, mfa::Purpose::Assert(device)).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebAuthnRequest {
    mfa_token: String,
    webauthn_token: String,
    device_type: Option<mfa::DeviceType>,
    /// The browser's credential (`publicKeyCredentialToJSON`).
    options: serde_json::Value,
    remember_device: Option<bool>,
}

async fn prove_webauthn(
    state: &AppState,
    headers: &HeaderMap,
    ip: std::net::IpAddr,
    req: WebAuthnRequest,
    device: Option<&str>,
) -> Result<Response, ApiError> {
    let scope = mfa::Scope::Login(&req.mfa_token);
    let finished = finish_ceremony(
        state,
        scope,
        &req.webauthn_token,
        &req.options,
        req.device_type,
        device,
    )
    .await?;
    let mfa::Finished::Login(proven) = finished else {
        return Err(MfaError::BadChallenge.into());
    };
    complete(
        state,
        headers,
        ip,
        proven,
        req.remember_device == Some(true),
    )
    .await
}

/// Public: the registration completes the enrolment and the login.
async fn webauthn_enrol_verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(req): ApiJson<WebAuthnRequest>,
) -> Result<Response, ApiError> {
    prove_webauthn(&state, &headers, ip, req, None).await
}

/// Public: the assertion of `deviceId` completes the login.
async fn webauthn_verify(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(device): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<WebAuthnRequest>,
) -> Result<Response, ApiError> {
    prove_webauthn(&state, &headers, ip, req, Some(&device)).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecoverRequest {
    email: String,
    recovery_code: String,
}

/// Public: the recovery code turns the user's MFA off (every device, remembered devices,
/// every session); the user is mailed. One answer for unknown addresses and wrong codes.
async fn recover(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RecoverRequest>,
) -> Result<StatusCode, ApiError> {
    recover_with(&state, &req.email, &req.recovery_code).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RememberQuery {
    mfa_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RememberReply {
    is_allowed_to_remember: bool,
    mfa_device_expiration: u32,
}

/// Public: whether the challenge's user may remember this device, and for how long.
async fn allow_remember(
    State(state): State<AppState>,
    Params(q): Params<RememberQuery>,
) -> Result<Json<RememberReply>, ApiError> {
    let token = q
        .mfa_token
        .ok_or_else(|| ApiError::bad_request("mfaToken is required"))?;
    let remember = remember_for(&state, &token)?;
    Ok(Json(RememberReply {
        is_allowed_to_remember: remember.is_some(),
        mfa_device_expiration: remember.unwrap_or(0),
    }))
}

/// How long the challenge's user may have this device remembered, seconds (`None`: the MFA
/// policy in force does not allow it).
pub(super) fn remember_for(state: &AppState, mfa_token: &str) -> Result<Option<u32>, ApiError> {
    let c = mfa::challenge(&state.db, &state.clock, mfa_token)?;
    let user = crate::model::user::get(&state.db, &c.user_id)
        .map_err(|_| ApiError::from(MfaError::BadChallenge))?;
    let tenants = user.memberships.iter().map(|m| m.tenant_id.as_str());
    Ok(policy::requirement(&state.db, tenants)?.remember)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct StepUpRequest {
    /// Seconds: a second factor proven this recently already satisfies the step-up.
    max_age: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StepUpReply {
    mfa_token: String,
    mfa_enrolled: bool,
    mfa_devices: Devices,
}

/// The step-up claims of the presented token, if it proves a second factor within
/// `max_age` seconds.
fn recent_mfa(state: &AppState, headers: &HeaderMap, max_age: Option<i64>) -> Option<Authn> {
    let max_age = max_age.filter(|m| *m > 0)?;
    let token = crate::http::extract::bearer(headers).ok()??;
    let c: shared::claims::AccessClaims = state.issuer.verify(token).ok()?;
    let amr = c.amr.filter(|a| a.iter().any(|m| m == "mfa"))?;
    let auth_time = c.auth_time?;
    (c.acr.as_deref() == Some(shared::claims::STEP_UP_ACR)
        && state.clock.unix().saturating_sub(auth_time) <= max_age)
        .then_some(Authn { amr, auth_time })
}

/// User token (outside the spec): open a step-up challenge for the caller's session; the
/// MFA routes above complete it. A token whose second factor is within `maxAge` is already
/// stepped up: a fresh access token for the same session, same claims. A user without a
/// second factor gets `MFA is not enrolled`.
async fn step_up(
    caller: Caller,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: StepUpRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StepUpRequest::default()
    } else {
        crate::http::extract::parse_json(&body, state.limits.max_json_depth)?
    };
    let u = caller
        .user()
        .ok_or_else(|| ApiError::unauthorized("a user token is required"))?;
    let a = ask(&state, &u.user)?;
    if !a.enrolled {
        return Err(MfaError::NotEnrolled.into());
    }
    let sid = u.session_id.clone().unwrap_or_default();
    if let Some(authn) = recent_mfa(&state, &headers, req.max_age) {
        let config = crate::model::vendor_config::current(&state.db)?;
        return super::issue::reissue(&state, &config, &u.user, &u.tenant_id, &sid, &authn);
    }
    let begun = mfa::begin(
        &state.db,
        &state.clock,
        &u.user,
        &u.tenant_id,
        Some(&sid),
        false,
    )
    .await?;
    Ok(Json(StepUpReply {
        mfa_token: begun.token,
        mfa_enrolled: true,
        mfa_devices: a.devices,
    })
    .into_response())
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "AuthenticationMFAControllerV1_verifyAuthenticatorMfaCode",
            verify_app,
        )
        .add(
            "AuthenticationMFAControllerV1_verifyAuthenticatorMfa",
            verify_app_device,
        )
        .add(
            "AuthenticationMFAControllerV1_preEnrollAuthenticatorMfa",
            enrol_app,
        )
        .add(
            "AuthenticationMFAControllerV1_enrollAuthenticatorMfa",
            enrol_app_verify,
        )
        .add("AuthenticationMFAControllerV1_preEnrollSmsMfa", sms_enrol)
        .add(
            "AuthenticationMFAControllerV1_enrollSmsMfa",
            sms_enrol_verify,
        )
        .add(
            "AuthenticationMFAControllerV1_preVerifySmsMfa",
            sms_pre_verify,
        )
        .add("AuthenticationMFAControllerV1_verifySmsMfa", sms_verify)
        .add(
            "AuthenticationMFAControllerV1_preVerifyEmailOtcMfa",
            email_pre_verify,
        )
        .add(
            "AuthenticationMFAControllerV1_verifyEmailOtcMfa",
            email_verify,
        )
        .add("AuthenticationMFAControllerV1_recoverMfa", recover)
        .add(
            "AuthenticationMFAControllerV1_preEnrollWebauthnMfa",
            webauthn_enrol,
        )
        .add(
            "AuthenticationMFAControllerV1_enrollWebauthnMfa",
            webauthn_enrol_verify,
        )
        .add(
            "AuthenticationMFAControllerV1_preVerifyWebauthnMfa",
            webauthn_pre_verify,
        )
        .add(
            "AuthenticationMFAControllerV1_verifyWebauthnMfa",
            webauthn_verify,
        )
        .add(
            "SecurityPolicyController_checkIfAllowToRememberDevice",
            allow_remember,
        )
        .add_extra("/resources/auth/v1/user/step-up/generate", post(step_up))
}
