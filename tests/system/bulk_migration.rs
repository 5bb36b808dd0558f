//! Bulk user imports under `kill -9`, against the real binary: imports acknowledged (202) are
//! worked through after a crash, each user exactly once — a batch stored before the crash is
//! not stored again (which would show as "already exists" errors), none is skipped.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::http_client;
use crate::support::process::spawn_control_plane;

const CLIENT_ID: &str = "migration-client";
const API_KEY: &str = "migration-key-0123456789";
const IMPORTS: usize = 4;

async fn vendor_token(base: &str) -> String {
    crate::support::process::vendor_token(base, CLIENT_ID, API_KEY).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_bulk_imports_complete_after_kill_9_each_user_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cp = spawn_control_plane(dir.path(), CLIENT_ID, API_KEY);
    let http = http_client();
    let token = vendor_token(&cp.url).await;
    let tenant: Value = http
        .post(format!("{}/tenants/resources/tenants/v1", cp.url))
        .header("x-access-token", &token)
        .json(&json!({"name": "Imported"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant = tenant["tenantId"].as_str().unwrap().to_owned();
    // Several full imports, acknowledged back to back, then killed while the worker runs.
    let mut ids = Vec::new();
    for k in 0..IMPORTS {
        let users: Vec<Value> = (0..1000)
            .map(|i| json!({"tenantId": tenant, "email": format!("u{k}-{i}@import.test"), "passwordHash": "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "passwordHashType": "sha1", "verifyUser": true}))
            .collect();
        let r = http
            .post(format!(
                "{}/identity/resources/migrations/v1/local/bulk",
                cp.url
            ))
            .header("x-access-token", &token)
            .json(&json!({"users": users}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let body: Value = r.json().await.unwrap();
        ids.push(body["migrationId"].as_str().unwrap().to_owned());
    }
    cp.kill9();

    let cp = spawn_control_plane(dir.path(), CLIENT_ID, API_KEY);
    let token = vendor_token(&cp.url).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut resumed = 0;
    for id in &ids {
        loop {
            let s: Value = http
                .get(format!(
                    "{}/identity/resources/migrations/v1/local/bulk/status/{id}",
                    cp.url
                ))
                .header("x-access-token", &token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if s["state"] != "completed" {
                resumed += 1;
            }
            if s["state"] == "completed" {
                assert_eq!(s["migrated"], 1000, "{id}: {s}");
                assert_eq!(s["errors"], json!([]), "{id}: no user stored twice");
                break;
            }
            assert!(Instant::now() < deadline, "{id} did not complete: {s}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!("status reads of unfinished imports after the restart: {resumed}");
    let r = http
        .post(format!("{}/identity/resources/auth/v1/user", cp.url))
        .json(&json!({"email": "u3-999@import.test", "password": "password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the last imported user logs in");
}
