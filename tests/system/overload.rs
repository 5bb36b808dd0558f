//! R10: a login flood on two cores. Password checks run one per core with a bounded line
//! (`--hash-queue`); the rest are shed at once with 503 + `Retry-After` instead of queueing
//! without bound — so memory stays flat (argon2 holds its memory cost per running hash) and
//! the checks that are taken finish in bounded time. After the flood the service is normal.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::process::spawn_control_plane_with;
use crate::support::{metrics, sample};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_shed_not_queued() {
    const FLOOD: usize = 300;
    const QUEUE: usize = 16;
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = QUEUE.to_string();
    let cp = spawn_control_plane_with(
        dir.path(),
        "flood-client",
        "flood-key-0123456789abcdef",
        &[
            // 16 MiB per running hash: unbounded, 300 at once would hold ~4.7 GiB.
            "--argon2-memory-kib",
            "16384",
            "--argon2-iterations",
            "2",
            "--hash-queue",
            &queue,
        ],
    );
    let base = cp.url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let login = |email: String, password: &'static str| {
        let req = client
            .post(format!("{base}/identity/resources/auth/v1/user"))
            .json(&json!({"email": email, "password": password}));
        async move {
            let started = Instant::now();
            let r = req.send().await.expect("answered");
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or_default().to_owned());
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, retry, body, started.elapsed())
        }
    };
    let pid = cp.child.id();
    let rss_before = rss_kib(pid);
    let sampler = {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let handle = tokio::spawn(async move {
            let mut peak = 0;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak
        });
        (stop, handle)
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..FLOOD)
        .map(|i| tokio::spawn(login(format!("nobody{i}@flood.test"), "Wrong-Guess-123")))
        .collect();
    let (mut evaluated, mut shed, mut slowest) = (0, 0, Duration::ZERO);
    for t in tasks {
        let (status, retry, body, took) = t.await.expect("task");
        match status {
            401 => {
                evaluated += 1;
                slowest = slowest.max(took);
            }
            503 => {
                shed += 1;
                assert_eq!(retry.as_deref(), Some("1"), "{body}");
                assert_eq!(body["errorCode"], "ER-UNAVAILABLE", "{body}");
            }
            s => panic!("a flooded login answered {s}: {body}"),
        }
    }
    let flood_took = started.elapsed();
    sampler.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.1.await.expect("sampler");
    let metrics = metrics(&format!("{base}/metrics")).await;
    let counted: usize =
        sample(&metrics, "control_plane_password_checks_shed_total").expect("the shed counter");
    // After the flood: a login is evaluated normally (401 for a wrong password, not 503).
    let (after, _, _, after_took) = login("nobody@flood.test".into(), "Wrong-Guess-123").await;
    println!(
        "login flood: {FLOOD} at once, line of {QUEUE}: {evaluated} evaluated (slowest {} ms), \
         {shed} shed with 503 + Retry-After; RSS {} MiB before, peak {} MiB; flood answered in \
         {} ms; the next login {} in {} ms",
        slowest.as_millis(),
        rss_before / 1024,
        peak / 1024,
        flood_took.as_millis(),
        after,
        after_took.as_millis()
    );
    assert!(shed > 0, "nothing was shed");
    assert!(evaluated >= QUEUE, "{evaluated} evaluated");
    assert_eq!(counted, shed);
    assert_eq!(after, 401);
    // One 16 MiB working buffer per hashing thread: far from the ~4.7 GiB an unbounded flood
    // would hold (before the gate, 40 parallel logins took this binary to 794 MiB).
    assert!(
        peak < rss_before + 80 * 1024,
        "RSS grew from {rss_before} KiB to {peak} KiB"
    );
}
