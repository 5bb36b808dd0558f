//! Access-token claims as Tessera issues them and sidecars read them (`compat.md` §1.3).
//! Unknown claims are ignored; a duplicated claim name makes the token invalid.

use serde::{Deserialize, Serialize};

/// What a token is, its `type` claim: how it is presented (Bearer, or `x-api-key`) and what
/// revokes it follow from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TokenType {
    /// A user's login token (Bearer).
    UserToken,
    /// A user's client-credentials API token's JWT (Bearer).
    UserApiToken,
    /// An account's client-credentials API token's JWT (Bearer).
    TenantApiToken,
    /// A user's access token (`x-api-key`).
    UserAccessToken,
    /// An account's access token (`x-api-key`).
    TenantAccessToken,
    /// A type Tessera does not issue: accepted nowhere.
    #[serde(other)]
    Unknown,
}

impl TokenType {
    /// Every type Tessera issues.
    pub const ISSUED: [TokenType; 5] = [
        TokenType::UserToken,
        TokenType::UserApiToken,
        TokenType::TenantApiToken,
        TokenType::UserAccessToken,
        TokenType::TenantAccessToken,
    ];

    /// The claim's text.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenType::UserToken => "userToken",
            TokenType::UserApiToken => "userApiToken",
            TokenType::TenantApiToken => "tenantApiToken",
            TokenType::UserAccessToken => "userAccessToken",
            TokenType::TenantAccessToken => "tenantAccessToken",
            TokenType::Unknown => "unknown",
        }
    }

    /// The issued type named `s`.
    pub fn parse(s: &str) -> Option<TokenType> {
        TokenType::ISSUED.into_iter().find(|t| t.as_str() == s)
    }

    /// Presented as `Authorization: Bearer`.
    pub const fn is_bearer(self) -> bool {
        matches!(
            self,
            TokenType::UserToken | TokenType::UserApiToken | TokenType::TenantApiToken
        )
    }

    /// Presented as `x-api-key`, honoured while the control plane lists it active.
    pub const fn is_access_token(self) -> bool {
        matches!(
            self,
            TokenType::UserAccessToken | TokenType::TenantAccessToken
        )
    }

    /// An API token's JWT: revoked by its client id (`sub`).
    pub const fn is_api_token(self) -> bool {
        matches!(self, TokenType::UserApiToken | TokenType::TenantApiToken)
    }
}

impl std::fmt::Display for TokenType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id (user tokens); the clientId (API tokens); the token id (access tokens).
    pub sub: String,
    /// What the token is.
    #[serde(rename = "type")]
    pub token_type: TokenType,
    /// The active account.
    #[serde(rename = "tenantId")]
    pub tenant_id: String,
    /// Every account of the user (user tokens); empty otherwise.
    #[serde(rename = "tenantIds", default, skip_serializing_if = "Vec::is_empty")]
    pub tenant_ids: Vec<String>,
    /// Role keys (empty when the environment leaves roles out of tokens).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Permission keys (empty when the environment leaves permissions out of tokens).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Application id; the environment's client id (Python's FastAPI guard requires it).
    #[serde(rename = "applicationId")]
    pub application_id: String,
    /// Issuer: the control plane's public URL.
    pub iss: String,
    /// Audience: the environment's client id.
    pub aud: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch; `None` only for access tokens that never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Session id (user tokens): revoking the session revokes the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The user id (user tokens, user access tokens).
    #[serde(rename = "userId", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Email (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email is verified (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Display name (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Avatar URL (user tokens).
    #[serde(
        rename = "profilePictureUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_picture_url: Option<String>,
    /// The user's metadata, as a JSON object (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Super-user flag, when set.
    #[serde(rename = "superUser", default, skip_serializing_if = "Option::is_none")]
    pub super_user: Option<bool>,
    /// Authentication context class (step-up, `compat.md` §2.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods (step-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// When the user authenticated, Unix seconds (step-up `max_age`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Token id, when the token has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The actor of a delegated token (RFC 8693 §4.1): `{sub, type, act?}`, the current actor
    /// outermost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
}

impl AccessClaims {
    /// Every name an access token's claims may carry (the fields above as serialized):
    /// what nothing else may set in a token (JWT templates add claims under other names).
    pub const NAMES: &'static [&'static str] = &[
        "sub",
        "type",
        "tenantId",
        "tenantIds",
        "roles",
        "permissions",
        "applicationId",
        "iss",
        "aud",
        "iat",
        "exp",
        "sid",
        "userId",
        "email",
        "email_verified",
        "name",
        "profilePictureUrl",
        "metadata",
        "superUser",
        "acr",
        "amr",
        "auth_time",
        "jti",
        "nbf",
        "act",
    ];
}

/// The `acr` value of a stepped-up (multi-factor) authentication (`compat.md` §2.5).
pub const STEP_UP_ACR: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_claims_are_refused_and_unknown_ignored() {
        let ok = r#"{"sub":"u","type":"userToken","tenantId":"t","applicationId":"a","iss":"i","aud":"a","iat":1,"exp":2,"x":1}"#;
        let c: AccessClaims = serde_json::from_str(ok).unwrap();
        assert_eq!((c.sub.as_str(), c.exp), ("u", Some(2)));
        let dup = r#"{"sub":"u","sub":"v","type":"userToken","tenantId":"t","applicationId":"a","iss":"i","aud":"a","iat":1}"#;
        assert!(serde_json::from_str::<AccessClaims>(dup).is_err());
        let string_exp = r#"{"sub":"u","type":"userToken","tenantId":"t","applicationId":"a","iss":"i","aud":"a","iat":1,"exp":"never"}"#;
        assert!(serde_json::from_str::<AccessClaims>(string_exp).is_err());
    }

    #[test]
    fn names_are_exactly_the_serialized_fields() {
        let full = AccessClaims {
            sub: "u".into(),
            token_type: TokenType::UserToken,
            tenant_id: "t".into(),
            tenant_ids: vec!["t".into()],
            roles: vec![],
            permissions: vec![],
            application_id: "a".into(),
            iss: "i".into(),
            aud: "a".into(),
            iat: 1,
            exp: Some(2),
            sid: Some("s".into()),
            user_id: Some("u".into()),
            email: Some("e".into()),
            email_verified: Some(true),
            name: Some("n".into()),
            profile_picture_url: Some("p".into()),
            metadata: Some(Default::default()),
            super_user: Some(true),
            acr: Some("a".into()),
            amr: Some(vec![]),
            auth_time: Some(1),
            jti: Some("j".into()),
            nbf: Some(1),
            act: Some(serde_json::json!({"sub": "a"})),
        };
        let v = serde_json::to_value(&full).unwrap();
        let mut got: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = AccessClaims::NAMES.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
    }

    #[test]
    fn token_types_read_as_issued_and_anything_else_is_unknown() {
        for t in TokenType::ISSUED {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<TokenType>(&json).unwrap(), t);
            assert_eq!(TokenType::parse(t.as_str()), Some(t));
            // Exactly one way to present it.
            assert!(t.is_bearer() != t.is_access_token(), "{t}");
        }
        for other in ["\"magic\"", "\"UserToken\"", "\"\""] {
            let t: TokenType = serde_json::from_str(other).unwrap();
            assert_eq!(t, TokenType::Unknown);
            assert!(!t.is_bearer() && !t.is_access_token() && !t.is_api_token());
        }
        assert_eq!(TokenType::parse("unknown"), None);
    }
}
