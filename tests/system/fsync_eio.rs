//! fsync EIO (`security.md` R7) against the real binary: the disk reports that a write-back
//! failed. A shim loaded with `LD_PRELOAD` (`tests/fixtures/fsync_fault.c`, compiled here with
//! the system C compiler) makes `fsync`, `fdatasync` and `sync_file_range` on regular files fail
//! with EIO while a flag file exists — the fault a FUSE fault filesystem would inject, at the
//! C-library boundary the store's flushes go through, with nothing to install or mount.
//!
//! While the fault lasts no write may be acknowledged (each answers 503 with a clear error),
//! reads answer 503 too (never data from a store that has met an I/O error), and the process
//! must not fall over; when it clears, the store is ready again
//! (readiness probes alone bring it back) and writes resume without a restart; every
//! acknowledged write is there — after the fault, and again after a `kill -9` and a restart
//! without the shim (so it reached the disk, not only the page cache).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::remote::RemoteCp;

/// Compile the shim into `dir`; `None` when there is no C compiler.
fn build_shim(dir: &Path) -> Option<String> {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/fsync_fault.c");
    let out = dir.join("fsync_fault.so");
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&out)
        .arg(src)
        .arg("-ldl")
        .status()
        .ok()?
        .success();
    assert!(ok, "the fault shim does not compile");
    Some(out.to_str().expect("utf-8").to_owned())
}

fn tenant_ids(list: &Value) -> std::collections::BTreeSet<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["tenantId"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn fsync_eio_acknowledges_nothing_and_recovers_without_a_restart() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let Some(shim) = build_shim(scratch.path()) else {
        println!("SKIPPED: no C compiler (cc) to build the fault shim");
        return;
    };
    let flag = scratch.path().join("eio");
    let count = scratch.path().join("eio.count");
    let data = scratch.path().join("data");
    let mut cp = RemoteCp::spawn_with_env(
        &data,
        &[
            ("LD_PRELOAD", &shim),
            ("TESSERA_FAULT_FLAG", flag.to_str().expect("utf-8")),
        ],
    )
    .await;
    let create = |name: String| {
        let cp = &cp;
        async move {
            cp.admin("/tenants/resources/tenants/v1", None, json!({"name": name}))
                .await
        }
    };

    let mut acked = Vec::new();
    for i in 0..20 {
        let r = create(format!("before-{i}")).await;
        assert_eq!(r.status, 201, "{}", r.text);
        acked.push(r.body["tenantId"].as_str().expect("id").to_owned());
    }

    // The disk starts failing write-backs, for longer than the store's one-a-second reopen
    // attempts, so some are made (and must hold off) while it lasts.
    std::fs::write(&flag, b"").expect("flag");
    let (mut refused, mut reads) = (0, 0);
    for round in 0..3 {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(1_100)).await;
        }
        for i in 0..10 {
            // Never acknowledged while every flush fails; the error says so.
            let r = create(format!("during-{round}-{i}")).await;
            r.assert_error(503, "ER-UNAVAILABLE");
            assert!(r.text.contains("not saved"), "{}", r.text);
            refused += 1;
        }
        // Reads are refused too, cleanly: once sled has latched an I/O error its reads are
        // not to be trusted (an earlier version served them from the broken handle, and a
        // list came back with 1 of 20 acknowledged tenants), so the store gives the handle up
        // and reopens only once the disk takes a synced write again.
        for path in [
            "/tenants/resources/tenants/v1".to_owned(),
            format!("/tenants/resources/tenants/v1/{}", acked[0]),
        ] {
            cp.admin_get(&path)
                .await
                .assert_error(503, "ER-UNAVAILABLE");
            reads += 1;
        }
        assert_eq!(
            cp.admin_get("/readyz").await.status,
            503,
            "ready during the fault"
        );
    }
    let injected = std::fs::metadata(&count).map_or(0, |m| m.len());
    assert!(injected > 0, "the shim never met a flush");

    // The fault clears: readiness probes alone bring the store back, in the same process.
    std::fs::remove_file(&flag).expect("clear the fault");
    let cleared = Instant::now();
    while cp.admin_get("/readyz").await.status != 200 {
        assert!(
            cleared.elapsed() < Duration::from_secs(15),
            "not ready again after the fault cleared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = cleared.elapsed();
    let r = create("after".into()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    acked.push(r.body["tenantId"].as_str().expect("id").to_owned());
    let listed = tenant_ids(&cp.admin_get("/tenants/resources/tenants/v1").await.body);
    let missing = acked.iter().filter(|a| !listed.contains(*a)).count();
    assert_eq!(missing, 0, "acknowledged writes lost after the fault");

    // Crash and restart without the shim: what was acknowledged is on the disk.
    cp.proc.kill9();
    drop(cp);
    let cp = RemoteCp::spawn(&data).await;
    let listed = tenant_ids(&cp.admin_get("/tenants/resources/tenants/v1").await.body);
    let missing = acked.iter().filter(|a| !listed.contains(*a)).count();
    assert_eq!(missing, 0, "acknowledged writes lost across kill -9");
    println!(
        "fsync EIO: {} acknowledged writes; {refused} refused with 503 over 2.2 s of failing flushes ({injected} failures injected), {reads} reads refused with 503 (none answered from the broken store); ready again {} ms after the fault cleared, without a write or a restart; 0 acknowledged writes lost, before or after kill -9",
        acked.len(),
        recovered.as_millis()
    );
}
