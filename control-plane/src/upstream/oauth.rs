//! The OAuth 2.0 authorization-code flow against another provider (RFC 6749 §4.1 with
//! PKCE, RFC 7636), through the `oauth2` crate; and, for providers with a discovery document,
//! OpenID Connect (discovery, the ID token's signature, issuer, audience, expiry and nonce)
//! through `openidconnect`. The state, the PKCE verifier and the nonce are made here and
//! kept by the caller for the browser that started the flow.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};

use super::{UpstreamError, json, unavailable};
use crate::model::social::Profile;

/// A provider as the flow needs it.
#[derive(Clone, Debug)]
pub struct Provider {
    /// Our client id there.
    pub client_id: String,
    /// Our client secret there.
    pub secret: String,
    /// Where the browser comes back.
    pub redirect_url: String,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// Whether to send a PKCE challenge.
    pub pkce: bool,
    /// Endpoints, given or discovered.
    pub endpoints: Endpoints,
}

/// Where the provider's endpoints come from.
#[derive(Clone, Debug)]
pub enum Endpoints {
    /// Configured: authorization, token and userinfo endpoints (plain OAuth 2.0: the person
    /// is who the userinfo endpoint says).
    Given {
        /// Authorization endpoint.
        authorization: String,
        /// Token endpoint.
        token: String,
        /// Userinfo endpoint.
        user_info: String,
    },
    /// An OpenID Connect provider's discovery document (`…/.well-known/openid-configuration`):
    /// the person is who the verified ID token says.
    Discovered(String),
}

/// A started flow: where to send the browser, and what to keep until it comes back.
#[derive(Clone, Debug)]
pub struct Started {
    /// The authorization request.
    pub url: String,
    /// `state`.
    pub state: String,
    /// The PKCE verifier, if a challenge was sent.
    pub verifier: Option<String>,
    /// The OIDC nonce, if any.
    pub nonce: Option<String>,
}

fn bad_config(e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unavailable(format!("the provider's configuration: {e}"))
}

fn issuer_of(wellknown: &str) -> Result<openidconnect::IssuerUrl, UpstreamError> {
    let issuer = wellknown
        .trim_end_matches('/')
        .trim_end_matches("/.well-known/openid-configuration");
    openidconnect::IssuerUrl::new(issuer.to_owned()).map_err(bad_config)
}

async fn discover(
    http: &reqwest::Client,
    wellknown: &str,
) -> Result<openidconnect::core::CoreProviderMetadata, UpstreamError> {
    let meta =
        openidconnect::core::CoreProviderMetadata::discover_async(issuer_of(wellknown)?, http)
            .await
            .map_err(|e| unavailable(format!("discovery at {wellknown}: {e}")))?;
    // What the document names is held to the rule configured endpoints are: `https`, or
    // `http` on loopback; no credentials (a code or a secret is never sent in clear).
    let named = [
        Some(meta.authorization_endpoint().as_str()),
        meta.token_endpoint().map(|u| u.as_str()),
        meta.userinfo_endpoint().map(|u| u.as_str()),
        Some(meta.jwks_uri().as_str()),
    ];
    for url in named.into_iter().flatten() {
        crate::model::social::check_endpoint("a discovered endpoint", url)
            .map_err(|e| unavailable(format!("discovery at {wellknown}: {e}")))?;
    }
    Ok(meta)
}

/// Begin: the authorization request for a browser.
pub async fn start(http: &reqwest::Client, p: &Provider) -> Result<Started, UpstreamError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let redirect = RedirectUrl::new(p.redirect_url.clone()).map_err(bad_config)?;
    let scopes = p.scopes.iter().map(|s| Scope::new(s.clone()));
    let (url, state, nonce) = match &p.endpoints {
        Endpoints::Given { authorization, .. } => {
            let client = BasicClient::new(ClientId::new(p.client_id.clone()))
                .set_auth_uri(AuthUrl::new(authorization.clone()).map_err(bad_config)?)
                .set_redirect_uri(redirect);
            let mut req = client
                .authorize_url(CsrfToken::new_random)
                .add_scopes(scopes);
            if p.pkce {
                req = req.set_pkce_challenge(challenge);
            }
            let (url, state) = req.url();
            (url, state, None)
        }
        Endpoints::Discovered(wellknown) => {
            use openidconnect::core::{CoreClient, CoreResponseType};
            let meta = discover(http, wellknown).await?;
            let client = CoreClient::from_provider_metadata(
                meta,
                openidconnect::ClientId::new(p.client_id.clone()),
                None,
            )
            .set_redirect_uri(redirect);
            let mut req = client
                .authorize_url(
                    openidconnect::AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                    CsrfToken::new_random,
                    openidconnect::Nonce::new_random,
                )
                .add_scopes(scopes);
            if p.pkce {
                req = req.set_pkce_challenge(challenge);
            }
            let (url, state, nonce) = req.url();
            (url, state, Some(nonce.secret().clone()))
        }
    };
    Ok(Started {
        url: url.to_string(),
        state: state.secret().clone(),
        verifier: p.pkce.then(|| verifier.secret().clone()),
        nonce,
    })
}

