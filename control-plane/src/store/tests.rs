//! The store conformance suite: every test runs against both backends.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Thing {
    id: String,
    n: u64,
}

impl Record for Thing {
    const TREE: Tree = Tree::Tenants;
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("refused")]
    Refused,
}

fn thing(id: &str, n: u64) -> Thing {
    Thing { id: id.into(), n }
}

/// Each backend, freshly made. The tempdir guard keeps the sled directory alive.
fn backends() -> Vec<(&'static str, Db, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sled = Db::open_sled(dir.path()).unwrap();
    let mut all = vec![("memory", Db::in_memory(), None), ("sled", sled, Some(dir))];
    if let Some(url) = postgres::test_database() {
        all.push(("postgres", Db::open_postgres(&url, 8).unwrap(), None));
    }
    all
}

/// Counter `ctr` set to 0, then 8 tasks each incrementing it 25 times in read-modify-write
/// transactions, task `k` on handle `k % dbs.len()`: 200 when no update is lost.
async fn increment_concurrently(dbs: &[Db]) {
    dbs[0].write(|tx| tx.put(&thing("ctr", 0))).await.unwrap();
    let mut tasks = Vec::new();
    for k in 0..8 {
        let db = dbs[k % dbs.len()].clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                db.write(|tx| {
                    let cur = tx.get::<Thing>(b"ctr")?.map_or(0, |t| t.n);
                    tx.put(&thing("ctr", cur + 1))
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Two handles on one PostgreSQL database — what two control-plane replicas are — racing
/// read-modify-write transactions: serializable transactions lose no update across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_database_lose_no_update() {
    let Some(url) = postgres::test_database() else {
        return;
    };
    let a = Db::open_postgres(&url, 4).unwrap();
    let b = Db::open_postgres(&url, 4).unwrap();
    increment_concurrently(&[a.clone(), b.clone()]).await;
    assert_eq!(a.get::<Thing>(b"ctr").unwrap().unwrap().n, 200);
    assert_eq!(b.get::<Thing>(b"ctr").unwrap().unwrap().n, 200);
    // A third handle finds the schema in place and the data there.
    let c = Db::open_postgres(&url, 1).unwrap();
    assert_eq!(c.get::<Thing>(b"ctr").unwrap().unwrap().n, 200);
}

#[tokio::test]
async fn put_get_delete_roundtrip() {
    for (name, db, _guard) in backends() {
        assert_eq!(db.get::<Thing>(b"a").unwrap(), None, "{name}");
        db.write(|tx| tx.put(&thing("a", 1))).await.unwrap();
        assert_eq!(
            db.get::<Thing>(b"a").unwrap(),
            Some(thing("a", 1)),
            "{name}"
        );
        db.write(|tx| tx.put(&thing("a", 2))).await.unwrap();
        assert_eq!(
            db.get::<Thing>(b"a").unwrap(),
            Some(thing("a", 2)),
            "{name}"
        );
        db.write(|tx| tx.delete::<Thing>(b"a")).await.unwrap();
        assert_eq!(db.get::<Thing>(b"a").unwrap(), None, "{name}");
    }
}

#[tokio::test]
async fn scan_is_ordered_and_bounded_by_prefix_and_tree() {
    for (name, db, _guard) in backends() {
        db.write(|tx| {
            for id in ["b/2", "a/1", "b/1", "c/1"] {
                tx.put(&thing(id, 0))?;
            }
            // Same key bytes in another tree must not leak into the scan.
            tx.put_raw(Tree::Events, b"b/0", b"x")
        })
        .await
        .unwrap();
        let ids: Vec<String> = db
            .scan::<Thing>(b"b/")
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(ids, ["b/1", "b/2"], "{name}");
        assert_eq!(db.scan::<Thing>(b"").unwrap().len(), 4, "{name}");
        assert_eq!(db.scan::<Thing>(b"z").unwrap().len(), 0, "{name}");
        // A range scan starts at a key, stops at the limit and never leaves its tree.
        let from: Vec<String> = db
            .scan_from::<Thing>(b"b/", 2)
            .unwrap()
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(from, ["b/1", "b/2"], "{name}");
        assert_eq!(
            db.scan_from::<Thing>(b"b/2", 10).unwrap().len(),
            2,
            "{name}"
        );
        assert_eq!(db.scan_from::<Thing>(b"d", 10).unwrap().len(), 0, "{name}");
    }
}

#[tokio::test]
async fn aborted_transaction_writes_nothing() {
    for (name, db, _guard) in backends() {
        let r: Result<(), TestError> = db
            .write(|tx| {
                tx.put(&thing("x", 1))?;
                tx.put_raw(Tree::Events, b"idx", b"1")?;
                Err(TestError::Refused)
            })
            .await;
        assert!(matches!(r, Err(TestError::Refused)), "{name}");
        assert_eq!(db.get::<Thing>(b"x").unwrap(), None, "{name}");
        assert!(db.scan::<Thing>(b"").unwrap().is_empty(), "{name}");
    }
}

#[tokio::test]
async fn transaction_reads_its_own_writes() {
    for (name, db, _guard) in backends() {
        let seen = db
            .write(|tx| {
                tx.put(&thing("k", 7))?;
                let a = tx.get::<Thing>(b"k")?;
                tx.delete::<Thing>(b"k")?;
                let b = tx.get::<Thing>(b"k")?;
                Ok::<_, StoreError>((a, b))
            })
            .await
            .unwrap();
        assert_eq!(seen, (Some(thing("k", 7)), None), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_modify_write_loses_no_update() {
    for (name, db, _guard) in backends() {
        increment_concurrently(std::slice::from_ref(&db)).await;
        assert_eq!(db.get::<Thing>(b"ctr").unwrap().unwrap().n, 200, "{name}");
    }
}

#[tokio::test]
async fn unknown_format_version_is_a_decode_error_not_a_panic() {
    for (name, db, _guard) in backends() {
        db.write(|tx| tx.put_raw(Tree::Tenants, b"bad", &[9, b'{', b'}']))
            .await
            .unwrap();
        db.write(|tx| tx.put_raw(Tree::Tenants, b"empty", b""))
            .await
            .unwrap();
        assert!(
            matches!(db.get::<Thing>(b"bad"), Err(StoreError::Decode { .. })),
            "{name}"
        );
        assert!(
            matches!(db.get::<Thing>(b"empty"), Err(StoreError::Decode { .. })),
            "{name}"
        );
    }
}

#[tokio::test]
async fn records_carry_the_format_version_byte() {
    for (name, db, _guard) in backends() {
        db.write(|tx| tx.put(&thing("v", 1))).await.unwrap();
        let raw = db.kv.get(Tree::Tenants, b"v").unwrap().unwrap();
        assert_eq!(raw[0], codec::FORMAT_V1, "{name}");
    }
}

#[tokio::test]
async fn sled_acknowledged_writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open_sled(dir.path()).unwrap();
        for i in 0..50 {
            db.write(|tx| tx.put(&thing(&format!("t{i:02}"), i)))
                .await
                .unwrap();
        }
    }
    let db = Db::open_sled(dir.path()).unwrap();
    assert_eq!(db.scan::<Thing>(b"t").unwrap().len(), 50);
}

/// A backend whose flush fails on demand: writes commit but are not acknowledged.
struct FailingFlush {
    inner: MemKv,
    fail: std::sync::atomic::AtomicBool,
}

impl Kv for FailingFlush {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(tree, key)
    }
    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KvPair>, StoreError> {
        self.inner.scan_prefix(tree, prefix)
    }
    fn scan_from(&self, tree: Tree, from: &[u8], limit: usize) -> Result<Vec<KvPair>, StoreError> {
        self.inner.scan_from(tree, from, limit)
    }
    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Abort>,
    ) -> Result<TxnOutcome, StoreError> {
        self.inner.transact(f)
    }
    fn flush(&self) -> Result<(), StoreError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            Err(StoreError::Backend("No space left on device".into()))
        } else {
            Ok(())
        }
    }
}

