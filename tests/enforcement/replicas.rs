//! Several control planes on one PostgreSQL database (`--database-url`): each replica's
//! push hub follows the one event log — woken by `LISTEN/NOTIFY`, and every second besides —
//! so a change committed through any replica reaches the sidecars of every replica, in the
//! same versions, under one epoch.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::distribution::{applied, check, sidecar_for, until_denied};
use crate::support::Cp;
use crate::support::world::World;

/// Once every sidecar applied the newest version any replica has, `token` is allowed by all.
async fn allowed_everywhere(replicas: &[World], scs: &[sidecar::Running], token: &str) {
    let want = replicas
        .iter()
        .map(|w| w.cp.running.state.hub.version())
        .max()
        .unwrap();
    for sc in scs {
        applied(sc, want).await;
        assert_eq!(check(sc, token).await.0, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_on_any_replica_reaches_the_sidecars_of_every_replica() {
    let Some((first, url)) = Cp::start_postgres().await else {
        return;
    };
    let sidecar_token = first
        .running
        .credentials
        .sidecar_token
        .clone()
        .expect("a fresh store prints the sidecar token");
    let replicas = vec![World {
        token: first.vendor_token().await,
        cp: first,
    }];
    let mut replicas = replicas;
    for _ in 0..2 {
        let cp = replicas[0].cp.replica_on(&url).await;
        // An environment token of one replica is good on every other.
        let token = replicas[0].token.clone();
        replicas.push(World { cp, token });
    }
    // One epoch for the database, the same version everywhere.
    let epoch = replicas[0].cp.running.state.hub.epoch().to_owned();
    assert!(
        replicas
            .iter()
            .all(|w| w.cp.running.state.hub.epoch() == epoch)
    );
    // Two sidecars on each replica.
    let mut scs = Vec::new();
    for w in &replicas {
        for _ in 0..2 {
            scs.push(sidecar_for(&w.cp, &sidecar_token, None, None).await);
        }
    }
    // Writes through every replica, round robin.
    let t = replicas[0].tenant("Acme").await;
    let mut users = Vec::new();
    for (k, w) in replicas.iter().enumerate() {
        let email = format!("user{k}@replicas.test");
        let _ = w.user(&t, &email, &["Admin"]).await;
        users.push(email);
    }
    for (k, email) in users.iter().enumerate() {
        // Logged in through one replica, revoked through another.
        let token = replicas[k].token_for(email).await;
        allowed_everywhere(&replicas, &scs, &token).await;
        let revoker = &replicas[(k + 1) % replicas.len()];
        let uid = control_plane::model::user::by_email(&revoker.cp.running.state.db, email)
            .unwrap()
            .unwrap()
            .id;
        let r = revoker
            .env(
                Method::POST,
                &format!("/identity/resources/users/v1/{uid}/lock"),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let took = until_denied(&scs, &token, "token_revoked").await;
        println!(
            "a lock through replica {} denied by 6 sidecars on 3 replicas within {} ms",
            (k + 1) % replicas.len(),
            took.as_millis()
        );
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
    // Every replica's hub reached the same version.
    let version = replicas[0].cp.running.state.hub.version();
    for _ in 0..300 {
        if replicas
            .iter()
            .all(|w| w.cp.running.state.hub.version() == version)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        replicas
            .iter()
            .all(|w| w.cp.running.state.hub.version() == version)
    );
    // Any replica lists the sidecars of all of them, each caught up.
    let mut listed = serde_json::Value::Null;
    for _ in 0..300 {
        let r = replicas[2]
            .env(Method::GET, "/tessera/v1/sidecars", None, None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let all = r.body["sidecars"].as_array().cloned().unwrap_or_default();
        if all.len() == 6
            && all
                .iter()
                .all(|s| s["stream"] == "connected" && s["lag"] == 0)
        {
            listed = r.body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        listed["sidecars"].as_array().map(Vec::len),
        Some(6),
        "{listed}"
    );
    // A rotation through one replica waits for the sidecars of every replica.
    let r = replicas[1]
        .env(
            Method::POST,
            "/tessera/v1/keys/rotate",
            None,
            Some(json!({})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(r.body["propagation"]["sidecars"], 6, "{}", r.text);
    assert_eq!(r.body["propagation"]["complete"], true, "{}", r.text);
    // Every replica signs with the promoted key from now on, and every sidecar accepts it.
    let kid = r.body["kid"]
        .as_str()
        .expect("the promoted key's id")
        .to_owned();
    let t = replicas[2].tenant("After rotation").await;
    let _ = replicas[0].user(&t, "late@replicas.test", &[]).await;
    let kid_of = |jwt: &str| -> String {
        use base64::Engine;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&header).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for w in &replicas {
        let mut signed_with = String::new();
        for _ in 0..200 {
            signed_with = kid_of(&w.token_for("late@replicas.test").await);
            if signed_with == kid {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(signed_with, kid, "a replica still signs with the old key");
    }
    let token = replicas[2].token_for("late@replicas.test").await;
    allowed_everywhere(&replicas, &scs, &token).await;
    // A sidecar that moves to another replica resumes: named with the shared epoch, an
    // older version gets a catch-up delta there, the current one a heartbeat — no snapshot.
    let version = replicas[0].cp.running.state.hub.version();
    for _ in 0..300 {
        if replicas[1].cp.running.state.hub.version() == version {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for (since, want) in [
        (version - 1, "\"type\":\"delta\""),
        (version, "\"type\":\"heartbeat\""),
    ] {
        let mut r = crate::support::http_client()
            .get(format!(
                "{}{}?id=moved&since={since}&epoch={epoch}",
                replicas[1].cp.running.url(),
                shared::wire::STREAM_PATH
            ))
            .bearer_auth(&sidecar_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let first = r.chunk().await.unwrap().unwrap();
        let first = String::from_utf8_lossy(&first);
        assert!(first.contains(want), "since {since}: {first}");
    }
}

/// A refresh token raced through three replicas at once: at most one rotation succeeds, and
/// afterwards at most one refresh token lives — the rotation and its reuse detection are
/// serializable transactions, whichever replica runs them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_token_raced_across_replicas_rotates_once() {
    let Some((first, url)) = Cp::start_postgres().await else {
        return;
    };
    let w = World {
        token: first.vendor_token().await,
        cp: first,
    };
    let others = [w.cp.replica_on(&url).await, w.cp.replica_on(&url).await];
    let t = w.tenant("Raced").await;
    let _ = w.user(&t, "race@replicas.test", &[]).await;
    let cookie = format!("fe_refresh_{}", w.cp.client_id.replace('-', ""));
    let bases: Vec<String> = std::iter::once(&w.cp)
        .chain(others.iter())
        .map(|c| c.running.url())
        .collect();
    for trial in 0..3 {
        let login = w.login("race@replicas.test").await;
        assert_eq!(login.status, 200, "{}", login.text);
        let rt = login.body["refreshToken"].as_str().unwrap().to_owned();
        let refresh = |base: String, rt: String, cookie: String| async move {
            let r = crate::support::http_client()
                .post(format!(
                    "{base}/frontegg/identity/resources/auth/v1/user/token/refresh"
                ))
                .header("cookie", format!("{cookie}={rt}"))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            (status, body["refreshToken"].as_str().map(str::to_owned))
        };
        let tasks: Vec<_> = (0..21)
            .map(|i| tokio::spawn(refresh(bases[i % 3].clone(), rt.clone(), cookie.clone())))
            .collect();
        let mut issued = Vec::new();
        for task in tasks {
            let (status, next) = task.await.unwrap();
            assert!(status == 201 || status == 401, "trial {trial}: {status}");
            if status == 201 {
                issued.push(next.unwrap());
            }
        }
        assert!(
            issued.len() <= 1,
            "trial {trial}: {} rotations",
            issued.len()
        );
        let mut live = 0;
        for (k, token) in issued.iter().chain(std::iter::once(&rt)).enumerate() {
            if refresh(bases[k % 3].clone(), token.clone(), cookie.clone())
                .await
                .0
                == 201
            {
                live += 1;
            }
        }
        assert!(live <= 1, "trial {trial}: {live} live refresh tokens");
    }
}
