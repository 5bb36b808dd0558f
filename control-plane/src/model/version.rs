//! Optimistic consistency for changes computed from a read of many records.
//!
//! A transaction cannot scan (a backend-neutral rule: sled cannot, and a PostgreSQL backend
//! should not lock a range for it), so a change that depends on a set of records — every
//! entry of a restriction scope, every role holding a permission — reads the set first. A
//! [`Version`] counter, bumped by every transaction that changes the set, makes that read
//! safe: the change commits only if the counter, read again inside its transaction, still has
//! the value it had before the set was read; otherwise the set is read again and the change
//! recomputed. Two writers of the set both read and write the counter, so every backend
//! serialises them.

use crate::store::{Db, StoreError, Tree, Tx};

/// How many times a change is recomputed before giving up (503: try again).
const ATTEMPTS: usize = 16;

/// A counter of changes to a set of records.
#[derive(Clone, Debug)]
pub struct Version {
    tree: Tree,
    key: Vec<u8>,
}

impl Version {
    /// The counter stored under `key` in `tree`.
    pub fn new(tree: Tree, key: impl Into<Vec<u8>>) -> Self {
        Version {
            tree,
            key: key.into(),
        }
    }

    /// Its value now (0: never changed).
    pub fn read(&self, db: &Db) -> Result<u64, StoreError> {
        Ok(decode(db.get_raw(self.tree, &self.key)?))
    }

    /// Its value inside a transaction.
    pub fn read_in(&self, tx: &mut Tx<'_>) -> Result<u64, StoreError> {
        Ok(decode(tx.get_raw(self.tree, &self.key)?))
    }

    /// Count a change, inside the changing transaction.
    pub fn bump(&self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let n = self.read_in(tx)?;
        tx.put_raw(self.tree, &self.key, &(n + 1).to_be_bytes())
    }
}

fn decode(b: Option<Vec<u8>>) -> u64 {
    b.and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

/// Why an attempt did not commit.
enum Attempt<E> {
    /// The set changed after it was read: read it again.
    Stale,
    /// The change itself failed.
    Failed(E),
}

impl<E: From<StoreError>> From<StoreError> for Attempt<E> {
    fn from(e: StoreError) -> Self {
        Attempt::Failed(E::from(e))
    }
}

/// Read the set with `read`, then run `change` on what was read in a transaction that
/// commits only if `version` has not moved since (and bumps it): the change always sees the
/// set as it is when it commits.
pub async fn write_consistent<V, T, E>(
    db: &Db,
    version: &Version,
    read: impl Fn(&Db) -> Result<V, E>,
    mut change: impl FnMut(&V, &mut Tx<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    for _ in 0..ATTEMPTS {
        let seen = version.read(db)?;
        let view = read(db)?;
        let outcome = db
            .write(|tx| {
                if version.read_in(tx)? != seen {
                    return Err(Attempt::Stale);
                }
                let out = change(&view, tx).map_err(Attempt::Failed)?;
                version.bump(tx)?;
                Ok(out)
            })
            .await;
        match outcome {
            Ok(v) => return Ok(v),
            Err(Attempt::Failed(e)) => return Err(e),
            Err(Attempt::Stale) => continue,
        }
    }
    Err(E::from(StoreError::Backend(
        "the records changed on every attempt; try again".into(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_computed_from_a_stale_read_is_recomputed() {
        let db = Db::in_memory();
        let v = Version::new(Tree::Meta, b"test-version".to_vec());
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let db2 = db.clone();
        let v2 = v.clone();
        // The first read races a concurrent change of the set; the change must see it.
        let out: Result<u64, StoreError> = write_consistent(
            &db,
            &v,
            |db| {
                if reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    let (db2, v2) = (db2.clone(), v2.clone());
                    std::thread::spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap();
                        rt.block_on(db2.write(|tx| v2.bump(tx))).unwrap();
                    })
                    .join()
                    .unwrap();
                }
                v.read(db)
            },
            |seen, _tx| Ok(*seen),
        )
        .await;
        assert_eq!(out.unwrap(), 1, "computed from the read after the change");
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(v.read(&db).unwrap(), 2);
    }
}
