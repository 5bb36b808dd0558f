//! `MemKv`: an in-memory backend with the same semantics as sled (serializable transactions,
//! ordered prefix scans). Used by tests and benches.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Abort, Kv, KvPair, StoreError, Tree, Txn, TxnOutcome};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// The in-memory backend.
#[derive(Default)]
pub struct MemKv {
    // One lock for everything: a transaction holds it from first read to commit, which makes
    // transactions serializable. Contention is irrelevant for a test backend.
    map: Mutex<Map>,
}

impl MemKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Map>, StoreError> {
        self.map
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }
}

fn full_key(tree: Tree, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(tree.prefix());
    k.extend_from_slice(key);
    k
}

struct MemTxn<'a> {
    base: &'a Map,
    /// Staged writes: `None` is a delete.
    staged: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl Txn for MemTxn<'_> {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, Abort> {
        let k = full_key(tree, key);
        Ok(match self.staged.get(&k) {
            Some(v) => v.clone(),
            None => self.base.get(&k).cloned(),
        })
    }
    fn insert(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), Abort> {
        self.staged
            .insert(full_key(tree, key), Some(value.to_vec()));
        Ok(())
    }
    fn remove(&mut self, tree: Tree, key: &[u8]) -> Result<(), Abort> {
        self.staged.insert(full_key(tree, key), None);
        Ok(())
    }
}

impl Kv for MemKv {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.get(&full_key(tree, key)).cloned())
    }

    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KvPair>, StoreError> {
        let start = full_key(tree, prefix);
        Ok(self
            .lock()?
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .map(|(k, v)| (k[1..].to_vec(), v.clone()))
            .collect())
    }

    fn scan_from(&self, tree: Tree, from: &[u8], limit: usize) -> Result<Vec<KvPair>, StoreError> {
        let start = full_key(tree, from);
        Ok(self
            .lock()?
            .range(start..)
            .take_while(|(k, _)| k.first() == Some(&tree.prefix()))
            .take(limit)
            .map(|(k, v)| (k[1..].to_vec(), v.clone()))
            .collect())
    }

    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Abort>,
    ) -> Result<TxnOutcome, StoreError> {
        let mut map = self.lock()?;
        let mut txn = MemTxn {
            base: &map,
            staged: BTreeMap::new(),
        };
        match f(&mut txn) {
            Ok(()) => {
                let staged = std::mem::take(&mut txn.staged);
                for (k, v) in staged {
                    match v {
                        Some(v) => map.insert(k, v),
                        None => map.remove(&k),
                    };
                }
                Ok(TxnOutcome::Committed)
            }
            Err(Abort::User) => Ok(TxnOutcome::Aborted),
            Err(Abort::Backend) => Err(StoreError::Backend("memory transaction failed".into())),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
