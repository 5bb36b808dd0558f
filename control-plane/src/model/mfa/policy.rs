//! When MFA applies and with what: the MFA policy (per account, the environment's as the
//! fallback, through `model::setting`) and the environment's MFA configuration (which
//! strategies are on, the issuer name authenticator apps show, code lifetimes).
//!
//! Invariants:
//! - The policy in force for a user is the strictest of the environment's and of every
//!   account the user belongs to (an account cannot loosen the environment's `Force`, and
//!   one account that forces MFA forces it everywhere); a device may be remembered only if
//!   every one of those policies allows it, for the shortest lifetime among them.
//! - The configuration is the one source of the strategy list: `authenticationApp.active`,
//!   `sms.active` and `email.active` are the `AuthenticatorApp`, `SMS` and `EmailCode`
//!   strategies, read and written as either.

use serde::{Deserialize, Serialize};

use super::Strategy;
use crate::model::setting::{self, ScopedSetting, SettingError};
use crate::store::{Db, Record, StoreError, Tree};

/// `enforceMFAType`, least strict first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Enforce {
    /// Only users who enrolled are asked.
    DontForce,
    /// Everyone, except logins through SAML/OIDC single sign-on.
    ForceExceptSAML,
    /// Everyone.
    Force,
}

/// A stored MFA policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaPolicy {
    /// UUID.
    pub id: String,
    /// The account, or `None` for the environment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Whether MFA is enforced.
    pub enforce_mfa_type: Enforce,
    /// Whether a device may be remembered.
    pub allow_remember_my_device: bool,
    /// How long a remembered device skips MFA, seconds.
    pub mfa_device_expiration: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for MfaPolicy {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        setting::key::<Self>(self.tenant_id.as_deref())
    }
}

/// A change to an MFA policy (`MfaPolicyRequest`); what a creation leaves out takes the
/// spec's defaults. Unknown fields (the portal echoes `id`, `createdAt`) are ignored.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyChange {
    /// `DontForce`, `Force` or `ForceExceptSAML`.
    #[serde(rename = "enforceMFAType")]
    pub enforce_mfa_type: Option<Enforce>,
    /// Whether devices may be remembered.
    pub allow_remember_my_device: Option<bool>,
    /// Seconds: one minute to one year.
    pub mfa_device_expiration: Option<i64>,
}

/// The spec's default remembered-device lifetime: 14 days.
pub const DEFAULT_DEVICE_EXPIRATION: u32 = 1_209_600;

impl ScopedSetting for MfaPolicy {
    const NAME: &'static str = "MFA policy";
    const PREFIX: &'static str = "mfa-policy";
    const DEFAULTED: bool = false;
    type Change = PolicyChange;

    fn scope(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
    fn initial(scope: Option<&str>, now: &str) -> Self {
        MfaPolicy {
            id: crate::crypto::new_uuid().to_string(),
            tenant_id: scope.map(str::to_owned),
            enforce_mfa_type: Enforce::Force,
            allow_remember_my_device: false,
            mfa_device_expiration: DEFAULT_DEVICE_EXPIRATION,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        }
    }
    fn rescoped(self, scope: Option<&str>, now: &str) -> Self {
        MfaPolicy {
            tenant_id: scope.map(str::to_owned),
            created_at: now.to_owned(),
            ..self
        }
    }
    fn apply(&mut self, c: &PolicyChange, now: &str) -> Result<(), SettingError> {
        if let Some(e) = c.mfa_device_expiration {
            self.mfa_device_expiration =
                setting::within("mfaDeviceExpiration", e, 60..=31_536_000, " seconds")?;
        }
        self.enforce_mfa_type = c.enforce_mfa_type.unwrap_or(self.enforce_mfa_type);
        self.allow_remember_my_device = c
            .allow_remember_my_device
            .unwrap_or(self.allow_remember_my_device);
        self.updated_at = now.to_owned();
        Ok(())
    }
}

/// What the policies in force ask of a user's logins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The strictest enforcement (`DontForce` when no policy exists anywhere).
    pub enforce: Enforce,
    /// How long a device may be remembered, seconds, if every policy allows it.
    pub remember: Option<u32>,
}

/// The requirement for a user who belongs to `tenants`.
pub fn requirement<'a>(
    db: &Db,
    tenants: impl IntoIterator<Item = &'a str>,
) -> Result<Requirement, StoreError> {
    let mut policies: Vec<MfaPolicy> = setting::own::<MfaPolicy>(db, None)?.into_iter().collect();
    for t in tenants {
        policies.extend(setting::own::<MfaPolicy>(db, Some(t))?);
    }
    if policies.is_empty() {
        return Ok(Requirement {
            enforce: Enforce::DontForce,
            remember: None,
        });
    }
    let enforce = policies
        .iter()
        .map(|p| p.enforce_mfa_type)
        .max()
        .unwrap_or(Enforce::DontForce);
    let remember = policies
        .iter()
        .all(|p| p.allow_remember_my_device)
        .then(|| policies.iter().map(|p| p.mfa_device_expiration).min())
        .flatten();
    Ok(Requirement { enforce, remember })
}

