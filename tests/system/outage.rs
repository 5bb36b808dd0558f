//! Outage and partition (`security.md` R1, R4, §4.2–4.3): a sidecar cut off from the control
//! plane by a fault-injecting proxy keeps deciding from its last good state (no wrong answer,
//! no 5xx), reports staleness, and after healing catches up without missing the revocation
//! made meanwhile; a control plane frozen with SIGSTOP (open sockets, no answers) costs the
//! sidecars nothing, and after SIGCONT a revocation reaches them again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use crate::enforcement::distribution::{check, sidecar_config, sidecar_token};
use crate::support::world::World;
use crate::support::{http_client, metrics, reply, sample};

/// A TCP proxy that can cut every connection and refuse new ones until healed.
struct FaultProxy {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    generation: Arc<AtomicUsize>,
}

impl FaultProxy {
    async fn start(target: std::net::SocketAddr) -> FaultProxy {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let cut = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(AtomicUsize::new(0));
        let (c, g) = (cut.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = l.accept().await else {
                    return;
                };
                if c.load(Ordering::SeqCst) {
                    drop(inbound); // refused while cut
                    continue;
                }
                let (c, g) = (c.clone(), g.clone());
                let born = g.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let watch = async {
                        // Cutting ends every connection made before the cut.
                        while !c.load(Ordering::SeqCst) && g.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = copy => {}
                        () = watch => {}
                    }
                });
            }
        });
        FaultProxy {
            addr,
            cut,
            generation,
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// An in-process sidecar subscribed to `w`'s control plane at `url` (directly or through a
/// proxy), optionally with a shorter staleness budget.
async fn subscribed(w: &World, url: String, max_staleness: Option<Duration>) -> sidecar::Running {
    let mut config = sidecar_config(sidecar::config::Args {
        control_plane: Some(url),
        sidecar_token: Some(sidecar_token(w)),
        ..Default::default()
    });
    if let Some(m) = max_staleness {
        config.max_staleness = m;
    }
    sidecar::start(config).await.expect("sidecar starts")
}

/// Checks of a valid token at every sidecar in the background: (checks, wrong answers).
fn keep_checking(
    addrs: Vec<std::net::SocketAddr>,
    token: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, usize)> {
    tokio::spawn(async move {
        let client = http_client();
        let (mut n, mut wrong) = (0, 0);
        while !stop.load(Ordering::SeqCst) {
            for a in &addrs {
                let r = client
                    .get(format!("http://{a}/v1/check/orders"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                n += 1;
                if !r.is_ok_and(|r| r.status() == 200) {
                    wrong += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (n, wrong)
    })
}

async fn ready(admin: std::net::SocketAddr) -> u16 {
    http_client()
        .get(format!("http://{admin}/readyz"))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

fn cookie_of(login: &crate::support::Reply) -> String {
    login.headers["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_sidecar_serves_its_last_state_and_catches_up_after_healing() {
    let w = World::new().await;
    let proxy = FaultProxy::start(w.cp.running.addr).await;
    let stale_after = Some(Duration::from_secs(3));
    let direct = subscribed(&w, w.cp.running.url(), stale_after).await;
    let cut_off = subscribed(&w, format!("http://{}", proxy.addr), stale_after).await;
    let t = w.tenant("Acme").await;
    w.user(&t, "ada@acme.test", &["Admin"]).await;
    w.user(&t, "bob@acme.test", &["Admin"]).await;
    let victim = w.login("ada@acme.test").await;
    let victim_token = victim.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let cookie = cookie_of(&victim);
    let bystander = w.token_for("bob@acme.test").await;
    for sc in [&direct, &cut_off] {
        for _ in 0..500 {
            if check(sc, &victim_token).await.0 == 200 && check(sc, &bystander).await.0 == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(check(sc, &victim_token).await.0, 200);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let load = keep_checking(vec![direct.addr, cut_off.addr], bystander, stop.clone());

    // Partition (the proxy tears connections down within 20 ms), then revoke while the
    // sidecar cannot hear.
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = reply(
        w.cp.client
            .post(w.cp.url("/identity/resources/auth/v1/logout"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(out.status, 201);
    let revoked_at = Instant::now();
    while check(&direct, &victim_token).await.0 != 401 {
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "direct sidecar"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Cut off: still the last state (the token allowed), and it says it is stale.
    assert_eq!(check(&cut_off, &victim_token).await.0, 200);
    let cut_at = Instant::now();
    while ready(cut_off.admin_addr).await != 503 {
        assert!(
            cut_at.elapsed() < Duration::from_secs(20),
            "never reported stale"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stale_after = cut_at.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Heal: it catches up, the revocation included.
    proxy.heal();
    let healed = Instant::now();
    while check(&cut_off, &victim_token).await.0 != 401 {
        assert!(
            healed.elapsed() < Duration::from_secs(35),
            "the partitioned sidecar missed the revocation"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let caught_up = healed.elapsed();
    while ready(cut_off.admin_addr).await != 200 {
        assert!(
            healed.elapsed() < Duration::from_secs(40),
            "never ready again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (checks, wrong) = load.await.expect("load");
    println!(
        "partition: {checks} checks of a valid token during it, {wrong} wrong; stale reported {} ms after the cut; the revocation made during the partition enforced {} ms after healing",
        stale_after.as_millis(),
        caught_up.as_millis()
    );
    assert_eq!(wrong, 0, "a valid token was refused or a 5xx served");
    direct.shutdown().await;
    cut_off.shutdown().await;
}

/// R1 / §4.3. CI freezes the control plane for 20 s; the long variant —
/// `TESSERA_OUTAGE_SECS=600 cargo test -p tessera-tests --test e2e -- a_frozen --nocapture` —
/// for the 10 minutes of the guarantee.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_control_plane_costs_the_sidecars_nothing() {
    let frozen_for = Duration::from_secs(
        std::env::var("TESSERA_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    use crate::support::remote::{RemoteCp, SIDECAR_TOKEN};
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = RemoteCp::spawn(dir.path()).await;
    let tenant = cp.tenant("Acme").await;
    for email in ["ada@acme.test", "bob@acme.test"] {
        cp.verified_user(&tenant, email).await;
    }
    let login = |email: &'static str| cp.login(email);
    let bystander = login("bob@acme.test").await.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let mut config = sidecar_config(sidecar::config::Args {
        control_plane: Some(cp.base.clone()),
        sidecar_token: Some(SIDECAR_TOKEN.into()),
        ..Default::default()
    });
    config.max_staleness = Duration::from_secs(3);
    let sc = sidecar::start(config).await.expect("sidecar");
    for _ in 0..500 {
        if check(&sc, &bystander).await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let load = keep_checking(vec![sc.addr], bystander.clone(), stop.clone());

    // Freeze the control plane: open sockets, no answers.
    cp.proc.signal("STOP");
    let frozen = Instant::now();
    let mut stale_after = None;
    while frozen.elapsed() < frozen_for {
        if stale_after.is_none() && ready(sc.admin_addr).await == 503 {
            stale_after = Some(frozen.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cp.proc.signal("CONT");
    let thawed = Instant::now();
    // After it thaws a revocation reaches the sidecar again.
    let victim = login("ada@acme.test").await;
    let victim_token = victim.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let cookie = cookie_of(&victim);
    while check(&sc, &victim_token).await.0 != 200 {
        assert!(
            thawed.elapsed() < Duration::from_secs(40),
            "no new state after thawing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = cp
        .client
        .post(format!("{}/identity/resources/auth/v1/logout", cp.base))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("answered");
    assert_eq!(out.status(), 201);
    let revoked = Instant::now();
    while check(&sc, &victim_token).await.0 != 401 {
        assert!(
            revoked.elapsed() < Duration::from_secs(5),
            "revocation after thawing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let enforced = revoked.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (checks, wrong) = load.await.expect("load");
    println!(
        "SIGSTOP {} s: {checks} checks of a valid token, {wrong} wrong; stale reported after {:?}; after SIGCONT a logout was enforced in {} ms",
        frozen_for.as_secs(),
        stale_after,
        enforced.as_millis()
    );
    assert_eq!(wrong, 0);
    assert!(stale_after.is_some(), "staleness never reported");
    // Reconnecting with nothing missed is not a refused message (it used to be an empty delta).
    let metrics = metrics(&format!("http://{}/metrics", sc.admin_addr)).await;
    assert_eq!(
        sample(&metrics, "sidecar_rejected_messages_total"),
        Some(0u64),
        "messages refused"
    );
    sc.shutdown().await;
}

/// R9: after a control-plane restart, sidecars reconnect with jittered backoff — spread out,
/// not in one synchronized burst — and all of them resynchronize.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_reconnect_spread_out_after_a_control_plane_restart() {
    use crate::support::process::{free_addr, spawn};
    const N: usize = 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let listen = free_addr();
    let sc_token = "herd-sidecar-token-0123456789abcdef";
    let args = [
        "--listen",
        listen.as_str(),
        "--data-dir",
        dir.path().to_str().expect("utf-8"),
        "--client-id",
        "herd-client",
        "--api-key",
        "herd-key-0123456789abcdef",
        "--sidecar-token",
        sc_token,
    ];
    let mut cp = spawn(env!("CARGO_BIN_EXE_e2e-control-plane"), &args);
    let mut sidecars = Vec::new();
    for _ in 0..N {
        sidecars.push(
            sidecar::start(sidecar_config(sidecar::config::Args {
                control_plane: Some(format!("http://{listen}")),
                sidecar_token: Some(sc_token.into()),
                ..Default::default()
            }))
            .await
            .expect("sidecar"),
        );
    }
    let all_connected = |scs: &[sidecar::Running]| {
        scs.iter()
            .all(|s| s.sidecar.connected.load(Ordering::SeqCst) && s.sidecar.version().is_some())
    };
    let started = Instant::now();
    while !all_connected(&sidecars) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "initial connect"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let epoch = |s: &sidecar::Running| s.sidecar.snapshot().map(|c| c.epoch.clone());
    let before: Vec<_> = sidecars.iter().map(epoch).collect();

    // Restart the control plane after 2 s down; time each sidecar's return.
    cp.kill9();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _cp = spawn(env!("CARGO_BIN_EXE_e2e-control-plane"), &args);
    let back = Instant::now();
    let mut returned: Vec<Option<Duration>> = vec![None; N];
    while returned.iter().any(Option::is_none) {
        for (i, s) in sidecars.iter().enumerate() {
            // Back = connected to the new process and holding its state (a new epoch).
            if returned[i].is_none()
                && s.sidecar.connected.load(Ordering::SeqCst)
                && epoch(s) != before[i]
            {
                returned[i] = Some(back.elapsed());
            }
        }
        assert!(
            back.elapsed() < Duration::from_secs(40),
            "sidecars not back: {returned:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut t: Vec<Duration> = returned.into_iter().flatten().collect();
    t.sort();
    let spread = t[N - 1] - t[0];
    // Most sidecars in any 50 ms window: a synchronized burst would put them all in one.
    let burst = (0..N)
        .map(|i| {
            t[i..]
                .iter()
                .take_while(|x| **x - t[i] <= Duration::from_millis(50))
                .count()
        })
        .max()
        .unwrap_or(0);
    println!(
        "herd: {N} sidecars back {} ms – {} ms after the restart (spread {} ms; at most {burst} within any 50 ms)",
        t[0].as_millis(),
        t[N - 1].as_millis(),
        spread.as_millis()
    );
    assert!(
        burst < N / 2,
        "reconnects bunched: {burst} of {N} within 50 ms"
    );
    for s in sidecars {
        s.shutdown().await;
    }
}

/// A proxy whose control-plane → sidecar direction can be slowed (a delay before every chunk)
/// or stalled (nothing forwarded, connections left open) — `security.md` R13.
struct SlowProxy {
    addr: std::net::SocketAddr,
    delay_ms: Arc<AtomicUsize>,
    stalled: Arc<AtomicBool>,
}

impl SlowProxy {
    async fn start(target: std::net::SocketAddr) -> SlowProxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let delay_ms = Arc::new(AtomicUsize::new(0));
        let stalled = Arc::new(AtomicBool::new(false));
        let (d, s) = (delay_ms.clone(), stalled.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = l.accept().await {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    continue;
                };
                let (mut in_r, mut in_w) = inbound.into_split();
                let (mut out_r, mut out_w) = outbound.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut in_r, &mut out_w).await;
                });
                let (d, s) = (d.clone(), s.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let Ok(n) = out_r.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        while s.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        let delay = d.load(Ordering::SeqCst) as u64;
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        if in_w.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        SlowProxy {
            addr,
            delay_ms,
            stalled,
        }
    }
}

/// Poll `sc` until it denies `token`; the time it took (at most `limit` seconds).
async fn until_denied(name: &str, sc: &sidecar::Running, token: &str, limit: u64) -> Duration {
    let at = Instant::now();
    while check(sc, token).await.0 != 401 {
        assert!(
            at.elapsed() < Duration::from_secs(limit),
            "{name} sidecar: revocation not enforced"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    at.elapsed()
}

/// R13: a slow, then stalled, link to one sidecar holds nothing back — not that sidecar's
/// decisions (the hot path never waits on the link), not the other sidecar's updates, not a
/// key rotation (it waits at most `--key-rotation-wait` for the unreachable sidecar) — and
/// once the link recovers the sidecar catches up with what it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_stalled_link_holds_nothing_back() {
    use reqwest::Method;
    let w = World::new().await;
    let proxy = SlowProxy::start(w.cp.running.addr).await;
    let direct = subscribed(&w, w.cp.running.url(), None).await;
    let slow = subscribed(&w, format!("http://{}", proxy.addr), None).await;
    let t = w.tenant("Acme").await;
    for who in ["ada", "bob", "cy"] {
        w.user(&t, &format!("{who}@acme.test"), &["Admin"]).await;
    }
    let ada = w.login("ada@acme.test").await;
    let cy = w.login("cy@acme.test").await;
    let bystander = w.token_for("bob@acme.test").await;
    let token_of = |r: &crate::support::Reply| r.body["accessToken"].as_str().unwrap().to_owned();
    let (ada_token, cy_token) = (token_of(&ada), token_of(&cy));
    for sc in [&direct, &slow] {
        for _ in 0..500 {
            if check(sc, &cy_token).await.0 == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(check(sc, &cy_token).await.0, 200);
    }
    // Decisions at the slow sidecar, timed, all along.
    let stop = Arc::new(AtomicBool::new(false));
    let timing = {
        let (stop, addr, token) = (stop.clone(), slow.addr, bystander.clone());
        tokio::spawn(async move {
            let client = http_client();
            let (mut times, mut wrong) = (Vec::new(), 0);
            while !stop.load(Ordering::SeqCst) {
                let at = Instant::now();
                let r = client
                    .get(format!("http://{addr}/v1/check/orders"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                times.push(at.elapsed());
                if !r.is_ok_and(|r| r.status() == 200) {
                    wrong += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            times.sort();
            (times, wrong)
        })
    };
    let logout = |cookie: String| {
        let req =
            w.cp.client
                .post(w.cp.url("/identity/resources/auth/v1/logout"))
                .header("cookie", cookie);
        async move { reply(req.send().await.expect("answered")).await }
    };
    // Slow: every chunk to the sidecar waits 1.5 s.
    proxy.delay_ms.store(1500, Ordering::SeqCst);
    assert_eq!(logout(cookie_of(&ada)).await.status, 201);
    let direct_slow = until_denied("direct", &direct, &ada_token, 1).await;
    let slowed = until_denied("slow", &slow, &ada_token, 10).await;

    // Stalled: nothing reaches the sidecar, the connection stays open.
    proxy.stalled.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(logout(cookie_of(&cy)).await.status, 201);
    let direct_stalled = until_denied("direct", &direct, &cy_token, 1).await;
    assert_eq!(
        check(&slow, &cy_token).await.0,
        200,
        "the stalled sidecar keeps its state"
    );
    let rotating = Instant::now();
    let rotated = w
        .env(Method::POST, "/tessera/v1/keys/rotate", None, None)
        .await;
    let rotation_took = rotating.elapsed();
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    assert_eq!(
        rotated.body["propagation"]["complete"], false,
        "{}",
        rotated.text
    );
    let fresh = w.token_for("bob@acme.test").await;
    assert_eq!(
        check(&direct, &fresh).await.0,
        200,
        "the new key at the direct sidecar"
    );

    // Recovered: the stalled sidecar catches up — the revocation and the new key.
    proxy.stalled.store(false, Ordering::SeqCst);
    proxy.delay_ms.store(0, Ordering::SeqCst);
    let recovered = Instant::now();
    until_denied("recovered", &slow, &cy_token, 40).await;
    while check(&slow, &fresh).await.0 != 200 {
        assert!(
            recovered.elapsed() < Duration::from_secs(40),
            "the new key never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let caught_up = recovered.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (times, wrong) = timing.await.expect("timing");
    let p99 = times[times.len() * 99 / 100];
    let max = *times.last().expect("checks");
    println!(
        "slow link (1.5 s per chunk): revocation at the direct sidecar in {} ms, at the slow one in {} ms; \
         stalled: direct in {} ms, key rotation returned in {} ms (propagation incomplete), caught up {} ms after recovery; \
         {} checks at the slow sidecar, {wrong} wrong, p99 {} µs, max {} µs",
        direct_slow.as_millis(),
        slowed.as_millis(),
        direct_stalled.as_millis(),
        rotation_took.as_millis(),
        caught_up.as_millis(),
        times.len(),
        p99.as_micros(),
        max.as_micros()
    );
    assert_eq!(wrong, 0);
    assert!(
        slowed >= Duration::from_millis(1400),
        "the delay did not apply: {slowed:?}"
    );
    assert!(
        rotation_took < Duration::from_secs(9),
        "rotation waited {rotation_took:?}"
    );
    assert!(
        p99 < Duration::from_millis(50),
        "decisions waited on the link: p99 {p99:?}"
    );
    direct.shutdown().await;
    slow.shutdown().await;
}
