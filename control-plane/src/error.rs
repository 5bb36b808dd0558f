//! `ApiError`: the only type that becomes an HTTP error response.
//!
//! Every error body has one shape, compatible with Frontegg's clients
//! (`compat.md` §5.1): `{"errors": ["human readable message"], "errorCode": "ER-…"}`.
//! Clients branch on `errorCode`, never on the message. Internal failures answer a generic
//! message; the real cause is logged with the request id, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::error::ErrorBody;

use crate::store::StoreError;

/// An HTTP error: status, stable code and message.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// Logged, never sent.
    internal: Option<String>,
}

impl From<crate::model::json::JsonError> for ApiError {
    fn from(e: crate::model::json::JsonError) -> Self {
        match e {
            crate::model::json::JsonError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string())
            }
            crate::model::json::JsonError::NotObject(_) => ApiError::bad_request(e.to_string()),
        }
    }
}

impl From<crate::hashing::PasswordError> for ApiError {
    fn from(e: crate::hashing::PasswordError) -> Self {
        use crate::hashing::PasswordError;
        match e {
            PasswordError::Overloaded => ApiError::overloaded(e.to_string()),
            PasswordError::TooLong(m) => ApiError::bad_request(m),
            PasswordError::Hashing(cause) => ApiError::internal(cause),
        }
    }
}

impl From<crate::model::grant::GrantError> for ApiError {
    fn from(e: crate::model::grant::GrantError) -> Self {
        match e {
            crate::model::grant::GrantError::Never(_)
            | crate::model::grant::GrantError::Unknown(_)
            | crate::model::grant::GrantError::TooMany(_) => ApiError::bad_request(e.to_string()),
            _ => ApiError::forbidden(e.to_string()),
        }
    }
}

