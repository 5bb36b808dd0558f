//! User groups: per account, with roles and members. A member's effective roles include the
//! group's roles (while the environment's group configuration has roles enabled).

use serde::{Deserialize, Serialize};

use crate::store::{Db, Index, IndexEntry, Record, StoreError, Tree, Tx};

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

/// Groups by member: `<user id>/`.
pub const BY_MEMBER: Index<Group> = Index::many(Tree::UserGroups);
/// An account's groups: `<tenant id>/`.
pub const BY_TENANT: Index<Group> = Index::many(Tree::TenantGroups);

impl Record for Group {
    const TREE: Tree = Tree::Groups;
    const INDEXES: &'static [Tree] = &[Tree::UserGroups, Tree::TenantGroups];
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        self.user_ids
            .iter()
            .map(|u| BY_MEMBER.entry(format!("{u}/")))
            .chain([BY_TENANT.entry(format!("{}/", self.tenant_id))])
            .collect()
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

/// An account's groups, in id order (index lookup).
pub fn of_tenant(db: &Db, tenant_id: &str) -> Result<Vec<Group>, StoreError> {
    db.find_all(BY_TENANT, format!("{tenant_id}/").as_bytes())
}

/// The groups `user_id` is a member of, in every account, in id order (index lookup).
pub fn of_user(db: &Db, user_id: &str) -> Result<Vec<Group>, StoreError> {
    db.find_all(BY_MEMBER, format!("{user_id}/").as_bytes())
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
            tx.put(&cur)?;
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
            tx.put(&cur)?;
        }
    }
    Ok(())
}
