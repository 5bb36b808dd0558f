//! `PgKv`: the store on PostgreSQL (`--database-url`), for several control planes on one
//! database. The same byte-level seam as sled's: one table `kv (tree, key, value)` ordered by
//! `(tree, key)` (`bytea` compares as bytes, as sled's keys do).
//!
//! Invariants:
//! - Every transaction is `SERIALIZABLE`: its reads are PostgreSQL reads inside it, its
//!   writes are staged and written at commit, and a serialization failure (40001, 40P01)
//!   re-runs the closure (the seam allows it) — so a read-then-write race between replicas
//!   (lockout, one-time codes, refresh rotation) is decided by the database, never by a
//!   process lock.
//! - A transaction is acknowledged after `COMMIT` returned, with `synchronous_commit` on
//!   (the server's default, set again per session): [`Kv::flush`] has nothing left to do.
//! - The synchronous client is only ever driven from the store's own threads (one per
//!   pooled connection), never from an async worker: a caller waits on a channel, inside
//!   `block_in_place` on a multi-threaded runtime, so no worker's other tasks wait with it.
//! - A transaction runs on the one connection it began on, never a reopened one: a lost
//!   connection fails it unacknowledged. Each connection prepares its statements once.
//! - The schema is versioned (`tessera_schema`); [`migrate`] applies what is missing, in
//!   one transaction per version, under an advisory lock, so replicas starting together
//!   apply each once.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{Abort, Kv, KvPair, StoreError, Tree, Txn, TxnOutcome};

/// The schema, version by version (index + 1 is the version).
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE kv (tree SMALLINT NOT NULL, key BYTEA NOT NULL, value BYTEA NOT NULL, PRIMARY KEY (tree, key))",
];

/// How many times a transaction is re-run after serialization failures before it fails.
const MAX_RETRIES: u32 = 64;

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("postgres: {e}"))
}

/// A job run on a connection's thread.
type Job = Box<dyn FnOnce(&mut Conn) + Send>;

struct Conn {
    client: Option<postgres::Client>,
    /// `client`'s prepared statements; dropped with the connection they belong to.
    statements: Option<Statements>,
    config: Target,
}

/// The statements the store runs on every call, prepared once per connection: a query given
/// as text is parsed and planned again on each call, a round trip of its own.
struct Statements {
    get: postgres::Statement,
    scan_range: postgres::Statement,
    scan_open: postgres::Statement,
    scan_from: postgres::Statement,
    /// Every staged insert of a commit in one statement (`UNNEST` of three arrays).
    upsert: postgres::Statement,
    /// Every staged removal of a commit in one statement.
    delete: postgres::Statement,
}

impl Statements {
    fn prepare(client: &mut postgres::Client) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            get: client.prepare("SELECT value FROM kv WHERE tree = $1 AND key = $2")?,
            scan_range: client.prepare(
                "SELECT key, value FROM kv WHERE tree = $1 AND key >= $2 AND key < $3 ORDER BY key",
            )?,
            scan_open: client
                .prepare("SELECT key, value FROM kv WHERE tree = $1 AND key >= $2 ORDER BY key")?,
            scan_from: client.prepare(
                "SELECT key, value FROM kv WHERE tree = $1 AND key >= $2 ORDER BY key LIMIT $3",
            )?,
            upsert: client.prepare(
                "INSERT INTO kv (tree, key, value) \
                 SELECT * FROM UNNEST($1::smallint[], $2::bytea[], $3::bytea[]) \
                 ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value",
            )?,
            delete: client.prepare(
                "DELETE FROM kv WHERE (tree, key) IN \
                 (SELECT * FROM UNNEST($1::smallint[], $2::bytea[]))",
            )?,
        })
    }
}

/// Where the database is and how to reach it: the connection settings, and TLS with rustls
/// on ring — the server's certificate is always verified, against the webpki roots and the
/// `sslrootcert` the URL names, if any (a private CA, as managed databases use).
#[derive(Clone)]
pub struct Target {
    config: postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
}

