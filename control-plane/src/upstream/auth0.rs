//! Auth0 (`https://{domain}`): a person's password checked with the Resource Owner Password
//! grant (`POST /oauth/token`, `grant_type=password`) and their profile read from
//! `/userinfo` (user pools); and a tenant's users listed through the Management API v2
//! (`GET /api/v2/users`, with a client-credentials token for `https://{domain}/api/v2/`) for
//! the Auth0 import.

use serde_json::{Value, json as body};

use super::{UpstreamError, json, text};
use crate::model::social::Profile;

/// An Auth0 application's credentials.
#[derive(Clone, Debug)]
pub struct Auth0<'a> {
    /// `https://{domain}` (a loopback stand-in in tests).
    pub base: &'a str,
    /// The tenant's domain (the Management API's audience).
    pub domain: &'a str,
    /// Client id.
    pub client_id: &'a str,
    /// Client secret.
    pub secret: &'a str,
}

/// The person `email` is at Auth0 if `password` is theirs; `None` when Auth0 refuses it.
pub async fn password_login(
    http: &reqwest::Client,
    a: &Auth0<'_>,
    email: &str,
    password: &str,
) -> Result<Option<Profile>, UpstreamError> {
    let (status, tokens) = json(
        http.post(format!("{}/oauth/token", a.base))
            .json(&body!({
                "grant_type": "password", "username": email, "password": password,
                "client_id": a.client_id, "client_secret": a.secret,
                "scope": "openid profile email",
            }))
            .send()
            .await,
    )
    .await?;
    if status == 401 || status == 403 || status == 400 {
        return Ok(None);
    }
    let access = text(&tokens, "access_token")
        .filter(|_| status == 200)
        .ok_or_else(|| UpstreamError::Unavailable(format!("Auth0 answered {status}")))?;
    let (status, info) = json(
        http.get(format!("{}/userinfo", a.base))
            .bearer_auth(access)
            .send()
            .await,
    )
    .await?;
    if status != 200 {
        return Err(UpstreamError::Unavailable(format!(
            "Auth0's userinfo answered {status}"
        )));
    }
    Ok(Profile::from_claims(&info))
}

/// Up to `max` users of the Auth0 tenant, as its Management API lists them.
pub async fn users(
    http: &reqwest::Client,
    a: &Auth0<'_>,
    max: usize,
) -> Result<Vec<Value>, UpstreamError> {
    let (status, tokens) = json(
        http.post(format!("{}/oauth/token", a.base))
            .json(&body!({
                "grant_type": "client_credentials",
                "client_id": a.client_id, "client_secret": a.secret,
                "audience": format!("https://{}/api/v2/", a.domain),
            }))
            .send()
            .await,
    )
    .await?;
    let access = text(&tokens, "access_token")
        .filter(|_| status == 200)
        .ok_or_else(|| {
            UpstreamError::Refused(format!(
                "Auth0 refused the application's credentials ({status})"
            ))
        })?;
    let mut out = Vec::new();
    for page in 0.. {
        let (status, list) = json(
            http.get(format!("{}/api/v2/users", a.base))
                .query(&[("page", page.to_string()), ("per_page", "100".into())])
                .bearer_auth(&access)
                .send()
                .await,
        )
        .await?;
        if status != 200 {
            return Err(UpstreamError::Refused(format!(
                "Auth0's user list answered {status}"
            )));
        }
        let Some(list) = list.as_array().filter(|l| !l.is_empty()) else {
            break;
        };
        let last = list.len() < 100;
        out.extend(list.iter().cloned());
        if last || out.len() >= max {
            break;
        }
    }
    out.truncate(max);
    Ok(out)
}
