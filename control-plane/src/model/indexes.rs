//! Secondary indexes added after data may already exist: built once from the records at
//! start (a store written by an older version has the records but not the indexes), then
//! kept by the store itself ([`crate::store::Record::indexes`]).

use super::group::{self, Group};
use super::rbac::{self, Permission};
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
    let permissions = rbac::all_permissions(db)?;
    db.write(|tx| {
        for u in &users {
            if let Some(cur) = tx.get::<User>(u.id.as_bytes())? {
                tx.reindex(&cur)?;
            }
        }
        for g in &groups {
            if let Some(cur) = tx.get::<Group>(g.id.as_bytes())? {
                tx.reindex(&cur)?;
            }
        }
        for p in &permissions {
            if let Some(cur) = tx.get::<Permission>(p.id.as_bytes())? {
                tx.reindex(&cur)?;
            }
        }
        tx.put_raw(Tree::Meta, KEY, VERSION)
    })
    .await
}
