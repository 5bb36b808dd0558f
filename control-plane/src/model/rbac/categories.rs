//! Changing permission categories: create (optionally with a chosen id), rename and
//! describe, delete (its permissions stay, uncategorised). Built-in categories keep their
//! name and stay.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Category, Permission, RbacError, put_permission};
use crate::model::clock::{Clock, rfc3339};
use crate::model::text::{Required, Text};
use crate::model::version::write_consistent;
use crate::store::Db;

fn not_found() -> RbacError {
    RbacError::NotFound("Category")
}

/// Every category.
pub fn all(db: &Db) -> Result<Vec<Category>, RbacError> {
    Ok(db.scan::<Category>(b"")?)
}

/// The ids of each category's permissions.
pub fn members(db: &Db) -> Result<HashMap<String, Vec<String>>, RbacError> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for p in super::all_permissions(db)? {
        if let Some(c) = p.category_id {
            map.entry(c).or_default().push(p.id);
        }
    }
    Ok(map)
}

/// A category to create.
#[derive(Clone, Debug, Deserialize)]
pub struct NewCategory {
    /// Display name.
    pub name: Required<255>,
    /// Description.
    #[serde(default)]
    pub description: Option<Text<1000>>,
    /// A chosen UUID (409 if taken).
    #[serde(default)]
    pub id: Option<String>,
}

/// Create a category.
pub async fn create(db: &Db, clock: &Clock, new: &NewCategory) -> Result<Category, RbacError> {
    let id = match &new.id {
        Some(raw) => crate::model::tenant::id_of("id", raw)?,
        None => crate::crypto::new_uuid().to_string(),
    };
    let c = Category {
        id,
        name: new.name.as_str().to_owned(),
        description: new.description.as_ref().map(|d| d.as_str().to_owned()),
        fe_category: false,
        created_at: rfc3339(clock.now()),
    };
    db.write(|tx| {
        if tx.get::<Category>(c.id.as_bytes())?.is_some() {
            return Err(RbacError::Conflict("a category with this id exists".into()));
        }
        tx.put(&c)?;
        Ok(())
    })
    .await?;
    Ok(c)
}

/// A change to a category.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CategoryChange {
    /// A new name (not for built-ins).
    pub name: Option<Required<255>>,
    /// A new description.
    pub description: Option<Text<1000>>,
}

/// Rename or describe a category.
pub async fn update(db: &Db, id: &str, change: &CategoryChange) -> Result<Category, RbacError> {
    db.write(|tx| {
        let mut c = tx.get::<Category>(id.as_bytes())?.ok_or_else(not_found)?;
        if c.fe_category && change.name.as_deref().is_some_and(|n| n != c.name) {
            return Err(RbacError::Forbidden(
                "built-in categories cannot be renamed".into(),
            ));
        }
        if let Some(n) = &change.name {
            c.name = n.as_str().to_owned();
        }
        if let Some(d) = &change.description {
            c.description = Some(d.as_str().to_owned());
        }
        tx.put(&c)?;
        Ok(c)
    })
    .await
}

/// Delete a category; its permissions (as they are when the deletion commits) stay,
/// uncategorised.
pub async fn delete(db: &Db, id: &str) -> Result<(), RbacError> {
    write_consistent(
        db,
        &super::version(),
        |db| Ok(super::all_permissions(db)?),
        |permissions: &Vec<Permission>, tx| {
            let c = tx.get::<Category>(id.as_bytes())?.ok_or_else(not_found)?;
            if c.fe_category {
                return Err(RbacError::Forbidden(
                    "built-in categories cannot be deleted".into(),
                ));
            }
            for p in permissions
                .iter()
                .filter(|p| p.category_id.as_deref() == Some(id))
            {
                if let Some(mut cur) = tx.get::<Permission>(p.id.as_bytes())? {
                    cur.category_id = None;
                    put_permission(tx, &cur)?;
                }
            }
            tx.delete::<Category>(id.as_bytes())?;
            Ok(())
        },
    )
    .await
}
