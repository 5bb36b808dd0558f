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

/// Every group.
pub fn all(db: &Db) -> Result<Vec<Group>, StoreError> {
    db.scan::<Group>(b"")
}

/// The groups whose roles count: none while group roles are disabled.
pub fn granting(db: &Db) -> Result<Vec<Group>, StoreError> {
    let c = config(db)?;
    if c.enabled && c.roles_enabled {
        all(db)
    } else {
        Ok(Vec::new())
    }
}

/// Take `user_id` out of every group in `snapshot` (of `tenant`, or of every account),
/// re-reading each group inside the transaction.
pub fn remove_member(
    tx: &mut Tx<'_>,
    snapshot: &[Group],
    user_id: &str,
    tenant: Option<&str>,
) -> Result<(), StoreError> {
    for g in snapshot.iter().filter(|g| {
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
