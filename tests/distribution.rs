//! Distribution end to end: a control plane and real sidecars on port 0. Logins are allowed
//! through every sidecar; a logout, a lock or a role change is denied by every one of them
//! (time to deny measured); the operator sees what each sidecar applied; sidecars keep
//! deciding from their persisted state with the control plane down; key rotation waits for
//! the sidecars and wrongly denies nothing; the reverse proxy forwards identity, never the
//! client's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::world::World;
use crate::support::{Cp, http_client, reply};

/// Start a sidecar subscribed to `cp`.
pub async fn sidecar_for(
    cp: &Cp,
    token: &str,
    state_dir: Option<&std::path::Path>,
    upstream: Option<String>,
) -> sidecar::Running {
    let mut config = sidecar::Config::from_args(sidecar::config::Args {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        control_plane: Some(cp.running.url()),
        sidecar_token: Some(token.to_owned()),
        state_dir: state_dir.map(Into::into),
        upstream,
        ..Default::default()
    })
    .unwrap();
    config.leeway = 5;
    sidecar::start(config).await.unwrap()
}

/// Wait until the sidecar has applied at least `version`.
pub async fn applied(sc: &sidecar::Running, version: u64) {
    for _ in 0..500 {
        if sc.sidecar.version().is_some_and(|v| v >= version) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "sidecar stuck at {:?}, wanted {version}",
        sc.sidecar.version()
    );
}

/// Forward-auth check of `token` at a sidecar: (status, body, headers).
pub async fn check(sc: &sidecar::Running, token: &str) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = reply(
        http_client()
            .get(format!("http://{}/v1/check", sc.addr))
            .header("authorization", format!("Bearer {token}"))
            .header("x-forwarded-uri", "/orders/7")
            .header("x-forwarded-method", "GET")
            .send()
            .await
            .unwrap(),
    )
    .await;
    (r.status.as_u16(), r.body, r.headers)
}

fn sidecar_token(w: &World) -> String {
    w.cp.running
        .credentials
        .sidecar_token
        .clone()
        .expect("a fresh store prints the sidecar token")
}

