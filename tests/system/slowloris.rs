//! Slow clients (`security.md` §4.5, §H): 1,000 slowloris connections against the real
//! sidecar and control-plane binaries — request heads that trickle a byte every 2 s and
//! never finish — are all closed within 10 s by the header-read timeout, and legitimate requests
//! keep their latency meanwhile: p99 within 2× of an identical server that is not attacked,
//! measured in the same run with requests interleaved (the suite shares the machine with
//! every other test, so only a same-moment baseline means anything). Latency is measured
//! while the attack holds its connections open — after all of them are established and
//! before the header timeout closes them together; the connection flood itself is J3's
//! subject (`fd_exhaustion.rs`), and a legitimate connect queued behind a thousand others
//! in the accept backlog measures the backlog, not the slow-client defence. The backlog has
//! its own test here: a burst of 2,000 connects is queued, not dropped.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::process::{Proc, spawn, spawn_control_plane};

const SLOW: usize = 1_000;
/// `security.md` §4.5 (the header-read timeouts are 5 s in the sidecar, 7 s in the control
/// plane; the listeners' backlog queues the thousand connects, so the last is accepted within
/// a fraction of a second: measured closes at 5.03 s and 7.04 s).
const CLOSED_WITHIN: Duration = Duration::from_secs(10);
/// Simultaneous connects in [`a_burst_of_connects_is_queued_not_dropped`], and the time
/// within which every one is answered: below the first retransmission a dropped handshake
/// costs.
const BURST: usize = 2_000;
const BURST_WITHIN: Duration = Duration::from_millis(900);
/// Loopback p99s are tens of microseconds; below this floor the VM's scheduling noise, not
/// the server, decides a 2× comparison.
const P99_FLOOR: Duration = Duration::from_millis(2);

/// One legitimate request on a fresh connection (accepting must keep working too); the
/// time to the complete reply head.
async fn legit(addr: &str, path: &str) -> Duration {
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    assert!(buf.starts_with(b"HTTP/1.1 "), "no reply");
    started.elapsed()
}

/// p99 of `n` legitimate requests to each of two servers, interleaved.
async fn p99_pair(a: &str, b: &str, path: &str, n: usize) -> (Duration, Duration) {
    let (mut va, mut vb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        va.push(legit(a, path).await);
        vb.push(legit(b, path).await);
    }
    va.sort();
    vb.sort();
    let i = (n * 99 / 100).min(n - 1);
    (va[i], vb[i])
}

/// Open `SLOW` slowloris connections; returns, per connection, when it was closed by the
/// server (time since it opened), or `None` if it is still open after `wait`, and a
/// receiver that yields once per connection that has sent its first bytes.
fn attack(
    addr: &str,
    wait: Duration,
) -> (
    Vec<tokio::task::JoinHandle<Option<Duration>>>,
    tokio::sync::mpsc::Receiver<()>,
) {
    let (opened_tx, opened_rx) = tokio::sync::mpsc::channel(SLOW);
    let conns = (0..SLOW)
        .map(|_| {
            let addr = addr.to_owned();
            let opened_tx = opened_tx.clone();
            tokio::spawn(async move {
                // Timed from the established connection: how long the server held it (a
                // SYN retried while a thousand connect at once is not the server's doing).
                let mut s = tokio::net::TcpStream::connect(&addr).await.ok()?;
                let opened = Instant::now();
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .await
                    .ok()?;
                let _ = opened_tx.send(()).await;
                let mut buf = [0u8; 64];
                loop {
                    // Trickle a byte every 2 s; watch for the server closing.
                    match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
                        Ok(Ok(0) | Err(_)) => return Some(opened.elapsed()),
                        Ok(Ok(_)) => {
                            // A reply (408 or similar) before the close is fine.
                        }
                        Err(_) => {
                            if opened.elapsed() > wait {
                                return None;
                            }
                            if s.write_all(b"a").await.is_err() {
                                return Some(opened.elapsed());
                            }
                        }
                    }
                }
            })
        })
        .collect();
    (conns, opened_rx)
}