impl Conn {
    /// The connection, (re)opened if it is closed: only between transactions.
    fn client(&mut self) -> Result<&mut postgres::Client, StoreError> {
        if self.client.as_ref().is_none_or(postgres::Client::is_closed) {
            self.statements = None;
            self.client = Some(connect(&self.config)?);
        }
        self.client.as_mut().ok_or_else(|| backend("no connection"))
    }

    /// The open connection and its statements (prepared on first use, after the schema is
    /// in place). Never reopens: inside a transaction a new connection would not be in it,
    /// so a lost one fails the transaction.
    fn current(&mut self) -> Result<(&mut postgres::Client, &Statements), StoreError> {
        let Conn {
            client, statements, ..
        } = self;
        let client = client.as_mut().ok_or_else(|| backend("no connection"))?;
        if statements.is_none() {
            *statements = Some(Statements::prepare(client).map_err(backend)?);
        }
        let st = statements
            .as_ref()
            .ok_or_else(|| backend("no statements"))?;
        Ok((client, st))
    }

    /// [`Conn::client`] (reopening if need be), then [`Conn::current`]: for calls outside a
    /// transaction.
    fn open(&mut self) -> Result<(&mut postgres::Client, &Statements), StoreError> {
        self.client()?;
        self.current()
    }
}

fn tls(extra_ca: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        use rustls::pki_types::pem::PemObject;
        let mut added = 0;
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| StoreError::Backend(format!("sslrootcert {path}: {e}")))?
        {
            let cert = cert.map_err(|e| StoreError::Backend(format!("sslrootcert {path}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| StoreError::Backend(format!("sslrootcert {path}: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(StoreError::Backend(format!(
                "sslrootcert {path}: no certificate in it"
            )));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(backend)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn connect(target: &Target) -> Result<postgres::Client, StoreError> {
    let mut client = target.config.connect(target.tls.clone()).map_err(|e| {
        // The causes too: "error performing TLS handshake" alone does not say why.
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            why.push_str(&format!(": {s}"));
            source = s.source();
        }
        backend(why)
    })?;
    client
        .batch_execute("SET synchronous_commit = on")
        .map_err(backend)?;
    Ok(client)
}

/// One pooled connection: its thread and the line of jobs to it.
struct Worker {
    jobs: mpsc::Sender<Job>,
}

impl Worker {
    fn spawn(config: Target, n: usize) -> Result<Worker, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("postgres-{n}"))
            .spawn(move || {
                let mut conn = Conn {
                    client: None,
                    statements: None,
                    config,
                };
                while let Ok(job) = rx.recv() {
                    job(&mut conn);
                }
            })
            .map_err(backend)?;
        Ok(Worker { jobs: tx })
    }

    /// Run `f` on this connection's thread and wait for its answer.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |c| {
                let _ = tx.send(f(c));
            }))
            .map_err(|_| backend("the connection's thread is gone"))?;
        rx.recv()
            .map_err(|_| backend("the connection's thread failed"))?
    }
}

/// The pool: idle workers, taken for one call or one transaction.
struct Pool {
    idle: Mutex<Vec<Worker>>,
    freed: Condvar,
}

/// A worker taken from the pool, given back when dropped.
struct Taken<'a> {
    pool: &'a Pool,
    worker: Option<Worker>,
}

impl Taken<'_> {
    fn worker(&self) -> Result<&Worker, StoreError> {
        self.worker
            .as_ref()
            .ok_or_else(|| backend("the connection was given back"))
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take()
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(w);
            self.pool.freed.notify_one();
        }
    }
}

impl Pool {
    fn take(&self) -> Result<Taken<'_>, StoreError> {
        let mut idle = self
            .idle
            .lock()
            .map_err(|_| backend("pool lock poisoned"))?;
        loop {
            if let Some(w) = idle.pop() {
                return Ok(Taken {
                    pool: self,
                    worker: Some(w),
                });
            }
            let (guard, timeout) = self
                .freed
                .wait_timeout(idle, Duration::from_secs(30))
                .map_err(|_| backend("pool lock poisoned"))?;
            idle = guard;
            if timeout.timed_out() && idle.is_empty() {
                return Err(backend("no database connection freed within 30 s"));
            }
        }
    }
}