fn token_error<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    e: oauth2::RequestTokenError<RE, T>,
) -> UpstreamError {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => {
            UpstreamError::Refused(format!("the provider refused the code: {r}"))
        }
        other => unavailable(format!("the provider's token endpoint: {other}")),
    }
}

/// Finish: exchange the code (with the verifier kept since [`start`]) and learn who signed
/// in — from the userinfo endpoint, or from the verified ID token (with the kept nonce).
pub async fn finish(
    http: &reqwest::Client,
    p: &Provider,
    code: &str,
    verifier: Option<&str>,
    nonce: Option<&str>,
) -> Result<Profile, UpstreamError> {
    let redirect = RedirectUrl::new(p.redirect_url.clone()).map_err(bad_config)?;
    let code = AuthorizationCode::new(code.to_owned());
    let verifier = verifier.map(|v| PkceCodeVerifier::new(v.to_owned()));
    match &p.endpoints {
        Endpoints::Given {
            authorization,
            token,
            user_info,
        } => {
            let client = BasicClient::new(ClientId::new(p.client_id.clone()))
                .set_client_secret(ClientSecret::new(p.secret.clone()))
                .set_auth_type(AuthType::RequestBody)
                .set_auth_uri(AuthUrl::new(authorization.clone()).map_err(bad_config)?)
                .set_token_uri(TokenUrl::new(token.clone()).map_err(bad_config)?)
                .set_redirect_uri(redirect);
            let mut req = client.exchange_code(code);
            if let Some(v) = verifier {
                req = req.set_pkce_verifier(v);
            }
            let tokens = req.request_async(http).await.map_err(token_error)?;
            let (status, info) = json(
                http.get(user_info)
                    .bearer_auth(tokens.access_token().secret())
                    .header("accept", "application/json")
                    .send()
                    .await,
            )
            .await?;
            if status != 200 {
                return Err(UpstreamError::Refused(format!(
                    "the provider's userinfo answered {status}"
                )));
            }
            Profile::from_claims(&info)
                .ok_or_else(|| unavailable("the provider's userinfo names no subject"))
        }
        Endpoints::Discovered(wellknown) => {
            use openidconnect::core::CoreClient;
            let meta = discover(http, wellknown).await?;
            let client = CoreClient::from_provider_metadata(
                meta,
                openidconnect::ClientId::new(p.client_id.clone()),
                Some(openidconnect::ClientSecret::new(p.secret.clone())),
            )
            .set_auth_type(openidconnect::AuthType::RequestBody)
            .set_redirect_uri(redirect);
            let mut req = client.exchange_code(code).map_err(bad_config)?;
            if let Some(v) = verifier {
                req = req.set_pkce_verifier(v);
            }
            let tokens = req.request_async(http).await.map_err(token_error)?;
            let id_token = openidconnect::TokenResponse::id_token(&tokens)
                .ok_or_else(|| unavailable("the provider sent no ID token"))?;
            let nonce = openidconnect::Nonce::new(nonce.unwrap_or_default().to_owned());
            let claims = id_token
                .claims(&client.id_token_verifier(), &nonce)
                .map_err(|e| {
                    UpstreamError::Refused(format!("the ID token does not verify: {e}"))
                })?;
            Ok(Profile {
                subject: claims.subject().to_string(),
                email: claims.email().map(|e| e.to_string()),
                email_verified: claims.email_verified() == Some(true),
                name: claims
                    .name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.to_string()),
                picture: claims
                    .picture()
                    .and_then(|n| n.get(None))
                    .map(|n| n.to_string()),
                claims: serde_json::to_value(claims.additional_claims()).unwrap_or_default(),
            })
        }
    }
}
