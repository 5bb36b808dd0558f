//! `SledKv`: the embedded default backend. The only module that names sled.
//!
//! Every tree lives in one sled tree under a one-byte prefix ([`Tree::prefix`]), so any
//! transaction can span every tree without sled's multi-tree transaction plumbing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, UnabortableTransactionError,
};

use super::{Abort, Kv, KvPair, StoreError, Tree, Txn, TxnOutcome};

/// The sled backend.
///
/// After an I/O error (disk full, EIO) sled latches the error and refuses every later write,
/// even once the cause is gone, and its reads are no longer to be trusted. So on such an
/// error the store drops its handle at once and, once the directory takes a synced write
/// again, reopens it — the same recovery as after a crash: everything acknowledged was
/// flushed before the error, anything unacknowledged may or may not be there — trying at most
/// once a second. Until then every operation fails (503, never a wrong answer); none hangs.
pub struct SledKv {
    dir: PathBuf,
    handle: ArcSwapOption<Handle>,
    /// When the last reopen was attempted (one at a time).
    reopened: Mutex<Option<Instant>>,
    /// Bumped when the handle is taken away for a reopen ([`Kv::generation`]).
    generation: AtomicU64,
    /// An I/O error was met and no reopen has succeeded since: writes will fail.
    broken: AtomicBool,
}

struct Handle {
    db: sled::Db,
    tree: sled::Tree,
}

/// Longest wait for in-flight operations to let go of a broken handle.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

fn open_handle(dir: &Path) -> Result<Handle, sled::Error> {
    let db = sled::Config::new()
        .path(dir)
        // We flush explicitly (group commit); no background flush timer is needed for
        // durability, but a periodic one bounds the work left for shutdown.
        .flush_every_ms(Some(1000))
        .open()?;
    let tree = db.open_tree("tessera")?;
    Ok(Handle { db, tree })
}

impl SledKv {
    /// Open or create the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        // sled lets go of its directory lock from its background threads, shortly after the
        // last handle is dropped: a store closed and reopened in one process waits for that
        // (briefly), while a second process still fails after the wait.
        let deadline = Instant::now() + RELEASE_WAIT;
        let handle = loop {
            match open_handle(dir) {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                r => break r.map_err(backend)?,
            }
        };
        Ok(SledKv {
            dir: dir.to_path_buf(),
            handle: ArcSwapOption::from_pointee(handle),
            reopened: Mutex::new(None),
            generation: AtomicU64::new(0),
            broken: AtomicBool::new(false),
        })
    }

    /// The current handle, reopening first if there is none.
    fn handle(&self) -> Result<Arc<Handle>, StoreError> {
        if let Some(h) = self.handle.load_full() {
            return Ok(h);
        }
        self.reopen();
        self.handle
            .load_full()
            .ok_or_else(|| StoreError::Backend("the store is reopening after an I/O error".into()))
    }

    /// Map a sled error, reopening the store when it was an I/O error.
    fn failed(&self, e: sled::Error) -> StoreError {
        if matches!(e, sled::Error::Io(_)) {
            self.broken.store(true, Ordering::Release);
            self.reopen();
        }
        backend(e)
    }

    /// Drop the broken handle and open the directory again (rate-limited; one at a time).
    /// May block its caller for up to [`RELEASE_WAIT`] while in-flight operations let go of
    /// the old handle — only ever after an I/O error, never on a healthy store.
    pub(crate) fn reopen(&self) {
        let Ok(mut last) = self.reopened.try_lock() else {
            return; // another caller is at it
        };
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *last = Some(Instant::now());
        // Give the broken handle up first: once sled has latched an I/O error its reads are
        // not to be trusted either (the fsync-EIO suite saw a scan end early, silently).
        // The old handle's files must be closed (sled locks its directory) before reopening.
        if let Some(mut old) = self.handle.swap(None) {
            self.generation.fetch_add(1, Ordering::AcqRel);
            let deadline = Instant::now() + RELEASE_WAIT;
            loop {
                match Arc::try_unwrap(old) {
                    Ok(h) => {
                        // sled's drop fsyncs and unwraps the result when no error is latched:
                        // a failing disk must not take the process down with it.
                        let dropped =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(h)));
                        if dropped.is_err() {
                            tracing::error!("closing the broken store handle panicked in sled");
                        }
                        break;
                    }
                    Err(still_used) if Instant::now() < deadline => {
                        old = still_used;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(still_used) => {
                        tracing::error!("store handle still in use; reopening later");
                        self.handle.store(Some(still_used));
                        return;
                    }
                }
            }
        }
        // Reopen only once the directory takes a synced write again: a store opened on a
        // failing disk would look healthy until its next write failed.
        if !accepts_synced_writes(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), "the data directory still fails synced writes; not reopening yet");
            return;
        }
        match open_handle(&self.dir) {
            Ok(h) => {
                tracing::warn!(dir = %self.dir.display(), "store reopened after an I/O error");
                self.handle.store(Some(Arc::new(h)));
                self.broken.store(false, Ordering::Release);
            }
            Err(e) => tracing::error!(error = %e, "store reopen failed; retrying"),
        }
    }
}

/// Whether `dir` takes a small file written and synced to disk (the probe is removed again).
fn accepts_synced_writes(dir: &Path) -> bool {
    use std::io::Write;
    let probe = dir.join(".write-probe");
    let ok = std::fs::File::create(&probe)
        .and_then(|mut f| {
            f.write_all(&[0; 4096])?;
            f.sync_all()
        })
        .is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
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
        let h = self.handle()?;
        Ok(h.tree
            .get(full_key(tree, key))
            .map_err(|e| self.failed(e))?
            .map(|v| v.to_vec()))
    }

    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KvPair>, StoreError> {
        let h = self.handle()?;
        let out: Result<Vec<KvPair>, sled::Error> = h
            .tree
            .scan_prefix(full_key(tree, prefix))
            .map(|kv| kv.map(|(k, v)| (k[1..].to_vec(), v.to_vec())))
            .collect();
        drop(h);
        out.map_err(|e| self.failed(e))
    }

    fn scan_from(&self, tree: Tree, from: &[u8], limit: usize) -> Result<Vec<KvPair>, StoreError> {
        let h = self.handle()?;
        let out: Result<Vec<KvPair>, sled::Error> = h
            .tree
            .range(full_key(tree, from)..)
            .take_while(|kv| {
                kv.as_ref()
                    .map_or(true, |(k, _)| k.first() == Some(&tree.prefix()))
            })
            .take(limit)
            .map(|kv| kv.map(|(k, v)| (k[1..].to_vec(), v.to_vec())))
            .collect();
        drop(h);
        out.map_err(|e| self.failed(e))
    }

    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Abort>,
    ) -> Result<TxnOutcome, StoreError> {
        // sled takes an `Fn` closure (it may call it again on conflict); calls never overlap.
        let f = std::cell::RefCell::new(f);
        let h = self.handle()?;
        let result = h.tree.transaction(|tx| {
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
        drop(h);
        match result {
            Ok(()) => Ok(TxnOutcome::Committed),
            Err(TransactionError::Abort(())) => Ok(TxnOutcome::Aborted),
            Err(TransactionError::Storage(e)) => Err(self.failed(e)),
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn recover(&self) -> bool {
        if self.broken.load(Ordering::Acquire) {
            self.reopen();
        }
        !self.broken.load(Ordering::Acquire)
    }

    fn flush(&self) -> Result<(), StoreError> {
        let h = self.handle()?;
        let r = h.db.flush().map(drop);
        drop(h);
        r.map_err(|e| self.failed(e))
    }
}
