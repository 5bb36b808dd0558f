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

/// Why a group change was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// No such group in the account.
    #[error("Group not found")]
    NotFound,
    /// Another group of the account has the name (ignoring case).
    #[error("a group with this name exists in the account")]
    NameTaken,
    /// The group's roles changed between the caller's check and the change.
    #[error("the group's roles changed meanwhile; try again")]
    Changed,
    /// Groups, or group roles, are switched off.
    #[error("{0} are disabled for this environment")]
    Disabled(&'static str),
    /// Input that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// Roles the caller may not give.
    #[error(transparent)]
    Grant(#[from] crate::model::grant::GrantError),
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

/// The account `tenant` as a scope for group calls: groups must be switched on and the
/// account must exist.
pub fn scope(db: &Db, tenant: &str) -> Result<(), GroupError> {
    if !config(db)?.enabled {
        return Err(GroupError::Disabled("groups"));
    }
    crate::model::tenant::require(db, tenant)?;
    Ok(())
}

/// Group `id` of `tenant` (another account's is [`GroupError::NotFound`]).
pub fn get_in(db: &Db, tenant: &str, id: &str) -> Result<Group, GroupError> {
    db.get::<Group>(id.as_bytes())?
        .filter(|g| g.tenant_id == tenant)
        .ok_or(GroupError::NotFound)
}

/// The fields of a group a caller sets.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct GroupFields {
    /// Unique in the account, ignoring case; required on creation.
    pub name: Option<crate::model::text::Required<255>>,
    /// Display colour.
    pub color: Option<crate::model::text::Text<32>>,
    /// Description.
    pub description: Option<crate::model::text::Text<1000>>,
    /// A JSON object (or its text).
    pub metadata: Option<serde_json::Value>,
}

/// The version of an account's group names: moved by every creation and rename, so a name
/// checked against the account's groups is still free when the change commits.
fn names(tenant: &str) -> crate::model::version::Version {
    crate::model::version::Version::new(Tree::Meta, format!("group-names/{tenant}").into_bytes())
}

fn name_taken(groups: &[Group], name: &str, except: Option<&str>) -> bool {
    groups
        .iter()
        .any(|g| Some(g.id.as_str()) != except && g.name.eq_ignore_ascii_case(name))
}

/// Create a group in `tenant`.
pub async fn create(
    db: &Db,
    clock: &crate::model::clock::Clock,
    tenant: &str,
    f: &GroupFields,
) -> Result<Group, GroupError> {
    let name = f
        .name
        .as_ref()
        .ok_or_else(|| GroupError::Invalid("name is required".into()))?
        .as_str()
        .to_owned();
    let metadata = match &f.metadata {
        Some(m) => crate::model::user::metadata_text(Some(m))?,
        None => "{}".into(),
    };
    let now = crate::model::clock::rfc3339(clock.now());
    let g = Group {
        id: crate::crypto::new_uuid().to_string(),
        tenant_id: tenant.to_owned(),
        name,
        color: f.color.as_ref().map(|c| c.as_str().to_owned()),
        description: f.description.as_ref().map(|d| d.as_str().to_owned()),
        metadata,
        role_ids: Vec::new(),
        user_ids: Vec::new(),
        created_at: now.clone(),
        updated_at: now,
    };
    crate::model::version::write_consistent(
        db,
        &names(tenant),
        |db| Ok(of_tenant(db, tenant)?),
        |groups, tx| {
            if name_taken(groups, &g.name, None) {
                return Err(GroupError::NameTaken);
            }
            tx.put(&g)?;
            Ok(())
        },
    )
    .await?;
    Ok(g)
}

/// Change group `id` of `tenant` with `edit`, in one transaction; with `roles_removed`,
/// every member as it was loses the group's roles (an event each).
async fn change(
    db: &Db,
    clock: &crate::model::clock::Clock,
    tenant: &str,
    id: &str,
    roles_removed: bool,
    edit: impl Fn(&mut Group) -> Result<(), GroupError>,
) -> Result<Group, GroupError> {
    let now = crate::model::clock::rfc3339(clock.now());
    db.write(|tx| {
        let mut g = tx
            .get::<Group>(id.as_bytes())?
            .filter(|g| g.tenant_id == tenant)
            .ok_or(GroupError::NotFound)?;
        let members_before = g.user_ids.clone();
        edit(&mut g)?;
        g.updated_at = now.clone();
        tx.put(&g)?;
        if roles_removed {
            for u in &members_before {
                crate::model::event::Event::UserRolesRemoved { tenant, user: u }
                    .record(tx, &now)?;
            }
        }
        Ok(g)
    })
    .await
}

/// Rename, recolour, describe.
pub async fn update(
    db: &Db,
    clock: &crate::model::clock::Clock,
    tenant: &str,
    id: &str,
    f: &GroupFields,
) -> Result<Group, GroupError> {
    let metadata = f
        .metadata
        .as_ref()
        .map(|m| crate::model::user::metadata_text(Some(m)))
        .transpose()?;
    let apply = |g: &mut Group| {
        if let Some(n) = &f.name {
            g.name = n.as_str().to_owned();
        }
        if let Some(c) = &f.color {
            g.color = Some(c.as_str().to_owned());
        }
        if let Some(d) = &f.description {
            g.description = Some(d.as_str().to_owned());
        }
        if let Some(m) = &metadata {
            g.metadata = m.clone();
        }
        Ok(())
    };
    let Some(name) = &f.name else {
        return change(db, clock, tenant, id, false, apply).await;
    };
    let now = crate::model::clock::rfc3339(clock.now());
    crate::model::version::write_consistent(
        db,
        &names(tenant),
        |db| Ok(of_tenant(db, tenant)?),
        |groups, tx| {
            if name_taken(groups, name.as_str(), Some(id)) {
                return Err(GroupError::NameTaken);
            }
            let mut g = tx
                .get::<Group>(id.as_bytes())?
                .filter(|g| g.tenant_id == tenant)
                .ok_or(GroupError::NotFound)?;
            apply(&mut g)?;
            g.updated_at = now.clone();
            tx.put(&g)?;
            Ok(g)
        },
    )
    .await
}

/// Delete a group; its members lose its roles (an event each).
pub async fn delete_in(
    db: &Db,
    clock: &crate::model::clock::Clock,
    tenant: &str,
    id: &str,
) -> Result<(), GroupError> {
    let now = crate::model::clock::rfc3339(clock.now());
    db.write(|tx| {
        let g = tx
            .get::<Group>(id.as_bytes())?
            .filter(|g| g.tenant_id == tenant)
            .ok_or(GroupError::NotFound)?;
        if !g.role_ids.is_empty() {
            for u in &g.user_ids {
                crate::model::event::Event::UserRolesRemoved { tenant, user: u }
                    .record(tx, &now)?;
            }
        }
        tx.delete::<Group>(id.as_bytes())?;
        Ok(())
    })
    .await
}

/// Give the group `roles` (checked by the caller against its own level).
pub async fn add_roles(
    db: &Db,
    clock: &crate::model::clock::Clock,
    tenant: &str,
    id: &str,
    roles: &[String],
) -> Result<(), GroupError> {
    if !config(db)?.roles_enabled {
        return Err(GroupError::Disabled("group roles"));
    }
    change(db, clock, tenant, id, false, |g| {
        crate::model::add_unique(&mut g.role_ids, roles);
        Ok(())
    })
    .await
    .map(drop)
}

/// Take `roles` from the group; its members lose them.
pub async fn remove_roles(
    db: &Db,
    clock: &crate::model::clock::Clock,
    tenant: &str,
    id: &str,
    roles: &[String],
) -> Result<(), GroupError> {
    change(db, clock, tenant, id, true, |g| {
        g.role_ids.retain(|r| !roles.contains(r));
        Ok(())
    })
    .await
    .map(drop)
}

/// Most members one call adds.
pub const MAX_MEMBERS_AT_ONCE: usize = 500;

/// Add members (users of the account only). Joining gives the group's roles, so the caller
/// must be able to give them: `may_give` decides on the roles as they are, and the change
/// commits only if they did not change since ([`GroupError::Changed`] otherwise).
pub async fn add_users(
    db: &Db,
    clock: &crate::model::clock::Clock,
    tenant: &str,
    id: &str,
    user_ids: &[String],
    may_give: impl Fn(&[String]) -> Result<(), crate::model::grant::GrantError>,
) -> Result<(), GroupError> {
    if user_ids.len() > MAX_MEMBERS_AT_ONCE {
        return Err(GroupError::Invalid(format!(
            "at most {MAX_MEMBERS_AT_ONCE} users at once"
        )));
    }
    for u in user_ids {
        let member = db
            .get::<crate::model::user::User>(u.as_bytes())?
            .is_some_and(|x| x.membership(tenant).is_some());
        if !member {
            return Err(GroupError::Invalid(format!(
                "user {u} is not a member of this account"
            )));
        }
    }
    let held = get_in(db, tenant, id)?.role_ids;
    may_give(&held)?;
    change(db, clock, tenant, id, false, |g| {
        if g.role_ids.iter().any(|r| !held.contains(r)) {
            return Err(GroupError::Changed);
        }
        crate::model::add_unique(&mut g.user_ids, user_ids);
        Ok(())
    })
    .await
    .map(drop)
}

/// Remove members; they lose the group's roles.
pub async fn remove_users(
    db: &Db,
    clock: &crate::model::clock::Clock,
    tenant: &str,
    id: &str,
    user_ids: &[String],
) -> Result<(), GroupError> {
    let now = crate::model::clock::rfc3339(clock.now());
    db.write(|tx| {
        let mut g = tx
            .get::<Group>(id.as_bytes())?
            .filter(|g| g.tenant_id == tenant)
            .ok_or(GroupError::NotFound)?;
        if !g.role_ids.is_empty() {
            for u in user_ids.iter().filter(|u| g.user_ids.contains(u)) {
                crate::model::event::Event::UserRolesRemoved { tenant, user: u }
                    .record(tx, &now)?;
            }
        }
        g.user_ids.retain(|u| !user_ids.contains(u));
        g.updated_at = now.clone();
        tx.put(&g)?;
        Ok(())
    })
    .await
}

/// A change to the group configuration.
#[derive(Clone, Copy, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigChange {
    /// Groups can be used.
    pub enabled: Option<bool>,
    /// Group roles count.
    pub roles_enabled: Option<bool>,
}

/// Switch groups and group roles on or off. When group roles stop counting, every member of
/// a group with roles loses them.
pub async fn set_config(
    db: &Db,
    clock: &crate::model::clock::Clock,
    c: ConfigChange,
) -> Result<GroupsConfig, GroupError> {
    let at = crate::model::clock::rfc3339(clock.now());
    let groups = all(db)?;
    db.write(|tx| {
        let mut cfg = tx
            .get::<GroupsConfig>(b"groups-config")?
            .unwrap_or_default();
        let counted_before = cfg.enabled && cfg.roles_enabled;
        cfg.enabled = c.enabled.unwrap_or(cfg.enabled);
        cfg.roles_enabled = c.roles_enabled.unwrap_or(cfg.roles_enabled);
        tx.put(&cfg)?;
        if counted_before && !(cfg.enabled && cfg.roles_enabled) {
            for g in groups.iter().filter(|g| !g.role_ids.is_empty()) {
                for u in &g.user_ids {
                    crate::model::event::Event::UserRolesRemoved {
                        tenant: &g.tenant_id,
                        user: u,
                    }
                    .record(tx, &at)?;
                }
            }
        }
        Ok(cfg)
    })
    .await
}
