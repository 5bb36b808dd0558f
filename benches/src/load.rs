//! Load generators on hyper: a closed loop (throughput at saturation) and a fixed-rate
//! open loop (latency percentiles at a given load, measured from each request's scheduled
//! send time so a stalled server cannot hide its queueing).
//!
//! Each generator runs on its own single-threaded runtime (one core), over `conns`
//! keep-alive HTTP/1.1 connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;

/// What each request carries.
#[derive(Clone)]
pub struct Target {
    /// The server.
    pub addr: SocketAddr,
    /// Request path.
    pub path: String,
    /// Credential header (`authorization`, `x-api-key`), if any.
    pub header: Option<&'static str>,
    /// Its values, used in turn (request `i` of connection `c` takes `(c + i·conns) % len`).
    pub values: Arc<Vec<HeaderValue>>,
    /// Or: the value for request `i`, computed when it is sent (floods of unique tokens).
    pub make: Option<Arc<dyn Fn(usize) -> HeaderValue + Send + Sync>>,
    /// Method and JSON body (empty for none).
    pub method: http::Method,
    /// See `method`.
    pub body: Bytes,
    /// The status every reply must have (others are counted as wrong); `None` counts none.
    pub expect: Option<u16>,
}

impl Target {
    /// `Bearer <token>` values for `tokens`.
    pub fn bearer(addr: SocketAddr, path: &str, tokens: &[String]) -> Target {
        Target {
            addr,
            path: path.to_owned(),
            header: Some("authorization"),
            values: Arc::new(
                tokens
                    .iter()
                    .map(|t| HeaderValue::from_str(&format!("Bearer {t}")).expect("header"))
                    .collect(),
            ),
            make: None,
            method: http::Method::GET,
            body: Bytes::new(),
            expect: Some(200),
        }
    }

    /// No credential.
    pub fn plain(addr: SocketAddr, path: &str) -> Target {
        Target {
            addr,
            path: path.to_owned(),
            header: None,
            values: Arc::new(vec![HeaderValue::from_static("")]),
            make: None,
            method: http::Method::GET,
            body: Bytes::new(),
            expect: Some(200),
        }
    }

    fn request(&self, i: usize) -> http::Request<Full<Bytes>> {
        let mut b = http::Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header("host", "bench");
        if let Some(h) = self.header {
            let v = match &self.make {
                Some(make) => make(i),
                None => self.values[i % self.values.len()].clone(),
            };
            b = b.header(h, v);
        }
        if !self.body.is_empty() {
            b = b.header("content-type", "application/json");
        }
        b.body(Full::new(self.body.clone())).expect("request")
    }
}

/// A closed-loop result.
#[derive(Clone, Copy, Debug, Default)]
pub struct Closed {
    /// Requests per second.
    pub rps: f64,
    /// Replies with another status than expected.
    pub wrong: u64,
    /// Transport errors (connection refused or reset).
    pub errors: u64,
}