/// Poll every sidecar until all deny `token` with `reason`; the time it took.
async fn until_denied(scs: &[sidecar::Running], token: &str, reason: &str) -> Duration {
    let started = Instant::now();
    for sc in scs {
        loop {
            let (status, body, _) = check(sc, token).await;
            if status == 401 && body["reason"] == reason {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still {status} {body} after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    started.elapsed()
}

fn version(w: &World) -> u64 {
    w.cp.running.state.hub.version()
}

#[tokio::test]
async fn logout_lock_and_role_changes_reach_every_sidecar() {
    let w = World::new().await;
    let token = sidecar_token(&w);
    let mut scs = Vec::new();
    for _ in 0..3 {
        scs.push(sidecar_for(&w.cp, &token, None, None).await);
    }
    let t = w.tenant("Acme").await;
    let uid = w.user(&t, "ada@acme.test", &["Admin"]).await;
    let login = w.login("ada@acme.test").await;
    let access = login.body["accessToken"].as_str().unwrap().to_owned();
    let cookie = login.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    for sc in &scs {
        applied(sc, version(&w)).await;
        let (status, body, headers) = check(sc, &access).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["x-user-id"], uid.as_str());
        assert_eq!(headers["x-tenant-id"], t.as_str());
        assert_eq!(headers["x-token-type"], "userToken");
        assert!(headers["x-user-roles"].to_str().unwrap().contains("Admin"));
    }
    // No token, a garbage token: denied with the reason, WWW-Authenticate on 401.
    let r = reply(
        http_client()
            .get(format!("http://{}/v1/check/orders", scs[0].addr))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["reason"].as_str()),
        (401, Some("no_token"))
    );
    assert!(r.headers.contains_key("www-authenticate"));
    assert_eq!(check(&scs[0], "a.b.c").await.1["reason"], "malformed_token");

    // Logout: the session is revoked; every sidecar denies the token.
    let out = reply(
        w.cp.client
            .post(w.cp.url("/identity/resources/auth/v1/logout"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(out.status, 201);
    let took = until_denied(&scs, &access, "token_revoked").await;
    println!(
        "logout denied by 3 sidecars {} ms after the logout call returned",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(1), "{took:?}");

    // The operator proves it: every sidecar acknowledged the version.
    let want = version(&w);
    for _ in 0..200 {
        let list = w.env(Method::GET, "/tessera/v1/sidecars", None, None).await;
        assert_eq!(list.status, 200);
        let all = list.body["sidecars"].as_array().unwrap().clone();
        if all.len() == 3
            && all
                .iter()
                .all(|s| s["appliedVersion"] == want && s["lag"] == 0)
        {
            assert!(all.iter().all(|s| s["stream"] == "connected"));
            assert!(
                all.iter()
                    .all(|s| s["listen"].as_str().unwrap().starts_with("127.0.0.1:"))
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let list = w.env(Method::GET, "/tessera/v1/sidecars", None, None).await;
    assert_eq!(list.body["version"], want, "{}", list.text);
    assert!(
        list.body["sidecars"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["lag"] == 0),
        "{}",
        list.text
    );
    let metrics = reply(w.cp.client.get(w.cp.url("/metrics")).send().await.unwrap()).await;
    assert!(
        metrics.text.contains("control_plane_sidecars_connected 3"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("control_plane_sidecar_lag_versions{sidecar=")
    );

    // Lock: every token of the user is void.
    let a2 = w.token_for("ada@acme.test").await;
    for sc in &scs {
        applied(sc, version(&w)).await;
        assert_eq!(check(sc, &a2).await.0, 200);
    }
    let locked = w
        .env(
            Method::POST,
            &format!("/identity/resources/users/v1/{uid}/lock"),
            None,
            None,
        )
        .await;
    assert_eq!(locked.status, 200, "{}", locked.text);
    let took = until_denied(&scs, &a2, "token_revoked").await;
    println!("lock denied by 3 sidecars within {} ms", took.as_millis());
    w.env(
        Method::POST,
        &format!("/identity/resources/users/v1/{uid}/unlock"),
        None,
        None,
    )
    .await;

    // A role taken away: tokens carrying it must be refreshed.
    tokio::time::sleep(Duration::from_millis(1100)).await; // a token issued after the unlock second
    let a3 = w.token_for("ada@acme.test").await;
    for sc in &scs {
        applied(sc, version(&w)).await;
        let (status, body, _) = check(sc, &a3).await;
        assert_eq!(status, 200, "{body}");
    }
    let admin = w.role_id("Admin").await;
    let roles = w
        .env(
            Method::DELETE,
            &format!("/identity/resources/users/v1/{uid}/roles"),
            Some(&t),
            Some(json!({"roleIds": [admin]})),
        )
        .await;
    assert!(roles.status.is_success(), "{}", roles.text);
    let took = until_denied(&scs, &a3, "token_revoked").await;
    println!(
        "role removal denied by 3 sidecars within {} ms",
        took.as_millis()
    );
    for sc in scs {
        sc.shutdown().await;
    }
}

#[tokio::test]
async fn sidecars_decide_from_persisted_state_with_the_control_plane_down() {
    let w = World::new().await;
    let token = sidecar_token(&w);
    let dir = tempfile::tempdir().unwrap();
    let sc = sidecar_for(&w.cp, &token, Some(dir.path()), None).await;
    let t = w.tenant("Acme").await;
    w.user(&t, "kept@acme.test", &["Admin"]).await;
    w.user(&t, "gone@acme.test", &["Admin"]).await;
    let kept = w.token_for("kept@acme.test").await;
    let gone_login = w.login("gone@acme.test").await;
    let gone = gone_login.body["accessToken"].as_str().unwrap().to_owned();
    let cookie = gone_login.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    w.cp.client
        .post(w.cp.url("/identity/resources/auth/v1/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let v = version(&w);
    applied(&sc, v).await;
    // Wait until the state is persisted and acknowledged.
    for _ in 0..300 {
        let list = w.env(Method::GET, "/tessera/v1/sidecars", None, None).await;
        if list.body["sidecars"][0]["appliedVersion"] == v {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(check(&sc, &kept).await.0, 200);
    assert_eq!(check(&sc, &gone).await.1["reason"], "token_revoked");

    // The control plane goes away: decisions go on, unchanged.
    let World { cp, .. } = w;
    let url = cp.running.url();
    cp.running.shutdown().await;
    assert!(reqwest::get(format!("{url}/healthz")).await.is_err());
    for _ in 0..20 {
        assert_eq!(check(&sc, &kept).await.0, 200);
        assert_eq!(check(&sc, &gone).await.1["reason"], "token_revoked");
    }
    // Restarted while the control plane is still down: serves from disk at once.
    sc.shutdown().await;
    let started = Instant::now();
    let mut config = sidecar::Config::from_args(sidecar::config::Args {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        control_plane: Some(url),
        sidecar_token: Some(token),
        state_dir: Some(dir.path().into()),
        ..Default::default()
    })
    .unwrap();
    config.leeway = 5;
    let sc = sidecar::start(config).await.unwrap();
    assert_eq!(check(&sc, &kept).await.0, 200);
    assert_eq!(check(&sc, &gone).await.1["reason"], "token_revoked");
    let took = started.elapsed();
    println!(
        "restarted sidecar served from its persisted state after {} ms",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(1));
    assert_eq!(sc.sidecar.version(), Some(v));
    let ready = reqwest::get(format!("http://{}/readyz", sc.admin_addr))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "within the staleness budget");
    let status: Value = reqwest::get(format!("http://{}/status", sc.admin_addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["stream"], "disconnected");
    assert_eq!(status["snapshotVersion"], v);
    sc.shutdown().await;

    // A damaged state file is ignored: the sidecar fails closed.
    std::fs::write(dir.path().join("state.json"), b"{\"savedAt\":1,").unwrap();
    let config = sidecar::Config::from_args(sidecar::config::Args {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        state_dir: Some(dir.path().into()),
        ..Default::default()
    })
    .unwrap();
    let sc = sidecar::start(config).await.unwrap();
    assert_eq!(check(&sc, &kept).await.1["reason"], "snapshot_unavailable");
    sc.shutdown().await;
}

#[tokio::test]
async fn key_rotation_waits_for_sidecars_and_denies_no_valid_token() {
    let w = Arc::new(World::new().await);
    let token = sidecar_token(&w);
    let scs = Arc::new(vec![
        sidecar_for(&w.cp, &token, None, None).await,
        sidecar_for(&w.cp, &token, None, None).await,
    ]);
    let t = w.tenant("Acme").await;
    w.user(&t, "load@acme.test", &["Admin"]).await;
    for sc in scs.iter() {
        applied(sc, version(&w)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(AtomicUsize::new(0));
    // Load: fresh logins (whichever key signs) checked at both sidecars at once.
    let load = {
        let (w, scs, stop, checked) = (w.clone(), scs.clone(), stop.clone(), checked.clone());
        tokio::spawn(async move {
            let mut wrong = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let access = w.token_for("load@acme.test").await;
                for sc in scs.iter() {
                    let (status, body, _) = check(sc, &access).await;
                    if status != 200 {
                        wrong.push(body);
                    }
                    checked.fetch_add(1, Ordering::Relaxed);
                }
            }
            wrong
        })
    };
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let r = w
            .env(Method::POST, "/tessera/v1/keys/rotate", None, None)
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["propagation"]["sidecars"], 2, "{}", r.text);
        assert_eq!(r.body["propagation"]["complete"], true, "{}", r.text);
        assert_eq!(r.body["state"], "active");
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.store(true, Ordering::Relaxed);
    let wrong = load.await.unwrap();
    println!(
        "{} checks during two rotations, {} wrongly denied",
        checked.load(Ordering::Relaxed),
        wrong.len()
    );
    assert!(wrong.is_empty(), "{wrong:?}");
    assert!(checked.load(Ordering::Relaxed) > 10);
}

#[tokio::test]
async fn the_stream_and_the_status_need_credentials() {
    let w = World::new().await;
    let c = http_client();
    let r = reply(
        c.get(w.cp.url("/tessera/v1/sidecars/stream?id=x"))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(401, "ER-UNAUTHORIZED");
    let r = reply(
        c.get(w.cp.url("/tessera/v1/sidecars/stream?id=bad%20id"))
            .bearer_auth(sidecar_token(&w))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(400, "ER-INVALID-INPUT");
    let r = reply(
        c.get(w.cp.url("/tessera/v1/sidecars"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(401, "ER-UNAUTHORIZED");
    let r = reply(
        c.post(w.cp.url("/tessera/v1/sidecars/ack"))
            .bearer_auth(sidecar_token(&w))
            .json(&json!({"sidecarId": "never-connected", "version": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(404, "ER-NOT-FOUND");
}
