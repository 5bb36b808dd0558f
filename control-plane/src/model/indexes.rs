//! Secondary indexes added after data may already exist: built once from the records at
//! start (a store written by an older version has the records but not the indexes), then
//! kept by the functions that write the records (`user::put_user`, `group::put`,
//! `rbac::put_permission`).

use super::group::{self, Group};
use super::rbac::{self, AssignmentType};
use super::user::User;
use crate::store::{Db, StoreError, Tree};

/// The index generation this build keeps.
const VERSION: &[u8] = b"1";
const KEY: &[u8] = b"indexes";

/// Build the indexes of generation [`VERSION`] if the store does not have them yet.
pub async fn ensure(db: &Db) -> Result<(), StoreError> {
    if db.get_raw(Tree::Meta, KEY)?.as_deref() == Some(VERSION) {
        return Ok(());
    }
    let users = db.scan::<User>(b"")?;
    let groups: Vec<Group> = group::all(db)?;
    let always: Vec<String> = rbac::all_permissions(db)?
        .into_iter()
        .filter(|p| p.assignment_type == AssignmentType::Always)
        .map(|p| p.id)
        .collect();
    db.write(|tx| {
        for u in &users {
            // Re-put: `put_user` writes every index of the user.
            if let Some(cur) = tx.get::<User>(u.id.as_bytes())? {
                super::user::put_user(tx, &cur)?;
            }
        }
        for g in &groups {
            if let Some(cur) = tx.get::<Group>(g.id.as_bytes())? {
                group::put(tx, &cur)?;
            }
        }
        for id in &always {
            tx.put_raw(Tree::AlwaysPermissions, id.as_bytes(), b"")?;
        }
        tx.put_raw(Tree::Meta, KEY, VERSION)
    })
    .await
}
