//! Storage: a small, object-safe byte-level [`Kv`] trait with two implementations
//! ([`SledKv`], the embedded default, and [`MemKv`] for tests), and the typed layer [`Db`]
//! that every handler uses.
//!
//! Durability is owned here, once: [`Db::write`] runs a transaction and returns only after a
//! flush has covered it. Concurrent writers share flushes through one flusher thread (group
//! commit), so a burst of N writes costs far fewer than N fsyncs.

mod codec;
mod durable;
mod memory;
mod sled;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::memory::MemKv;
pub use self::sled::SledKv;
use durable::Flusher;

/// The named key spaces of the store. An enum, not free-form strings, so the set of trees is
/// enumerable for migrations, backups and the conformance suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tree {
    /// Store-level facts (schema version).
    Meta,
    /// The environment: vendor credentials, token-signing secrets.
    Environment,
    /// Tenants (accounts), keyed by tenant id.
    Tenants,
    /// Security events awaiting distribution, keyed by a big-endian sequence number.
    Events,
    /// Token-signing keys, keyed by key id.
    Keys,
    /// Permissions, keyed by id.
    Permissions,
    /// Unique index: permission key -> id.
    PermissionKeys,
    /// Permission categories, keyed by id.
    Categories,
    /// Roles, keyed by id.
    Roles,
    /// Unique index: `<tenant id or "-">/<role key>` -> role id.
    RoleKeys,
    /// Users, keyed by id.
    Users,
    /// Unique index: normalised email -> user id.
    UserEmails,
    /// Login sessions, keyed by id.
    Sessions,
    /// Index: SHA-256 of a refresh token (hex) -> session id.
    RefreshTokens,
    /// User groups, keyed by id.
    Groups,
    /// Index: user id -> that user's session ids.
    UserSessions,
    /// Refresh tokens rotated out: SHA-256 (hex) -> session id (reuse detection).
    RotatedRefreshTokens,
    /// One-time tokens (activation, reset, unlock), keyed by SHA-256 (hex).
    OneTimeTokens,
    /// Unique index: lower-cased username -> user id.
    Usernames,
    /// IP restriction entries, keyed `<scope>/<id>`.
    IpRules,
    /// Email-domain restriction entries, keyed `<scope>/<id>`.
    DomainRules,
    /// Restriction configurations, keyed `ip/<scope>` and `domain/<scope>`.
    RestrictionConfigs,
    /// Client-credentials API tokens, keyed by client id.
    ApiTokens,
    /// Access tokens, keyed by id.
    AccessTokens,
    /// Index: `<tenant id>/<user id>` for every membership (an account's users).
    TenantUsers,
    /// Index: `<user id>/<group id>` for every group member (a user's groups).
    UserGroups,
    /// Index: `<tenant id>/<group id>` (an account's groups).
    TenantGroups,
    /// Index: `<phone digits>/<user id>` (users by phone number).
    UserPhones,
    /// Index: ids of the permissions classified `ALWAYS`.
    AlwaysPermissions,
}

impl Tree {
    /// Every tree, in prefix order.
    pub const ALL: [Tree; 5] = [
        Tree::Meta,
        Tree::Environment,
        Tree::Tenants,
        Tree::Events,
        Tree::Keys,
    ];

    /// The byte that prefixes this tree's keys in a single-keyspace backend.
    pub const fn prefix(self) -> u8 {
        match self {
            Tree::Meta => 0,
            Tree::Environment => 1,
            Tree::Tenants => 2,
            Tree::Events => 3,
            Tree::Keys => 4,
            Tree::Permissions => 5,
            Tree::PermissionKeys => 6,
            Tree::Categories => 7,
            Tree::Roles => 8,
            Tree::RoleKeys => 9,
            Tree::Users => 10,
            Tree::UserEmails => 11,
            Tree::Sessions => 12,
            Tree::RefreshTokens => 13,
            Tree::Groups => 14,
            Tree::UserSessions => 15,
            Tree::RotatedRefreshTokens => 16,
            Tree::OneTimeTokens => 17,
            Tree::Usernames => 18,
            Tree::IpRules => 19,
            Tree::DomainRules => 20,
            Tree::RestrictionConfigs => 21,
            Tree::ApiTokens => 22,
            Tree::AccessTokens => 23,
            Tree::TenantUsers => 24,
            Tree::UserGroups => 25,
            Tree::TenantGroups => 26,
            Tree::UserPhones => 27,
            Tree::AlwaysPermissions => 28,
        }
    }

