//! Storage: a small, object-safe byte-level [`Kv`] trait with two implementations
//! ([`SledKv`], the embedded default, and [`MemKv`] for tests), and the typed layer [`Db`]
//! that every handler uses.
//!
//! Durability is owned here, once: [`Db::write`] runs a transaction and returns only after a
//! flush has covered it. Concurrent writers share flushes through one flusher thread (group
//! commit), so a burst of N writes costs far fewer than N fsyncs.

mod codec;
pub mod copy;
mod durable;
mod memory;
pub mod postgres;
mod sled;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::memory::MemKv;
pub use self::sled::SledKv;
use durable::Flusher;

/// Declares [`Tree`]: each variant with its key prefix and its name, and [`Tree::ALL`] from
/// the same list, so a tree cannot be added without being enumerable.
macro_rules! trees {
    ($( $(#[$doc:meta])* $name:ident = $prefix:literal, $label:literal; )*) => {
        /// The named key spaces of the store. An enum, not free-form strings, so the set of
        /// trees is enumerable for migrations, backups and the conformance suite.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Tree {
            $( $(#[$doc])* $name, )*
        }

        impl Tree {
            /// Every tree, in prefix order.
            pub const ALL: &'static [Tree] = &[$(Tree::$name,)*];

            /// The byte that prefixes this tree's keys in a single-keyspace backend.
            pub const fn prefix(self) -> u8 {
                match self { $(Tree::$name => $prefix,)* }
            }

            /// A stable name for logs and metrics.
            pub const fn as_str(self) -> &'static str {
                match self { $(Tree::$name => $label,)* }
            }
        }
    };
}

trees! {
    /// Store-level facts (schema version).
    Meta = 0, "meta";
    /// The environment: vendor credentials, token-signing secrets.
    Environment = 1, "environment";
    /// Tenants (accounts), keyed by tenant id.
    Tenants = 2, "tenants";
    /// Security events awaiting distribution, keyed by a big-endian sequence number.
    Events = 3, "events";
    /// Token-signing keys, keyed by key id.
    Keys = 4, "keys";
    /// Permissions, keyed by id.
    Permissions = 5, "permissions";
    /// Unique index: permission key -> id.
    PermissionKeys = 6, "permission_keys";
    /// Permission categories, keyed by id.
    Categories = 7, "categories";
    /// Roles, keyed by id.
    Roles = 8, "roles";
    /// Unique index: `<tenant id or "-">/<role key>` -> role id.
    RoleKeys = 9, "role_keys";
    /// Users, keyed by id.
    Users = 10, "users";
    /// Unique index: normalised email -> user id.
    UserEmails = 11, "user_emails";
    /// Login sessions, keyed by id.
    Sessions = 12, "sessions";
    /// Index: SHA-256 of a refresh token (hex) -> session id.
    RefreshTokens = 13, "refresh_tokens";
    /// User groups, keyed by id.
    Groups = 14, "groups";
    /// Index: user id -> that user's session ids.
    UserSessions = 15, "user_sessions";
    /// Refresh tokens rotated out: SHA-256 (hex) -> session id (reuse detection).
    RotatedRefreshTokens = 16, "rotated_refresh_tokens";
    /// One-time tokens (activation, reset, unlock), keyed by SHA-256 (hex).
    OneTimeTokens = 17, "one_time_tokens";
    /// Unique index: lower-cased username -> user id.
    Usernames = 18, "usernames";
    /// IP restriction entries, keyed `<scope>/<id>`.
    IpRules = 19, "ip_rules";
    /// Email-domain restriction entries, keyed `<scope>/<id>`.
    DomainRules = 20, "domain_rules";
    /// Restriction configurations, keyed `ip/<scope>` and `domain/<scope>`.
    RestrictionConfigs = 21, "restriction_configs";
    /// Client-credentials API tokens, keyed by client id.
    ApiTokens = 22, "api_tokens";
    /// Access tokens, keyed by id.
    AccessTokens = 23, "access_tokens";
    /// Index: `<tenant id>/<user id>` for every membership (an account's users).
    TenantUsers = 24, "tenant_users";
    /// Index: `<user id>/<group id>` for every group member (a user's groups).
    UserGroups = 25, "user_groups";
    /// Index: `<tenant id>/<group id>` (an account's groups).
    TenantGroups = 26, "tenant_groups";
    /// Index: `<phone digits>/<user id>` (users by phone number).
    UserPhones = 27, "user_phones";
    /// Index: ids of the permissions classified `ALWAYS`.
    AlwaysPermissions = 28, "always_permissions";
    /// Each user's MFA factors, keyed by user id.
    MfaDevices = 29, "mfa_devices";
    /// Pending MFA challenges (`mfaToken`), keyed by SHA-256 (hex).
    MfaChallenges = 30, "mfa_challenges";
    /// Pending passwordless logins (magic links by the link's digest, codes by the digest of
    /// the requesting browser's binding), and `latest/<user id>` pointers.
    Passwordless = 31, "passwordless";
    /// Invitations: account links (`link/<id>`, `tok/<digest>`, `owner/<tenant>/<user>`) and
    /// email invitations (`user/<user id>/<tenant id>`).
    Invitations = 32, "invitations";
    /// The environment's email (`email/<type>`) and SMS (`sms/<type>`) templates.
    Templates = 33, "templates";
    /// Messages accepted and not yet delivered, keyed by queue order (sealed).
    Outbox = 34, "outbox";
    /// JWT templates (`template/{id}`, `key/{key}` → id) and their targeting.
    TokenShaping = 35, "token_shaping";
    /// Users assigned to applications (`app/{app}/{tenant}/{user}`, index
    /// `user/{user}/{app}/{tenant}`) and the active account per application
    /// (`active/{user}/{app}` → tenant).
    Applications = 36, "applications";
    /// Approval flows (`flow/{id}`) and their executions (`execution/{id}`).
    Approvals = 37, "approvals";
    /// The authorization server: applications as clients (`client/{id}`), their origins
    /// (`origins`), the pages' branding (`branding`), authorization codes by digest
    /// (`code/{digest}`).
    OAuth = 38, "oauth";
    /// Authorization codes in expiry order (`{expiry, 20 digits}/{digest}`), swept oldest first:
    /// a tree of its own, so a sweep reads nothing else.
    OAuthDue = 39, "oauth_due";
    /// Bulk user imports: their progress (`state/{id}`) and, until done, their users
    /// (`input/{id}`).
    Migrations = 40, "migrations";
    /// User pools: the sources (`source/{id}`) and who came from each
    /// (`user/{source}/{user}`).
    UserSources = 41, "user_sources";
    /// Custom social OAuth providers (`provider/{id}`) and logins in flight
    /// (`flow/{state digest}`).
    Social = 42, "social";
    /// The sidecars of every replica sharing the store, by id (`model::sidecar`).
    Sidecars = 43, "sidecars";
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
    /// A unique index already names another record under this key.
    #[error("a unique key of {index} is taken")]
    Conflict { index: &'static str },
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
    /// Whether other processes may write to the same store (several control planes on one
    /// database): then what they commit is announced through [`Kv::on_remote_commit`].
    fn shared(&self) -> bool {
        false
    }
    /// `(idle, total)` pooled connections, for a backend that pools them.
    fn pool(&self) -> Option<(usize, usize)> {
        None
    }
    /// Call `wake` whenever another process may have committed, and at least every second
    /// (watchers re-read the store; a lost notification costs a second at most). `wake`
    /// answers `false` once nobody watches any more, and the backend stops calling it.
    fn on_remote_commit(&self, _wake: Arc<dyn Fn() -> bool + Send + Sync>) {}
}

/// A stored record type: its tree, its primary key and its secondary index entries.
///
/// [`Tx::put`] and [`Tx::delete`] keep the index entries in step with the record, against
/// the record as stored before, in the same transaction: no caller writes an index.
pub trait Record: Serialize + DeserializeOwned {
    /// The tree the record lives in.
    const TREE: Tree;
    /// The trees of this record type's indexes (empty: not indexed, and a put reads nothing
    /// first).
    const INDEXES: &'static [Tree] = &[];
    /// The primary key.
    fn key(&self) -> Vec<u8>;
    /// This record's entries in its indexes (each in one of [`Record::INDEXES`]).
    fn indexes(&self) -> Vec<IndexEntry> {
        Vec::new()
    }
}

/// A secondary index over records `R`, in its own tree: unique (one key names one record;
/// stored `key -> primary key`) or not (stored `key ++ primary key -> ""`, read by prefix).
pub struct Index<R> {
    tree: Tree,
    unique: bool,
    record: std::marker::PhantomData<fn() -> R>,
}

impl<R> Clone for Index<R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for Index<R> {}

impl<R: Record> Index<R> {
    /// A unique index in `tree`.
    pub const fn unique(tree: Tree) -> Self {
        Index {
            tree,
            unique: true,
            record: std::marker::PhantomData,
        }
    }

    /// A many-to-one index in `tree`: entry keys are prefixes (`<owner>/`) that several
    /// records share.
    pub const fn many(tree: Tree) -> Self {
        Index {
            tree,
            unique: false,
            record: std::marker::PhantomData,
        }
    }

    /// The entry of a record under `key`.
    pub fn entry(self, key: impl Into<Vec<u8>>) -> IndexEntry {
        IndexEntry {
            tree: self.tree,
            unique: self.unique,
            key: key.into(),
        }
    }
}

/// One entry a record has in one of its indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    tree: Tree,
    unique: bool,
    key: Vec<u8>,
}

impl IndexEntry {
    /// The stored key of this entry for the record with primary key `pk`.
    fn stored_key(&self, pk: &[u8]) -> Vec<u8> {
        if self.unique {
            self.key.clone()
        } else {
            [self.key.as_slice(), pk].concat()
        }
    }
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
    /// Observes each write's time to its durable acknowledgement, once set.
    write_seconds: Arc<std::sync::OnceLock<prometheus::Histogram>>,
}

impl Db {
    /// Wrap a backend and start its flusher thread.
    pub fn new(kv: Arc<dyn Kv>) -> Self {
        let flusher = Arc::new(Flusher::spawn(kv.clone()));
        let (commits, _) = tokio::sync::watch::channel(0);
        let commits = Arc::new(commits);
        let remote = Arc::downgrade(&commits);
        kv.on_remote_commit(Arc::new(move || {
            remote.upgrade().is_some_and(|c| {
                c.send_modify(|n| *n += 1);
                true
            })
        }));
        Db {
            kv,
            flusher,
            commits,
            space: None,
            write_seconds: Arc::default(),
        }
    }

    /// An in-memory store (tests, benches).
    pub fn in_memory() -> Self {
        Db::new(Arc::new(MemKv::new()))
    }

    /// Connect to PostgreSQL at `url` (`postgres://…`), migrating its schema first.
    pub fn open_postgres(url: &str, connections: usize) -> Result<Self, StoreError> {
        Ok(Db::new(Arc::new(postgres::PgKv::open(url, connections)?)))
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

    /// The backend (a move copies between two).
    pub fn kv(&self) -> &dyn Kv {
        self.kv.as_ref()
    }

    /// Observe every write's time to its acknowledgement on `h` (set once, at startup).
    pub fn observe_writes(&self, h: prometheus::Histogram) {
        let _ = self.write_seconds.set(h);
    }

    /// `(idle, total)` database connections (PostgreSQL).
    pub fn pool(&self) -> Option<(usize, usize)> {
        self.kv.pool()
    }

    /// Whether other control planes share this store (PostgreSQL).
    pub fn shared(&self) -> bool {
        self.kv.shared()
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

    /// Run `f` in one transaction without waiting for a flush: the change becomes durable
    /// with the next flush (any writer's, or the backend's own within a second). Only for
    /// bookkeeping whose loss in a crash is harmless — a delivered message's removal (at
    /// worst it is sent again) — so that it adds no fsync to the requests it runs beside.
    pub fn write_unflushed<T, E>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.check_space()?;
        match self.transact(&mut f)? {
            (_, Some(r)) => r,
            _ => Err(StoreError::Backend("transaction ended without a result".into()).into()),
        }
    }

    /// Run `f` in one backend transaction (no durability wait): how it ended, and what `f`
    /// returned in the run that ended it. A backend failure inside `f` aborts as such.
    fn transact<T, E>(
        &self,
        f: &mut impl FnMut(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<(TxnOutcome, Option<Result<T, E>>), StoreError> {
        let mut out: Option<Result<T, E>> = None;
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
        Ok((outcome, out))
    }

    /// A handle that does not keep the store open (a background task's, between its
    /// passes).
    pub fn downgrade(&self) -> WeakDb {
        WeakDb {
            kv: Arc::downgrade(&self.kv),
            flusher: Arc::downgrade(&self.flusher),
            space: self.space.as_ref().map(Arc::downgrade),
            commits: Arc::downgrade(&self.commits),
            write_seconds: Arc::downgrade(&self.write_seconds),
        }
    }

    /// Run `f` in one transaction and wait until it is durable. The returned value is
    /// acknowledged only after a flush covered the commit; concurrent callers share flushes.
    ///
    /// `f` may run more than once; keep it pure (no pushes, metrics or logs inside).
    pub async fn write<T, E>(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let started = std::time::Instant::now();
        self.check_space()?;
        let generation = self.kv.generation();
        match self.transact(&mut f)? {
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
                if let Some(h) = self.write_seconds.get() {
                    h.observe(started.elapsed().as_secs_f64());
                }
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

    /// Raw entries under `prefix`, in key order (indexes whose keys carry the data).
    pub fn scan_raw(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KvPair>, StoreError> {
        self.kv.scan_prefix(tree, prefix)
    }

    /// The record a unique index names under `key`.
    pub fn find<R: Record>(&self, index: Index<R>, key: &[u8]) -> Result<Option<R>, StoreError> {
        debug_assert!(index.unique, "find reads a unique index");
        match self.kv.get(index.tree, key)? {
            Some(pk) => self.get::<R>(&pk),
            None => Ok(None),
        }
    }

    /// The primary keys (as text) a many-to-one index holds under `key`, in key order.
    pub fn keys<R: Record>(&self, index: Index<R>, key: &[u8]) -> Result<Vec<String>, StoreError> {
        debug_assert!(!index.unique, "keys reads a many-to-one index");
        Ok(self
            .kv
            .scan_prefix(index.tree, key)?
            .into_iter()
            .filter_map(|(k, _)| String::from_utf8(k.get(key.len()..)?.to_vec()).ok())
            .collect())
    }

    /// The records a many-to-one index holds under `key`, in primary-key order.
    pub fn find_all<R: Record>(&self, index: Index<R>, key: &[u8]) -> Result<Vec<R>, StoreError> {
        let mut out = Vec::new();
        for pk in self.keys(index, key)? {
            if let Some(r) = self.get::<R>(pk.as_bytes())? {
                out.push(r);
            }
        }
        Ok(out)
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

/// A [`Db`] that does not keep the store open: [`WeakDb::upgrade`] is `None` once every
/// `Db` handle is gone.
#[derive(Clone)]
pub struct WeakDb {
    kv: std::sync::Weak<dyn Kv>,
    flusher: std::sync::Weak<Flusher>,
    space: Option<std::sync::Weak<SpaceGuard>>,
    commits: std::sync::Weak<tokio::sync::watch::Sender<u64>>,
    write_seconds: std::sync::Weak<std::sync::OnceLock<prometheus::Histogram>>,
}

impl WeakDb {
    /// The store, if it is still open.
    pub fn upgrade(&self) -> Option<Db> {
        Some(Db {
            kv: self.kv.upgrade()?,
            flusher: self.flusher.upgrade()?,
            space: match &self.space {
                Some(w) => Some(w.upgrade()?),
                None => None,
            },
            commits: self.commits.upgrade()?,
            write_seconds: self.write_seconds.upgrade()?,
        })
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

    /// Insert or replace a record under its primary key, and its index entries: those the
    /// stored record had and this one has not are removed, new ones added. A unique entry
    /// another record holds is [`StoreError::Conflict`] (callers check first, to answer
    /// with their own message; this is the guarantee).
    pub fn put<R: Record>(&mut self, record: &R) -> Result<(), StoreError> {
        let pk = record.key();
        if !R::INDEXES.is_empty() {
            let old = self.get::<R>(&pk)?.map(|o| o.indexes()).unwrap_or_default();
            let new = record.indexes();
            for e in old.iter().filter(|e| !new.contains(e)) {
                let r = self.txn.remove(e.tree, &e.stored_key(&pk));
                self.backend(r)?;
            }
            for e in new.iter().filter(|e| !old.contains(e)) {
                self.add_entry::<R>(e, &pk)?;
            }
        }
        let bytes = codec::encode(record);
        let r = self.txn.insert(R::TREE, &pk, &bytes);
        self.backend(r)
    }

    fn add_entry<R: Record>(&mut self, e: &IndexEntry, pk: &[u8]) -> Result<(), StoreError> {
        debug_assert!(R::INDEXES.contains(&e.tree), "{:?} is not declared", e.tree);
        if e.unique {
            let held = self.txn.get(e.tree, &e.key);
            if self.backend(held)?.is_some_and(|owner| owner != pk) {
                return Err(StoreError::Conflict {
                    index: e.tree.as_str(),
                });
            }
            let r = self.txn.insert(e.tree, &e.key, pk);
            self.backend(r)
        } else {
            let r = self.txn.insert(e.tree, &e.stored_key(pk), b"");
            self.backend(r)
        }
    }

    /// Write every index entry of `record` (rebuilding indexes a store written by an older
    /// version lacks).
    pub fn reindex<R: Record>(&mut self, record: &R) -> Result<(), StoreError> {
        let pk = record.key();
        for e in record.indexes() {
            self.add_entry::<R>(&e, &pk)?;
        }
        Ok(())
    }

    /// Delete a record by primary key, with its index entries.
    pub fn delete<R: Record>(&mut self, key: &[u8]) -> Result<(), StoreError> {
        if !R::INDEXES.is_empty()
            && let Some(old) = self.get::<R>(key)?
        {
            for e in old.indexes() {
                let r = self.txn.remove(e.tree, &e.stored_key(key));
                self.backend(r)?;
            }
        }
        let r = self.txn.remove(R::TREE, key);
        self.backend(r)
    }

    /// The record a unique index names under `key`, inside the transaction.
    pub fn find<R: Record>(
        &mut self,
        index: Index<R>,
        key: &[u8],
    ) -> Result<Option<R>, StoreError> {
        let r = self.txn.get(index.tree, key);
        match self.backend(r)? {
            Some(pk) => self.get::<R>(&pk),
            None => Ok(None),
        }
    }

    /// The primary key a unique index holds under `key`, inside the transaction.
    pub fn owner<R: Record>(
        &mut self,
        index: Index<R>,
        key: &[u8],
    ) -> Result<Option<String>, StoreError> {
        let r = self.txn.get(index.tree, key);
        Ok(self.backend(r)?.and_then(|pk| String::from_utf8(pk).ok()))
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
