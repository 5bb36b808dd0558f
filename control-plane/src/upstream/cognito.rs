//! Amazon Cognito user pools (`https://cognito-idp.{region}.amazonaws.com`, the JSON 1.1
//! protocol): a person's password checked with `InitiateAuth` (`USER_PASSWORD_AUTH`, with
//! `SECRET_HASH` when the app client has a secret) and their attributes read with `GetUser`.

use base64::Engine;
use serde_json::json as body;

use super::{UpstreamError, json, text};
use crate::model::social::Profile;

/// A Cognito app client.
#[derive(Clone, Debug)]
pub struct Cognito<'a> {
    /// The regional endpoint (a loopback stand-in in tests).
    pub base: &'a str,
    /// The app client id.
    pub client_id: &'a str,
    /// The app client secret, if it has one.
    pub client_secret: Option<&'a str>,
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    target: &str,
    payload: serde_json::Value,
) -> Result<(u16, serde_json::Value), UpstreamError> {
    json(
        http.post(base)
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                format!("AWSCognitoIdentityProviderService.{target}"),
            )
            .body(payload.to_string())
            .send()
            .await,
    )
    .await
}

/// `Base64(HMAC-SHA256(client secret, username ‖ client id))`.
pub fn secret_hash(secret: &str, username: &str, client_id: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{username}{client_id}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// The person `email` is in the pool if `password` is theirs; `None` when Cognito refuses
/// it (or asks for a challenge Tessera cannot answer for them).
pub async fn password_login(
    http: &reqwest::Client,
    c: &Cognito<'_>,
    email: &str,
    password: &str,
) -> Result<Option<Profile>, UpstreamError> {
    let mut params = body!({"USERNAME": email, "PASSWORD": password});
    if let Some(s) = c.client_secret {
        params["SECRET_HASH"] = body!(secret_hash(s, email, c.client_id));
    }
    let (status, reply) = call(
        http,
        c.base,
        "InitiateAuth",
        body!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": c.client_id, "AuthParameters": params}),
    )
    .await?;
    if status == 400 {
        let kind = text(&reply, "__type").unwrap_or_default();
        if kind.ends_with("NotAuthorizedException") || kind.ends_with("UserNotFoundException") {
            return Ok(None);
        }
        return Err(UpstreamError::Refused(format!("Cognito: {kind}")));
    }
    let Some(access) = reply
        .pointer("/AuthenticationResult/AccessToken")
        .and_then(|v| v.as_str())
        .filter(|_| status == 200)
    else {
        // A challenge (new password, MFA) or something else: not a sign-in here.
        return Ok(None);
    };
    let (status, user) = call(http, c.base, "GetUser", body!({"AccessToken": access})).await?;
    if status != 200 {
        return Err(UpstreamError::Unavailable(format!(
            "Cognito's GetUser answered {status}"
        )));
    }
    let mut claims = serde_json::Map::new();
    for a in user["UserAttributes"].as_array().into_iter().flatten() {
        if let (Some(n), Some(v)) = (a["Name"].as_str(), a["Value"].as_str()) {
            claims.insert(n.to_owned(), body!(v));
        }
    }
    Ok(Profile::from_claims(&serde_json::Value::Object(claims)))
}