/// A fixed-rate result.
#[derive(Clone, Copy, Debug, Default)]
pub struct Open {
    /// Requests per second asked for.
    pub offered: f64,
    /// Requests per second completed.
    pub achieved: f64,
    /// Latency percentiles, microseconds.
    pub p50: f64,
    /// See `p50`.
    pub p99: f64,
    /// See `p50`.
    pub p999: f64,
    /// How late the generator itself sent (99th percentile, µs): when this is large the
    /// generator, not the server, is the bottleneck and the run says nothing.
    pub send_late_p99: f64,
    /// Replies with another status than expected.
    pub wrong: u64,
    /// Transport errors.
    pub errors: u64,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One keep-alive HTTP/1.1 connection (no Nagle), its driver spawned on the current runtime.
pub async fn connect(addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(send)
}

/// Send one request; `Some(status)` or `None` on a transport error.
async fn exchange(
    send: &mut SendRequest<Full<Bytes>>,
    req: http::Request<Full<Bytes>>,
) -> Option<u16> {
    let res = send.send_request(req).await.ok()?;
    let status = res.status().as_u16();
    res.into_body().collect().await.ok()?;
    Some(status)
}

/// Drive `target` as fast as replies come back, after a 0.3 s warm-up, for `secs`.
pub fn closed_loop(target: &Target, conns: usize, secs: f64) -> Closed {
    closed_loop_with(target, conns, secs, std::thread::sleep)
}

/// [`closed_loop`], where `during` (run on a separate thread, given `secs`) is the measured
/// span: it must sleep that long, doing whatever it wants meanwhile (sampling CPU time or
/// memory, injecting faults).
pub fn closed_loop_with(
    target: &Target,
    conns: usize,
    secs: f64,
    during: impl FnOnce(Duration) + Send,
) -> Closed {
    closed_loop_with_warmup(target, conns, secs, Duration::from_millis(300), during)
}

/// [`closed_loop_with`] with a chosen warm-up; the measured span ends when both `secs`
/// passed and `during` returned.
fn closed_loop_with_warmup(
    target: &Target,
    conns: usize,
    secs: f64,
    warmup: Duration,
    during: impl FnOnce(Duration) + Send,
) -> Closed {
    let done = Arc::new(AtomicU64::new(0));
    let wrong = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let (d2, w2, e2, st2) = (done.clone(), wrong.clone(), errors.clone(), stop.clone());
        let generator = s.spawn(move || {
            runtime().block_on(async move {
                // Busy-poll: the generator never sleeps in the kernel, so a reply never
                // has to wake it up (on a VM a cross-CPU wake-up costs the *sender* — the
                // server under test — several microseconds of hypervisor time).
                let spinning = st2.clone();
                tokio::spawn(async move {
                    while !spinning.load(Ordering::Relaxed) {
                        tokio::task::yield_now().await;
                    }
                });
                let mut tasks = Vec::new();
                for c in 0..conns {
                    let (done, wrong, errors, stop, target) = (
                        d2.clone(),
                        w2.clone(),
                        e2.clone(),
                        st2.clone(),
                        target.clone(),
                    );
                    tasks.push(tokio::spawn(async move {
                        let mut send = None;
                        let mut i = c;
                        while !stop.load(Ordering::Relaxed) {
                            if send.is_none() {
                                send = connect(target.addr).await;
                                if send.is_none() {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                    continue;
                                }
                            }
                            let req = target.request(i);
                            i += conns;
                            match exchange(send.as_mut().expect("connected"), req).await {
                                Some(status) => {
                                    if target.expect.is_some_and(|e| e != status) {
                                        wrong.fetch_add(1, Ordering::Relaxed);
                                    }
                                    done.fetch_add(1, Ordering::Relaxed);
                                }
                                None => {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                    send = None;
                                }
                            }
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        });
        std::thread::sleep(warmup);
        let (n0, w0, e0) = (
            done.load(Ordering::Relaxed),
            wrong.load(Ordering::Relaxed),
            errors.load(Ordering::Relaxed),
        );
        let started = Instant::now();
        let span = Duration::from_secs_f64(secs);
        // The measured span is `during`'s run (it sleeps `span` or decides itself).
        let _ = s.spawn(move || during(span)).join();
        let elapsed = started.elapsed().as_secs_f64();
        let result = Closed {
            rps: (done.load(Ordering::Relaxed) - n0) as f64 / elapsed,
            wrong: wrong.load(Ordering::Relaxed) - w0,
            errors: errors.load(Ordering::Relaxed) - e0,
        };
        stop.store(true, Ordering::Relaxed);
        generator.join().expect("generator");
        result
    })
}

/// A closed loop from the first request (no warm-up) until `enough` (asked every 250 ms)
/// says so or `max` passed.
pub fn closed_loop_until(
    target: &Target,
    conns: usize,
    max: Duration,
    mut enough: impl FnMut() -> bool + Send,
) -> Closed {
    let started = Instant::now();
    closed_loop_with_warmup(target, conns, max.as_secs_f64(), Duration::ZERO, |_| {
        while started.elapsed() < max && !enough() {
            std::thread::sleep(Duration::from_millis(250));
        }
    })
}

/// Wait until `at`: sleep while it is far (the timer has millisecond granularity and may
/// wake up to a millisecond late), then yield until it comes.
async fn pace(at: Instant) {
    loop {
        let now = Instant::now();
        if now >= at {
            return;
        }
        let left = at - now;
        if left > Duration::from_millis(3) {
            tokio::time::sleep(left - Duration::from_millis(2)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// Send `rate` requests per second spread evenly over `conns` connections for `secs` (after
/// a 0.5 s warm-up at the same rate). Latency is taken from each request's scheduled time,
/// so it includes any queueing in the client when the server falls behind.
pub fn fixed_rate(target: &Target, conns: usize, rate: f64, secs: f64) -> Open {
    let w = runtime().block_on(async {
        let mut ready = Vec::new();
        for _ in 0..conns {
            ready.push(connect(target.addr).await.expect("connect"));
        }
        window(ready, target, rate, Duration::from_millis(500), secs)
            .await
            .1
    });
    w.open(rate, secs)
}

/// One fixed-rate window's raw results.
#[derive(Default)]
struct Window {
    /// Latency of each request after the warm-up, µs from its scheduled time.
    lat: Vec<u32>,
    /// How late each was sent, µs.
    late: Vec<u32>,
    wrong: u64,
    errors: u64,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[i])
}

impl Window {
    fn open(mut self, rate: f64, secs: f64) -> Open {
        self.late.sort_unstable();
        self.lat.sort_unstable();
        Open {
            offered: rate,
            achieved: self.lat.len() as f64 / secs,
            p50: percentile(&self.lat, 0.50),
            p99: percentile(&self.lat, 0.99),
            p999: percentile(&self.lat, 0.999),
            send_late_p99: percentile(&self.late, 0.99),
            wrong: self.wrong,
            errors: self.errors,
        }
    }
}

/// `rate` requests per second over the given connections (one task each, staggered inside
/// one interval) for `warmup` + `secs`; the connections come back for the next window.
async fn window(
    conns: Vec<SendRequest<Full<Bytes>>>,
    target: &Target,
    rate: f64,
    warmup: Duration,
    secs: f64,
) -> (Vec<SendRequest<Full<Bytes>>>, Window) {
    let n = conns.len();
    let total = warmup + Duration::from_secs_f64(secs);
    let interval = Duration::from_secs_f64(n as f64 / rate);
    let start = Instant::now() + Duration::from_millis(5);
    let mut tasks = Vec::new();
    for (c, mut send) in conns.into_iter().enumerate() {
        let target = target.clone();
        let first = start + interval.mul_f64(c as f64 / n as f64);
        tasks.push(tokio::spawn(async move {
            let mut w = Window::default();
            let mut k = 0u32;
            loop {
                let at = first + interval * k;
                if at >= start + total {
                    break;
                }
                pace(at).await;
                let sent = Instant::now();
                let req = target.request(c + k as usize * n);
                k += 1;
                match exchange(&mut send, req).await {
                    Some(status) => {
                        if target.expect.is_some_and(|e| e != status) {
                            w.wrong += 1;
                        }
                    }
                    None => {
                        w.errors += 1;
                        match connect(target.addr).await {
                            Some(s) => send = s,
                            None => break,
                        }
                    }
                }
                if at >= start + warmup {
                    let us = at.elapsed().as_micros();
                    w.lat.push(u32::try_from(us).unwrap_or(u32::MAX));
                    let late = sent.duration_since(at).as_micros();
                    w.late.push(u32::try_from(late).unwrap_or(u32::MAX));
                }
            }
            (send, w)
        }));
    }
    let mut sends = Vec::new();
    let mut all = Window::default();
    for t in tasks {
        let (send, w) = t.await.expect("connection task");
        sends.push(send);
        all.lat.extend(w.lat);
        all.late.extend(w.late);
        all.wrong += w.wrong;
        all.errors += w.errors;
    }
    (sends, all)
}

/// Paired latency windows: `a` and `b` at the same fixed rate in alternating short windows.
pub struct Paired {
    /// Per pair: (a's p50, a's p99, b's p50, b's p99), µs.
    pub pairs: Vec<[f64; 4]>,
    /// Every window's samples pooled: a, then b.
    pub a: Open,
    /// See `a`.
    pub b: Open,
}

/// `pairs` pairs of windows of `secs` each (after `warmup`), `a` then `b` in even pairs and
/// `b` then `a` in odd ones, so a drift of the machine (another tenant of the host, a
/// frequency change) falls on both alike. Each window reports its own percentiles; their
/// paired differences are what survives this VM's noise.
pub fn paired_windows(
    a: &Target,
    b: &Target,
    conns: usize,
    rate: f64,
    secs: f64,
    pairs: usize,
) -> Paired {
    let warmup = Duration::from_millis(50);
    runtime().block_on(async {
        let mut ca = Vec::new();
        let mut cb = Vec::new();
        for _ in 0..conns {
            ca.push(connect(a.addr).await.expect("connect"));
            cb.push(connect(b.addr).await.expect("connect"));
        }
        let (mut pa, mut pb) = (Window::default(), Window::default());
        let mut out = Vec::new();
        for i in 0..pairs {
            let one = |w: &Window| {
                let mut l = w.lat.clone();
                l.sort_unstable();
                (percentile(&l, 0.5), percentile(&l, 0.99))
            };
            let (wa, wb);
            if i % 2 == 0 {
                (ca, wa) = window(ca, a, rate, warmup, secs).await;
                (cb, wb) = window(cb, b, rate, warmup, secs).await;
            } else {
                (cb, wb) = window(cb, b, rate, warmup, secs).await;
                (ca, wa) = window(ca, a, rate, warmup, secs).await;
            }
            let (a50, a99) = one(&wa);
            let (b50, b99) = one(&wb);
            out.push([a50, a99, b50, b99]);
            for (pool, w) in [(&mut pa, wa), (&mut pb, wb)] {
                pool.lat.extend(w.lat);
                pool.late.extend(w.late);
                pool.wrong += w.wrong;
                pool.errors += w.errors;
            }
        }
        let span = secs * pairs as f64;
        Paired {
            pairs: out,
            a: pa.open(rate, span),
            b: pb.open(rate, span),
        }
    })
}