/// The environment's MFA configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaConfig {
    /// Authenticator apps (`AuthenticatorApp`).
    pub authenticator: bool,
    /// The issuer name authenticator apps show.
    pub service_name: String,
    /// SMS codes (`SMS`).
    pub sms: bool,
    /// SMS code lifetime, seconds (≥ 300).
    pub sms_ttl: u32,
    /// Email codes (`EmailCode`).
    pub email: bool,
    /// Email code lifetime, seconds (≥ 300).
    pub email_ttl: u32,
    /// The sender of email codes (informational: mail goes from the configured sender).
    pub email_sender: String,
    /// Platform authenticators (`WebAuthnPlatform`).
    pub webauthn_platform: bool,
    /// Security keys (`WebAuthnCrossPlatform`).
    pub webauthn_cross_platform: bool,
}

const CONFIG_KEY: &[u8] = b"mfa-config";

impl Record for MfaConfig {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        CONFIG_KEY.to_vec()
    }
}

impl Default for MfaConfig {
    fn default() -> Self {
        MfaConfig {
            authenticator: true,
            service_name: "Tessera".into(),
            sms: false,
            sms_ttl: 300,
            email: false,
            email_ttl: 300,
            email_sender: String::new(),
            webauthn_platform: false,
            webauthn_cross_platform: false,
        }
    }
}

impl MfaConfig {
    /// Whether `s` is on.
    pub fn active(&self, s: Strategy) -> bool {
        match s {
            Strategy::AuthenticatorApp => self.authenticator,
            Strategy::Sms => self.sms,
            Strategy::EmailCode => self.email,
            Strategy::WebAuthnPlatform => self.webauthn_platform,
            Strategy::WebAuthnCrossPlatform => self.webauthn_cross_platform,
        }
    }

    fn set(&mut self, s: Strategy, on: bool) {
        match s {
            Strategy::AuthenticatorApp => self.authenticator = on,
            Strategy::Sms => self.sms = on,
            Strategy::EmailCode => self.email = on,
            Strategy::WebAuthnPlatform => self.webauthn_platform = on,
            Strategy::WebAuthnCrossPlatform => self.webauthn_cross_platform = on,
        }
    }

    /// The strategies that are on, in the spec's order.
    pub fn strategies(&self) -> Vec<Strategy> {
        Strategy::ALL
            .into_iter()
            .filter(|s| self.active(*s))
            .collect()
    }
}

/// The configuration in force.
pub fn config(db: &Db) -> Result<MfaConfig, StoreError> {
    Ok(db.get::<MfaConfig>(CONFIG_KEY)?.unwrap_or_default())
}

/// A change to the configuration (`MfaConfigRequest`: any subset).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigChange {
    /// `{active, serviceName}`.
    pub authentication_app: Option<AppChange>,
    /// `{active, tokenLifetimeSeconds}`.
    pub sms: Option<CodeChange>,
    /// `{active, tokenLifetimeSeconds, sender}`.
    pub email: Option<CodeChange>,
}

/// `MfaAuthAppConfig`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppChange {
    /// On or off.
    pub active: Option<bool>,
    /// The issuer name (1–100 characters).
    pub service_name: Option<String>,
}

/// `MfaSmsConfig` / `MfaEmailConfig`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeChange {
    /// On or off.
    pub active: Option<bool>,
    /// Seconds, ≥ 300 (at most a day).
    pub token_lifetime_seconds: Option<i64>,
    /// Email only.
    pub sender: Option<String>,
}

impl ConfigChange {
    fn apply(&self, c: &mut MfaConfig) -> Result<(), SettingError> {
        if let Some(a) = &self.authentication_app {
            if let Some(n) = &a.service_name {
                let n = n.trim();
                if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
                    return Err(SettingError::Invalid(
                        "serviceName must be 1 to 100 printable characters".into(),
                    ));
                }
                c.service_name = n.to_owned();
            }
            if let Some(on) = a.active {
                c.set(Strategy::AuthenticatorApp, on);
            }
        }
        for (change, strategy) in [
            (&self.sms, Strategy::Sms),
            (&self.email, Strategy::EmailCode),
        ] {
            let Some(ch) = change else { continue };
            if let Some(t) = ch.token_lifetime_seconds {
                let t = setting::within("tokenLifetimeSeconds", t, 300..=86_400, " seconds")?;
                match strategy {
                    Strategy::Sms => c.sms_ttl = t,
                    _ => c.email_ttl = t,
                }
            }
            if let (Strategy::EmailCode, Some(s)) = (strategy, &ch.sender) {
                if s.chars().count() > 254 || s.chars().any(char::is_control) {
                    return Err(SettingError::Invalid("sender is not an address".into()));
                }
                c.email_sender = s.trim().to_owned();
            }
            if let Some(on) = ch.active {
                c.set(strategy, on);
            }
        }
        Ok(())
    }
}

