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

/// A sidecar configuration on port 0 (both listeners), 5 s of leeway, with `args` over it.
pub fn sidecar_config(args: sidecar::config::Args) -> sidecar::Config {
    let mut config = sidecar::Config::from_args(sidecar::config::Args {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..args
    })
    .unwrap();
    config.leeway = 5;
    config
}

/// Start a sidecar subscribed to `cp`.
pub async fn sidecar_for(
    cp: &Cp,
    token: &str,
    state_dir: Option<&std::path::Path>,
    upstream: Option<String>,
) -> sidecar::Running {
    sidecar::start(sidecar_config(sidecar::config::Args {
        control_plane: Some(cp.running.url()),
        sidecar_token: Some(token.to_owned()),
        state_dir: state_dir.map(Into::into),
        upstream,
        ..Default::default()
    }))
    .await
    .unwrap()
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
            .get(format!("http://{}/v1/check/orders/7", sc.addr))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    (r.status.as_u16(), r.body, r.headers)
}

/// The sidecar token of a fresh in-process control plane.
pub fn sidecar_token(w: &World) -> String {
    w.cp.running
        .credentials
        .sidecar_token
        .clone()
        .expect("a fresh store prints the sidecar token")
}

/// Poll every sidecar until all deny `token` with `reason`; the time it took.
pub async fn until_denied(scs: &[sidecar::Running], token: &str, reason: &str) -> Duration {
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

    // Disabled in the account: its tokens for that account are void.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let a4 = w.token_for("ada@acme.test").await;
    for sc in &scs {
        applied(sc, version(&w)).await;
        assert_eq!(check(sc, &a4).await.0, 200);
    }
    let disabled = w
        .env(
            Method::POST,
            &format!("/identity/resources/tenants/users/v1/{uid}/disable"),
            Some(&t),
            None,
        )
        .await;
    assert!(disabled.status.is_success(), "{}", disabled.text);
    let took = until_denied(&scs, &a4, "token_revoked").await;
    println!(
        "disable denied by 3 sidecars within {} ms",
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
    let config = sidecar_config(sidecar::config::Args {
        control_plane: Some(url),
        sidecar_token: Some(token),
        state_dir: Some(dir.path().into()),
        ..Default::default()
    });
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
    let config = sidecar_config(sidecar::config::Args {
        state_dir: Some(dir.path().into()),
        ..Default::default()
    });
    let sc = sidecar::start(config).await.unwrap();
    assert_eq!(check(&sc, &kept).await.1["reason"], "snapshot_unavailable");
    sc.shutdown().await;
}

/// Check `token` at every sidecar, counting checks and keeping the bodies of refusals.
async fn check_all(
    scs: &[sidecar::Running],
    token: &str,
    checked: &AtomicUsize,
    wrong: &mut Vec<Value>,
) {
    for sc in scs {
        let (status, body, _) = check(sc, token).await;
        if status != 200 {
            wrong.push(body);
        }
        checked.fetch_add(1, Ordering::Relaxed);
    }
}

/// `security.md` §4.4. CI: ten rotations 150 ms apart with one checker minting a fresh token
/// per round. The long variant — `TESSERA_ROTATION_SPACING_MS=5000
/// TESSERA_ROTATION_CHECKERS=6 cargo test -p tessera-tests --test e2e -- key_rotation_waits
/// --nocapture` — adds checkers that re-check the newest token at both sidecars as fast as
/// they can (see docs/RELIABILITY.md for its figures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_waits_for_sidecars_and_denies_no_valid_token() {
    let env_num = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let spacing = Duration::from_millis(env_num("TESSERA_ROTATION_SPACING_MS", 150));
    let extra_checkers = env_num("TESSERA_ROTATION_CHECKERS", 0);
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
    let newest = Arc::new(std::sync::Mutex::new(w.token_for("load@acme.test").await));
    // Extra checkers (long variant): the newest token, again and again, at both sidecars.
    let extra: Vec<_> = (0..extra_checkers)
        .map(|_| {
            let (scs, stop, checked, newest) =
                (scs.clone(), stop.clone(), checked.clone(), newest.clone());
            tokio::spawn(async move {
                let mut wrong = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let access = newest.lock().unwrap().clone();
                    check_all(&scs, &access, &checked, &mut wrong).await;
                }
                wrong
            })
        })
        .collect();
    // Load: fresh logins (whichever key signs) checked at both sidecars at once.
    let load = {
        let (w, scs, stop, checked, newest) = (
            w.clone(),
            scs.clone(),
            stop.clone(),
            checked.clone(),
            newest.clone(),
        );
        tokio::spawn(async move {
            let mut wrong = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let access = w.token_for("load@acme.test").await;
                *newest.lock().unwrap() = access.clone();
                check_all(&scs, &access, &checked, &mut wrong).await;
            }
            wrong
        })
    };
    // `security.md` §4.4: ten consecutive rotations.
    let started = Instant::now();
    for _ in 0..10 {
        tokio::time::sleep(spacing).await;
        let r = w
            .env(Method::POST, "/tessera/v1/keys/rotate", None, None)
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["propagation"]["sidecars"], 2, "{}", r.text);
        assert_eq!(r.body["propagation"]["complete"], true, "{}", r.text);
        assert_eq!(r.body["state"], "active");
    }
    tokio::time::sleep(spacing).await;
    stop.store(true, Ordering::Relaxed);
    let mut wrong = load.await.unwrap();
    for e in extra {
        wrong.extend(e.await.unwrap());
    }
    let took = started.elapsed();
    let n = checked.load(Ordering::Relaxed);
    println!(
        "{n} checks during ten rotations in {:.1} s ({:.0}/s), {} wrongly denied",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
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

/// An upstream that echoes what it received as JSON; counts requests.
async fn echo_upstream() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let (addr, hits, _) = recording_upstream().await;
    (addr, hits)
}

