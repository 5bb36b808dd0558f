//! Changing roles: create (all or none, environment-wide or an account's own), create from a
//! base role, change, move between scopes, replace permissions, delete. A role key is unique
//! where it applies: an account role may not shadow an environment role, nor an environment
//! role take a key an account uses — decided on the catalogue as it is when the change
//! commits. Taking a role (or some of its permissions) from its holders records the event
//! that voids their tokens.

use std::collections::{BTreeSet, HashSet};

use serde::Deserialize;

use super::{AssignmentType, Permission, RbacError, Role, put_role, role_key_free};
use crate::model::clock::{Clock, rfc3339};
use crate::model::event::Event;
use crate::model::grant::Grantor;
use crate::model::text::{Required, Text};
use crate::model::user::User;
use crate::model::version::write_consistent;
use crate::store::{Db, Tx};

/// Most roles one call creates.
pub const MAX_BATCH: usize = 100;
/// Most permissions a role is given at once.
pub const MAX_PERMISSIONS: usize = 1000;

fn not_found() -> RbacError {
    RbacError::NotFound("Role")
}

/// Role keys go into `roles` claims and the comma-separated `x-user-roles` header: what a
/// header list can carry ([`shared::rights::is_valid_key`]), and no `*` (roles have no
/// wildcards).
pub fn check_key(key: &str) -> Result<(), RbacError> {
    if !shared::rights::is_valid_key(key) || key.contains('*') {
        return Err(RbacError::Invalid(format!(
            "invalid role key {key:?}: {}, no *",
            shared::rights::KEY_RULE
        )));
    }
    Ok(())
}

fn check_level(level: i64) -> Result<u16, RbacError> {
    u16::try_from(level)
        .ok()
        .filter(|l| *l <= 32767)
        .ok_or_else(|| RbacError::Invalid("level must be between 0 and 32767".into()))
}

/// Permission ids, deduplicated in order (at most [`MAX_PERMISSIONS`]).
pub fn dedup(ids: &[String]) -> Result<Vec<String>, RbacError> {
    if ids.len() > MAX_PERMISSIONS {
        return Err(RbacError::Invalid(format!(
            "at most {MAX_PERMISSIONS} permissions"
        )));
    }
    let mut seen = BTreeSet::new();
    Ok(ids
        .iter()
        .filter(|i| seen.insert(i.as_str()))
        .cloned()
        .collect())
}

/// Permission ids must exist and be assignable.
fn check_assignable(tx: &mut Tx<'_>, ids: &[String]) -> Result<(), RbacError> {
    for id in ids {
        let p = tx
            .get::<Permission>(id.as_bytes())?
            .ok_or_else(|| RbacError::Invalid(format!("permission {id} does not exist")))?;
        if p.assignment_type == AssignmentType::Never {
            return Err(RbacError::Invalid(format!(
                "permission {} is classified NEVER",
                p.key
            )));
        }
    }
    Ok(())
}

/// A role to create.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewRole {
    /// Key, unique where the role applies.
    pub key: String,
    /// Display name.
    pub name: Required<255>,
    /// Description.
    #[serde(default)]
    pub description: Option<Text<1000>>,
    /// Given to new users of an account when no role is named.
    #[serde(default)]
    pub is_default: bool,
    /// Given to the first user of a new account.
    #[serde(default)]
    pub first_user_role: bool,
    /// 0 (highest) to 32767.
    pub level: i64,
}

impl NewRole {
    fn record(&self, tenant: Option<&str>, now: &str) -> Result<Role, RbacError> {
        check_key(&self.key)?;
        Ok(Role {
            id: crate::crypto::new_uuid().to_string(),
            key: self.key.clone(),
            name: self.name.as_str().to_owned(),
            description: self.description.as_deref().unwrap_or_default().to_owned(),
            level: check_level(self.level)?,
            is_default: self.is_default,
            first_user_role: self.first_user_role,
            tenant_id: tenant.map(str::to_owned),
            permission_ids: Vec::new(),
            builtin: false,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        })
    }
}

/// Store new roles whose keys must be free where they apply.
async fn insert(db: &Db, roles: &[Role]) -> Result<(), RbacError> {
    write_consistent(
        db,
        &super::version(),
        |db| Ok(super::all_roles(db)?),
        |existing, tx| {
            for r in roles {
                if !role_key_free(existing, r.tenant_id.as_deref(), &r.key, None) {
                    return Err(RbacError::Conflict(format!(
                        "a role with key {:?} exists",
                        r.key
                    )));
                }
                check_assignable(tx, &r.permission_ids)?;
                put_role(tx, r)?;
            }
            Ok(())
        },
    )
    .await
}

/// Create roles, all or none: environment roles, or `tenant`'s own.
pub async fn create(
    db: &Db,
    clock: &Clock,
    tenant: Option<&str>,
    new: &[NewRole],
) -> Result<Vec<Role>, RbacError> {
    if new.is_empty() || new.len() > MAX_BATCH {
        return Err(RbacError::Invalid(format!("send 1 to {MAX_BATCH} roles")));
    }
    if let Some(t) = tenant {
        crate::model::tenant::require(db, t)?;
    }
    let now = rfc3339(clock.now());
    let roles = new
        .iter()
        .map(|r| r.record(tenant, &now))
        .collect::<Result<Vec<_>, _>>()?;
    let keys: HashSet<&str> = roles.iter().map(|r| r.key.as_str()).collect();
    if keys.len() != roles.len() {
        return Err(RbacError::Invalid("a role key appears twice".into()));
    }
    insert(db, &roles).await?;
    Ok(roles)
}

