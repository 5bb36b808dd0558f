//! Token exchange (RFC 8693) at `POST /oauth/token`, and the environment's delegation switch
//! (tag Delegation, `configurations/v1/delegation`). A trusted service authenticates with the
//! environment's client id and API key (HTTP Basic, or `client_id`/`client_secret` in the
//! body), presents the user's access token as `subject_token` and its account API token as
//! `actor_token`, and gets a delegated access token: the user's, naming the actor in `act`.
//! Errors are RFC 6749 §5.2's `{error, error_description}`; the token endpoint itself
//! (`oauth.rs`) reads the request and hands this grant type here. The rules live in
//! `model::delegation`. The endpoint's shared pieces (its error, the request, client
//! credentials) live here too.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::claims::{AccessClaims, TokenType};

use crate::api::Ops;
use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};
use crate::http::extract::ApiJson;
use crate::model::api_token::{ApiToken, Issuance};
use crate::model::delegation::{self, ACCESS_TOKEN, JWT};

/// An RFC 6749 §5.2 error.
pub(super) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

pub(super) fn oauth(
    status: StatusCode,
    error: &'static str,
    description: impl Into<String>,
) -> OAuthError {
    OAuthError {
        status,
        error,
        description: description.into(),
    }
}

pub(super) fn invalid_grant(d: &str) -> OAuthError {
    oauth(StatusCode::BAD_REQUEST, "invalid_grant", d)
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(serde_json::json!({"error": self.error, "error_description": self.description})),
        )
            .into_response();
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tessera\""),
            );
        }
        res
    }
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        if status.is_server_error() {
            tracing::error!(error = ?e, "token exchange failed");
            return oauth(status, "server_error", "the request could not be served");
        }
        let error = if status == StatusCode::FORBIDDEN {
            "access_denied"
        } else {
            "invalid_request"
        };
        oauth(status, error, e.message())
    }
}

/// The token request (form or JSON), every grant type's fields.
#[derive(Clone, Default, Deserialize)]
pub(super) struct TokenRequest {
    pub(super) grant_type: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    actor_token: Option<String>,
    actor_token_type: Option<String>,
    requested_token_type: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
    /// `authorization_code`.
    pub(super) code: Option<String>,
    pub(super) redirect_uri: Option<String>,
    pub(super) code_verifier: Option<String>,
    /// `refresh_token`.
    pub(super) refresh_token: Option<String>,
}

/// RFC 8693 §2.2.1.
#[derive(Serialize)]
struct TokenReply {
    access_token: String,
    issued_token_type: &'static str,
    token_type: &'static str,
    expires_in: i64,
}

/// Read a token request: JSON (what rest-api sends) or a form (RFC 6749 §4.1.3).
pub(super) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bad = || {
        oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not a token request",
        )
    };
    if json {
        return shared::json::from_bytes(body).map_err(|_| bad());
    }
    let text = std::str::from_utf8(body).map_err(|_| bad())?;
    serde_urlencoded::from_str(text).map_err(|_| bad())
}

/// The client's credentials: HTTP Basic, else the body's.
pub(super) fn client(headers: &HeaderMap, req: &TokenRequest) -> Option<(String, String)> {
    use base64::Engine;
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (id, secret) = text.split_once(':')?;
        return Some((id.to_owned(), secret.to_owned()));
    }
    Some((req.client_id.clone()?, req.client_secret.clone()?))
}

fn jwt_type(t: Option<&str>) -> bool {
    matches!(t, Some(ACCESS_TOKEN) | Some(JWT))
}

