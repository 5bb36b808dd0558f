//! The two owners a machine-to-machine token has: an account (`tenants/...` routes,
//! `fe.secure.*.tenantApiTokens`) or a user in an account (`users/...` routes,
//! `fe.secure.*.userApiTokens`, the user's own rights). Every token route is written once
//! over [`Owner`].

use crate::error::ApiError;
use crate::http::AppState;
use crate::http::caller::{Caller, Perm};

/// Whose tokens a route manages.
pub(super) trait Owner: Send + 'static {
    /// Listing takes this.
    const READ: Perm;
    /// Creating (and changing) takes this.
    const WRITE: Perm;
    /// Deleting takes this.
    const DELETE: Perm;
    /// Whether the tokens are a user's.
    const USERS: bool;
    /// The owner the caller acts as, after `perm`.
    fn of(
        state: &AppState,
        caller: &Caller,
        perm: Perm,
    ) -> Result<crate::model::m2m::Owner, ApiError>;
}

/// An account's tokens.
pub(super) struct ForAccount;

impl Owner for ForAccount {
    const READ: Perm = Perm::ReadTenantApiTokens;
    const WRITE: Perm = Perm::WriteTenantApiTokens;
    const DELETE: Perm = Perm::DeleteTenantApiTokens;
    const USERS: bool = false;
    fn of(
        _state: &AppState,
        caller: &Caller,
        perm: Perm,
    ) -> Result<crate::model::m2m::Owner, ApiError> {
        caller.require(perm)?;
        Ok(crate::model::m2m::Owner {
            tenant: caller.tenant()?,
            user: None,
        })
    }
}

/// A user's tokens in an account.
pub(super) struct ForUser;

impl Owner for ForUser {
    const READ: Perm = Perm::ReadUserApiTokens;
    const WRITE: Perm = Perm::WriteUserApiTokens;
    const DELETE: Perm = Perm::DeleteUserApiTokens;
    const USERS: bool = true;
    fn of(
        state: &AppState,
        caller: &Caller,
        perm: Perm,
    ) -> Result<crate::model::m2m::Owner, ApiError> {
        caller.require(perm)?;
        let tenant = caller.tenant()?;
        let user = caller.acting_user(state, &tenant)?;
        Ok(crate::model::m2m::Owner {
            tenant,
            user: Some(user),
        })
    }
}
