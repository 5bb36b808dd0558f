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
