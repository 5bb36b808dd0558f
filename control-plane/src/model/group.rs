//! User groups: per account, with roles and members. A member's effective roles include the
//! group's roles (while the environment's group configuration has roles enabled).

use serde::{Deserialize, Serialize};

use crate::store::{Db, Record, StoreError, Tree, Tx};

/// A stored group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// UUID.
    pub id: String,
    /// The owning account.
    pub tenant_id: String,
    /// Name, unique within the account.
    pub name: String,
    /// Display colour.
    pub color: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// JSON object as text.
    pub metadata: String,
    /// Role ids granted to members.
    pub role_ids: Vec<String>,
    /// Member user ids.
    pub user_ids: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for Group {
    const TREE: Tree = Tree::Groups;
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}

/// The environment's group configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupsConfig {
    /// Groups can be used at all.
    pub enabled: bool,
    /// Group roles count towards members' permissions.
    pub roles_enabled: bool,
}

impl Default for GroupsConfig {
    fn default() -> Self {
        GroupsConfig {
            enabled: true,
            roles_enabled: true,
        }
    }
}

impl Record for GroupsConfig {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        b"groups-config".to_vec()
    }
}

/// The current configuration.
pub fn config(db: &Db) -> Result<GroupsConfig, StoreError> {
    Ok(db
        .get::<GroupsConfig>(b"groups-config")?
        .unwrap_or_default())
}

/// Every group (environment-wide operations: role deletion, the one-time index rebuild).
pub fn all(db: &Db) -> Result<Vec<Group>, StoreError> {
    db.scan::<Group>(b"")
}

fn load(db: &Db, ids: Vec<String>) -> Result<Vec<Group>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(g) = db.get::<Group>(id.as_bytes())? {
            out.push(g);
        }
    }
    Ok(out)
}

/// An account's groups, in id order (index lookup).
pub fn of_tenant(db: &Db, tenant_id: &str) -> Result<Vec<Group>, StoreError> {
    load(
        db,
        db.index(Tree::TenantGroups, format!("{tenant_id}/").as_bytes())?,
    )
}

/// The groups `user_id` is a member of, in every account, in id order (index lookup).
pub fn of_user(db: &Db, user_id: &str) -> Result<Vec<Group>, StoreError> {
    load(
        db,
        db.index(Tree::UserGroups, format!("{user_id}/").as_bytes())?,
    )
}

/// The groups whose roles count for `user_id` in `tenant_id`: its groups there, or none while
/// group roles are disabled. Reads only the user's own groups.
pub fn granting_for(db: &Db, user_id: &str, tenant_id: &str) -> Result<Vec<Group>, StoreError> {
    let c = config(db)?;
    if !(c.enabled && c.roles_enabled) {
        return Ok(Vec::new());
    }
    Ok(of_user(db, user_id)?
        .into_iter()
        .filter(|g| g.tenant_id == tenant_id)
        .collect())
}

/// The groups whose roles count: none while group roles are disabled (bulk reads that build
/// many users' rights at once).
pub fn granting(db: &Db) -> Result<Vec<Group>, StoreError> {
    let c = config(db)?;
    if c.enabled && c.roles_enabled {
        all(db)
    } else {
        Ok(Vec::new())
    }
}

fn member_key(user_id: &str, group_id: &str) -> Vec<u8> {
    format!("{user_id}/{group_id}").into_bytes()
}

fn tenant_key(tenant_id: &str, group_id: &str) -> Vec<u8> {
    format!("{tenant_id}/{group_id}").into_bytes()
}

/// Insert or replace a group and keep its indexes (members, account) in step with the
/// record as stored before. Every write of a group goes through here.
pub fn put(tx: &mut Tx<'_>, g: &Group) -> Result<(), StoreError> {
    if let Some(old) = tx.get::<Group>(g.id.as_bytes())? {
        for u in old.user_ids.iter().filter(|u| !g.user_ids.contains(u)) {
            tx.delete_raw(Tree::UserGroups, &member_key(u, &old.id))?;
        }
        if old.tenant_id != g.tenant_id {
            tx.delete_raw(Tree::TenantGroups, &tenant_key(&old.tenant_id, &old.id))?;
        }
    }
    for u in &g.user_ids {
        tx.put_raw(Tree::UserGroups, &member_key(u, &g.id), b"")?;
    }
    tx.put_raw(Tree::TenantGroups, &tenant_key(&g.tenant_id, &g.id), b"")?;
    tx.put(g)
}

/// Delete a group and its index entries.
pub fn delete(tx: &mut Tx<'_>, id: &str) -> Result<(), StoreError> {
    if let Some(old) = tx.get::<Group>(id.as_bytes())? {
        for u in &old.user_ids {
            tx.delete_raw(Tree::UserGroups, &member_key(u, id))?;
        }
        tx.delete_raw(Tree::TenantGroups, &tenant_key(&old.tenant_id, id))?;
    }
    tx.delete::<Group>(id.as_bytes())
}

/// Take `user_id` out of every group it is a member of (in `tenant`, or in every account),
/// re-reading each group inside the transaction. `groups` are the user's groups, read before
/// ([`of_user`]).
pub fn remove_member(
    tx: &mut Tx<'_>,
    groups: &[Group],
    user_id: &str,
    tenant: Option<&str>,
) -> Result<(), StoreError> {
    for g in groups.iter().filter(|g| {
        tenant.is_none_or(|t| g.tenant_id == t) && g.user_ids.iter().any(|u| u == user_id)
    }) {
        if let Some(mut cur) = tx.get::<Group>(g.id.as_bytes())? {
            cur.user_ids.retain(|u| u != user_id);
            put(tx, &cur)?;
        }
    }
    Ok(())
}

/// Take `role_id` out of every group in `snapshot`.
pub fn remove_role(tx: &mut Tx<'_>, snapshot: &[Group], role_id: &str) -> Result<(), StoreError> {
    for g in snapshot
        .iter()
        .filter(|g| g.role_ids.iter().any(|r| r == role_id))
    {
        if let Some(mut cur) = tx.get::<Group>(g.id.as_bytes())? {
            cur.role_ids.retain(|r| r != role_id);
            put(tx, &cur)?;
        }
    }
    Ok(())
}
