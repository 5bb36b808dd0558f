//! Sidecar forward-auth against a bare hyper "200 OK" server, under one load generator in
//! one run; prints the ratios the budgets of `design.md` §8 are stated in.
//!
//! `cargo run --release -p tessera-benches --bin forward-auth [-- <seconds per case> <runs>]`
//!
//! The server under test runs on its own one-worker runtime (one core), the closed-loop load
//! generator on another (the other core). Cases:
//! - baseline: the sidecar's own accept loop with a handler that answers 200 and a header;
//! - warm: `/v1/check` with one valid RS256 token (cache hit after the first request), the
//!   full decision (revocations loaded, route rules, identity headers);
//! - cold: the same with the verified-token cache bounded to one entry and a rotation of
//!   distinct tokens, so every request verifies a signature — compared with the raw RS256
//!   verify rate of one core measured in the same run;
//! - api-key: `/v1/check` with an access token in `x-api-key` (warm cache), looked up in
//!   the pushed active set of 10,000 records.

// A benchmark: a broken setup should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use shared::wire::{self, KeyState, Policy, PublicKey, PushMessage, Revocation, RevocationKind};

const CONNECTIONS: usize = 32;

struct Signer {
    pair: RsaKeyPair,
    public: PublicKey,
}

fn signer() -> Signer {
    let mut rng = rsa::rand_core::OsRng;
    let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("key generation");
    let der = private.to_pkcs8_der().expect("pkcs8");
    Signer {
        pair: RsaKeyPair::from_pkcs8(der.as_bytes()).expect("ring key"),
        public: PublicKey {
            kid: "bench".into(),
            alg: "RS256".into(),
            n: B64.encode(private.n().to_bytes_be()),
            e: B64.encode(private.e().to_bytes_be()),
            state: KeyState::Active,
        },
    }
}

fn sign(s: &Signer, claims: &serde_json::Value) -> String {
    let header = B64.encode(r#"{"alg":"RS256","typ":"JWT","kid":"bench"}"#);
    let signing = format!("{header}.{}", B64.encode(claims.to_string()));
    let mut sig = vec![0; s.pair.public().modulus_len()];
    s.pair
        .sign(
            &RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing.as_bytes(),
            &mut sig,
        )
        .expect("sign");
    format!("{signing}.{}", B64.encode(sig))
}

/// An access token (`x-api-key`): no expiry, rights in the pushed record.
fn mint_access(s: &Signer, now: i64) -> String {
    sign(
        s,
        &serde_json::json!({
            "sub": "access-0", "type": "tenantAccessToken", "tenantId": "t1",
            "applicationId": "aud", "iss": "http://issuer", "aud": "aud", "iat": now
        }),
    )
}

fn mint(s: &Signer, i: usize, now: i64) -> String {
    let claims = serde_json::json!({
        "sub": format!("user-{i}"), "type": "userToken", "tenantId": "t1", "tenantIds": ["t1"],
        "roles": ["Admin"], "permissions": ["app.read", "app.write"],
        "applicationId": "aud", "iss": "http://issuer", "aud": "aud",
        "iat": now, "exp": now + 3600, "sid": format!("session-{i}"), "userId": format!("user-{i}"),
        "email": "bench@example.com"
    });
    sign(s, &claims)
}

fn now() -> i64 {
    #[allow(clippy::disallowed_methods)] // a benchmark, not product code
    let t = std::time::SystemTime::now();
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A runtime with one worker thread: the server's core.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The baseline: the same accept loop, answering 200 with a small header.
fn start_baseline(rt: &tokio::runtime::Runtime) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let (stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(sidecar::http::serve(l, rx, |_req, _peer| async {
            let mut res = http::Response::new(sidecar::http::full(Bytes::new()));
            res.headers_mut()
                .insert("x-user-id", http::HeaderValue::from_static("baseline"));
            res
        }));
        (addr, stop)
    })
}

/// A sidecar holding a snapshot with `signer`'s key and 10k session revocations.
fn start_sidecar(rt: &tokio::runtime::Runtime, s: &Signer, cache_bytes: u64) -> sidecar::Running {
    rt.block_on(async {
        let mut config = sidecar::Config::from_args(sidecar::config::Args {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            admin_listen: Some("127.0.0.1:0".parse().expect("addr")),
            ..Default::default()
        })
        .expect("config");
        config.cache_bytes = cache_bytes;
        let running = sidecar::start(config).await.expect("sidecar starts");
        let t = now();
        let revocations = (0..10_000)
            .map(|i| Revocation {
                kind: RevocationKind::Session,
                id: format!("revoked-{i}"),
                tenant_id: None,
                not_before: t,
                expires_at: t + 7200,
            })
            .collect();
        let snap = PushMessage::Snapshot(wire::Snapshot {
            protocol: wire::PROTOCOL,
            version: 1,
            epoch: "bench".into(),
            issued_at: t,
            keys: vec![s.public.clone()],
            policy: Policy {
                issuer: "http://issuer".into(),
                audience: "aud".into(),
                access_token_ttl: 3600,
            },
            revocations,
            restrictions: vec![],
            access_tokens: (0..10_000)
                .map(|i| wire::AccessTokenRecord {
                    id: format!("access-{i}"),
                    tenant_id: "t1".into(),
                    user_id: None,
                    roles: vec!["Reader".into()],
                    permissions: vec!["app.read".into()],
                    expires_at: None,
                })
                .collect(),
        });
        sidecar::sync::apply(&running.sidecar, snap).expect("snapshot applies");
        running
    })
}

