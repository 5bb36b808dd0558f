//! Changing permissions: create (all or none), rename and describe, delete, put in roles,
//! classify. Taking a permission from its holders — deleting, renaming, classifying it
//! `NEVER` or out of `ALWAYS` — records [`Event::PermissionRevoked`], so tokens carrying it
//! stop counting at every sidecar.

use std::collections::HashSet;

use serde::Deserialize;

use super::{AssignmentType, Category, Permission, RbacError, Role, Snapshot, put_permission};
use crate::model::clock::{Clock, rfc3339};
use crate::model::event::Event;
use crate::model::text::{Required, Text};
use crate::model::version::write_consistent;
use crate::store::Db;

/// Most permissions one call creates or classifies.
pub const MAX_BATCH: usize = 500;

fn not_found() -> RbacError {
    RbacError::NotFound("Permission")
}

/// A key what a header list can carry ([`shared::rights::is_valid_key`]), not in the `fe.`
/// namespace of the built-ins.
pub fn check_key(key: &str) -> Result<(), RbacError> {
    if !shared::rights::is_valid_key(key) {
        return Err(RbacError::Invalid(format!(
            "invalid permission key {key:?}: {}",
            shared::rights::KEY_RULE
        )));
    }
    if key.starts_with("fe.") {
        return Err(RbacError::Invalid(format!(
            "permission key {key:?}: the fe. prefix is reserved for built-in permissions"
        )));
    }
    Ok(())
}

/// A permission to create.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPermission {
    /// Unique key.
    pub key: String,
    /// Display name.
    pub name: Required<255>,
    /// Description.
    #[serde(default)]
    pub description: Option<Text<1000>>,
    /// An existing category.
    #[serde(default)]
    pub category_id: Option<String>,
    /// Default `ASSIGNABLE`.
    #[serde(default)]
    pub assignment_type: Option<AssignmentType>,
}

/// Create permissions, all or none (a taken or repeated key refuses the lot).
pub async fn create(
    db: &Db,
    clock: &Clock,
    new: &[NewPermission],
) -> Result<Vec<Permission>, RbacError> {
    if new.is_empty() || new.len() > MAX_BATCH {
        return Err(RbacError::Invalid(format!(
            "send 1 to {MAX_BATCH} permissions"
        )));
    }
    let now = rfc3339(clock.now());
    let mut seen = HashSet::new();
    let mut records = Vec::with_capacity(new.len());
    for r in new {
        check_key(&r.key)?;
        if !seen.insert(r.key.as_str()) {
            return Err(RbacError::Invalid(format!(
                "permission key {:?} appears twice",
                r.key
            )));
        }
        records.push(Permission {
            id: crate::crypto::new_uuid().to_string(),
            key: r.key.clone(),
            name: r.name.as_str().to_owned(),
            description: r.description.as_deref().unwrap_or_default().to_owned(),
            category_id: r.category_id.clone(),
            fe_permission: false,
            assignment_type: r.assignment_type.unwrap_or(AssignmentType::Assignable),
            created_at: now.clone(),
            updated_at: now.clone(),
        });
    }
    db.write(|tx| {
        for p in &records {
            if super::permission_key_taken(tx, &p.key)? {
                return Err(RbacError::Conflict(format!(
                    "a permission with key {:?} exists",
                    p.key
                )));
            }
            if let Some(c) = &p.category_id
                && tx.get::<Category>(c.as_bytes())?.is_none()
            {
                return Err(RbacError::Invalid(format!("category {c} does not exist")));
            }
            put_permission(tx, p)?;
        }
        Ok(())
    })
    .await?;
    Ok(records)
}

/// A change to a permission; built-ins keep their key and name.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionChange {
    /// A new key (tokens carrying the old one stop counting).
    pub key: Option<String>,
    /// A new name.
    pub name: Option<Required<255>>,
    /// A new description.
    pub description: Option<Text<1000>>,
    /// An existing category.
    pub category_id: Option<String>,
}

