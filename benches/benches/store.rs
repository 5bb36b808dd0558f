//! Store and environment-auth micro-benchmarks.
//!
//! - `durable_write/*`: a tenant-sized record written through `Db::write` on sled (fsync per
//!   acknowledged write). The baseline is one writer at a time; the concurrent cases show
//!   what group commit buys, as a ratio measured in the same run.
//! - `vendor_auth/*`: the work behind `POST /auth/vendor` (credential check + token issue)
//!   and behind every management call (token verify).

// A benchmark: a failed precondition should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use control_plane::environment::EnvAuth;
use control_plane::store::{Db, Record, Tree};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Row {
    id: String,
    name: String,
    metadata: String,
}

impl Record for Row {
    const TREE: Tree = Tree::Tenants;
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}

fn row(i: u64) -> Row {
    Row {
        id: format!("{i:020}"),
        name: "Acme Corporation".into(),
        metadata: "{\"plan\":\"gold\"}".into(),
    }
}

/// `writes` durable writes spread over `writers` concurrent tasks; returns the elapsed time.
fn run_writes(
    rt: &tokio::runtime::Runtime,
    db: &Db,
    writers: u64,
    writes: u64,
    base: u64,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let per = writes.div_ceil(writers);
        let mut tasks = Vec::new();
        for w in 0..writers {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per {
                    let r = row(base + w * per + i);
                    db.write(|tx| tx.put(&r)).await.expect("write");
                }
            }));
        }
        for t in tasks {
            t.await.expect("writer");
        }
        start.elapsed()
    })
}

fn durable_writes(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open_sled(dir.path()).expect("sled");
    let mut g = c.benchmark_group("durable_write");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for writers in [1u64, 16, 64] {
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("sled/{writers}_writers"), |b| {
            b.iter_custom(|iters| {
                let base = counter.fetch_add(iters * 2, std::sync::atomic::Ordering::Relaxed);
                run_writes(&rt, &db, writers, iters, base)
            })
        });
    }
    g.finish();
}

fn vendor_auth(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = Db::in_memory();
    let (env, cid, _) = rt
        .block_on(EnvAuth::bootstrap(
            &db,
            Some("bench-client"),
            Some("bench-secret-0123456789"),
            Some("sc"),
            3600,
        ))
        .expect("bootstrap");
    let mut g = c.benchmark_group("vendor_auth");
    g.bench_function("check_and_issue", |b| {
        b.iter(|| {
            assert!(env.check_credentials(&cid, "bench-secret-0123456789"));
            env.issue(1_800_000_000)
        })
    });
    let (token, _) = env.issue(1_800_000_000);
    g.bench_function("verify", |b| {
        b.iter(|| env.verify(&token, 1_800_000_001).expect("valid"))
    });
    g.finish();
}

/// The argon2id verification behind every password login, at the default cost and at the
/// test cost (what one core can sustain in logins per second is 1 / time).
fn password_verify(c: &mut Criterion) {
    use control_plane::hashing::{self, Argon2Cost, Hasher};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("password_verify");
    g.sample_size(10);
    for (name, cost) in [
        ("default_19MiB_t2", Argon2Cost::default()),
        ("test_cost", Argon2Cost::cheap()),
    ] {
        let hasher = Hasher::new(cost, 16);
        let hash = rt
            .block_on(hashing::hash(&hasher, "correct horse battery".into()))
            .expect("hash");
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(hashing::verify(
                    &hasher,
                    "correct horse battery".into(),
                    Some(hash.clone()),
                ))
                .expect("verify")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, durable_writes, vendor_auth, password_verify);
criterion_main!(benches);