    /// A stable name for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Environment => "environment",
            Tree::Tenants => "tenants",
            Tree::Events => "events",
            Tree::Keys => "keys",
            Tree::Permissions => "permissions",
            Tree::PermissionKeys => "permission_keys",
            Tree::Categories => "categories",
            Tree::Roles => "roles",
            Tree::RoleKeys => "role_keys",
            Tree::Users => "users",
            Tree::UserEmails => "user_emails",
            Tree::Sessions => "sessions",
            Tree::RefreshTokens => "refresh_tokens",
            Tree::Groups => "groups",
            Tree::UserSessions => "user_sessions",
            Tree::RotatedRefreshTokens => "rotated_refresh_tokens",
            Tree::OneTimeTokens => "one_time_tokens",
            Tree::Usernames => "usernames",
            Tree::IpRules => "ip_rules",
            Tree::DomainRules => "domain_rules",
            Tree::RestrictionConfigs => "restriction_configs",
            Tree::ApiTokens => "api_tokens",
            Tree::AccessTokens => "access_tokens",
            Tree::TenantUsers => "tenant_users",
            Tree::UserGroups => "user_groups",
            Tree::TenantGroups => "tenant_groups",
            Tree::UserPhones => "user_phones",
            Tree::AlwaysPermissions => "always_permissions",
        }
    }
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O error, corruption, out of space).
    #[error("storage backend error: {0}")]
    Backend(String),
    /// A record could not be decoded (unknown format version or bad bytes).
    #[error("stored record in tree {tree} is unreadable: {reason}")]
    Decode { tree: &'static str, reason: String },
    /// The store has been shut down.
    #[error("the store is closed")]
    Closed,
}

/// Why a transaction closure stopped.
#[derive(Debug)]
pub enum Abort {
    /// The caller's logic refused (validation, conflict); the caller keeps the reason.
    User,
    /// A backend operation failed inside the transaction; the backend decides whether to
    /// retry (sled re-runs a closure on conflict) or to report a [`StoreError`].
    Backend,
}

/// A key (without the tree prefix) and its value, as scans return them.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// The outcome of [`Kv::transact`].
#[derive(Debug)]
pub enum TxnOutcome {
    /// Committed (not yet flushed).
    Committed,
    /// The closure returned [`Abort::User`]; nothing was written.
    Aborted,
}

/// Operations available inside a transaction. Writes become visible atomically at commit.
pub trait Txn {
    /// Read a key, seeing this transaction's own writes.
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, Abort>;
    /// Write a key.
    fn insert(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), Abort>;
    /// Delete a key (absent keys are fine).
    fn remove(&mut self, tree: Tree, key: &[u8]) -> Result<(), Abort>;
}

/// The byte-level storage seam. Object-safe, so handlers hold `Arc<dyn Kv>` and stay free of
/// type parameters.
pub trait Kv: Send + Sync + 'static {
    /// Read one key.
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every (key, value) whose key starts with `prefix`, in key order. Keys are returned
    /// without the tree prefix.
    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KvPair>, StoreError>;
    /// At most `limit` (key, value) pairs of `tree` with key >= `from`, in key order.
    fn scan_from(&self, tree: Tree, from: &[u8], limit: usize) -> Result<Vec<KvPair>, StoreError>;
    /// Run `f` atomically and in isolation. The closure may run more than once (sled retries
    /// on conflict), so it must have no side effects beyond the transaction.
    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Abort>,
    ) -> Result<TxnOutcome, StoreError>;
    /// Make every committed transaction durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Changes whenever the backend replaced its handle (a reopen after an I/O error): a
    /// transaction committed before the change may be lost even if a later flush succeeds.
    fn generation(&self) -> u64 {
        0
    }
    /// Whether the backend takes writes; after an I/O error, first try to recover (the
    /// backend decides how often it really tries). Readiness asks.
    fn recover(&self) -> bool {
        true
    }
}