/// The PostgreSQL backend.
pub struct PgKv {
    pool: Pool,
    config: Target,
    connections: usize,
}

/// The channel every commit notifies (`NOTIFY`, delivered at commit) and every replica
/// listens on.
const CHANNEL: &str = "tessera_commits";

/// Parse a `postgres://` URL: libpq's parameters as tokio-postgres reads them (`sslmode`:
/// `disable`, `prefer`, `require`), and `sslrootcert` (a PEM file of CA certificates to trust
/// besides the webpki roots).
pub fn config(url: &str) -> Result<Target, StoreError> {
    let bad = |e: &dyn std::fmt::Display| StoreError::Backend(format!("--database-url: {e}"));
    let mut parsed = url::Url::parse(url).map_err(|e| bad(&e))?;
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let ca = pairs
        .iter()
        .find(|(k, _)| k == "sslrootcert")
        .map(|(_, v)| v.clone());
    let rest: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != "sslrootcert").collect();
    if rest.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(rest);
    }
    let config = parsed
        .as_str()
        .parse::<postgres::Config>()
        .map_err(|e| bad(&e))?;
    Ok(Target {
        config,
        tls: tls(ca.as_deref())?,
    })
}

impl PgKv {
    /// Connect `connections` connections to `url` and bring the schema up to date.
    pub fn open(url: &str, connections: usize) -> Result<PgKv, StoreError> {
        let config = config(url)?;
        let mut idle = Vec::new();
        for n in 0..connections.max(1) {
            idle.push(Worker::spawn(config.clone(), n)?);
        }
        let kv = PgKv {
            pool: Pool {
                idle: Mutex::new(idle),
                freed: Condvar::new(),
            },
            config,
            connections: connections.max(1),
        };
        kv.pool
            .take()?
            .worker()?
            .call(|c| migrate_on(c.client()?))?;
        Ok(kv)
    }

    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client, &Statements) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        waiting(|| {
            self.pool.take()?.worker()?.call(move |c| {
                let (client, st) = c.open()?;
                f(client, st)
            })
        })
    }
}

impl PgKv {
    /// [`Kv::transact`] on the calling thread: `SERIALIZABLE`, re-run on serialization
    /// failures, writes staged and sent at commit.
    fn transact_here(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Abort>,
    ) -> Result<TxnOutcome, StoreError> {
        let taken = self.pool.take()?;
        let worker = taken.worker()?;
        for attempt in 0..MAX_RETRIES {
            if attempt > 0 {
                std::thread::sleep(Duration::from_micros(200 * u64::from(attempt.min(20))));
            }
            worker.call(|c| {
                c.client()?
                    .batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
                    .map_err(backend)
            })?;
            let mut txn = PgTxn {
                worker,
                staged: Default::default(),
                read: Default::default(),
                failed: None,
            };
            let outcome = f(&mut txn);
            let rollback = || {
                worker.call(|c| {
                    if let Some(client) = c.client.as_mut() {
                        let _ = client.batch_execute("ROLLBACK");
                    }
                    Ok(())
                })
            };
            match (outcome, txn.failed.take()) {
                (_, Some((true, _))) => {
                    rollback()?;
                    continue;
                }
                (_, Some((false, e))) => {
                    rollback()?;
                    return Err(backend(e));
                }
                (Err(Abort::User), None) => {
                    rollback()?;
                    return Ok(TxnOutcome::Aborted);
                }
                (Err(Abort::Backend), None) => {
                    rollback()?;
                    return Err(backend("a transaction failed"));
                }
                (Ok(()), None) => {}
            }
            let staged: Vec<Write> = txn.staged.into_iter().collect();
            let committed = worker.call(move |c| {
                // The transaction's own connection: if it was lost, so was the transaction.
                let (client, st) = c.current()?;
                let run = |client: &mut postgres::Client| -> Result<(), postgres::Error> {
                    let mut put: (Vec<i16>, Vec<Vec<u8>>, Vec<Vec<u8>>) = Default::default();
                    let mut gone: (Vec<i16>, Vec<Vec<u8>>) = Default::default();
                    for ((t, k), v) in staged {
                        match v {
                            Some(v) => {
                                put.0.push(t);
                                put.1.push(k);
                                put.2.push(v);
                            }
                            None => {
                                gone.0.push(t);
                                gone.1.push(k);
                            }
                        }
                    }
                    if !put.0.is_empty() {
                        client.execute(&st.upsert, &[&put.0, &put.1, &put.2])?;
                    }
                    if !gone.0.is_empty() {
                        client.execute(&st.delete, &[&gone.0, &gone.1])?;
                    }
                    // Other replicas look for new events when told; a read-only
                    // transaction has nothing to tell.
                    if !(put.0.is_empty() && gone.0.is_empty()) {
                        client.batch_execute(&format!("NOTIFY {CHANNEL}; COMMIT"))
                    } else {
                        client.batch_execute("COMMIT")
                    }
                };
                match run(client) {
                    Ok(()) => Ok(Committed::Done),
                    Err(e) => {
                        let _ = client.batch_execute("ROLLBACK");
                        if retryable(&e) {
                            Ok(Committed::Retry)
                        } else {
                            Err(backend(e))
                        }
                    }
                }
            })?;
            match committed {
                Committed::Done => return Ok(TxnOutcome::Committed),
                Committed::Retry => continue,
            }
        }
        Err(backend(format!(
            "a transaction met {MAX_RETRIES} serialization failures in a row"
        )))
    }
}