#[tokio::test]
async fn failed_flush_is_never_acknowledged_and_recovers() {
    let kv = Arc::new(FailingFlush {
        inner: MemKv::new(),
        fail: true.into(),
    });
    let db = Db::new(kv.clone());
    let r = db.write(|tx| tx.put(&thing("a", 1))).await;
    assert!(matches!(r, Err(StoreError::Backend(m)) if m.contains("space")));
    assert!(!db.is_healthy());
    kv.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    db.write(|tx| tx.put(&thing("b", 1))).await.unwrap();
    assert!(db.is_healthy());
}

/// A backend that replaces its handle (as `SledKv` does after an I/O error) between a
/// transaction's commit and its flush: the flush succeeds, on the new handle only.
struct ReopensAfterCommit {
    inner: MemKv,
    generation: std::sync::atomic::AtomicU64,
    reopen_next: std::sync::atomic::AtomicBool,
}

impl Kv for ReopensAfterCommit {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(tree, key)
    }
    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<KvPair>, StoreError> {
        self.inner.scan_prefix(tree, prefix)
    }
    fn scan_from(&self, tree: Tree, from: &[u8], limit: usize) -> Result<Vec<KvPair>, StoreError> {
        self.inner.scan_from(tree, from, limit)
    }
    fn transact(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Abort>,
    ) -> Result<TxnOutcome, StoreError> {
        let r = self.inner.transact(f);
        if self
            .reopen_next
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        r
    }
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_commit_left_on_a_replaced_handle_is_never_acknowledged() {
    let kv = Arc::new(ReopensAfterCommit {
        inner: MemKv::new(),
        generation: 0.into(),
        reopen_next: true.into(),
    });
    let db = Db::new(kv.clone());
    let r = db.write(|tx| tx.put(&thing("a", 1))).await;
    assert!(
        matches!(&r, Err(StoreError::Backend(m)) if m.contains("reopened")),
        "{r:?}"
    );
    // Later writes on the new handle are acknowledged as usual.
    db.write(|tx| tx.put(&thing("b", 1))).await.unwrap();
}