/// A stored record type: its tree and its primary key.
pub trait Record: Serialize + DeserializeOwned {
    /// The tree the record lives in.
    const TREE: Tree;
    /// The primary key.
    fn key(&self) -> Vec<u8>;
}

/// The typed store every handler uses. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    kv: Arc<dyn Kv>,
    flusher: Arc<Flusher>,
    /// The data directory and the free space writes must leave on its disk (sled only).
    space: Option<Arc<SpaceGuard>>,
    /// Bumped after every durable commit: watchers (the push hub) wake on it.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Db {
    /// Wrap a backend and start its flusher thread.
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        let flusher = Arc::new(Flusher::spawn(kv.clone()));
        let (commits, _) = tokio::sync::watch::channel(0);
        Db {
            kv,
            flusher,
            commits: Arc::new(commits),
            space: None,
        }
    }

    /// An in-memory store (tests, benches).
    pub fn in_memory() -> Self {
        Db::new(Arc::new(MemKv::new()))
    }

    /// Open (or create) the embedded sled store in `dir`.
    pub fn open_sled(dir: &std::path::Path) -> Result<Self, StoreError> {
        let mut db = Db::new(Arc::new(SledKv::open(dir)?));
        db.space = Some(Arc::new(SpaceGuard {
            dir: dir.to_owned(),
            min_free: std::sync::atomic::AtomicU64::new(0),
        }));
        Ok(db)
    }

    /// Refuse writes (503, nothing changed) while the data directory's disk has less than
    /// `bytes` free, so sled never runs into ENOSPC — after which reads may fail as well
    /// until it can reopen. 0 turns the check off.
    pub fn set_min_free_bytes(&self, bytes: u64) {
        if let Some(g) = &self.space {
            g.min_free
                .store(bytes, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// `Err` while the disk is below the free-space floor.
    fn check_space(&self) -> Result<(), StoreError> {
        let Some(g) = &self.space else { return Ok(()) };
        let min = g.min_free.load(std::sync::atomic::Ordering::Relaxed);
        if min == 0 {
            return Ok(());
        }
        match fs2::available_space(&g.dir) {
            Ok(free) if free < min => Err(StoreError::Backend(format!(
                "the data directory's disk has {} KiB free, below the {} KiB floor (--min-free-mb)",
                free / 1024,
                min / 1024
            ))),
            // Cannot tell: let sled try (its own errors are handled).
            _ => Ok(()),
        }
    }

    /// Read and decode one record by primary key.
    pub fn get<R: Record>(&self, key: &[u8]) -> Result<Option<R>, StoreError> {
        self.kv
            .get(R::TREE, key)?
            .map(|bytes| codec::decode(R::TREE, &bytes))
            .transpose()
    }

    /// Every record of type `R` whose key starts with `prefix`, in key order.
    pub fn scan<R: Record>(&self, prefix: &[u8]) -> Result<Vec<R>, StoreError> {
        self.kv
            .scan_prefix(R::TREE, prefix)?
            .into_iter()
            .map(|(_, v)| codec::decode(R::TREE, &v))
            .collect()
    }

    /// At most `limit` records of type `R` with key >= `from`, in key order.
    pub fn scan_from<R: Record>(&self, from: &[u8], limit: usize) -> Result<Vec<R>, StoreError> {
        self.kv
            .scan_from(R::TREE, from, limit)?
            .into_iter()
            .map(|(_, v)| codec::decode(R::TREE, &v))
            .collect()
    }

    /// A receiver that changes after every durable commit.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Run `f` in one transaction and wait until it is durable. The returned value is
    /// acknowledged only after a flush covered the commit; concurrent callers share flushes.
    ///
    /// `f` may run more than once; keep it pure (no pushes, metrics or logs inside).
    pub async fn write<T, E>(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.check_space()?;
        let mut out: Option<Result<T, E>> = None;
        let generation = self.kv.generation();
        let outcome = self.kv.transact(&mut |txn| {
            let mut tx = Tx {
                txn,
                backend_failed: None,
            };
            match f(&mut tx) {
                Ok(v) => {
                    out = Some(Ok(v));
                    Ok(())
                }
                Err(_) if tx.backend_failed.is_some() => Err(Abort::Backend),
                Err(e) => {
                    out = Some(Err(e));
                    Err(Abort::User)
                }
            }
        })?;
        match (outcome, out) {
            (TxnOutcome::Committed, Some(Ok(v))) => {
                self.flusher.wait_durable().await?;
                // A flush proves durability only for the handle it ran on: if the backend
                // reopened meanwhile, this commit may have been left on the old one.
                if self.kv.generation() != generation {
                    return Err(StoreError::Backend(
                        "the store was reopened after an I/O error; the change may not have been saved"
                            .into(),
                    )
                    .into());
                }
                self.commits.send_modify(|n| *n += 1);
                Ok(v)
            }
            (_, Some(Err(e))) => Err(e),
            _ => Err(StoreError::Backend("transaction ended without a result".into()).into()),
        }
    }

    /// Whether a raw key exists (flags, indexes).
    pub fn get_raw_exists(&self, tree: Tree, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.kv.get(tree, key)?.is_some())
    }

    /// Read raw bytes (indexes).
    pub fn get_raw(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.kv.get(tree, key)
    }

    /// The keys of `tree` starting with `prefix`, with the prefix cut off, in key order
    /// (index lookups: `<owner>/<id>` entries give the ids).
    pub fn index(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<String>, StoreError> {
        Ok(self
            .kv
            .scan_prefix(tree, prefix)?
            .into_iter()
            .filter_map(|(k, _)| String::from_utf8(k.get(prefix.len()..)?.to_vec()).ok())
            .collect())
    }

    /// Flush everything now (shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.kv.flush()
    }

    /// Whether the store is answering reads and taking writes (readiness). After an I/O error
    /// each call lets the backend try to recover and asks for another flush, so readiness
    /// probes alone bring the store back once the disk does (no write needs to arrive first).
    pub fn is_healthy(&self) -> bool {
        let writable = self.kv.recover();
        let flushing = self.flusher.last_error().is_none();
        if !flushing {
            self.flusher.nudge();
        }
        writable
            && flushing
            && self.kv.get(Tree::Meta, b"schema").is_ok()
            && self.check_space().is_ok()
    }
}

/// Where the data lives and how much free space writes must leave there.
struct SpaceGuard {
    dir: std::path::PathBuf,
    min_free: std::sync::atomic::AtomicU64,
}

/// A transaction handle with typed helpers, given to [`Db::write`] closures.
pub struct Tx<'a> {
    txn: &'a mut dyn Txn,
    backend_failed: Option<()>,
}

