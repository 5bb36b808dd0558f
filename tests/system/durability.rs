//! Crash durability with the real binary: every write acknowledged before a `kill -9` is
//! there after a restart; SIGTERM drains and flushes.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::support::http_client;
use crate::support::process::{
    free_addr, spawn, spawn_control_plane, spawn_control_plane_with, spawn_with_env, tenant_ids,
};

const CLIENT_ID: &str = "durability-client";
const API_KEY: &str = "durability-key-0123456789";

async fn vendor_token(base: &str) -> String {
    crate::support::process::vendor_token(base, CLIENT_ID, API_KEY).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    writes_survive_kill_9(|| spawn_control_plane(dir.path(), CLIENT_ID, API_KEY)).await;
}

/// The same with the store on PostgreSQL: a write is acknowledged after its commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_on_postgres() {
    let Some(url) = crate::support::pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    writes_survive_kill_9(|| on_postgres(dir.path(), &url)).await;
}

/// The control plane with its store on PostgreSQL at `url` (`dir` holds only the outbox).
fn on_postgres(dir: &std::path::Path, url: &str) -> crate::support::process::Proc {
    spawn_control_plane_with(dir, CLIENT_ID, API_KEY, &["--database-url", url])
}

/// `tessera-control-plane migrate --from sled:DIR --database-url URL`, run to its end.
fn move_sled_into(dir: &std::path::Path, url: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_e2e-control-plane"))
        .args(["migrate", "--database-url", url, "--from"])
        .arg(format!("sled:{}", dir.display()))
        .output()
        .unwrap()
}