/// Change the configuration (read and written in one transaction).
pub async fn update_config(db: &Db, change: &ConfigChange) -> Result<MfaConfig, SettingError> {
    db.write(|tx| {
        let mut c = tx.get::<MfaConfig>(CONFIG_KEY)?.unwrap_or_default();
        change.apply(&mut c)?;
        tx.put(&c)?;
        Ok(c)
    })
    .await
}

/// Turn one strategy on or off.
pub async fn set_strategy(db: &Db, s: Strategy, on: bool) -> Result<MfaConfig, SettingError> {
    db.write(|tx| {
        let mut c = tx.get::<MfaConfig>(CONFIG_KEY)?.unwrap_or_default();
        c.set(s, on);
        tx.put(&c)?;
        Ok(c)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clock::Clock;

    fn change(e: Enforce, remember: bool, exp: i64) -> PolicyChange {
        PolicyChange {
            enforce_mfa_type: Some(e),
            allow_remember_my_device: Some(remember),
            mfa_device_expiration: Some(exp),
        }
    }

    #[tokio::test]
    async fn the_strictest_policy_of_the_users_accounts_applies() {
        let (db, clock) = (Db::in_memory(), Clock::system());
        let none = requirement(&db, ["a", "b"]).unwrap();
        assert_eq!(none.enforce, Enforce::DontForce);
        assert_eq!(none.remember, None);
        setting::create::<MfaPolicy>(&db, &clock, None, &change(Enforce::DontForce, true, 3600))
            .await
            .unwrap();
        setting::create::<MfaPolicy>(
            &db,
            &clock,
            Some("b"),
            &change(Enforce::ForceExceptSAML, true, 600),
        )
        .await
        .unwrap();
        let r = requirement(&db, ["a", "b"]).unwrap();
        assert_eq!(r.enforce, Enforce::ForceExceptSAML);
        assert_eq!(r.remember, Some(600), "the shortest lifetime");
        assert_eq!(requirement(&db, ["a"]).unwrap().remember, Some(3600));
        // An account that forbids remembering forbids it for its members everywhere.
        setting::create::<MfaPolicy>(&db, &clock, Some("c"), &change(Enforce::Force, false, 600))
            .await
            .unwrap();
        let r = requirement(&db, ["a", "c"]).unwrap();
        assert_eq!((r.enforce, r.remember), (Enforce::Force, None));
        // An account cannot loosen the environment's Force.
        setting::update::<MfaPolicy>(&db, &clock, None, &change(Enforce::Force, true, 3600))
            .await
            .unwrap();
        setting::update::<MfaPolicy>(
            &db,
            &clock,
            Some("b"),
            &change(Enforce::DontForce, true, 600),
        )
        .await
        .unwrap();
        assert_eq!(requirement(&db, ["b"]).unwrap().enforce, Enforce::Force);
        let short = change(Enforce::Force, true, 5);
        let bad = setting::update::<MfaPolicy>(&db, &clock, None, &short).await;
        assert!(matches!(bad, Err(SettingError::Invalid(_))));
    }

    #[tokio::test]
    async fn the_configuration_is_the_strategy_list() {
        let db = Db::in_memory();
        assert_eq!(
            config(&db).unwrap().strategies(),
            [Strategy::AuthenticatorApp]
        );
        let c = update_config(
            &db,
            &ConfigChange {
                sms: Some(CodeChange {
                    active: Some(true),
                    token_lifetime_seconds: Some(600),
                    sender: None,
                }),
                ..ConfigChange::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(c.sms_ttl, 600);
        let c = set_strategy(&db, Strategy::EmailCode, true).await.unwrap();
        assert_eq!(
            c.strategies(),
            [
                Strategy::AuthenticatorApp,
                Strategy::Sms,
                Strategy::EmailCode
            ]
        );
        let short = ConfigChange {
            email: Some(CodeChange {
                token_lifetime_seconds: Some(299),
                ..CodeChange::default()
            }),
            ..ConfigChange::default()
        };
        assert!(update_config(&db, &short).await.is_err());
        assert_eq!(config(&db).unwrap().email_ttl, 300, "unchanged");
    }
}
