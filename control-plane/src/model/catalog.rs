//! The environment's roles and permissions as one value, for replies that show them (a
//! permission lists the roles that hold it) and for computing many users' rights at once.
//! Shared between requests and loaded again only when the catalogue's generation moved
//! (`rbac::generation`, bumped in the same transaction as every role or permission write),
//! the way the restriction policies are cached. Groups are never part of it: a user's are
//! read by index when its rights are computed.

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use super::authz::{self, Effective, Loaded};
use super::rbac::{self, Permission, Role};
use super::user::User;
use crate::store::{Db, StoreError};

/// Every role and permission at one generation.
pub struct Catalog {
    /// Every role, in id order.
    pub roles: Vec<Role>,
    /// Every permission, in id order.
    pub permissions: Vec<Permission>,
    generation: u64,
    db: Db,
}

impl Catalog {
    /// The records as the rights computation reads them.
    pub fn rbac(&self) -> Loaded<'_> {
        Loaded {
            roles: &self.roles,
            permissions: &self.permissions,
        }
    }

    /// What `user` may do in `tenant` (its groups read by index).
    pub fn effective(&self, user: &User, tenant: &str) -> Result<Effective, StoreError> {
        let groups = super::group::granting_for(&self.db, &user.id, tenant)?;
        authz::effective(user, tenant, &groups, &self.rbac())
    }

    /// `user`'s own roles in `tenant`, without its groups'.
    pub fn direct(&self, user: &User, tenant: &str) -> Result<Effective, StoreError> {
        authz::effective(user, tenant, &[], &self.rbac())
    }
}

/// The current catalogue, shared.
#[derive(Default)]
pub struct Catalogs {
    current: ArcSwapOption<Catalog>,
}

impl Catalogs {
    /// The catalogue at the store's current generation: the cached one while it is current,
    /// else read whole. (The generation is read before the records, so a catalogue can be
    /// labelled older than what it holds, never newer: a change is never missed.)
    pub fn current(&self, db: &Db) -> Result<Arc<Catalog>, StoreError> {
        let generation = rbac::generation(db)?;
        if let Some(c) = self.current.load_full()
            && c.generation == generation
        {
            return Ok(c);
        }
        let fresh = Arc::new(Catalog {
            roles: rbac::all_roles(db)?,
            permissions: rbac::all_permissions(db)?,
            generation,
            db: db.clone(),
        });
        self.current.store(Some(fresh.clone()));
        Ok(fresh)
    }
}
