//! Firebase Authentication (the Identity Toolkit REST API,
//! `https://identitytoolkit.googleapis.com/v1`): a person's password checked with
//! `accounts:signInWithPassword` and their profile read with `accounts:lookup`, both with the
//! project's web API key.

use serde_json::json as body;

use super::{UpstreamError, json, text};
use crate::model::social::Profile;

/// A Firebase project.
#[derive(Clone, Debug)]
pub struct Firebase<'a> {
    /// The API base (a loopback stand-in in tests).
    pub base: &'a str,
    /// The web API key.
    pub api_key: &'a str,
}

/// The person `email` is in the project if `password` is theirs; `None` when Firebase
/// refuses it.
pub async fn password_login(
    http: &reqwest::Client,
    f: &Firebase<'_>,
    email: &str,
    password: &str,
) -> Result<Option<Profile>, UpstreamError> {
    let (status, reply) = json(
        http.post(format!("{}/v1/accounts:signInWithPassword", f.base))
            .query(&[("key", f.api_key)])
            .json(&body!({"email": email, "password": password, "returnSecureToken": true}))
            .send()
            .await,
    )
    .await?;
    if status == 400 {
        let why = reply
            .pointer("/error/message")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        if why.starts_with("INVALID_PASSWORD")
            || why.starts_with("EMAIL_NOT_FOUND")
            || why.starts_with("INVALID_LOGIN_CREDENTIALS")
            || why.starts_with("USER_DISABLED")
        {
            return Ok(None);
        }
        return Err(UpstreamError::Refused(format!("Firebase: {why}")));
    }
    let id_token = text(&reply, "idToken")
        .filter(|_| status == 200)
        .ok_or_else(|| UpstreamError::Unavailable(format!("Firebase answered {status}")))?;
    let (status, found) = json(
        http.post(format!("{}/v1/accounts:lookup", f.base))
            .query(&[("key", f.api_key)])
            .json(&body!({"idToken": id_token}))
            .send()
            .await,
    )
    .await?;
    let user = found
        .pointer("/users/0")
        .filter(|_| status == 200)
        .ok_or_else(|| {
            UpstreamError::Unavailable(format!("Firebase's lookup answered {status}"))
        })?;
    Ok(Some(Profile {
        subject: text(user, "localId")
            .ok_or_else(|| UpstreamError::Unavailable("Firebase's lookup names no user".into()))?,
        email: text(user, "email"),
        email_verified: user["emailVerified"].as_bool() == Some(true),
        name: text(user, "displayName"),
        picture: text(user, "photoUrl"),
        claims: user.clone(),
    }))
}