impl From<crate::model::text::TextError> for ApiError {
    fn from(e: crate::model::text::TextError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<crate::model::tenant::TenantError> for ApiError {
    fn from(e: crate::model::tenant::TenantError) -> Self {
        use crate::model::tenant::TenantError;
        match e {
            TenantError::NotFound => ApiError::not_found(e.to_string()),
            TenantError::BadId(_) => ApiError::bad_request(e.to_string()),
            TenantError::Exists => ApiError::conflict(e.to_string()),
            TenantError::Invalid(m) => ApiError::bad_request(m),
            TenantError::Text(e) => e.into(),
            TenantError::Json(e) => e.into(),
            TenantError::Store(s) => s.into(),
        }
    }
}

impl From<crate::model::setting::SettingError> for ApiError {
    fn from(e: crate::model::setting::SettingError) -> Self {
        use crate::model::setting::SettingError;
        match e {
            SettingError::Missing(_) => ApiError::not_found(e.to_string()),
            SettingError::Exists(_) => ApiError::conflict(e.to_string()),
            SettingError::Invalid(m) => ApiError::bad_request(m),
            SettingError::Store(s) => s.into(),
        }
    }
}

impl From<crate::model::vendor_config::ConfigError> for ApiError {
    fn from(e: crate::model::vendor_config::ConfigError) -> Self {
        use crate::model::vendor_config::ConfigError;
        match e {
            ConfigError::Invalid(m) => ApiError::bad_request(m),
            ConfigError::Store(s) => s.into(),
        }
    }
}

impl From<crate::model::user::UserError> for ApiError {
    fn from(e: crate::model::user::UserError) -> Self {
        use crate::model::user::UserError;
        match e {
            UserError::NotFound => ApiError::not_found(e.to_string()),
            UserError::EmailTaken | UserError::UsernameTaken => ApiError::conflict(e.to_string()),
            UserError::Invalid(m) => ApiError::bad_request(m),
            UserError::Conflict(m) => ApiError::conflict(m),
            UserError::Missing(_) => ApiError::not_found(e.to_string()),
            UserError::TooMany => ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
            UserError::Forbidden(m) => ApiError::forbidden(m),
            UserError::Text(e) => e.into(),
            UserError::Json(e) => e.into(),
            UserError::Grant(e) => e.into(),
            UserError::Password(e) => e.into(),
            UserError::Setting(e) => e.into(),
            UserError::Tenant(e) => e.into(),
            UserError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::restrictions::RestrictionError> for ApiError {
    fn from(e: crate::model::restrictions::RestrictionError) -> Self {
        use crate::model::restrictions::RestrictionError;
        match e {
            RestrictionError::NotFound(_) => ApiError::not_found(e.to_string()),
            RestrictionError::Invalid(m) => ApiError::bad_request(m),
            RestrictionError::Duplicate | RestrictionError::WouldLockOut(_) => {
                ApiError::conflict(e.to_string())
            }
            RestrictionError::Text(e) => e.into(),
            RestrictionError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::rbac::RbacError> for ApiError {
    fn from(e: crate::model::rbac::RbacError) -> Self {
        use crate::model::rbac::RbacError;
        match e {
            RbacError::NotFound(_) => ApiError::not_found(e.to_string()),
            RbacError::Conflict(m) => ApiError::conflict(m),
            RbacError::Invalid(m) => ApiError::bad_request(m),
            RbacError::Forbidden(m) => ApiError::forbidden(m),
            RbacError::Text(e) => e.into(),
            RbacError::Tenant(e) => e.into(),
            RbacError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::group::GroupError> for ApiError {
    fn from(e: crate::model::group::GroupError) -> Self {
        use crate::model::group::GroupError;
        match e {
            GroupError::NotFound => ApiError::not_found(e.to_string()),
            GroupError::NameTaken | GroupError::Changed => ApiError::conflict(e.to_string()),
            GroupError::Disabled(_) => ApiError::forbidden(e.to_string()),
            GroupError::Invalid(m) => ApiError::bad_request(m),
            GroupError::Grant(e) => e.into(),
            GroupError::Json(e) => e.into(),
            GroupError::Tenant(e) => e.into(),
            GroupError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::m2m::M2mError> for ApiError {
    fn from(e: crate::model::m2m::M2mError) -> Self {
        use crate::model::m2m::M2mError;
        match e {
            M2mError::NotFound(_) => ApiError::not_found(e.to_string()),
            M2mError::Disabled => ApiError::forbidden(e.to_string()),
            M2mError::Refused => ApiError::unauthorized(e.to_string()),
            M2mError::Invalid(m) => ApiError::bad_request(m),
            M2mError::Grant(e) => e.into(),
            M2mError::Text(e) => e.into(),
            M2mError::Json(e) => e.into(),
            M2mError::Tenant(e) => e.into(),
            M2mError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::login::LoginError> for ApiError {
    fn from(e: crate::model::login::LoginError) -> Self {
        use crate::model::login::LoginError;
        match e {
            LoginError::BadCredentials
            | LoginError::NotVerified
            | LoginError::NoAccount
            | LoginError::Refused => ApiError::unauthorized(e.to_string()),
            LoginError::BadLink(m) => ApiError::bad_request(m),
            LoginError::Invalid(m) => ApiError::bad_request(m),
            LoginError::Password(e) => e.into(),
            LoginError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::mfa::MfaError> for ApiError {
    fn from(e: crate::model::mfa::MfaError) -> Self {
        use crate::model::mfa::MfaError;
        match e {
            MfaError::BadChallenge => ApiError::unauthorized(e.to_string()),
            MfaError::NoDevice => ApiError::not_found(e.to_string()),
            MfaError::TooManySends => ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string()),
            MfaError::WrongCode
            | MfaError::Locked
            | MfaError::BadCodeToken
            | MfaError::NotEnrolled
            | MfaError::Enforced => ApiError::bad_request(e.to_string()),
            MfaError::Invalid(m) => ApiError::bad_request(m),
            MfaError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::invitation::InviteError> for ApiError {
    fn from(e: crate::model::invitation::InviteError) -> Self {
        use crate::model::invitation::InviteError;
        match e {
            InviteError::NotFound => ApiError::not_found(e.to_string()),
            InviteError::Expired | InviteError::WrongCode => ApiError::bad_request(e.to_string()),
            InviteError::Disabled => ApiError::forbidden(e.to_string()),
            InviteError::Invalid(m) => ApiError::bad_request(m),
            InviteError::Tenant(e) => e.into(),
            InviteError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::passwordless::PasswordlessError> for ApiError {
    fn from(e: crate::model::passwordless::PasswordlessError) -> Self {
        use crate::model::passwordless::PasswordlessError;
        match e {
            PasswordlessError::Store(e) => e.into(),
            PasswordlessError::Bad(m) => ApiError::bad_request(m),
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

impl From<crate::model::template::TemplateError> for ApiError {
    fn from(e: crate::model::template::TemplateError) -> Self {
        use crate::model::template::TemplateError;
        match e {
            TemplateError::UnknownType(_) | TemplateError::Invalid(_) => {
                ApiError::bad_request(e.to_string())
            }
            TemplateError::NotFound => ApiError::not_found(e.to_string()),
            TemplateError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::jwt_template::JwtTemplateError> for ApiError {
    fn from(e: crate::model::jwt_template::JwtTemplateError) -> Self {
        use crate::model::jwt_template::JwtTemplateError;
        match e {
            JwtTemplateError::Invalid(m) => ApiError::bad_request(m),
            JwtTemplateError::NotFound(_) => ApiError::not_found(e.to_string()),
            JwtTemplateError::Conflict(m) => ApiError::conflict(m),
            JwtTemplateError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::captcha::CaptchaError> for ApiError {
    fn from(e: crate::model::captcha::CaptchaError) -> Self {
        use crate::model::captcha::CaptchaError;
        match e {
            CaptchaError::Invalid(m) => ApiError::bad_request(m),
            CaptchaError::NotFound => ApiError::not_found(e.to_string()),
            CaptchaError::Exists => ApiError::conflict(e.to_string()),
            CaptchaError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::application::AppError> for ApiError {
    fn from(e: crate::model::application::AppError) -> Self {
        use crate::model::application::AppError;
        match e {
            AppError::Invalid(_) | AppError::NotMember(_) => ApiError::bad_request(e.to_string()),
            AppError::NotAssigned => ApiError::forbidden(e.to_string()),
            AppError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::oauth::OAuthError> for ApiError {
    fn from(e: crate::model::oauth::OAuthError) -> Self {
        use crate::model::oauth::OAuthError;
        match e {
            OAuthError::Invalid(m) => ApiError::bad_request(m),
            OAuthError::BadCode => ApiError::bad_request(e.to_string()),
            OAuthError::NotFound => ApiError::not_found(e.to_string()),
            OAuthError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::social::SocialError> for ApiError {
    fn from(e: crate::model::social::SocialError) -> Self {
        use crate::model::social::SocialError;
        match e {
            SocialError::Invalid(m) => ApiError::bad_request(m),
            SocialError::NoEmail => ApiError::bad_request(e.to_string()),
            SocialError::NotFound => ApiError::not_found(e.to_string()),
            SocialError::Unverified => ApiError::conflict(e.to_string()),
            SocialError::Closed | SocialError::Locked => ApiError::forbidden(e.to_string()),
            SocialError::Store(e) => e.into(),
            SocialError::User(e) => e.into(),
            SocialError::Password(e) => e.into(),
        }
    }
}

impl From<crate::upstream::UpstreamError> for ApiError {
    /// The other system refused (401: the sign-in failed) or failed (502; the cause is
    /// logged, the person sees a generic message).
    fn from(e: crate::upstream::UpstreamError) -> Self {
        use crate::upstream::UpstreamError;
        match e {
            UpstreamError::Refused(m) => {
                tracing::info!(reason = %m, "another identity system refused a sign-in");
                ApiError::unauthorized("The identity provider refused the sign-in")
            }
            UpstreamError::Unavailable(m) => ApiError {
                status: StatusCode::BAD_GATEWAY,
                message: "The identity provider could not be reached".into(),
                internal: Some(m),
            },
        }
    }
}

impl From<crate::model::approval::ApprovalError> for ApiError {
    fn from(e: crate::model::approval::ApprovalError) -> Self {
        use crate::model::approval::ApprovalError;
        match e {
            ApprovalError::Invalid(m) => ApiError::bad_request(m),
            ApprovalError::NotFound(_) => ApiError::not_found(e.to_string()),
            ApprovalError::Conflict(m) => ApiError::conflict(m),
            ApprovalError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::provider::ProviderError> for ApiError {
    fn from(e: crate::model::provider::ProviderError) -> Self {
        use crate::model::provider::ProviderError;
        match e {
            ProviderError::Invalid(m) => ApiError::bad_request(m),
            ProviderError::NotFound => ApiError::not_found(e.to_string()),
            ProviderError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::signup::SignupError> for ApiError {
    fn from(e: crate::model::signup::SignupError) -> Self {
        use crate::model::signup::SignupError;
        match e {
            SignupError::Closed => ApiError::forbidden(e.to_string()),
            SignupError::UsernameTaken | SignupError::AlreadyActive => {
                ApiError::conflict(e.to_string())
            }
            SignupError::BadToken | SignupError::WrongCode | SignupError::NeedsPassword => {
                ApiError::bad_request(e.to_string())
            }
            SignupError::NotFound => ApiError::not_found(e.to_string()),
            SignupError::Invalid(m) => ApiError::bad_request(m),
            SignupError::Text(e) => e.into(),
            SignupError::Json(e) => e.into(),
            SignupError::Setting(e) => e.into(),
            SignupError::Password(e) => e.into(),
            SignupError::Store(e) => e.into(),
        }
    }
}

impl From<crate::model::credentials::CredentialError> for ApiError {
    fn from(e: crate::model::credentials::CredentialError) -> Self {
        use crate::model::credentials::CredentialError;
        match e {
            CredentialError::WrongPassword | CredentialError::Reused => {
                ApiError::bad_request(e.to_string())
            }
            CredentialError::BadLink(m) => ApiError::bad_request(m),
            CredentialError::NotFound => ApiError::not_found(e.to_string()),
            CredentialError::Invalid(m) => ApiError::bad_request(m),
            CredentialError::Setting(e) => e.into(),
            CredentialError::Password(e) => e.into(),
            CredentialError::Login(e) => e.into(),
            CredentialError::Store(e) => e.into(),
        }
    }
}

/// The cause of a 5xx, attached to the response for the logging middleware.
#[derive(Clone, Debug)]
pub struct InternalCause(pub String);

impl ApiError {
    /// An error with an explicit status; the code follows from the status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            internal: None,
        }
    }

    /// 400: the input is invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// 401: no valid credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    /// 403: authenticated, not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    /// 404: no such resource (or not visible to the caller).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    /// 409: conflicts with existing state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    /// 501: a spec operation Tessera does not implement yet.
    pub fn not_implemented(operation_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("not implemented: {operation_id}"),
        )
    }
    /// 503: too busy to take this request now (shed rather than queued); `Retry-After` says
    /// when to come back.
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 500 with a generic message; `cause` is logged only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "internal error".into(),
            internal: Some(cause.to_string()),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The stable error code for a status.
    pub fn code(&self) -> &'static str {
        code_for(self.status)
    }
}

/// The stable `errorCode` of each status Tessera answers with.
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "ER-INVALID-INPUT",
        401 => "ER-UNAUTHORIZED",
        403 => "ER-FORBIDDEN",
        404 => "ER-NOT-FOUND",
        405 => "ER-METHOD-NOT-ALLOWED",
        408 => "ER-TIMEOUT",
        409 => "ER-CONFLICT",
        413 => "ER-PAYLOAD-TOO-LARGE",
        415 => "ER-UNSUPPORTED-MEDIA-TYPE",
        429 => "ER-RATE-LIMITED",
        431 => "ER-HEADERS-TOO-LARGE",
        501 => "ER-NOT-IMPLEMENTED",
        503 => "ER-UNAVAILABLE",
        s if s < 500 => "ER-BAD-REQUEST",
        _ => "ER-INTERNAL",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let body = ErrorBody::new(self.message, code);
        let mut res = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Unavailable is temporary here (shed load, a full disk): say when to retry.
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if let Some(cause) = self.internal {
            res.extensions_mut().insert(InternalCause(cause));
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // The write was not acknowledged (e.g. the disk is full); the client may retry.
            StoreError::Backend(_) | StoreError::Closed => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "storage is unavailable; the change was not saved".into(),
                internal: Some(e.to_string()),
            },
            StoreError::Conflict { .. } => ApiError {
                status: StatusCode::CONFLICT,
                message: "already exists".into(),
                internal: Some(e.to_string()),
            },
            StoreError::Decode { .. } => ApiError::internal(e),
        }
    }
}
