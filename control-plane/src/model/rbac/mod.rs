//! Roles, permissions and permission categories: the records and their indexes, the
//! catalogue's version, the first-start seeding of built-ins, and the changes
//! ([`permissions`], [`roles`], [`categories`]).
//!
//! Invariants:
//! - Every write of a role or a permission moves the catalogue's [`version`] in the same
//!   transaction ([`put_role`], [`put_permission`], [`delete_role`], [`delete_permission`]):
//!   the cached catalogue and consistent changes key on it.
//! - A change computed from the whole catalogue (key uniqueness, which roles hold a
//!   permission) commits only if the catalogue did not move since it was read
//!   ([`crate::model::version::write_consistent`]).
//! - Built-ins (`fe.*` permissions, their categories, the seeded roles) are never deleted or
//!   renamed; `NEVER` permissions are in no role.

pub mod categories;
pub mod permissions;
pub mod roles;

use serde::{Deserialize, Serialize};

use super::builtin;
use crate::model::version::Version;
use crate::store::{Db, Index, IndexEntry, Record, StoreError, Tree, Tx};

/// Why a catalogue change was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    /// No such role, permission or category.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A key or id that is taken.
    #[error("{0}")]
    Conflict(String),
    /// Input that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// A change a built-in, or the caller's level, does not allow.
    #[error("{0}")]
    Forbidden(String),
    /// A text field out of bounds.
    #[error(transparent)]
    Text(#[from] crate::model::text::TextError),
    /// The account does not exist.
    #[error(transparent)]
    Tenant(#[from] crate::model::tenant::TenantError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every role and every permission, read together (what a consistent change decides on).
pub struct Snapshot {
    /// Every role.
    pub roles: Vec<Role>,
    /// Every permission.
    pub permissions: Vec<Permission>,
}

impl Snapshot {
    /// Read them.
    pub fn read(db: &Db) -> Result<Self, StoreError> {
        Ok(Snapshot {
            roles: all_roles(db)?,
            permissions: all_permissions(db)?,
        })
    }
}

/// How a permission may be granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AssignmentType {
    /// Can be put in roles.
    Assignable,
    /// Cannot be put in any role.
    Never,
    /// Every user holds it.
    Always,
}

/// A stored permission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Permission {
    /// UUID.
    pub id: String,
    /// Unique key (what tokens carry).
    pub key: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category, if any.
    pub category_id: Option<String>,
    /// Built in (`fe.*`): cannot be deleted or renamed.
    pub fe_permission: bool,
    /// How it may be granted.
    pub assignment_type: AssignmentType,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Permissions by key.
pub const PERMISSION_BY_KEY: Index<Permission> = Index::unique(Tree::PermissionKeys);
/// The permissions classified `ALWAYS` (one shared, empty owner key).
pub const ALWAYS: Index<Permission> = Index::many(Tree::AlwaysPermissions);

impl Record for Permission {
    const TREE: Tree = Tree::Permissions;
    const INDEXES: &'static [Tree] = &[Tree::PermissionKeys, Tree::AlwaysPermissions];
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        let mut out = vec![PERMISSION_BY_KEY.entry(self.key.as_bytes())];
        if self.assignment_type == AssignmentType::Always {
            out.push(ALWAYS.entry(Vec::new()));
        }
        out
    }
}

/// A stored permission category.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// UUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Built in: cannot be deleted or renamed.
    pub fe_category: bool,
    /// RFC 3339.
    pub created_at: String,
}

impl Record for Category {
    const TREE: Tree = Tree::Categories;
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}

/// A stored role: environment-wide (`tenant_id` = `None`) or an account's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// UUID.
    pub id: String,
    /// Key, unique within its scope (environment, or one account plus the environment).
    pub key: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Privilege level: 0 is the highest; users assign only roles at or below their own.
    pub level: u16,
    /// Given to new users of an account when no role is named.
    pub is_default: bool,
    /// Given to the first user of a new account.
    pub first_user_role: bool,
    /// The owning account, `None` for environment roles.
    pub tenant_id: Option<String>,
    /// Permission ids.
    pub permission_ids: Vec<String>,
    /// Seeded default role: cannot be deleted or renamed.
    #[serde(default)]
    pub builtin: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Roles by scope and key: `<tenant id or "-">/<role key>` ([`role_key_index`]).
pub const ROLE_BY_KEY: Index<Role> = Index::unique(Tree::RoleKeys);

impl Record for Role {
    const TREE: Tree = Tree::Roles;
    const INDEXES: &'static [Tree] = &[Tree::RoleKeys];
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        vec![ROLE_BY_KEY.entry(role_key_index(self.tenant_id.as_deref(), &self.key))]
    }
}

/// The unique-index key of a role key within a scope.
pub fn role_key_index(tenant_id: Option<&str>, key: &str) -> Vec<u8> {
    format!("{}/{key}", tenant_id.unwrap_or("-")).into_bytes()
}

/// The catalogue's version: moved in every transaction that writes a role or a permission
/// (the functions below), so a cached catalogue is current exactly while the stored version
/// equals its own.
pub fn version() -> Version {
    Version::new(Tree::Meta, b"rbac_generation".to_vec())
}

/// The catalogue's version now.
pub fn generation(db: &Db) -> Result<u64, StoreError> {
    version().read(db)
}

fn bump(tx: &mut Tx<'_>) -> Result<(), StoreError> {
    version().bump(tx)
}