/// Wait for the database without holding up the async runtime: on a multi-threaded runtime
/// the worker hands its other tasks to another thread for the wait (`block_in_place`), so a
/// transaction's round trips no longer keep a core's requests waiting and the transactions
/// of every worker overlap; elsewhere (a current-thread runtime, a plain thread) it waits in
/// place.
fn waiting<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Apply the schema versions `url`'s database lacks (`tessera-control-plane migrate`); the
/// version it is at afterwards.
pub fn migrate(url: &str) -> Result<usize, StoreError> {
    let config = config(url)?;
    let worker = Worker::spawn(config, 0)?;
    worker.call(|c| migrate_on(c.client()?))
}

fn migrate_on(client: &mut postgres::Client) -> Result<usize, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS tessera_schema (version INTEGER NOT NULL); \
             SELECT pg_advisory_lock(7244352616)",
        )
        .map_err(backend)?;
    let result = (|| {
        let at: i32 = client
            .query_one("SELECT COALESCE(MAX(version), 0) FROM tessera_schema", &[])
            .map_err(backend)?
            .get(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(at.max(0) as usize) {
            let mut tx = client.transaction().map_err(backend)?;
            tx.batch_execute(sql).map_err(backend)?;
            tx.execute(
                "INSERT INTO tessera_schema (version) VALUES ($1)",
                &[&(i as i32 + 1)],
            )
            .map_err(backend)?;
            tx.commit().map_err(backend)?;
            tracing::info!(version = i + 1, "database schema migrated");
        }
        Ok(MIGRATIONS.len())
    })();
    let _ = client.batch_execute("SELECT pg_advisory_unlock(7244352616)");
    result
}

fn tree_id(tree: Tree) -> i16 {
    i16::from(tree.prefix())
}

/// The first key after every key that starts with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn pairs(rows: Vec<postgres::Row>) -> Vec<KvPair> {
    rows.into_iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// Whether an error is a serialization failure or deadlock (the transaction is re-run).
fn retryable(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
            || *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// A staged write: `(tree, key)` and the value, `None` to delete.
type Write = ((i16, Vec<u8>), Option<Vec<u8>>);

/// A transaction's view: reads from the database (inside `SERIALIZABLE`), writes staged.
struct PgTxn<'a> {
    worker: &'a Worker,
    staged: std::collections::BTreeMap<(i16, Vec<u8>), Option<Vec<u8>>>,
    /// What the transaction has read: its snapshot answers the same again (PostgreSQL's
    /// serializable transactions read one snapshot), so a second read of a key (a record
    /// read, then its old value for index upkeep) is not another round trip.
    read: std::collections::HashMap<(i16, Vec<u8>), Option<Vec<u8>>>,
    /// A database error met inside: whether it calls for a re-run, and what it was.
    failed: Option<(bool, String)>,
}