async fn survive(name: &str, addr: &str, control: &str, path: &str) {
    let (conns, mut opened) = attack(addr, CLOSED_WITHIN + Duration::from_secs(5));
    // Every slow connection established and trickling (a connection that failed to open
    // never reports; the wait is bounded well inside the header timeout).
    let settled = Instant::now() + Duration::from_secs(3);
    let mut open = 0;
    while open < SLOW {
        match tokio::time::timeout_at(settled.into(), opened.recv()).await {
            Ok(Some(())) => open += 1,
            _ => break,
        }
    }
    assert!(
        open >= SLOW * 9 / 10,
        "{name}: only {open} of {SLOW} slow connections opened"
    );
    let (during, before) = p99_pair(addr, control, path, 300).await;
    let mut closed = Vec::new();
    for c in conns {
        closed.push(c.await.expect("slow client task"));
    }
    let still_open = closed.iter().filter(|c| c.is_none()).count();
    let last = closed.iter().flatten().max().copied().unwrap_or_default();
    println!(
        "{name}: {SLOW} slowloris connections, all closed after at most {} ms ({still_open} still open); legitimate p99 {} µs at an unattacked twin, {} µs at the attacked one",
        last.as_millis(),
        before.as_micros(),
        during.as_micros()
    );
    assert_eq!(still_open, 0, "{name}: slow connections left open");
    assert!(last <= CLOSED_WITHIN, "{name}: closing took {last:?}");
    assert!(
        during <= 2 * before.max(P99_FLOOR),
        "{name}: legitimate p99 {during:?} under attack vs {before:?} at the unattacked twin"
    );
}

fn sidecar() -> Proc {
    spawn(
        env!("CARGO_BIN_EXE_e2e-sidecar"),
        &["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
    )
}

fn control_plane(dir: &tempfile::TempDir) -> Proc {
    spawn_control_plane(dir.path(), "slow-client", "slow-key-0123456789abcdef")
}

fn addr(p: &Proc) -> String {
    p.url.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_closes_a_thousand_slowloris_connections() {
    let (sc, twin) = (sidecar(), sidecar());
    // Without state every check answers 503 after the full HTTP exchange: the path measured.
    survive("sidecar", &addr(&sc), &addr(&twin), "/v1/check/orders").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_plane_closes_a_thousand_slowloris_connections() {
    let (d1, d2) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let (cp, twin) = (control_plane(&d1), control_plane(&d2));
    survive("control plane", &addr(&cp), &addr(&twin), "/healthz").await;
}

/// `BURST` requests on simultaneous fresh connections; the slowest one's time to its whole
/// reply. Every one must be answered.
async fn burst(addr: &str, path: &str) -> Duration {
    let tasks: Vec<_> = (0..BURST)
        .map(|_| {
            let (addr, path) = (addr.to_owned(), path.to_owned());
            tokio::spawn(async move { legit(&addr, &path).await })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for t in tasks {
        slowest = slowest.max(t.await.expect("burst request"));
    }
    slowest
}

/// A burst of connects (a pool warming up, clients reconnecting after a restart, the flood
/// above) waits in the kernel's accept queue instead of being dropped from it: with the
/// default backlog of 128 the kernel falls back to SYN cookies and drops handshakes the
/// client already believes complete, and those requests wait out retransmissions (measured
/// here: slowest 1.0 to 1.2 s with a 128 backlog, about 0.1 s with 4,096). Both binaries listen with
/// `shared::net::LISTEN_BACKLOG`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connects_is_queued_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sc, cp) = (sidecar(), control_plane(&dir));
    for (name, addr, path) in [
        ("sidecar", addr(&sc), "/v1/check/orders"),
        ("control plane", addr(&cp), "/healthz"),
    ] {
        let slowest = burst(&addr, path).await;
        println!("{name}: {BURST} simultaneous connects, slowest answered in {slowest:?}");
        assert!(
            slowest < BURST_WITHIN,
            "{name}: a request of the burst took {slowest:?} (dropped handshakes retried)"
        );
    }
}