/// `tessera-control-plane migrate` brings a database's schema up to date and exits, as
/// often as it is run; the control plane then starts on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_applies_the_schema_alone_and_is_idempotent() {
    let Some(url) = crate::support::pg_database().await else {
        return;
    };
    for _ in 0..2 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_e2e-control-plane"))
            .args(["migrate", "--database-url", &url])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("database schema at version 1"),
            "{out:?}"
        );
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_e2e-control-plane"))
        .args(["migrate"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let dir = tempfile::tempdir().unwrap();
    let cp = on_postgres(dir.path(), &url);
    let client = http_client();
    let token = vendor_token(&cp.url).await;
    assert!(tenant_ids(&client, &cp.url, &token).await.is_empty());
}

/// An embedded store moves into PostgreSQL whole: `migrate --from sled:DIR` copies every
/// tree and reads it back; the control plane then starts on the database with the same
/// accounts, users (who log in with their passwords), signing key and credentials; a second
/// move into the now full database is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_store_moves_into_postgres_with_everything() {
    let Some(url) = crate::support::pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let client = http_client();
    let mut cp = spawn_control_plane(dir.path(), CLIENT_ID, API_KEY);
    let token = vendor_token(&cp.url).await;
    let mut tenants = BTreeSet::new();
    for i in 0..20 {
        let r: Value = client
            .post(format!("{}/tenants/resources/tenants/v1", cp.url))
            .header("x-access-token", &token)
            .json(&json!({"name": format!("moved-{i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tenants.insert(r["tenantId"].as_str().unwrap().to_owned());
    }
    let tenant = tenants.iter().next().unwrap().clone();
    let r = client
        .post(format!("{}/identity/resources/users/v1", cp.url))
        .header("x-access-token", &token)
        .header("frontegg-tenant-id", &tenant)
        .json(&json!({"email": "moved@example.com", "password": "Moved-Pass-42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let uid = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = client
        .post(format!(
            "{}/identity/resources/users/v1/{uid}/verify",
            cp.url
        ))
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let jwks_before: Value = client
        .get(format!("{}/.well-known/jwks.json", cp.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(cp.terminate().success());

    let moved = move_sled_into(dir.path(), &url);
    let out = String::from_utf8_lossy(&moved.stdout).into_owned();
    assert!(moved.status.success(), "{moved:?}");
    assert!(out.contains("verified"), "{out}");
    println!("{out}");

    let outbox = tempfile::tempdir().unwrap();
    let on_pg = on_postgres(outbox.path(), &url);
    let token = vendor_token(&on_pg.url).await;
    assert_eq!(tenant_ids(&client, &on_pg.url, &token).await, tenants);
    let login = client
        .post(format!("{}/identity/resources/auth/v1/user", on_pg.url))
        .json(&json!({"email": "moved@example.com", "password": "Moved-Pass-42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        200,
        "the moved user logs in with its password"
    );
    let jwks_after: Value = client
        .get(format!("{}/.well-known/jwks.json", on_pg.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks_after, jwks_before, "the same signing key");
    // Into a database that holds data: refused.
    let again = move_sled_into(dir.path(), &url);
    assert!(!again.status.success(), "{again:?}");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("never merges"),
        "{again:?}"
    );
}

async fn writes_survive_kill_9(start: impl Fn() -> crate::support::process::Proc) {
    let client = http_client();
    let mut acknowledged_total = 0;
    for round in 0..3 {
        let mut cp = start();
        let base = cp.url.clone();
        let token = vendor_token(&base).await;
        let before = tenant_ids(&client, &base, &token).await;
        assert_eq!(
            before.len(),
            acknowledged_total,
            "round {round}: acknowledged writes lost"
        );
        // Concurrent writers; every 201 is recorded the moment it arrives.
        let acked = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for w in 0..8 {
            let (client, base, token, acked) =
                (client.clone(), base.clone(), token.clone(), acked.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..1000 {
                    let r = client
                        .post(format!("{base}/tenants/resources/tenants/v1"))
                        .header("x-access-token", &token)
                        .json(&json!({"name": format!("r{round}-w{w}-{i}")}))
                        .send()
                        .await;
                    let Ok(r) = r else { return };
                    if r.status() != 201 {
                        return;
                    }
                    let Ok(body) = r.json::<Value>().await else {
                        return;
                    };
                    acked
                        .lock()
                        .unwrap()
                        .push(body["tenantId"].as_str().unwrap().to_owned());
                }
            }));
        }
        // Let writes flow, then crash mid-stream.
        while acked.lock().unwrap().len() < 40 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        cp.kill9();
        for t in tasks {
            t.await.unwrap();
        }
        let acked: Vec<String> = acked.lock().unwrap().clone();
        let mut restarted = start();
        let token = vendor_token(&restarted.url).await;
        let after = tenant_ids(&client, &restarted.url, &token).await;
        let missing: Vec<&String> = acked.iter().filter(|id| !after.contains(*id)).collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} acknowledged writes lost: {missing:?}",
            missing.len()
        );
        assert!(before.is_subset(&after));
        acknowledged_total = after.len();
        println!(
            "round {round}: {} writes acknowledged before kill -9, all present after restart",
            acked.len()
        );
        restarted.kill9();
    }
}

#[tokio::test]
async fn sigterm_drains_flushes_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let client = http_client();
    let mut cp = spawn_control_plane(dir.path(), CLIENT_ID, API_KEY);
    let t = vendor_token(&cp.url).await;
    let r = client
        .post(format!("{}/tenants/resources/tenants/v1", cp.url))
        .header("x-access-token", &t)
        .json(&json!({"name": "kept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let status = cp.terminate();
    assert!(status.success(), "exit status {status:?}");
    let again = spawn_control_plane(dir.path(), CLIENT_ID, API_KEY);
    let t = vendor_token(&again.url).await;
    assert_eq!(tenant_ids(&client, &again.url, &t).await.len(), 1);
}

#[tokio::test]
async fn first_start_prints_credentials_once_and_they_work() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let bin = env!("CARGO_BIN_EXE_e2e-control-plane");
    let args = ["--listen", "127.0.0.1:0", "--data-dir", data];
    // "  environment API key:  <value>   (shown once; …)" → "<value>"
    let value = |lines: &[String], label: &str| {
        lines.iter().find_map(|l| {
            let rest = l.split_once(&format!("{label}:"))?.1;
            rest.split_whitespace().next().map(str::to_owned)
        })
    };
    let first = spawn(bin, &args);
    let out = first.stdout(std::time::Duration::from_millis(300));
    let client_id = value(&out, "environment clientId").expect("client id printed");
    let api_key = value(&out, "environment API key").expect("API key printed");
    assert_eq!(api_key.len(), 64, "{out:?}");
    assert!(out.iter().any(|l| l.contains("sidecar token:")), "{out:?}");
    let client = http_client();
    let r = client
        .post(format!("{}/auth/vendor", first.url))
        .json(&json!({"clientId": client_id, "secret": api_key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(first);
    let second = spawn(bin, &args);
    let out = second.stdout(std::time::Duration::from_millis(300));
    assert!(
        !out.iter().any(|l| l.contains(&api_key)),
        "the API key was printed again: {out:?}"
    );
    assert!(!out.iter().any(|l| l.contains("sidecar token:")), "{out:?}");
    let r = client
        .post(format!("{}/auth/vendor", second.url))
        .json(&json!({"clientId": client_id, "secret": api_key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "stored credentials survive a restart");
}

/// The `--dev` walkthrough printed by the binary (and shown in the README) works as printed.
#[tokio::test]
async fn dev_walkthrough_commands_work_as_printed() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("curl is needed to replay the walkthrough");
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let cp = spawn(
        env!("CARGO_BIN_EXE_e2e-control-plane"),
        &["--dev", "--listen", "127.0.0.1:0", "--data-dir", data],
    );
    let out = cp.stdout(std::time::Duration::from_millis(300));
    // The control-plane part of the walkthrough: the TOKEN assignment (two lines) and the
    // tenant calls (the sidecar is not beside the test binary).
    let start = out
        .iter()
        .position(|l| l.trim_start().starts_with("TOKEN="))
        .expect("walkthrough printed");
    let script: String = out[start..start + 5]
        .iter()
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    let script = format!("set -e\n{script}");
    let run = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("\"name\":\"Acme\""), "{stdout}");
    // The list call printed the created tenant as an array.
    assert!(stdout.contains("[{\"id\""), "{stdout}");
}

/// The `--dev` user walkthrough (sign up, activate from the outbox, log in, pass the dev
/// sidecar, refresh, log out, be refused by the sidecar) works as printed, with the real
/// sidecar binary the control plane starts.
#[tokio::test]
async fn dev_user_walkthrough_works_as_printed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (listen, admin) = (free_addr(), free_addr());
    let cp = spawn_with_env(
        env!("CARGO_BIN_EXE_e2e-control-plane"),
        &[
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[
            ("TESSERA_DEV_SIDECAR_LISTEN", &listen),
            ("TESSERA_DEV_SIDECAR_ADMIN_LISTEN", &admin),
            ("TESSERA_DEV_SIDECAR_BIN", env!("CARGO_BIN_EXE_e2e-sidecar")),
        ],
    );
    let out = cp.stdout(std::time::Duration::from_millis(300));
    let start = out
        .iter()
        .position(|l| l.starts_with("Users"))
        .expect("user walkthrough printed")
        + 1;
    let script: String = out[start..]
        .iter()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    assert_eq!(script.lines().count(), 9, "{script}");
    let run = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -e\n{script}"))
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("\"shouldActivate\":true"), "{stdout}");
    // activate and refresh print an access token (login's is captured); logout answers 201.
    assert_eq!(stdout.matches("\"accessToken\":\"").count(), 2, "{stdout}");
    assert!(stdout.contains("HTTP/1.1 201"), "{stdout}");
    assert!(stdout.contains("Max-Age=0"), "{stdout}");
    // The sidecar let the token through, then refused it after the logout.
    let checks: Vec<&str> = stdout.split("HTTP/1.1 ").skip(1).collect();
    assert!(
        checks[0].starts_with("200") && checks[0].contains("x-user-id:"),
        "{stdout}"
    );
    let last = checks.last().unwrap();
    assert!(
        last.starts_with("401") && last.contains("token_revoked"),
        "{stdout}"
    );
}
