//! The sidecar's decision path, piece by piece: the full decision with a cache hit (warm)
//! and with a signature check (cold), each deny path, the signature check and claim parsing
//! alone, snapshot build and swap at 10k/100k entries.
//!
//! `cargo bench -p tessera-benches --bench decision`

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sidecar::decide::TokenSource;
use sidecar::state::Facts;
use tessera_benches::tokens::{self, Load, Signer};

fn facts(token: &str) -> Facts<'_> {
    Facts {
        method: "GET",
        path: "/orders/1",
        token: TokenSource::Bearer(token),
        client_ip: IpAddr::from([127, 0, 0, 1]),
    }
}

fn bench(c: &mut Criterion) {
    let signer = Signer::new();
    let now = tokens::now();
    let wire = tokens::snapshot(&signer, tokens::FULL_DECISION, now);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let routes = dir.path().join("routes.toml");
    std::fs::write(&routes, tokens::ROUTES).expect("routes");
    let start = |cache_bytes: u64| {
        rt.block_on(async {
            let mut config = sidecar::Config::from_args(sidecar::config::Args {
                listen: Some("127.0.0.1:0".parse().expect("addr")),
                admin_listen: Some("127.0.0.1:0".parse().expect("addr")),
                routes: Some(routes.clone()),
                ..Default::default()
            })
            .expect("config");
            config.cache_bytes = cache_bytes;
            let running = sidecar::start(config).await.expect("starts");
            sidecar::sync::apply(
                &running.sidecar,
                shared::wire::PushMessage::Snapshot(wire.clone()),
            )
            .expect("applies");
            running
        })
    };
    let warm_sc = start(64 << 20);
    let cold_sc = start(4096);
    let toks = signer.user_tokens(512, now);
    let token = &toks[0];
    let sc = &warm_sc.sidecar;
    assert!(sc.decide(&facts(token), now).is_ok());

    let mut g = c.benchmark_group("decide");
    g.bench_function("warm (cache hit, full decision)", |b| {
        b.iter(|| black_box(sc.decide(black_box(&facts(token)), now).is_ok()))
    });
    let mut i = 0;
    g.bench_function("cold (signature check, parse, cache insert)", |b| {
        b.iter(|| {
            i = (i + 1) % toks.len();
            black_box(cold_sc.sidecar.decide(&facts(&toks[i]), now).is_ok())
        })
    });
    let snap = sc.snapshot().expect("snapshot");
    g.bench_function("verify_token alone (signature + parse)", |b| {
        b.iter(|| black_box(sidecar::decide::verify_token(&snap, black_box(token)).is_ok()))
    });
    // Deny paths.
    let revoked_sid = signer.sign(&serde_json::json!({
        "sub": "u", "type": "userToken", "tenantId": "t1", "applicationId": "aud",
        "iss": tokens::ISSUER, "aud": tokens::AUDIENCE, "iat": now, "exp": now + 3600,
        "sid": "revoked-7"
    }));
    let expired = signer.sign(&serde_json::json!({
        "sub": "u", "type": "userToken", "tenantId": "t1", "applicationId": "aud",
        "iss": tokens::ISSUER, "aud": tokens::AUDIENCE, "iat": now - 7200, "exp": now - 3600
    }));
    let no_perm = signer.sign(&serde_json::json!({
        "sub": "u", "type": "userToken", "tenantId": "t1", "applicationId": "aud",
        "iss": tokens::ISSUER, "aud": tokens::AUDIENCE, "iat": now, "exp": now + 3600
    }));
    let (head, rest) = token.split_once('.').expect("jwt");
    let (payload, _) = rest.split_once('.').expect("jwt");
    let bad_sig = format!("{head}.{payload}.{}", "A".repeat(342));
    let cases: [(&str, String); 6] = [
        ("deny: revoked session (cached)", revoked_sid),
        ("deny: expired (cached)", expired),
        ("deny: insufficient permissions (cached)", no_perm),
        ("deny: bad signature", bad_sig),
        ("deny: malformed", "not.a.jwt!".to_owned()),
        ("deny: no token", String::new()),
    ];
    for (name, t) in &cases {
        let f = if t.is_empty() {
            Facts {
                token: TokenSource::None,
                ..facts(t)
            }
        } else {
            facts(t)
        };
        assert!(sc.decide(&f, now).is_err(), "{name}");
        g.bench_function(*name, |b| b.iter(|| black_box(sc.decide(&f, now).is_err())));
    }
    let blocked = Facts {
        client_ip: IpAddr::from([10, 0, 3, 9]),
        ..facts(token)
    };
    assert!(sc.decide(&blocked, now).is_err());
    g.bench_function("deny: environment IP rule", |b| {
        b.iter(|| black_box(sc.decide(&blocked, now).is_err()))
    });
    g.finish();

    // The RS256 verification alone, by library, over the same tokens: what the sidecar uses
    // (aws-lc-rs on a key parsed once), ring from the key's components (what it used before
    // issue 25), and `jsonwebtoken` (ring inside) decoding the same claims; then the
    // sidecar's whole `verify_token` (signature, header and claims).
    {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (n, e) = (
            b64.decode(&signer.public.n).expect("n"),
            b64.decode(&signer.public.e).expect("e"),
        );
        let signed: Vec<(Vec<u8>, Vec<u8>)> = toks
            .iter()
            .map(|t| {
                let (m, s) = t.rsplit_once('.').expect("jwt");
                (m.as_bytes().to_vec(), b64.decode(s).expect("sig"))
            })
            .collect();
        let parsed = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e }
            .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
            .expect("key");
        let ring_key = ring::signature::RsaPublicKeyComponents {
            n: n.clone(),
            e: e.clone(),
        };
        let jwt_key = jsonwebtoken::DecodingKey::from_rsa_raw_components(&n, &e);
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[tokens::AUDIENCE]);
        validation.set_issuer(&[tokens::ISSUER]);
        // Each measures a success, not an early refusal.
        assert!(parsed.verify_sig(&signed[0].0, &signed[0].1).is_ok());
        let decoded =
            jsonwebtoken::decode::<shared::claims::AccessClaims>(&toks[0], &jwt_key, &validation);
        assert!(decoded.is_ok(), "{decoded:?}");
        let mut v = c.benchmark_group("verify");
        let mut k = 0;
        v.bench_function("aws-lc-rs, key parsed once (the sidecar's)", |b| {
            b.iter(|| {
                k = (k + 1) % signed.len();
                black_box(parsed.verify_sig(&signed[k].0, &signed[k].1).is_ok())
            })
        });
        v.bench_function("ring, from components (before)", |b| {
            b.iter(|| {
                k = (k + 1) % signed.len();
                let ok = ring_key.verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    &signed[k].0,
                    &signed[k].1,
                );
                black_box(ok.is_ok())
            })
        });
        v.bench_function("jsonwebtoken 9 decode (ring; signature + claims)", |b| {
            b.iter(|| {
                k = (k + 1) % toks.len();
                black_box(
                    jsonwebtoken::decode::<shared::claims::AccessClaims>(
                        &toks[k],
                        &jwt_key,
                        &validation,
                    )
                    .is_ok(),
                )
            })
        });
        v.bench_function("sidecar verify_token (signature + header + claims)", |b| {
            b.iter(|| {
                k = (k + 1) % toks.len();
                black_box(sidecar::decide::verify_token(&snap, &toks[k]).is_ok())
            })
        });
        v.finish();
    }

    let mut g = c.benchmark_group("claims");
    let payload_json = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64")
    };
    g.bench_function("parse AccessClaims (serde_json)", |b| {
        b.iter(|| {
            black_box(
                serde_json::from_slice::<shared::claims::AccessClaims>(black_box(&payload_json))
                    .is_ok(),
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    for n in [10_000usize, 100_000] {
        let big = tokens::snapshot(
            &signer,
            Load {
                revocations: n,
                cidrs: 10_000,
                domains: 10_000,
                access_tokens: n / 10,
            },
            now,
        );
        let msg = shared::wire::PushMessage::Snapshot(big);
        g.bench_function(format!("build and swap, {n} revocations"), |b| {
            b.iter_batched(
                || msg.clone(),
                |m| sidecar::sync::apply(sc, m).expect("applies"),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
