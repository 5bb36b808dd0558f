//! R8 and A7 with real clocks apart: sidecar binaries run under libfaketime (`FAKETIME`
//! offsets, the monotonic clock left alone so timeouts stay true) against a control plane on
//! the real clock. Within the leeway (30 s) fresh tokens pass; a sidecar 2 minutes behind
//! refuses them as not yet valid; one 2 minutes ahead still accepts long-lived tokens (no
//! mass expiry) and refuses a 60-second token as expired. Every sidecar reports its skew.
//!
//! A clock step during operation (R8): a sidecar whose clock jumps two hours forward and back
//! stays ready throughout (staleness is measured on the monotonic clock), then reports the
//! new skew.
//!
//! Needs `faketime` (Debian package; `.ci/run` installs it); prints SKIPPED without it,
//! except where `TESSERA_REQUIRE_SYSTEM_TOOLS` is set (CI), where that fails.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::process::{Proc, free_addr, spawn_with_env};
use crate::support::remote::{RemoteCp, SIDECAR_TOKEN};
use crate::support::{metrics, sample};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

struct Skewed {
    offset: i64,
    proc: Proc,
    admin: String,
}

fn skewed_sidecar(cp: &RemoteCp, offset: i64) -> Skewed {
    let faketime = format!("{offset:+}s");
    sidecar_with_clock(cp, offset, &[("FAKETIME", &faketime)])
}

fn sidecar_with_clock(cp: &RemoteCp, offset: i64, clock: &[(&str, &str)]) -> Skewed {
    let admin = free_addr();
    let mut env = vec![
        ("LD_PRELOAD", LIBFAKETIME),
        ("DONT_FAKE_MONOTONIC", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ("TESSERA_DEV_SIDECAR", "off"),
    ];
    env.extend_from_slice(clock);
    let proc = spawn_with_env(
        env!("CARGO_BIN_EXE_e2e-sidecar"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            &admin,
            "--control-plane",
            &cp.base,
            "--sidecar-token",
            SIDECAR_TOKEN,
            "--leeway",
            "30",
        ],
        &env,
    );
    Skewed {
        offset,
        proc,
        admin,
    }
}

async fn check(client: &reqwest::Client, sc: &Skewed, token: &str) -> u16 {
    client
        .get(format!("{}v1/check/orders/7", with_slash(&sc.proc.url)))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16()
}

fn with_slash(url: &str) -> String {
    format!("{}/", url.trim_end_matches('/'))
}

async fn status(client: &reqwest::Client, sc: &Skewed) -> serde_json::Value {
    client
        .get(format!("http://{}/status", sc.admin))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_with_skewed_clocks_decide_by_the_leeway_and_report_the_skew() {
    if crate::support::system_tool(&[LIBFAKETIME], "faketime").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = RemoteCp::spawn(dir.path()).await;
    let tenant = cp.tenant("Skew").await;
    cp.verified_user(&tenant, "ada@skew.test").await;
    let long = cp.login("ada@skew.test").await.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let ttl = cp
        .admin(
            "/identity/resources/configurations/v1",
            None,
            json!({"defaultTokenExpiration": 60}),
        )
        .await;
    assert!(ttl.status.is_success(), "{}", ttl.text);
    let short = cp.login("ada@skew.test").await.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let sidecars: Vec<Skewed> = [-20, 20, -120, 120]
        .into_iter()
        .map(|o| skewed_sidecar(&cp, o))
        .collect();
    let client = crate::support::http_client();

    // Each sidecar receives the state and reports its skew from the heartbeats.
    for sc in &sidecars {
        let started = Instant::now();
        loop {
            let s = status(&client, sc).await;
            let skew = s["clockSkewSeconds"].as_i64().unwrap_or(0);
            if s["snapshotVersion"].is_u64() && (skew - sc.offset).abs() <= 2 {
                println!("sidecar at {:+} s reports a skew of {skew} s", sc.offset);
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "sidecar at {:+} s: {s}",
                sc.offset
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // (offset, 1-hour token, 60-second token)
    let expected = [
        (-20, 200, 200),
        (20, 200, 200),
        (-120, 401, 401),
        (120, 200, 401),
    ];
    for (sc, (offset, want_long, want_short)) in sidecars.iter().zip(expected) {
        assert_eq!(sc.offset, offset);
        let got = (
            check(&client, sc, &long).await,
            check(&client, sc, &short).await,
        );
        println!(
            "sidecar at {offset:+} s: 1-hour token {}, 60-second token {}",
            got.0, got.1
        );
        assert_eq!(got, (want_long, want_short), "sidecar at {offset:+} s");
    }
    // The metric carries the same figure.
    let metrics = metrics(&format!("http://{}/metrics", sidecars[3].admin)).await;
    let value: i64 = sample(&metrics, "sidecar_clock_skew_seconds").expect("the skew gauge");
    assert!((value - 120).abs() <= 2, "{value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_step_does_not_make_a_sidecar_stale() {
    if crate::support::system_tool(&[LIBFAKETIME], "faketime").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = RemoteCp::spawn(dir.path()).await;
    let clock = dir.path().join("faketime");
    std::fs::write(&clock, "+0s").expect("clock file");
    let sc = sidecar_with_clock(
        &cp,
        0,
        &[
            ("FAKETIME_TIMESTAMP_FILE", clock.to_str().expect("utf-8")),
            ("FAKETIME_NO_CACHE", "1"),
        ],
    );
    let client = crate::support::http_client();
    let ready = |client: &reqwest::Client| {
        let url = format!("http://{}/readyz", sc.admin);
        let c = client.clone();
        async move {
            c.get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let started = Instant::now();
    while ready(&client).await != 200 {
        assert!(started.elapsed() < Duration::from_secs(15), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (step, skew) in [("+7200s", 7200), ("+0s", 0)] {
        std::fs::write(&clock, step).expect("clock file");
        // Across the next heartbeat (every 5 s), readiness never drops and the new skew is
        // reported.
        let stepped = Instant::now();
        let (mut checks, mut reported) = (0, None);
        while stepped.elapsed() < Duration::from_secs(7) {
            let r = ready(&client).await;
            assert_eq!(
                r,
                200,
                "not ready {:?} after the clock stepped {step}",
                stepped.elapsed()
            );
            checks += 1;
            if reported.is_none() {
                let s = status(&client, &sc).await;
                if (s["clockSkewSeconds"].as_i64().unwrap_or(-1) - skew).abs() <= 2 {
                    reported = Some(stepped.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!(
            "clock stepped {step}: ready in all {checks} checks over 7 s; skew {skew} s reported after {:?}",
            reported
        );
        assert!(
            reported.is_some(),
            "the skew after stepping {step} was never reported"
        );
    }
}
