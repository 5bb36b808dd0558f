//! The environment's switches for invitations, activation, email changes and temporary
//! users (`compat-wave2.md` §8.5, §11.3, §11.4): one record, every field defaulted, each
//! change read and applied inside its own transaction so concurrent changes compose.

use serde::{Deserialize, Serialize};

use crate::store::{Db, Record, StoreError, Tree};

const KEY: &[u8] = b"identity-settings";

/// How invitations or activations are proven.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkOrCode {
    /// A link with a token.
    #[default]
    Link,
    /// A link's token plus a mailed code.
    Code,
}

/// A strategy and how long its code lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    /// `link` or `code`.
    pub strategy: LinkOrCode,
    /// Seconds (at least 60).
    pub code_expiration: u32,
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy {
            strategy: LinkOrCode::Link,
            code_expiration: 86_400,
        }
    }
}

/// The record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IdentitySettings {
    /// Invitations of existing users by email (default: the link).
    pub invitation: Strategy,
    /// Activation of new users (default: the code beside the link — the sign-up reply's
    /// `activationToken` is for `activate/code`; `link` mails the link alone).
    pub activation: Strategy,
    /// Whether users may change their own email (`users/v1/email/me`).
    pub allow_email_change: Option<bool>,
    /// Whether temporary users may be made.
    pub temporary_users_enabled: bool,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            invitation: Strategy::default(),
            activation: Strategy {
                strategy: LinkOrCode::Code,
                ..Strategy::default()
            },
            allow_email_change: None,
            temporary_users_enabled: false,
        }
    }
}

impl IdentitySettings {
    /// Users may change their own email unless the environment said no.
    pub fn email_change_allowed(&self) -> bool {
        self.allow_email_change.unwrap_or(true)
    }
}

impl Record for IdentitySettings {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        KEY.to_vec()
    }
}

/// The settings in force.
pub fn current(db: &Db) -> Result<IdentitySettings, StoreError> {
    Ok(db.get::<IdentitySettings>(KEY)?.unwrap_or_default())
}

/// Apply `change` to the stored settings in one transaction.
pub async fn update(
    db: &Db,
    change: impl Fn(&mut IdentitySettings),
) -> Result<IdentitySettings, StoreError> {
    db.write(|tx| {
        let mut s = tx.get::<IdentitySettings>(KEY)?.unwrap_or_default();
        change(&mut s);
        tx.put(&s)?;
        Ok(s)
    })
    .await
}