/// An account role made from a base role: its level, and permissions within the base's.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleFromBase {
    /// Key.
    pub key: String,
    /// Display name.
    pub name: Required<255>,
    /// Description.
    #[serde(default)]
    pub description: Option<Text<1000>>,
    /// Given to new users of the account.
    #[serde(default)]
    pub is_default: bool,
    /// An environment role or one of the account's.
    pub base_role_id: String,
    /// Permissions, each the base role's.
    pub permission_ids: Vec<String>,
}

/// Create `tenant`'s role from a base role. A user may base a role only on one at or below
/// its own level.
pub async fn create_from_base(
    db: &Db,
    clock: &Clock,
    tenant: &str,
    grantor: Grantor<'_>,
    req: &RoleFromBase,
) -> Result<Role, RbacError> {
    crate::model::tenant::require(db, tenant)?;
    let base = db
        .get::<Role>(req.base_role_id.as_bytes())?
        .filter(|r| r.tenant_id.is_none() || r.tenant_id.as_deref() == Some(tenant))
        .ok_or_else(|| {
            RbacError::Invalid("baseRoleId does not name a role of this account".into())
        })?;
    if let Grantor::User(own) = grantor
        && own.best_level().is_none_or(|own| base.level < own)
    {
        return Err(RbacError::Forbidden(
            "the base role is above your own level".into(),
        ));
    }
    let ids = dedup(&req.permission_ids)?;
    if let Some(extra) = ids.iter().find(|p| !base.permission_ids.contains(p)) {
        return Err(RbacError::Invalid(format!(
            "permission {extra} is not in the base role"
        )));
    }
    let now = rfc3339(clock.now());
    let new = NewRole {
        key: req.key.clone(),
        name: req.name.clone(),
        description: req.description.clone(),
        is_default: req.is_default,
        first_user_role: false,
        level: i64::from(base.level),
    };
    let mut role = new.record(Some(tenant), &now)?;
    role.permission_ids = ids;
    insert(db, std::slice::from_ref(&role)).await?;
    Ok(role)
}

/// A change to a role; the seeded roles keep key and name.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleChange {
    /// A new key (tokens carrying the old one stop counting).
    pub key: Option<String>,
    /// A new name.
    pub name: Option<Required<255>>,
    /// A new description.
    pub description: Option<Text<1000>>,
    /// Default for new users.
    pub is_default: Option<bool>,
    /// Given to the first user of a new account.
    pub first_user_role: Option<bool>,
    /// 0 to 32767.
    pub level: Option<i64>,
}

/// Whether a caller acting in `tenant` may change, re-permission or delete role `id` (and
/// move it to `new_level`): the environment any role; a user only its own account's roles
/// (another account's is not found, an environment role is the environment's to change) at
/// or below its own level, and never to a level above it. Returns the role as it is now.
pub fn check_editable(
    db: &Db,
    id: &str,
    tenant: Option<&str>,
    grantor: Grantor<'_>,
    new_level: Option<i64>,
) -> Result<Role, RbacError> {
    let role = db
        .get::<Role>(id.as_bytes())?
        .ok_or(RbacError::NotFound("role"))?;
    let Grantor::User(own) = grantor else {
        return Ok(role);
    };
    match (&role.tenant_id, tenant) {
        (Some(t), Some(mine)) if t == mine => {}
        (None, _) => {
            return Err(RbacError::Forbidden(
                "environment roles are changed with an environment token".into(),
            ));
        }
        _ => return Err(RbacError::NotFound("role")),
    }
    let above = |level: i64| own.best_level().is_none_or(|best| level < i64::from(best));
    if above(i64::from(role.level)) || new_level.is_some_and(above) {
        return Err(RbacError::Forbidden(
            "the role is above your own level".into(),
        ));
    }
    Ok(role)
}