/// An upstream that echoes each request as JSON and records each request's method and URI.
pub async fn recording_upstream() -> (
    std::net::SocketAddr,
    Arc<AtomicUsize>,
    Arc<std::sync::Mutex<Vec<String>>>,
) {
    use http_body_util::BodyExt;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (counter, log) = (counter.clone(), log.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (counter, log) = (counter.clone(), log.clone());
                        async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            log.lock().expect("not poisoned").push(format!(
                                "{} {}",
                                req.method(),
                                req.uri()
                            ));
                            let headers: serde_json::Map<String, Value> = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                                .collect();
                            let (method, uri) = (req.method().to_string(), req.uri().to_string());
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let out = json!({"method": method, "uri": uri, "headers": headers, "body": String::from_utf8_lossy(&body)});
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .header("content-type", "application/json")
                                    .header("x-upstream", "yes")
                                    .body(http_body_util::Full::new(bytes::Bytes::from(
                                        out.to_string(),
                                    )))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, hits, seen)
}

#[tokio::test]
async fn reverse_proxy_forwards_identity_and_never_the_clients() {
    let w = World::new().await;
    let token = sidecar_token(&w);
    let (up, hits) = echo_upstream().await;
    let sc = sidecar_for(&w.cp, &token, None, Some(format!("http://{up}"))).await;
    let t = w.tenant("Acme").await;
    let uid = w.user(&t, "proxy@acme.test", &["Admin"]).await;
    let access = w.token_for("proxy@acme.test").await;
    applied(&sc, version(&w)).await;
    let c = http_client();
    let url = format!("http://{}/orders/7?full=1", sc.addr);
    // Allowed: forwarded with the sidecar's identity headers; the client's spoofed identity
    // and forwarding headers (the client is not a trusted proxy) are dropped.
    let r = reply(
        c.post(&url)
            .bearer_auth(&access)
            .header("x-user-id", "admin")
            .header("x-user-roles", "SuperAdmin")
            .header("x-forwarded-for", "6.6.6.6")
            .header("forwarded", "for=6.6.6.6")
            .body("payload")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["x-upstream"], "yes");
    let seen = &r.body;
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["uri"], "/orders/7?full=1");
    assert_eq!(seen["body"], "payload");
    assert_eq!(seen["headers"]["x-user-id"], uid.as_str());
    assert_eq!(seen["headers"]["x-tenant-id"], t.as_str());
    assert!(
        seen["headers"]["x-user-roles"]
            .as_str()
            .unwrap()
            .contains("Admin")
    );
    assert!(
        !seen["headers"]["x-user-roles"]
            .as_str()
            .unwrap()
            .contains("SuperAdmin")
    );
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["headers"]["x-real-ip"], "127.0.0.1");
    assert!(seen["headers"].get("forwarded").is_none());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Denied: never reaches the upstream.
    let r = reply(
        c.get(&url)
            .header("x-user-id", "admin")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["reason"].as_str()),
        (401, Some("no_token"))
    );
    let r = reply(c.get(&url).bearer_auth("x.y.z").send().await.unwrap()).await;
    assert_eq!(r.status, 401);
    // Two credentials are ambiguous.
    let r = reply(
        c.get(&url)
            .bearer_auth(&access)
            .header("x-api-key", "k")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Forward-auth still answers beside the proxy.
    assert_eq!(check(&sc, &access).await.0, 200);
    sc.shutdown().await;

    // An upstream that is down answers 502.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let sc = sidecar_for(&w.cp, &token, None, Some(format!("http://{dead_addr}"))).await;
    applied(&sc, version(&w)).await;
    let r = reply(
        c.get(format!("http://{}/x", sc.addr))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status.as_u16(), r.body["reason"].as_str()),
        (502, Some("upstream_unavailable"))
    );
    sc.shutdown().await;
}

