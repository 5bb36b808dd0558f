//! Three control planes (the real binary) on one PostgreSQL database, ten sidecars spread
//! over them — each reaching "the control plane" through a failover address, as a load
//! balancer gives it — writes round robin across the replicas, and one replica `kill -9`ed
//! under load: no acknowledged write is lost, its sidecars reconnect to the others, every
//! revocation made anywhere reaches every sidecar with no wrong decision, and a key
//! rotation still waits for all ten.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::enforcement::distribution::{check, sidecar_config, until_denied};
use crate::support::http_client;
use crate::support::process::{Proc, spawn_control_plane_with, tenant_ids};

const CLIENT_ID: &str = "replica-client";
const API_KEY: &str = "replica-key-0123456789abcdef";
const SIDECAR_TOKEN: &str = "replica-sidecar-token-0123456789";
const PUBLIC_URL: &str = "http://id.replicas.test";

fn replica(dir: &std::path::Path, url: &str) -> Proc {
    spawn_control_plane_with(
        dir,
        CLIENT_ID,
        API_KEY,
        &[
            "--database-url",
            url,
            "--sidecar-token",
            SIDECAR_TOKEN,
            "--public-url",
            PUBLIC_URL,
            "--argon2-memory-kib",
            "64",
            "--argon2-iterations",
            "1",
        ],
    )
}

/// A TCP address that forwards each connection to the first of `targets` that accepts it
/// (what a load balancer does for a replica that died).
async fn failover(targets: Vec<SocketAddr>) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = l.accept().await {
            let targets = targets.clone();
            tokio::spawn(async move {
                for t in &targets {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(t).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn token(base: &str) -> String {
    crate::support::process::vendor_token(base, CLIENT_ID, API_KEY).await
}

async fn post(
    base: &str,
    token: &str,
    path: &str,
    tenant: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut r = http_client()
        .post(format!("{base}{path}"))
        .header("x-access-token", token)
        .json(&body);
    if let Some(t) = tenant {
        r = r.header("frontegg-tenant-id", t);
    }
    match r.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_survive_losing_one_under_load() {
    let Some(url) = crate::support::pg_database().await else {
        return;
    };
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut cps: Vec<Proc> = dirs.iter().map(|d| replica(d.path(), &url)).collect();
    let bases: Vec<String> = cps.iter().map(|c| c.url.clone()).collect();
    let addrs: Vec<SocketAddr> = bases
        .iter()
        .map(|b| b.trim_start_matches("http://").parse().unwrap())
        .collect();
    let tok = token(&bases[0]).await;

    // Ten sidecars, each preferring one replica (four on the one that will die).
    let mut scs = Vec::new();
    for i in 0..10 {
        let first = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2][i];
        let order: Vec<SocketAddr> = (0..3).map(|k| addrs[(first + k) % 3]).collect();
        let lb = failover(order).await;
        scs.push(
            sidecar::start(sidecar_config(sidecar::config::Args {
                control_plane: Some(format!("http://{lb}")),
                sidecar_token: Some(SIDECAR_TOKEN.to_owned()),
                ..Default::default()
            }))
            .await
            .unwrap(),
        );
    }

    // Users created and logged in round robin across the replicas.
    let (_, t) = post(
        &bases[1],
        &tok,
        "/tenants/resources/tenants/v1",
        None,
        json!({"name": "Replicated"}),
    )
    .await;
    let t = t["tenantId"].as_str().unwrap().to_owned();
    let mut users = Vec::new();
    for i in 0..12 {
        let base = &bases[i % 3];
        let email = format!("u{i}@replicas.test");
        let (s, u) = post(
            base,
            &tok,
            "/identity/resources/users/v1",
            Some(&t),
            json!({"email": email, "password": "Replica-Pass-1"}),
        )
        .await;
        assert_eq!(s, 201, "{u}");
        let uid = u["id"].as_str().unwrap().to_owned();
        let (s, _) = post(
            base,
            &tok,
            &format!("/identity/resources/users/v1/{uid}/verify"),
            None,
            json!({}),
        )
        .await;
        assert!(s < 300);
        let (s, login) = post(
            &bases[(i + 1) % 3],
            "",
            "/identity/resources/auth/v1/user",
            None,
            json!({"email": email, "password": "Replica-Pass-1"}),
        )
        .await;
        assert_eq!(s, 200, "{login}");
        users.push((uid, login["accessToken"].as_str().unwrap().to_owned()));
    }

    // Writes round robin while replica 0 is killed.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for w in 0..6 {
        let (bases, tok, acked) = (bases.clone(), tok.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..60 {
                let base = &bases[(w + i) % 3];
                let (s, body) = post(
                    base,
                    &tok,
                    "/tenants/resources/tenants/v1",
                    None,
                    json!({"name": format!("load-{w}-{i}")}),
                )
                .await;
                if s == 201 {
                    acked
                        .lock()
                        .unwrap()
                        .push(body["tenantId"].as_str().unwrap().to_owned());
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 30 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cps[0].kill9();
    for w in writers {
        w.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    let present = tenant_ids(&http_client(), &bases[1], &tok).await;
    let lost: Vec<&String> = acked.iter().filter(|a| !present.contains(*a)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    println!(
        "{} writes acknowledged around the kill -9, none lost",
        acked.len()
    );

    // Revocations through the survivors reach all ten sidecars (those of the dead replica
    // reconnected elsewhere); no token is judged wrongly.
    let started = std::time::Instant::now();
    for (i, (uid, _)) in users.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let (s, body) = post(
            &bases[1 + i % 2],
            &tok,
            &format!("/identity/resources/users/v1/{uid}/lock"),
            None,
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{body}");
    }
    for (i, (_, access)) in users.iter().enumerate() {
        if i % 2 == 0 {
            until_denied(&scs, access, "token_revoked").await;
        }
    }
    println!(
        "6 locks through the surviving replicas denied by all 10 sidecars within {} ms of the first",
        started.elapsed().as_millis()
    );
    let mut wrong = 0;
    for (i, (_, access)) in users.iter().enumerate() {
        for sc in &scs {
            let (status, body, _) = check(sc, access).await;
            let expected = if i % 2 == 0 { 401 } else { 200 };
            if status != expected {
                wrong += 1;
                println!("user {i}: {status} {body}");
            }
        }
    }
    assert_eq!(wrong, 0, "wrong decisions");

    // The rotation gate still waits for every sidecar, wherever it is connected now.
    let mut rotated = Value::Null;
    for _ in 0..100 {
        let (s, body) = post(&bases[2], &tok, "/tessera/v1/keys/rotate", None, json!({})).await;
        assert!(s < 300, "{body}");
        if body["propagation"]["sidecars"] == 10 {
            rotated = body;
            break;
        }
        // A dead replica's streams count until they go stale; wait that out.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(rotated["propagation"]["sidecars"], 10, "{rotated}");
    assert_eq!(rotated["propagation"]["complete"], true, "{rotated}");
    for mut c in cps.drain(1..) {
        c.kill9();
    }
}