/// Change a role.
pub async fn update(db: &Db, clock: &Clock, id: &str, c: &RoleChange) -> Result<Role, RbacError> {
    if let Some(k) = &c.key {
        check_key(k)?;
    }
    let level = c.level.map(check_level).transpose()?;
    let now = rfc3339(clock.now());
    write_consistent(
        db,
        &super::version(),
        |db| Ok(super::all_roles(db)?),
        |existing, tx| {
            let mut r = tx.get::<Role>(id.as_bytes())?.ok_or_else(not_found)?;
            if r.builtin
                && (c.key.as_ref().is_some_and(|k| *k != r.key)
                    || c.name.as_deref().is_some_and(|n| n != r.name))
            {
                return Err(RbacError::Forbidden(
                    "default roles cannot be renamed".into(),
                ));
            }
            if let Some(k) = &c.key
                && *k != r.key
            {
                if !role_key_free(existing, r.tenant_id.as_deref(), k, Some(&r.id)) {
                    return Err(RbacError::Conflict(format!("a role with key {k:?} exists")));
                }
                // Tokens carry the old key: void at sidecars (it names nothing now).
                Event::RoleDeleted {
                    tenant: r.tenant_id.as_deref(),
                    key: &r.key,
                }
                .record(tx, &now)?;
                r.key = k.clone();
            }
            if let Some(n) = &c.name {
                r.name = n.as_str().to_owned();
            }
            if let Some(d) = &c.description {
                r.description = d.as_str().to_owned();
            }
            r.level = level.unwrap_or(r.level);
            r.is_default = c.is_default.unwrap_or(r.is_default);
            r.first_user_role = c.first_user_role.unwrap_or(r.first_user_role);
            r.updated_at = now.clone();
            put_role(tx, &r)?;
            Ok(r)
        },
    )
    .await
}

/// Delete a role (the seeded ones stay) and take it from every user and group holding it,
/// in one transaction. Holders lose it at once.
pub async fn delete(db: &Db, clock: &Clock, id: &str) -> Result<(), RbacError> {
    // Environment-wide reads (no index names a role's holders); a holder that gains the
    // role meanwhile keeps a dangling id, which no read counts.
    let holders: Vec<User> = db
        .scan::<User>(b"")?
        .into_iter()
        .filter(|u| {
            u.memberships
                .iter()
                .any(|m| m.role_ids.iter().any(|r| r == id))
        })
        .collect();
    let groups = crate::model::group::all(db)?;
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let r = tx.get::<Role>(id.as_bytes())?.ok_or_else(not_found)?;
        if r.builtin {
            return Err(RbacError::Forbidden(
                "default roles cannot be deleted".into(),
            ));
        }
        crate::model::group::remove_role(tx, &groups, &r.id)?;
        for h in &holders {
            if let Some(mut u) = tx.get::<User>(h.id.as_bytes())? {
                for m in &mut u.memberships {
                    m.role_ids.retain(|x| *x != r.id);
                }
                tx.put(&u)?;
            }
        }
        super::delete_role(tx, &r)?;
        Event::RoleDeleted {
            tenant: r.tenant_id.as_deref(),
            key: &r.key,
        }
        .record(tx, &at)?;
        Ok(())
    })
    .await
}

/// **Replace** a role's permissions.
pub async fn set_permissions(
    db: &Db,
    clock: &Clock,
    id: &str,
    permission_ids: &[String],
) -> Result<Role, RbacError> {
    let ids = dedup(permission_ids)?;
    let now = rfc3339(clock.now());
    db.write(|tx| {
        let mut r = tx.get::<Role>(id.as_bytes())?.ok_or_else(not_found)?;
        check_assignable(tx, &ids)?;
        if r.permission_ids.iter().any(|p| !ids.contains(p)) {
            Event::RolePermissionsRemoved {
                tenant: r.tenant_id.as_deref(),
                key: &r.key,
            }
            .record(tx, &now)?;
        }
        r.permission_ids = ids.clone();
        r.updated_at = now.clone();
        put_role(tx, &r)?;
        Ok(r)
    })
    .await
}

/// Make a role an account's own, or (`None`) environment-wide.
pub async fn move_to(
    db: &Db,
    clock: &Clock,
    id: &str,
    tenant: Option<&str>,
) -> Result<Role, RbacError> {
    if let Some(t) = tenant {
        crate::model::tenant::require(db, t)?;
    }
    let now = rfc3339(clock.now());
    write_consistent(
        db,
        &super::version(),
        |db| Ok(super::all_roles(db)?),
        |existing, tx| {
            let old = tx.get::<Role>(id.as_bytes())?.ok_or_else(not_found)?;
            if old.builtin {
                return Err(RbacError::Forbidden(
                    "default roles stay environment-wide".into(),
                ));
            }
            if !role_key_free(existing, tenant, &old.key, Some(&old.id)) {
                return Err(RbacError::Conflict(format!(
                    "a role with key {:?} exists there",
                    old.key
                )));
            }
            let mut r = old.clone();
            r.tenant_id = tenant.map(str::to_owned);
            r.updated_at = now.clone();
            put_role(tx, &r)?;
            // Where the role applied before and no longer does, holders lose it: an environment
            // role moved to one account leaves every other account; an account's role moved
            // elsewhere leaves that account.
            if old.tenant_id != r.tenant_id && r.tenant_id.is_some() {
                Event::RoleDeleted {
                    tenant: old.tenant_id.as_deref(),
                    key: &old.key,
                }
                .record(tx, &now)?;
            }
            Ok(r)
        },
    )
    .await
}

/// The roles a call sees: environment roles, plus `tenant`'s own.
pub fn visible(db: &Db, tenant: Option<&str>) -> Result<Vec<Role>, RbacError> {
    if let Some(t) = tenant {
        crate::model::tenant::require(db, t)?;
    }
    Ok(super::all_roles(db)?
        .into_iter()
        .filter(|r| r.tenant_id.is_none() || r.tenant_id.as_deref() == tenant)
        .collect())
}