/// The real backend reopens itself: operations keep working on the same `SledKv` after a
/// reopen, and what was acknowledged before is there.
#[tokio::test]
async fn sled_reopens_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let kv = Arc::new(SledKv::open(dir.path()).unwrap());
    let db = Db::new(kv.clone());
    db.write(|tx| tx.put(&thing("before", 1))).await.unwrap();
    kv.reopen();
    assert_eq!(kv.generation(), 1);
    assert!(db.get::<Thing>(b"before").unwrap().is_some());
    db.write(|tx| tx.put(&thing("after", 2))).await.unwrap();
    assert_eq!(db.scan::<Thing>(b"").unwrap().len(), 2);
}

/// A record with one unique and one many-to-one index, for the index suite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Member {
    id: String,
    email: Option<String>,
    teams: Vec<String>,
}

const BY_EMAIL: Index<Member> = Index::unique(Tree::UserEmails);
const BY_TEAM: Index<Member> = Index::many(Tree::TenantUsers);

impl Record for Member {
    const TREE: Tree = Tree::Users;
    const INDEXES: &'static [Tree] = &[Tree::UserEmails, Tree::TenantUsers];
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        self.email
            .iter()
            .map(|e| BY_EMAIL.entry(e.as_bytes()))
            .chain(self.teams.iter().map(|t| BY_TEAM.entry(format!("{t}/"))))
            .collect()
    }
}

fn member(id: &str, email: Option<&str>, teams: &[&str]) -> Member {
    Member {
        id: id.into(),
        email: email.map(Into::into),
        teams: teams.iter().map(|t| (*t).to_owned()).collect(),
    }
}

fn ids(ms: Vec<Member>) -> Vec<String> {
    ms.into_iter().map(|m| m.id).collect()
}

