//! What machine-to-machine tokens carry, for API tokens and access tokens alike: an account
//! token's roles (and permissions), or its user's current rights — both from the one rights
//! computation (`authz`), both gone once what they hang on is gone.

use super::catalog::Catalog;
use super::restrictions::Policies;
use super::tenant::Tenant;
use super::user::User;
use crate::store::{Db, StoreError};

/// Role keys and permission keys.
pub type Rights = (Vec<String>, Vec<String>);

/// Whether the account exists: a token of a deleted account is nobody's, even if an account
/// with the same id is created again.
pub fn tenant_exists(db: &Db, tenant: &str) -> Result<bool, StoreError> {
    Ok(db.get::<Tenant>(tenant.as_bytes())?.is_some())
}

/// An account token's rights in its account, or `None` once the account is gone: its roles'
/// keys and their permissions plus `permission_ids` (no `NEVER` permission, no role of
/// another account).
pub fn account_rights(
    db: &Db,
    cat: &Catalog,
    tenant: &str,
    role_ids: &[String],
    permission_ids: &[String],
) -> Result<Option<Rights>, StoreError> {
    if !tenant_exists(db, tenant)? {
        return Ok(None);
    }
    let eff = super::authz::of_roles(tenant, role_ids, permission_ids, &cat.rbac())?;
    Ok(Some((eff.role_keys(), eff.permission_keys())))
}

/// A user's current rights in an account with the user, or `None` when its tokens are not
/// active: the user gone, locked or not an enabled member, or its address refused by the
/// environment's or the account's email-domain rules (as a login would be).
pub fn user_rights(
    db: &Db,
    cat: &Catalog,
    policies: &Policies,
    user_id: &str,
    tenant: &str,
) -> Result<Option<(Rights, User)>, StoreError> {
    let Some(u) = db.get::<User>(user_id.as_bytes())? else {
        return Ok(None);
    };
    if u.is_locked || u.membership(tenant).is_none_or(|m| m.disabled) {
        return Ok(None);
    }
    if policies
        .email_refusal(db, &[tenant], &u.email_norm)?
        .is_some()
    {
        return Ok(None);
    }
    let eff = cat.effective(&u, tenant)?;
    Ok(Some(((eff.role_keys(), eff.permission_keys()), u)))
}

/// Whose a machine-to-machine token is: an account's, or a user's in an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The account.
    pub tenant: String,
    /// The user, for a user's token.
    pub user: Option<String>,
}

impl Owner {
    /// Whether a token with this account and user is this owner's.
    pub fn owns(&self, tenant: &str, user: Option<&str>) -> bool {
        self.tenant == tenant && self.user.as_deref() == user
    }
}

/// Why a machine-to-machine token was not created, changed, found or accepted.
#[derive(Debug, thiserror::Error)]
pub enum M2mError {
    /// No such token of this owner.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The environment's machine-to-machine strategy is the other kind (real clients match
    /// this exact text).
    #[error("Api tokens are disabled")]
    Disabled,
    /// Credentials that do not name a live token.
    #[error("Invalid client credentials")]
    Refused,
    /// Input that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// Rights the creator may not confer.
    #[error(transparent)]
    Grant(#[from] crate::model::grant::GrantError),
    /// A text field out of bounds.
    #[error(transparent)]
    Text(#[from] crate::model::text::TextError),
    /// Metadata that is not an object or is too large.
    #[error(transparent)]
    Json(#[from] crate::model::json::JsonError),
    /// The account does not exist.
    #[error(transparent)]
    Tenant(#[from] crate::model::tenant::TenantError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `expiresInMinutes` (whole minutes, 1 to ten years) as a Unix expiry from `now`.
pub fn expiry(now: i64, minutes: Option<f64>) -> Result<Option<i64>, M2mError> {
    match minutes {
        None => Ok(None),
        Some(m) if m.fract() == 0.0 && (1.0..=5_256_000.0).contains(&m) => {
            Ok(Some(now + (m as i64) * 60))
        }
        Some(_) => Err(M2mError::Invalid(
            "expiresInMinutes must be a whole number from 1 to 5256000".into(),
        )),
    }
}

/// A description: at most 1000 characters.
pub fn description(d: Option<&str>) -> Result<String, M2mError> {
    Ok(crate::model::text::checked(
        "description",
        d.unwrap_or(""),
        1000,
        false,
    )?)
}

/// Which machine-to-machine strategy the environment uses; the other kind is refused.
pub fn require_strategy(
    db: &Db,
    access_tokens: bool,
) -> Result<crate::model::vendor_config::VendorConfig, M2mError> {
    let config = crate::model::vendor_config::current(db)?;
    if (config.machine_to_machine_auth_strategy == "AccessToken") != access_tokens {
        return Err(M2mError::Disabled);
    }
    Ok(config)
}