/// A scripted control plane: the n-th stream connection gets `script[n]` (frames, then
/// silence); acknowledgements are recorded.
async fn scripted_control_plane(
    script: Vec<Vec<Vec<u8>>>,
) -> (
    std::net::SocketAddr,
    Arc<std::sync::Mutex<Vec<Value>>>,
    Arc<AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let streams = Arc::new(AtomicUsize::new(0));
    let (acks2, streams2) = (acks.clone(), streams.clone());
    let script = Arc::new(script);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let (acks, streams, script) = (acks2.clone(), streams2.clone(), script.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                if head.starts_with("GET /tessera/v1/sidecars/stream") {
                    let n = streams.fetch_add(1, Ordering::SeqCst);
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n\r\n")
                        .await;
                    for frame in script.get(n).cloned().unwrap_or_default() {
                        let _ = s.write_all(&frame).await;
                    }
                    tokio::time::sleep(Duration::from_secs(30)).await;
                } else {
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let n = s.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    if let Ok(v) = serde_json::from_slice(&buf[head_end..]) {
                        acks.lock().unwrap().push(v);
                    }
                    let _ = s
                        .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                        .await;
                }
            });
        }
    });
    (addr, acks, streams)
}

#[tokio::test]
async fn damaged_replayed_and_invalid_messages_are_rejected_whole() {
    use shared::wire::{self, Delta, PushMessage, Revocation, RevocationKind};
    // A real key, so the snapshot is valid.
    let w = World::new().await;
    let jwks =
        w.cp.call(Method::GET, "/.well-known/jwks.json", None, None)
            .await
            .body;
    let k = &jwks["keys"][0];
    let token = "scripted-sidecar-token";
    let key = wire::mac_key(token);
    let snapshot = PushMessage::Snapshot(wire::Snapshot {
        protocol: wire::PROTOCOL,
        version: 5,
        epoch: "e1".into(),
        issued_at: 1,
        keys: vec![wire::PublicKey {
            kid: k["kid"].as_str().unwrap().into(),
            alg: "RS256".into(),
            n: k["n"].as_str().unwrap().into(),
            e: k["e"].as_str().unwrap().into(),
            state: wire::KeyState::Active,
        }],
        policy: wire::Policy {
            issuer: "http://issuer.test".into(),
            audience: "aud".into(),
            access_token_ttl: 3600,
        },
        revocations: vec![],
        restrictions: vec![],
        access_tokens: vec![],
    });
    let delta = |base: u64, version: u64| {
        PushMessage::Delta(Delta {
            protocol: wire::PROTOCOL,
            base,
            version,
            issued_at: 1,
            keys: None,
            policy: None,
            revocations: vec![Revocation {
                kind: RevocationKind::Session,
                id: format!("s{version}"),
                tenant_id: None,
                not_before: 1,
                expires_at: i64::MAX / 2,
            }],
            restrictions: vec![],
            access_tokens: None,
        })
    };
    let mut flipped = wire::encode(&key, &delta(5, 6));
    flipped[100] ^= 0x04;
    let mut truncated = wire::encode(&key, &delta(5, 6));
    truncated.truncate(truncated.len() / 2);
    truncated.push(b'\n');
    let forged = wire::encode(&wire::mac_key("another-token"), &delta(5, 6));
    // Correctly authenticated but with a field no protocol version has.
    let invalid = {
        let json = serde_json::to_string(&delta(5, 6))
            .unwrap()
            .replace("\"base\"", "\"extra\":1,\"base\"");
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            json.as_bytes(),
        );
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex} {json}\n").into_bytes()
    };
    let script = vec![
        vec![wire::encode(&key, &snapshot), flipped],
        vec![truncated],
        vec![forged],
        vec![invalid],
        vec![wire::encode(&key, &delta(3, 4))], // a replayed, older delta
        vec![wire::encode(&key, &delta(5, 6))],
    ];
    let (addr, acks, streams) = scripted_control_plane(script).await;
    let config = sidecar_config(sidecar::config::Args {
        control_plane: Some(format!("http://{addr}")),
        sidecar_token: Some(token.into()),
        ..Default::default()
    });
    let sc = sidecar::start(config).await.unwrap();
    for _ in 0..1000 {
        if sc.sidecar.version() == Some(6) {
            break;
        }
        // Until the good delta, the last good state (version 5) serves.
        assert!(matches!(sc.sidecar.version(), None | Some(5)));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sc.sidecar.version(), Some(6));
    assert_eq!(
        streams.load(Ordering::SeqCst),
        6,
        "each rejection reconnected"
    );
    assert_eq!(
        sc.sidecar.revocations.len(),
        1,
        "only the good delta's entry"
    );
    let metrics = reqwest::get(format!("http://{}/metrics", sc.admin_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sidecar_rejected_messages_total 5"),
        "{metrics}"
    );
    // Every rejection was reported (a nack naming the kept version), then the good one acked.
    for _ in 0..300 {
        let a = acks.lock().unwrap().clone();
        if a.iter().filter(|a| a["error"].is_string()).count() == 5
            && a.iter()
                .any(|a| a["version"] == 6 && a.get("error").is_none())
        {
            assert!(
                a.iter()
                    .filter(|a| a["error"].is_string())
                    .all(|a| a["version"] == 5),
                "{a:?}"
            );
            sc.shutdown().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("acks: {:?}", acks.lock().unwrap());
}

/// A TLS-terminating proxy in front of `backend` with a fresh self-signed certificate for
/// `localhost`; returns its port and the certificate's PEM path.
async fn tls_front(
    backend: std::net::SocketAddr,
    dir: &std::path::Path,
) -> (u16, std::path::PathBuf) {
    use rustls::pki_types::pem::PemObject;
    // A private CA and a leaf for localhost signed by it (webpki refuses a CA certificate
    // used as the server's own).
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=Test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).unwrap();
    let cert = ca;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (port, cert)
}

#[tokio::test]
async fn the_push_stream_runs_over_tls() {
    let w = World::new().await;
    let token = sidecar_token(&w);
    let dir = tempfile::tempdir().unwrap();
    let (port, cert) = tls_front(w.cp.running.addr, dir.path()).await;
    let config = |ca: Option<std::path::PathBuf>| {
        sidecar_config(sidecar::config::Args {
            control_plane: Some(format!("https://localhost:{port}")),
            sidecar_token: Some(token.clone()),
            control_plane_ca: ca,
            ..Default::default()
        })
    };
    let t = w.tenant("Acme").await;
    w.user(&t, "tls@acme.test", &["Admin"]).await;
    let access = w.token_for("tls@acme.test").await;
    // Trusting the certificate: the stream works and decisions follow.
    let sc = sidecar::start(config(Some(cert))).await.unwrap();
    applied(&sc, version(&w)).await;
    assert_eq!(check(&sc, &access).await.0, 200);
    sc.shutdown().await;
    // Not trusting it: no state is ever accepted from that endpoint.
    let sc = sidecar::start(config(None)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sc.sidecar.version(), None);
    assert_eq!(
        check(&sc, &access).await.1["reason"],
        "snapshot_unavailable"
    );
    sc.shutdown().await;
}

/// Check a token at a sidecar listening on `addr`: (status, reason).
async fn check_at(addr: &str, token: &str) -> (u16, String) {
    let r = reply(
        http_client()
            .get(format!("http://{addr}/v1/check/x"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (
        r.status.as_u16(),
        r.body["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn real_processes_keep_deciding_after_the_control_plane_is_killed() {
    use crate::support::process::{free_addr, spawn, spawn_control_plane_with};
    let dir = tempfile::tempdir().unwrap();
    let (data, state) = (dir.path().join("cp"), dir.path().join("sc"));
    let sc_token = "process-test-sidecar-token-0123456789";
    let mut cp = spawn_control_plane_with(
        &data,
        "proc-client",
        "proc-key-0123456789abcdef",
        &["--sidecar-token", sc_token],
    );
    let url = cp.url.trim_end_matches('/').to_owned();
    let c = http_client();
    // One POST to the process, the reply's string field `field`.
    let post = |path: String,
                token: Option<String>,
                tenant: Option<String>,
                body: Value,
                field: &'static str| {
        let mut req = c.post(format!("{url}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(t) = tenant {
            req = req.header("frontegg-tenant-id", t);
        }
        async move {
            let r = reply(req.send().await.unwrap()).await;
            assert!(r.status.is_success(), "{path}: {}", r.text);
            r.body[field].as_str().unwrap_or_default().to_owned()
        }
    };
    let env_token = post(
        "/auth/vendor".into(),
        None,
        None,
        json!({"clientId": "proc-client", "secret": "proc-key-0123456789abcdef"}),
        "token",
    )
    .await;
    let tenant = post(
        "/tenants/resources/tenants/v1".into(),
        Some(env_token.clone()),
        None,
        json!({"name": "Acme"}),
        "tenantId",
    )
    .await;
    let user = post(
        "/identity/resources/users/v1".into(),
        Some(env_token.clone()),
        Some(tenant),
        json!({"email": "p@acme.test", "name": "P", "password": "Correct-Horse-9"}),
        "id",
    )
    .await;
    post(
        format!("/identity/resources/users/v1/{user}/verify"),
        Some(env_token.clone()),
        None,
        json!({}),
        "id",
    )
    .await;
    let login = || async {
        let r = reply(
            c.post(format!("{url}/identity/resources/auth/v1/user"))
                .json(&json!({"email": "p@acme.test", "password": "Correct-Horse-9"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let cookie = r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        (r.body["accessToken"].as_str().unwrap().to_owned(), cookie)
    };
    let (kept, _) = login().await;
    let (gone, cookie) = login().await;
    let (listen, admin) = (free_addr(), free_addr());
    let sidecar_args = [
        "--listen",
        listen.as_str(),
        "--admin-listen",
        admin.as_str(),
        "--control-plane",
        url.as_str(),
        "--sidecar-token",
        sc_token,
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let mut sc = spawn(env!("CARGO_BIN_EXE_e2e-sidecar"), &sidecar_args);
    c.post(format!("{url}/identity/resources/auth/v1/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    // Applied and acknowledged (so persisted) by the sidecar process.
    let mut acked = false;
    for _ in 0..500 {
        let list: Value = c
            .get(format!("{url}/tessera/v1/sidecars"))
            .bearer_auth(&env_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if list["sidecars"][0]["appliedVersion"] == list["version"]
            && list["version"].as_u64() > Some(0)
        {
            acked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(acked);
    assert_eq!(check_at(&listen, &kept).await.0, 200);
    assert_eq!(check_at(&listen, &gone).await.1, "token_revoked");

    cp.kill9();
    let mut wrong = 0;
    for _ in 0..50 {
        wrong += usize::from(check_at(&listen, &kept).await.0 != 200);
        wrong += usize::from(check_at(&listen, &gone).await.1 != "token_revoked");
    }
    assert_eq!(wrong, 0, "wrong answers with the control plane killed");

    sc.kill9();
    let started = Instant::now();
    let _sc = spawn(env!("CARGO_BIN_EXE_e2e-sidecar"), &sidecar_args);
    assert_eq!(check_at(&listen, &kept).await.0, 200);
    assert_eq!(check_at(&listen, &gone).await.1, "token_revoked");
    println!(
        "sidecar process restarted with the control plane dead: serving after {} ms",
        started.elapsed().as_millis()
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn route_rules_apply_and_reload_atomically() {
    let w = World::new().await;
    let token = sidecar_token(&w);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("routes.toml");
    let write = |text: &str| {
        // Write then rename, as a deployment would.
        let tmp = dir.path().join("routes.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &rules).unwrap();
    };
    write(
        "[[route]]\npath = \"/public/**\"\npublic = true\n\n[[route]]\npath = \"/admin/**\"\npermissions = [\"billing.admin\"]\n",
    );
    let config = sidecar_config(sidecar::config::Args {
        control_plane: Some(w.cp.running.url()),
        sidecar_token: Some(token),
        routes: Some(rules.clone()),
        ..Default::default()
    });
    let sc = sidecar::start(config).await.unwrap();
    let t = w.tenant("Acme").await;
    w.user(&t, "routes@acme.test", &["Admin"]).await;
    let access = w.token_for("routes@acme.test").await;
    applied(&sc, version(&w)).await;
    let at = |path: &'static str, token: Option<&str>| {
        let mut req = http_client()
            .get(format!("http://{}/v1/check", sc.addr))
            .header("x-original-uri", path);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = reply(req.send().await.unwrap()).await;
            (
                r.status.as_u16(),
                r.body["reason"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    assert_eq!(at("/public/docs", None).await.0, 200);
    assert_eq!(at("/orders", None).await, (401, "no_token".into()));
    assert_eq!(at("/orders", Some(&access)).await.0, 200);
    assert_eq!(
        at("/admin/users", Some(&access)).await,
        (403, "insufficient_permissions".into())
    );
    // A changed file applies without a restart.
    write("[[route]]\npath = \"/admin/**\"\nroles = [\"Admin\"]\n");
    let mut reloaded = false;
    for _ in 0..100 {
        if at("/admin/users", Some(&access)).await.0 == 200 {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "the new rules never applied");
    assert_eq!(
        at("/public/docs", None).await.0,
        401,
        "the old rules are gone"
    );
    // A broken file is refused whole; the rules in force stay.
    write("[[route]]\npath = \"admin\"\n");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(at("/admin/users", Some(&access)).await.0, 200);
    sc.shutdown().await;
}