/// The token-exchange grant (client authentication: the environment's credentials).
pub(super) async fn exchange(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    req: TokenRequest,
) -> Result<Response, OAuthError> {
    let authenticated =
        client(headers, &req).is_some_and(|(id, secret)| state.env.check_credentials(&id, &secret));
    if !authenticated {
        return Err(oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        ));
    }
    if !delegation::current(&state.db)
        .map_err(ApiError::from)?
        .enabled
    {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "delegation is not enabled for this environment",
        ));
    }
    let (Some(subject), Some(actor)) = (req.subject_token.as_deref(), req.actor_token.as_deref())
    else {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "subject_token and actor_token are required",
        ));
    };
    if !jwt_type(req.subject_token_type.as_deref()) || !jwt_type(req.actor_token_type.as_deref()) {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("subject_token_type and actor_token_type must be {ACCESS_TOKEN} or {JWT}"),
        ));
    }
    if req
        .requested_token_type
        .as_deref()
        .is_some_and(|t| t != ACCESS_TOKEN)
    {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            format!("requested_token_type must be {ACCESS_TOKEN}"),
        ));
    }
    let now = state.clock.unix();
    // The subject: a live user token (its user, membership and session as of now).
    let subject_claims: AccessClaims = state
        .issuer
        .verify(subject)
        .map_err(|_| invalid_grant("the subject token is not valid"))?;
    let ctx = crate::http::caller::user_context(state, subject, now)
        .map_err(|_| invalid_grant("the subject token is not valid"))?;
    let Some(sid) = ctx.session_id.clone() else {
        return Err(invalid_grant("the subject token has no session"));
    };
    // The actor: a live account API token of the subject's own account.
    let actor_claims: AccessClaims = state
        .issuer
        .verify(actor)
        .map_err(|_| invalid_grant("the actor token is not valid"))?;
    let live = state
        .db
        .get::<ApiToken>(actor_claims.sub.as_bytes())
        .map_err(ApiError::from)?;
    if actor_claims.token_type != TokenType::TenantApiToken
        || actor_claims.exp.is_none_or(|e| e <= now)
        || live.is_none_or(|t| t.tenant_id != actor_claims.tenant_id)
    {
        return Err(invalid_grant(
            "the actor token must be a live account API token",
        ));
    }
    if actor_claims.tenant_id != ctx.tenant_id {
        return Err(invalid_grant(
            "the actor acts only for users of its own account",
        ));
    }
    crate::http::guard::check_ip(state, Some(&ctx.tenant_id), ip)?;
    // The subject's application, if the user is still assigned to it (the one rule).
    let app = crate::model::application::for_token(
        &state.db,
        Some(&subject_claims.application_id),
        state.env.client_id(),
        &ctx.user.id,
        &ctx.tenant_id,
    )
    .map_err(|_| {
        invalid_grant("the user is no longer assigned to the subject token's application")
    })?;
    let config = crate::model::vendor_config::current(&state.db).map_err(ApiError::from)?;
    let who = Issuance {
        issuer: &state.public_url,
        audience: state.env.client_id(),
        application: &app,
        ttl: i64::from(config.default_token_expiration),
    };
    let mut shaped = crate::model::login::user_claims(
        &state.db,
        &config,
        &ctx.user,
        &ctx.tenant_id,
        &sid,
        now,
        who,
        None,
    )
    .map_err(ApiError::from)?;
    let exp = shaped
        .claims
        .exp
        .map_or(subject_claims.exp, |e| subject_claims.exp.map(|s| e.min(s)));
    shaped.claims.exp = exp;
    shaped.claims.act = Some(delegation::act(
        &actor_claims.sub,
        actor_claims.token_type.as_str(),
        subject_claims.act,
    ));
    let access = state.issuer.sign(&shaped).map_err(ApiError::internal)?;
    let mut res = Json(TokenReply {
        access_token: access,
        issued_token_type: ACCESS_TOKEN,
        token_type: "Bearer",
        expires_in: exp.map_or(0, |e| e - now),
    })
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GetDelegationConfigurationResponseDto`.
#[derive(Serialize, Deserialize)]
pub(super) struct DelegationDto {
    #[serde(default)]
    enabled: bool,
}

pub(super) async fn get_config(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<DelegationDto>, ApiError> {
    caller.require(Perm::Environment)?;
    Ok(Json(DelegationDto {
        enabled: delegation::current(&state.db)?.enabled,
    }))
}

pub(super) async fn set_config(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(req): ApiJson<DelegationDto>,
) -> Result<StatusCode, ApiError> {
    caller.require(Perm::Environment)?;
    delegation::set(&state.db, req.enabled).await?;
    Ok(StatusCode::OK)
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "DelegationConfigurationControllerV1_getDelegationConfiguration",
            get_config,
        )
        .add(
            "DelegationConfigurationControllerV1_createOrUpdateDelegationConfiguration",
            set_config,
        )
}