#[tokio::test]
async fn indexes_follow_every_put_and_delete() {
    for (name, db, _guard) in backends() {
        db.write(|tx| {
            tx.put(&member("u1", Some("a@x"), &["t1", "t2"]))?;
            tx.put(&member("u2", Some("b@x"), &["t1"]))
        })
        .await
        .unwrap();
        assert_eq!(
            db.find(BY_EMAIL, b"a@x").unwrap().map(|m| m.id),
            Some("u1".into()),
            "{name}"
        );
        assert_eq!(
            ids(db.find_all(BY_TEAM, b"t1/").unwrap()),
            ["u1", "u2"],
            "{name}"
        );
        // A replacement drops the entries it no longer has and adds its new ones.
        db.write(|tx| tx.put(&member("u1", Some("c@x"), &["t2", "t3"])))
            .await
            .unwrap();
        assert_eq!(db.find(BY_EMAIL, b"a@x").unwrap(), None, "{name}");
        assert_eq!(
            db.find(BY_EMAIL, b"c@x").unwrap().map(|m| m.id),
            Some("u1".into()),
            "{name}"
        );
        assert_eq!(ids(db.find_all(BY_TEAM, b"t1/").unwrap()), ["u2"], "{name}");
        assert_eq!(db.keys(BY_TEAM, b"t3/").unwrap(), ["u1"], "{name}");
        // The freed address can be taken; a taken one cannot, and nothing changes.
        db.write(|tx| tx.put(&member("u3", Some("a@x"), &[])))
            .await
            .unwrap();
        let taken = db
            .write(|tx| tx.put(&member("u4", Some("b@x"), &["t9"])))
            .await;
        assert!(
            matches!(taken, Err(StoreError::Conflict { .. })),
            "{name}: {taken:?}"
        );
        assert_eq!(db.get::<Member>(b"u4").unwrap(), None, "{name}");
        assert!(db.keys(BY_TEAM, b"t9/").unwrap().is_empty(), "{name}");
        // A delete takes every entry with it.
        db.write(|tx| tx.delete::<Member>(b"u1")).await.unwrap();
        assert_eq!(db.find(BY_EMAIL, b"c@x").unwrap(), None, "{name}");
        assert!(db.keys(BY_TEAM, b"t2/").unwrap().is_empty(), "{name}");
        assert!(db.keys(BY_TEAM, b"t3/").unwrap().is_empty(), "{name}");
        // Inside a transaction the index is read with the transaction's own writes.
        let seen = db
            .write(|tx| {
                tx.put(&member("u5", Some("e@x"), &[]))?;
                tx.owner(BY_EMAIL, b"e@x")
            })
            .await
            .unwrap();
        assert_eq!(seen.as_deref(), Some("u5"), "{name}");
        // Rebuilding writes what a store without the index lacks.
        db.write(|tx| {
            tx.delete_raw(Tree::UserEmails, b"e@x")?;
            tx.delete_raw(Tree::TenantUsers, b"t1/u2")
        })
        .await
        .unwrap();
        assert_eq!(db.find(BY_EMAIL, b"e@x").unwrap(), None, "{name}");
        db.write(|tx| {
            for id in ["u2", "u5"] {
                if let Some(m) = tx.get::<Member>(id.as_bytes())? {
                    tx.reindex(&m)?;
                }
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
        assert_eq!(
            db.find(BY_EMAIL, b"e@x").unwrap().map(|m| m.id),
            Some("u5".into()),
            "{name}"
        );
        assert_eq!(ids(db.find_all(BY_TEAM, b"t1/").unwrap()), ["u2"], "{name}");
    }
}

#[test]
fn every_tree_is_enumerable_with_its_own_prefix_and_name() {
    let prefixes: std::collections::BTreeSet<u8> = Tree::ALL.iter().map(|t| t.prefix()).collect();
    let names: std::collections::BTreeSet<&str> = Tree::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(prefixes.len(), Tree::ALL.len());
    assert_eq!(names.len(), Tree::ALL.len());
    assert!(Tree::ALL.contains(&Tree::AlwaysPermissions) && Tree::ALL.contains(&Tree::Meta));
    // In prefix order, from 0 with no gap: a new tree takes the next byte.
    assert!(
        Tree::ALL
            .iter()
            .enumerate()
            .all(|(i, t)| usize::from(t.prefix()) == i)
    );
}

/// A transaction whose database connection is lost between its reads and its commit
/// commits nothing and is not acknowledged: the commit never goes out on a reopened
/// connection, where its writes would land outside the transaction that read for them.
#[tokio::test]
async fn a_transaction_whose_connection_is_lost_commits_nothing() {
    let Some(url) = postgres::test_database() else {
        return;
    };
    let db = Db::open_postgres(&url, 1).unwrap();
    db.write(|tx| tx.put(&thing("seen", 1))).await.unwrap();
    let cut = std::sync::atomic::AtomicBool::new(false);
    let lost = db
        .write(|tx| {
            let seen = tx.get::<Thing>(b"seen")?.map_or(0, |t| t.n);
            if !cut.swap(true, std::sync::atomic::Ordering::SeqCst) {
                // Another session ends this one's backend, idle inside the transaction.
                let url = url.clone();
                std::thread::spawn(move || {
                    let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
                    let ended = admin
                        .query_one(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                             WHERE datname = current_database() AND pid <> pg_backend_pid() \
                             AND state = 'idle in transaction'",
                            &[],
                        )
                        .unwrap()
                        .get::<_, i64>(0);
                    assert_eq!(ended, 1, "the transaction's backend was ended");
                })
                .join()
                .unwrap();
            }
            tx.put(&thing("written", seen + 1))
        })
        .await;
    assert!(lost.is_err(), "not acknowledged: {lost:?}");
    // The store reconnects for the next call, and the lost transaction left nothing.
    assert_eq!(db.get::<Thing>(b"written").unwrap(), None);
    db.write(|tx| tx.put(&thing("after", 1))).await.unwrap();
    assert_eq!(db.get::<Thing>(b"after").unwrap(), Some(thing("after", 1)));
}

/// Transactions on PostgreSQL wait for the database without holding the async workers:
/// with more slow transactions (a 300 ms round trip, simulated in the closure) than the
/// runtime has workers, a timer task on the same runtime still fires on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_postgres_transactions_leave_the_runtime_free() {
    let Some(url) = postgres::test_database() else {
        return;
    };
    let db = Db::open_postgres(&url, 8).unwrap();
    let started = std::time::Instant::now();
    let slow: Vec<_> = (0..6)
        .map(|k| {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(|tx| {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    tx.put(&thing(&format!("slow{k}"), 1))
                })
                .await
                .unwrap();
            })
        })
        .collect();
    // 50 ms in, a task needing a worker for a 10 ms timer: done by ~60 ms, not after the
    // first transactions' 300 ms.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    tokio::spawn(tokio::time::sleep(std::time::Duration::from_millis(10)))
        .await
        .unwrap();
    let late = started.elapsed();
    for t in slow {
        t.await.unwrap();
    }
    assert!(
        late < std::time::Duration::from_millis(200),
        "50 ms and a 10 ms timer took {late:?} while transactions waited"
    );
}
