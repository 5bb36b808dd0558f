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

async fn connect(addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
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
    let warmup = Duration::from_millis(500);
    let total = warmup + Duration::from_secs_f64(secs);
    let interval = Duration::from_secs_f64(conns as f64 / rate);
    let wrong = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let samples: (Vec<u32>, Vec<u32>) = runtime().block_on(async {
        let mut conns_ready = Vec::new();
        for _ in 0..conns {
            conns_ready.push(connect(target.addr).await.expect("connect"));
        }
        let start = Instant::now() + Duration::from_millis(20);
        let mut tasks = Vec::new();
        for (c, mut send) in conns_ready.into_iter().enumerate() {
            let (target, wrong, errors) = (target.clone(), wrong.clone(), errors.clone());
            // Stagger the connections evenly inside one interval.
            let first = start + interval.mul_f64(c as f64 / conns as f64);
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut behind = Vec::new();
                let mut k = 0u32;
                loop {
                    let at = first + interval * k;
                    if at >= start + total {
                        break;
                    }
                    pace(at).await;
                    let sent = Instant::now();
                    let req = target.request(c + k as usize * conns);
                    k += 1;
                    match exchange(&mut send, req).await {
                        Some(status) => {
                            if target.expect.is_some_and(|e| e != status) {
                                wrong.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        None => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            match connect(target.addr).await {
                                Some(s) => send = s,
                                None => break,
                            }
                        }
                    }
                    if at >= start + warmup {
                        let us = at.elapsed().as_micros();
                        lat.push(u32::try_from(us).unwrap_or(u32::MAX));
                        let late = sent.duration_since(at).as_micros();
                        behind.push(u32::try_from(late).unwrap_or(u32::MAX));
                    }
                }
                (lat, behind)
            }));
        }
        let mut all = Vec::new();
        let mut late = Vec::new();
        for t in tasks {
            let (l, b) = t.await.expect("connection task");
            all.extend(l);
            late.extend(b);
        }
        (all, late)
    });
    let (mut s, mut late) = samples;
    late.sort_unstable();
    let send_late_p99 = late
        .get(late.len() * 99 / 100)
        .map_or(f64::NAN, |v| f64::from(*v));
    s.sort_unstable();
    let pct = |p: f64| -> f64 {
        if s.is_empty() {
            return f64::NAN;
        }
        let i = ((s.len() as f64 * p).ceil() as usize).clamp(1, s.len()) - 1;
        f64::from(s[i])
    };
    Open {
        offered: rate,
        achieved: s.len() as f64 / secs,
        p50: pct(0.50),
        p99: pct(0.99),
        p999: pct(0.999),
        send_late_p99,
        wrong: wrong.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
    }
}