/// Insert or replace a permission (its indexes follow, [`Record::indexes`]) and move the
/// catalogue to a new generation. Every write of a permission goes through here.
pub fn put_permission(tx: &mut Tx<'_>, p: &Permission) -> Result<(), StoreError> {
    bump(tx)?;
    tx.put(p)
}

/// Whether a permission key is taken (inside a transaction).
pub fn permission_key_taken(tx: &mut Tx<'_>, key: &str) -> Result<bool, StoreError> {
    Ok(tx.owner(PERMISSION_BY_KEY, key.as_bytes())?.is_some())
}

/// Insert or replace a role (its key index follows) and move the catalogue to a new
/// generation. Every write of a role goes through here.
pub fn put_role(tx: &mut Tx<'_>, r: &Role) -> Result<(), StoreError> {
    bump(tx)?;
    tx.put(r)
}

/// Whether `key` is free for a role in `tenant_id` (an account role may not shadow an
/// environment role, and an environment role may not take a key an account uses).
pub fn role_key_free(
    db_roles: &[Role],
    tenant_id: Option<&str>,
    key: &str,
    except: Option<&str>,
) -> bool {
    !db_roles.iter().any(|r| {
        Some(r.id.as_str()) != except
            && r.key == key
            && (r.tenant_id.is_none() || tenant_id.is_none() || r.tenant_id.as_deref() == tenant_id)
    })
}

/// Delete a role and its index entry. (Memberships and groups drop dangling role ids when
/// read, and are cleaned by their own cascades.)
pub fn delete_role(tx: &mut Tx<'_>, r: &Role) -> Result<(), StoreError> {
    bump(tx)?;
    tx.delete::<Role>(r.id.as_bytes())
}

/// Take permission `id` out of every role of `roles` that holds it (re-read inside the
/// transaction, so a concurrent change to the role is not lost).
pub fn remove_from_roles(
    tx: &mut Tx<'_>,
    roles: &[Role],
    id: &str,
    now: &str,
) -> Result<(), StoreError> {
    for r in roles
        .iter()
        .filter(|r| r.permission_ids.iter().any(|p| p == id))
    {
        if let Some(mut cur) = tx.get::<Role>(r.id.as_bytes())? {
            cur.permission_ids.retain(|p| p != id);
            cur.updated_at = now.to_owned();
            put_role(tx, &cur)?;
        }
    }
    Ok(())
}

/// Delete a permission (its indexes follow).
pub fn delete_permission(tx: &mut Tx<'_>, p: &Permission) -> Result<(), StoreError> {
    bump(tx)?;
    tx.delete::<Permission>(p.id.as_bytes())
}

/// Every role.
pub fn all_roles(db: &Db) -> Result<Vec<Role>, StoreError> {
    db.scan::<Role>(b"")
}

/// Every permission.
pub fn all_permissions(db: &Db) -> Result<Vec<Permission>, StoreError> {
    db.scan::<Permission>(b"")
}

/// Seed the built-in categories, permissions and default roles on first start.
pub async fn seed(db: &Db, now: &str) -> Result<(), StoreError> {
    if db.get_raw_exists(Tree::Meta, b"rbac_seeded")? {
        return Ok(());
    }
    let new_id = || crate::crypto::new_uuid().to_string();
    // Ids are drawn before the transaction so a retried closure writes the same records.
    let cats: Vec<(String, &str, &[&str])> = builtin::CATEGORIES
        .iter()
        .map(|(n, k)| (new_id(), *n, *k))
        .collect();
    let perm_ids: Vec<Vec<String>> = cats
        .iter()
        .map(|(_, _, keys)| keys.iter().map(|_| new_id()).collect())
        .collect();
    let role_ids: Vec<String> = builtin::ROLES.iter().map(|_| new_id()).collect();
    db.write(|tx| {
        if tx.get_raw(Tree::Meta, b"rbac_seeded")?.is_some() {
            return Ok(());
        }
        let mut key_to_id = std::collections::HashMap::new();
        for ((cat_id, name, keys), ids) in cats.iter().zip(&perm_ids) {
            tx.put(&Category {
                id: cat_id.clone(),
                name: (*name).to_owned(),
                description: Some("Built-in permissions".into()),
                fe_category: true,
                created_at: now.to_owned(),
            })?;
            for (key, id) in keys.iter().zip(ids) {
                key_to_id.insert(*key, id.clone());
                let p = Permission {
                    id: id.clone(),
                    key: (*key).to_owned(),
                    name: (*key).to_owned(),
                    description: String::new(),
                    category_id: Some(cat_id.clone()),
                    fe_permission: true,
                    assignment_type: AssignmentType::Assignable,
                    created_at: now.to_owned(),
                    updated_at: now.to_owned(),
                };
                put_permission(tx, &p)?;
            }
        }
        for ((key, name, level, perms), id) in builtin::ROLES.iter().zip(&role_ids) {
            let r = Role {
                id: id.clone(),
                key: (*key).to_owned(),
                name: (*name).to_owned(),
                description: String::new(),
                level: *level,
                is_default: false,
                first_user_role: *key == "Admin",
                tenant_id: None,
                permission_ids: perms
                    .iter()
                    .filter_map(|k| key_to_id.get(k).cloned())
                    .collect(),
                builtin: true,
                created_at: now.to_owned(),
                updated_at: now.to_owned(),
            };
            put_role(tx, &r)?;
        }
        tx.put_raw(Tree::Meta, b"rbac_seeded", b"1")
    })
    .await
}