impl Txn for PgTxn<'_> {
    fn get(&mut self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, Abort> {
        let t = tree_id(tree);
        let at = (t, key.to_vec());
        if let Some(v) = self.staged.get(&at).or_else(|| self.read.get(&at)) {
            return Ok(v.clone());
        }
        let k = key.to_vec();
        let got = self.worker.call(move |c| {
            let (client, st) = c.current()?;
            Ok(client
                .query_opt(&st.get, &[&t, &k])
                .map(|r| r.map(|r| r.get::<_, Vec<u8>>(0)))
                .map_err(|e| (retryable(&e), e.to_string())))
        });
        match got {
            Ok(Ok(v)) => {
                self.read.insert(at, v.clone());
                Ok(v)
            }
            Ok(Err(e)) => {
                self.failed = Some(e);
                Err(Abort::Backend)
            }
            Err(e) => {
                self.failed = Some((false, e.to_string()));
                Err(Abort::Backend)
            }
        }
    }
    fn insert(&mut self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), Abort> {
        self.staged
            .insert((tree_id(tree), key.to_vec()), Some(value.to_vec()));
        Ok(())
    }
    fn remove(&mut self, tree: Tree, key: &[u8]) -> Result<(), Abort> {
        self.staged.insert((tree_id(tree), key.to_vec()), None);
        Ok(())
    }
}

/// What a commit attempt came to.
enum Committed {
    Done,
    Retry,
}