/// Closed loop: `CONNECTIONS` keep-alive connections, each sending the next token as soon
/// as the previous reply arrived, for `secs`. Returns (requests/s, non-200 replies).
fn load(addr: SocketAddr, path: &'static str, tokens: Arc<Vec<String>>, secs: f64) -> (f64, u64) {
    load_with(addr, path, "authorization", tokens, secs)
}

fn load_with(
    addr: SocketAddr,
    path: &'static str,
    header: &'static str,
    tokens: Arc<Vec<String>>,
    secs: f64,
) -> (f64, u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let done = Arc::new(AtomicU64::new(0));
        let bad = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            let (done, bad, stop, tokens) =
                (done.clone(), bad.clone(), stop.clone(), tokens.clone());
            tasks.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).expect("nodelay");
                let (mut send, conn) =
                    hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                        .await
                        .expect("handshake");
                tokio::spawn(conn);
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    let token = &tokens[i % tokens.len()];
                    i += CONNECTIONS;
                    let req = http::Request::get(path)
                        .header("host", "bench")
                        .header(
                            header,
                            if header == "authorization" {
                                format!("Bearer {token}")
                            } else {
                                token.clone()
                            },
                        )
                        .body(Empty::<Bytes>::new())
                        .expect("request");
                    let Ok(res) = send.send_request(req).await else {
                        break;
                    };
                    if res.status() != 200 {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = res.into_body().collect().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        // Warm up, then measure.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let start_count = done.load(Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        let n = done.load(Ordering::Relaxed) - start_count;
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        (n as f64 / elapsed, bad.load(Ordering::Relaxed))
    })
}

/// Raw RS256 verifications per second on one core (ring, pre-decoded key).
fn raw_verify_rate(s: &Signer, tokens: &[String], secs: f64) -> f64 {
    let n = B64.decode(&s.public.n).expect("n");
    let e = B64.decode(&s.public.e).expect("e");
    let key = ring::signature::RsaPublicKeyComponents { n, e };
    let parsed: Vec<(Vec<u8>, Vec<u8>)> = tokens
        .iter()
        .map(|t| {
            let (signing, sig) = t.rsplit_once('.').expect("jwt");
            (signing.as_bytes().to_vec(), B64.decode(sig).expect("sig"))
        })
        .collect();
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed().as_secs_f64() < secs {
        for (msg, sig) in parsed.iter().take(256) {
            key.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .expect("verifies");
            count += 1;
        }
    }
    count as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let s = signer();
    let t = now();
    let warm = Arc::new(vec![mint(&s, 0, t)]);
    eprintln!("minting 2048 distinct tokens…");
    let cold = Arc::new((0..2048).map(|i| mint(&s, i, t)).collect::<Vec<_>>());

    let server = server_runtime();
    let (baseline, _keep_serving) = start_baseline(&server);
    let warm_sc = start_sidecar(&server, &s, 64 << 20);
    let cold_sc = start_sidecar(&server, &s, 1024);

    let mut rows: Vec<(&str, Vec<f64>)> = vec![
        ("baseline", vec![]),
        ("warm", vec![]),
        ("cold", vec![]),
        ("raw verify", vec![]),
        ("api-key", vec![]),
    ];
    let access = Arc::new(vec![mint_access(&s, t)]);
    for run in 0..runs {
        let (b, bad_b) = load(baseline, "/", warm.clone(), secs);
        let (w, bad_w) = load(warm_sc.addr, "/v1/check/orders", warm.clone(), secs);
        let (c, bad_c) = load(cold_sc.addr, "/v1/check/orders", cold.clone(), secs);
        let raw = raw_verify_rate(&s, &cold, secs);
        let (k, bad_k) = load_with(
            warm_sc.addr,
            "/v1/check/orders",
            "x-api-key",
            access.clone(),
            secs,
        );
        assert_eq!(
            (bad_b, bad_w, bad_c, bad_k),
            (0, 0, 0, 0),
            "every request must be allowed"
        );
        eprintln!("run {run}: x-api-key {k:.0}/s ({:.2}× baseline)", k / b);
        rows[4].1.push(k / b);
        eprintln!(
            "run {run}: baseline {b:.0}/s, warm {w:.0}/s ({:.2}×), cold {c:.0}/s, raw RS256 verify {raw:.0}/s ({:.2}×)",
            w / b,
            c / raw
        );
        rows[0].1.push(b);
        rows[1].1.push(w / b);
        rows[2].1.push(c / raw);
        rows[3].1.push(raw);
    }
    let spread = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        (lo, hi)
    };
    println!("| case | median | spread (min–max) | budget |");
    println!("|---|---|---|---|");
    let (lo, hi) = spread(&rows[0].1);
    println!(
        "| baseline (bare hyper 200) req/s | {:.0} | {lo:.0}–{hi:.0} | — |",
        median(rows[0].1.clone())
    );
    let (lo, hi) = spread(&rows[1].1);
    println!(
        "| warm forward-auth / baseline | {:.2}× | {lo:.2}–{hi:.2} | ≥ 0.85× |",
        median(rows[1].1.clone())
    );
    let (lo, hi) = spread(&rows[2].1);
    println!(
        "| cold forward-auth / raw RS256 verify | {:.2}× | {lo:.2}–{hi:.2} | ≥ 0.8× |",
        median(rows[2].1.clone())
    );
    let (lo, hi) = spread(&rows[3].1);
    println!(
        "| raw RS256 verify/s (1 core) | {:.0} | {lo:.0}–{hi:.0} | — |",
        median(rows[3].1.clone())
    );
    let (lo, hi) = spread(&rows[4].1);
    println!(
        "| x-api-key forward-auth / baseline | {:.2}× | {lo:.2}–{hi:.2} | — |",
        median(rows[4].1.clone())
    );
}
