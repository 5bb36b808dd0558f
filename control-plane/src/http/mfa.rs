//! What the MFA routes of two areas share (the login's second factors in `api::auth`, the
//! self-service routes in `api::users`): the device list every reply carries, the WebAuthn
//! ceremony for the request's origin, and the one way a counted failure is answered.

use axum::http::HeaderMap;
use serde::Serialize;

use crate::error::ApiError;
use crate::http::AppState;
use crate::model::mfa::{self, MfaError, policy};

/// The error of a counted MFA step: a wrong code that locked the user (the unlock link is
/// queued, as a password lock does) is logged; the reply is a wrong code's either way.
pub(crate) fn failed(e: MfaError) -> ApiError {
    if let MfaError::Locked = &e {
        tracing::warn!("account locked after repeated wrong MFA codes");
    }
    e.into()
}

/// `UserMFADevicesResponse`: all four arrays, always.
#[derive(Serialize, Default)]
pub(crate) struct Devices {
    webauthn: Vec<WebAuthnDevice>,
    phones: Vec<PhoneDevice>,
    authenticators: Vec<AppDevice>,
    emails: Vec<EmailDevice>,
}

impl Devices {
    /// Whether a code can be mailed (the user's address is among the factors).
    pub(crate) fn has_email(&self) -> bool {
        !self.emails.is_empty()
    }

    /// Whether an authenticator app is enrolled.
    pub(crate) fn has_app(&self) -> bool {
        !self.authenticators.is_empty()
    }

    /// The first enrolled security key's id, if any.
    pub(crate) fn first_webauthn(&self) -> Option<String> {
        self.webauthn.first().map(|d| d.id.clone())
    }

    /// The first enrolled phone's id and its number as shown (masked), if any.
    pub(crate) fn first_phone(&self) -> Option<(String, String)> {
        self.phones
            .first()
            .map(|p| (p.id.clone(), p.phone_number.clone()))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhoneDevice {
    id: String,
    phone_number: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebAuthnDevice {
    id: String,
    device_type: mfa::DeviceType,
    name: String,
}

#[derive(Serialize)]
struct AppDevice {
    id: String,
}

#[derive(Serialize)]
struct EmailDevice {
    email: String,
}

impl Devices {
    /// A user's devices; phones masked before the second factor (`masked`).
    pub(crate) fn of(
        m: &mfa::UserMfa,
        config: &policy::MfaConfig,
        email: &str,
        masked: bool,
    ) -> Self {
        Devices {
            webauthn: m
                .webauthn
                .iter()
                .map(|d| WebAuthnDevice {
                    id: d.id.clone(),
                    device_type: d.device_type,
                    name: d.name.clone(),
                })
                .collect(),
            phones: m
                .phones
                .iter()
                .map(|p| PhoneDevice {
                    id: p.id.clone(),
                    phone_number: if masked {
                        mfa::mask_phone(&p.phone_number)
                    } else {
                        p.phone_number.clone()
                    },
                })
                .collect(),
            authenticators: m
                .authenticators
                .iter()
                .map(|a| AppDevice { id: a.id.clone() })
                .collect(),
            emails: if config.email && !email.is_empty() {
                vec![EmailDevice {
                    email: email.to_owned(),
                }]
            } else {
                Vec::new()
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CeremonyReply {
    webauthn_token: String,
    options: serde_json::Value,
}

impl CeremonyReply {
    /// The ceremony's token and the options the browser passes to `navigator.credentials`.
    pub(crate) fn into_parts(self) -> (String, serde_json::Value) {
        (self.webauthn_token, self.options)
    }
}

/// Start a WebAuthn ceremony (login or self-service) for the request's origin.
pub(crate) async fn ceremony(
    state: &AppState,
    headers: &HeaderMap,
    scope: mfa::Scope<'_>,
    purpose: mfa::Purpose,
) -> Result<CeremonyReply, ApiError> {
    let rp_id = crate::http::cors::rp_id(state, headers);
    let name = policy::config(&state.db)?.service_name;
    let rp = mfa::Rp {
        name: &name,
        id: &rp_id,
    };
    let (webauthn_token, options) =
        mfa::webauthn_begin(&state.db, &state.clock, scope, purpose, rp).await?;
    Ok(CeremonyReply {
        webauthn_token,
        options,
    })
}

/// Finish a WebAuthn ceremony with the browser's credential.
pub(crate) async fn finish_ceremony(
    state: &AppState,
    scope: mfa::Scope<'_>,
    token: &str,
    credential: &serde_json::Value,
    device_type: Option<mfa::DeviceType>,
    device: Option<&str>,
) -> Result<mfa::Finished, ApiError> {
    // The login box's origins, and the hosted pages' own (the public URL).
    let own = crate::config::normalize_origin(&state.public_url);
    let origin_ok = |o: &str| {
        crate::http::cors::origin_allowed(state, o)
            || own
                .as_deref()
                .is_some_and(|own| crate::config::normalize_origin(o).as_deref() == Some(own))
    };
    Ok(mfa::webauthn_finish(
        &state.db,
        &state.clock,
        scope,
        mfa::Answer {
            token,
            credential,
            device_type,
            device,
        },
        &origin_ok,
    )
    .await?)
}
