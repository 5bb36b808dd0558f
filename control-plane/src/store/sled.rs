//! `SledKv`: the embedded default backend. The only module that names sled.
//!
//! Every tree lives in one sled tree under a one-byte prefix ([`Tree::prefix`]), so any
//! transaction can span every tree without sled's multi-tree transaction plumbing.

use std::path::Path;

use sled::transaction::{
    ConflictableTransactionError, TransactionError, UnabortableTransactionError,
};

use super::{Abort, Kv, KvPair, StoreError, Tree, Txn, TxnOutcome};

/// The sled backend.
pub struct SledKv {
    db: sled::Db,
    tree: sled::Tree,
}

impl SledKv {
    /// Open or create the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            // We flush explicitly (group commit); no background flush timer is needed for
            // durability, but a periodic one bounds the work left for shutdown.
            .flush_every_ms(Some(1000))
            .open()
            .map_err(backend)?;
        let tree = db.open_tree("tessera").map_err(backend)?;
        Ok(SledKv { db, tree })
    }
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn full_key(tree: Tree, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(tree.prefix());
    k.extend_from_slice(key);
    k
}

struct SledTxn<'a> {
    tx: &'a sled::transaction::TransactionalTree,
    /// The sled error behind the last [`Abort::Backend`], handed back to sled so that it
    /// retries conflicts and reports storage errors.
    failed: Option<UnabortableTransactionError>,
}

impl SledTxn<'_> {
    fn keep<T>(&mut self, r: Result<T, UnabortableTransactionError>) -> Result<T, Abort> {
        r.map_err(|e| {
            self.failed = Some(e);
            Abort::Backend
        })
    }
}

impl Txn for SledTxn<'_> {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, Abort> {
        let r = self.tx.get(full_key(tree, key));
        Ok(self.keep(r)?.map(|v| v.to_vec()))
    }
    fn insert(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), Abort> {
        let r = self.tx.insert(full_key(tree, key), value);
        self.keep(r).map(drop)
    }
    fn remove(&mut self, tree: Tree, key: &[u8]) -> Result<(), Abort> {
        let r = self.tx.remove(full_key(tree, key));
        self.keep(r).map(drop)
    }
}

impl Kv for SledKv {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tree
            .get(full_key(tree, key))
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KvPair>, StoreError> {
        self.tree
            .scan_prefix(full_key(tree, prefix))
            .map(|kv| {
                kv.map(|(k, v)| (k[1..].to_vec(), v.to_vec()))
                    .map_err(backend)
            })
            .collect()
    }

    fn scan_from(&self, tree: Tree, from: &[u8], limit: usize) -> Result<Vec<KvPair>, StoreError> {
        self.tree
            .range(full_key(tree, from)..)
            .take_while(|kv| {
                kv.as_ref()
                    .map_or(true, |(k, _)| k.first() == Some(&tree.prefix()))
            })
            .take(limit)
            .map(|kv| {
                kv.map(|(k, v)| (k[1..].to_vec(), v.to_vec()))
                    .map_err(backend)
            })
            .collect()
    }

    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Abort>,
    ) -> Result<TxnOutcome, StoreError> {
        // sled takes an `Fn` closure (it may call it again on conflict); calls never overlap.
        let f = std::cell::RefCell::new(f);
        let result = self.tree.transaction(|tx| {
            let mut txn = SledTxn { tx, failed: None };
            let ran = (f.borrow_mut())(&mut txn);
            match ran {
                Ok(()) => Ok(()),
                Err(Abort::User) => Err(ConflictableTransactionError::Abort(())),
                Err(Abort::Backend) => match txn.failed.take() {
                    Some(e) => Err(e.into()),
                    None => Err(ConflictableTransactionError::Storage(
                        sled::Error::Unsupported("transaction operation failed".into()),
                    )),
                },
            }
        });
        match result {
            Ok(()) => Ok(TxnOutcome::Committed),
            Err(TransactionError::Abort(())) => Ok(TxnOutcome::Aborted),
            Err(TransactionError::Storage(e)) => Err(backend(e)),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(drop).map_err(backend)
    }
}