impl Tx<'_> {
    fn backend<T>(&mut self, r: Result<T, Abort>) -> Result<T, StoreError> {
        r.map_err(|_| {
            self.backend_failed = Some(());
            StoreError::Backend("transaction operation failed".into())
        })
    }

    /// Read and decode a record.
    pub fn get<R: Record>(&mut self, key: &[u8]) -> Result<Option<R>, StoreError> {
        let raw = self.txn.get(R::TREE, key);
        match self.backend(raw)? {
            Some(bytes) => codec::decode(R::TREE, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Insert or replace a record under its primary key.
    pub fn put<R: Record>(&mut self, record: &R) -> Result<(), StoreError> {
        let bytes = codec::encode(record);
        let r = self.txn.insert(R::TREE, &record.key(), &bytes);
        self.backend(r)
    }

    /// Delete a record by primary key.
    pub fn delete<R: Record>(&mut self, key: &[u8]) -> Result<(), StoreError> {
        let r = self.txn.remove(R::TREE, key);
        self.backend(r)
    }

    /// Read raw bytes (indexes, counters).
    pub fn get_raw(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.txn.get(tree, key);
        self.backend(r)
    }

    /// Write raw bytes (indexes, counters).
    pub fn put_raw(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let r = self.txn.insert(tree, key, value);
        self.backend(r)
    }

    /// Delete raw bytes.
    pub fn delete_raw(&mut self, tree: Tree, key: &[u8]) -> Result<(), StoreError> {
        let r = self.txn.remove(tree, key);
        self.backend(r)
    }
}