impl Kv for PgKv {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (t, k) = (tree_id(tree), key.to_vec());
        self.call(move |c, st| {
            c.query_opt(&st.get, &[&t, &k])
                .map(|r| r.map(|r| r.get(0)))
                .map_err(backend)
        })
    }

    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KvPair>, StoreError> {
        let t = tree_id(tree);
        let from = prefix.to_vec();
        let end = prefix_end(prefix);
        self.call(move |c, st| {
            let rows = match &end {
                Some(end) => c.query(&st.scan_range, &[&t, &from, end]),
                None => c.query(&st.scan_open, &[&t, &from]),
            };
            rows.map(pairs).map_err(backend)
        })
    }

    fn scan_from(&self, tree: Tree, from: &[u8], limit: usize) -> Result<Vec<KvPair>, StoreError> {
        let t = tree_id(tree);
        let from = from.to_vec();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |c, st| {
            c.query(&st.scan_from, &[&t, &from, &limit])
                .map(pairs)
                .map_err(backend)
        })
    }

    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Abort>,
    ) -> Result<TxnOutcome, StoreError> {
        waiting(|| self.transact_here(f))
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Commits are synchronous: each is durable when it returns.
        Ok(())
    }

    fn recover(&self) -> bool {
        self.call(|c, _| c.batch_execute("SELECT 1").map_err(backend))
            .is_ok()
    }

    fn shared(&self) -> bool {
        true
    }

    fn pool(&self) -> Option<(usize, usize)> {
        let idle = self.pool.idle.lock().map(|i| i.len()).unwrap_or(0);
        Some((idle, self.connections))
    }

    /// A thread with a connection of its own `LISTEN`s for every replica's commits and calls
    /// `wake` for each, and once a second besides (reconnecting after a second when the
    /// connection is lost); it ends once `wake` says nobody watches.
    fn on_remote_commit(&self, wake: Arc<dyn Fn() -> bool + Send + Sync>) {
        use postgres::fallible_iterator::FallibleIterator;
        let config = self.config.clone();
        let spawned = std::thread::Builder::new()
            .name("postgres-listen".into())
            .spawn(move || {
                loop {
                    let listened = (|| -> Result<bool, StoreError> {
                        let mut client = connect(&config)?;
                        client
                            .batch_execute(&format!("LISTEN {CHANNEL}"))
                            .map_err(backend)?;
                        loop {
                            // Anything committed meanwhile (and the once-a-second look).
                            if !wake() {
                                return Ok(false);
                            }
                            let mut notes = client.notifications();
                            let mut it = notes.timeout_iter(Duration::from_secs(1));
                            while it.next().map_err(backend)?.is_some() {
                                if !wake() {
                                    return Ok(false);
                                }
                            }
                            drop(it);
                            drop(notes);
                            if client.is_closed() {
                                return Err(backend("the listening connection closed"));
                            }
                        }
                    })();
                    match listened {
                        Ok(false) => return,
                        Ok(true) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "not listening for other replicas' commits; retrying");
                            if !wake() {
                                return;
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the commit listener");
        }
    }
}

/// Create a fresh, empty database on the server `base` points at (its user may create
/// databases): its URL. For the test suites and the load harness.
pub fn fresh_database(base: &str, prefix: &str) -> Result<String, StoreError> {
    let name = format!("{prefix}_{}", crate::crypto::new_uuid().simple());
    let (b, n) = (base.to_owned(), name.clone());
    // The synchronous client runs its own runtime: never on an async worker.
    std::thread::spawn(move || -> Result<(), StoreError> {
        let mut c = connect(&config(&b)?)?;
        c.batch_execute(&format!("CREATE DATABASE {n}"))
            .map_err(backend)
    })
    .join()
    .map_err(|_| backend("the database-creating thread failed"))??;
    let mut url = url::Url::parse(base).map_err(|e| StoreError::Backend(format!("{base}: {e}")))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// A fresh, empty database on the test server (`TESSERA_TEST_DATABASE_URL`, a server the
/// URL's user may create databases on; `scripts/test` starts a temporary one): its URL.
/// `None` when no server is configured — a failure instead when the suites must not skip
/// (`TESSERA_REQUIRE_SYSTEM_TOOLS`).
#[cfg(any(test, feature = "test-util"))]
#[allow(clippy::expect_used)] // a test fixture: no server to test against is a failed test
pub fn test_database() -> Option<String> {
    let Ok(base) = std::env::var("TESSERA_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("TESSERA_REQUIRE_SYSTEM_TOOLS").is_none(),
            "TESSERA_TEST_DATABASE_URL is not set: the PostgreSQL suites cannot run"
        );
        eprintln!("PostgreSQL suites skipped: TESSERA_TEST_DATABASE_URL is not set");
        return None;
    };
    Some(fresh_database(&base, "tessera_test").expect("a test database"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TLS with rustls on ring: `sslmode=require` with the test cluster's CA as `sslrootcert`
    /// connects over TLS (the server says so); without that CA the server's certificate is
    /// refused — the client always verifies it.
    #[test]
    fn tls_verifies_the_server_against_the_webpki_roots_and_sslrootcert() {
        let (Ok(base), Ok(ca)) = (
            std::env::var("TESSERA_TEST_DATABASE_URL"),
            std::env::var("TESSERA_TEST_PG_CA"),
        ) else {
            assert!(
                std::env::var_os("TESSERA_REQUIRE_SYSTEM_TOOLS").is_none(),
                "the test cluster's CA (TESSERA_TEST_PG_CA) is not set"
            );
            return;
        };
        let with = |query: String| {
            let mut u = url::Url::parse(&base).unwrap();
            u.set_query(Some(&query));
            let u = u.to_string();
            std::thread::spawn(move || -> Result<bool, StoreError> {
                let mut c = connect(&config(&u)?)?;
                c.query_one(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    &[],
                )
                .map(|r| r.get::<_, bool>(0))
                .map_err(backend)
            })
            .join()
            .unwrap()
        };
        assert!(with(format!("sslmode=require&sslrootcert={ca}")).unwrap());
        let refused = with("sslmode=require".into()).unwrap_err().to_string();
        assert!(refused.contains("certificate"), "{refused}");
        assert!(!with("sslmode=disable".into()).unwrap());
        assert!(config("postgres://x@h/db?sslrootcert=/nonexistent").is_err());
    }

    #[test]
    fn prefix_ends_bound_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