/// Change a permission.
pub async fn update(
    db: &Db,
    clock: &Clock,
    id: &str,
    c: &PermissionChange,
) -> Result<Permission, RbacError> {
    if let Some(k) = &c.key {
        check_key(k)?;
    }
    let now = rfc3339(clock.now());
    db.write(|tx| {
        let mut p = tx.get::<Permission>(id.as_bytes())?.ok_or_else(not_found)?;
        if p.fe_permission
            && (c.key.as_ref().is_some_and(|k| *k != p.key)
                || c.name.as_deref().is_some_and(|n| n != p.name))
        {
            return Err(RbacError::Forbidden(
                "built-in permissions cannot be renamed".into(),
            ));
        }
        if let Some(k) = &c.key
            && *k != p.key
        {
            if super::permission_key_taken(tx, k)? {
                return Err(RbacError::Conflict(format!(
                    "a permission with key {k:?} exists"
                )));
            }
            // Tokens carry the old key, which now names nothing (or, later, something else).
            Event::PermissionRevoked { key: &p.key }.record(tx, &now)?;
            p.key = k.clone();
        }
        if let Some(cat) = &c.category_id {
            if tx.get::<Category>(cat.as_bytes())?.is_none() {
                return Err(RbacError::Invalid(format!("category {cat} does not exist")));
            }
            p.category_id = Some(cat.clone());
        }
        if let Some(n) = &c.name {
            p.name = n.as_str().to_owned();
        }
        if let Some(d) = &c.description {
            p.description = d.as_str().to_owned();
        }
        p.updated_at = now.clone();
        put_permission(tx, &p)?;
        Ok(p)
    })
    .await
}

/// Delete a permission and take it out of every role holding it, as the catalogue is when
/// the deletion commits; built-ins stay.
pub async fn delete(db: &Db, clock: &Clock, id: &str) -> Result<(), RbacError> {
    let now = rfc3339(clock.now());
    write_consistent(
        db,
        &super::version(),
        |db| Ok(Snapshot::read(db)?),
        |snap, tx| {
            let p = tx.get::<Permission>(id.as_bytes())?.ok_or_else(not_found)?;
            if p.fe_permission {
                return Err(RbacError::Forbidden(
                    "built-in permissions cannot be deleted".into(),
                ));
            }
            super::remove_from_roles(tx, &snap.roles, &p.id, &now)?;
            super::delete_permission(tx, &p)?;
            Event::PermissionRevoked { key: &p.key }.record(tx, &now)?;
            Ok(())
        },
    )
    .await
}

/// Put a permission in each of `role_ids` (grants already there stay).
pub async fn add_to_roles(
    db: &Db,
    clock: &Clock,
    id: &str,
    role_ids: &[String],
) -> Result<Permission, RbacError> {
    if role_ids.len() > MAX_BATCH {
        return Err(RbacError::Invalid(format!(
            "at most {MAX_BATCH} roles at once"
        )));
    }
    let now = rfc3339(clock.now());
    db.write(|tx| {
        let p = tx.get::<Permission>(id.as_bytes())?.ok_or_else(not_found)?;
        if p.assignment_type == AssignmentType::Never {
            return Err(RbacError::Invalid(
                "this permission is classified NEVER and cannot be put in roles".into(),
            ));
        }
        for rid in role_ids {
            let mut r = tx
                .get::<Role>(rid.as_bytes())?
                .ok_or_else(|| RbacError::Invalid(format!("role {rid} does not exist")))?;
            if !r.permission_ids.contains(&p.id) {
                r.permission_ids.push(p.id.clone());
                r.updated_at = now.clone();
                super::put_role(tx, &r)?;
            }
        }
        Ok(p)
    })
    .await
}

/// Set the assignment type of permissions. `NEVER` also takes them out of every role (as
/// the catalogue is when the change commits).
pub async fn classify(
    db: &Db,
    clock: &Clock,
    ids: &[String],
    kind: AssignmentType,
) -> Result<Vec<Permission>, RbacError> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(RbacError::Invalid(format!(
            "send 1 to {MAX_BATCH} permission ids"
        )));
    }
    let now = rfc3339(clock.now());
    write_consistent(
        db,
        &super::version(),
        |db| Ok(Snapshot::read(db)?),
        |snap, tx| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let mut p = tx
                    .get::<Permission>(id.as_bytes())?
                    .ok_or_else(|| RbacError::Invalid(format!("permission {id} does not exist")))?;
                let before = p.assignment_type;
                p.assignment_type = kind;
                p.updated_at = now.clone();
                put_permission(tx, &p)?;
                // Holders lose it when it stops being everyone's (ALWAYS to anything else) or
                // becomes nobody's (NEVER).
                if kind != before
                    && (before == AssignmentType::Always || kind == AssignmentType::Never)
                {
                    Event::PermissionRevoked { key: &p.key }.record(tx, &now)?;
                }
                if kind == AssignmentType::Never {
                    super::remove_from_roles(tx, &snap.roles, &p.id, &now)?;
                }
                out.push(p);
            }
            Ok(out)
        },
    )
    .await
}
