//! `security.md` §A against the real sidecar binary: JWT forgeries and malformed tokens
//! minted by the test. The sidecar decides from a persisted state holding two RS256 keys the
//! test owns; every forgery must be refused (401, or 431/400 where the row says so), the
//! genuine token allowed, and no header may make the sidecar connect anywhere (A5).

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

use crate::support::minted::{
    AUD, Key, claims, header, key, now, public, rs256, sidecar_trusting, with,
};

fn hs256(secret: &[u8], header: &str, payload: &str) -> String {
    let signing = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
        signing.as_bytes(),
    );
    format!("{signing}.{}", B64.encode(tag.as_ref()))
}

/// Send one raw request and read the status code.
fn raw_status(addr: &str, head: &str) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = s.write_all(head.as_bytes());
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

async fn check(client: &reqwest::Client, addr: &str, token: &str) -> (u16, String) {
    let r = client
        .get(format!("http://{addr}/v1/check/orders"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("answered");
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        body["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn jwt_forgeries_are_refused_by_the_running_sidecar() {
    let (k0, k1, attacker) = (key("k0"), key("k1"), key("k0"));
    // A listener where hostile headers point (A5): nothing may connect to it.
    let lure = std::net::TcpListener::bind("127.0.0.1:0").expect("lure");
    let lure_addr = lure.local_addr().expect("addr");
    lure.set_nonblocking(true).expect("nonblocking");
    let lured = Arc::new(AtomicUsize::new(0));
    {
        let lured = lured.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                if lure.accept().is_ok() {
                    lured.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
    }
    let (sc, _dir) = sidecar_trusting(&[&k0, &k1]);
    let addr = sc.url.trim_start_matches("http://").to_owned();
    let client = crate::support::http_client();

    let genuine = with(&k0, |_| {});
    assert_eq!(check(&client, &addr, &genuine).await.0, 200, "genuine");
    let payload = claims().to_string();
    let p64 = B64.encode(&payload);
    let sig = genuine.rsplit_once('.').expect("jwt").1.to_owned();
    let pem = k0
        .public
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .expect("pem");
    let der = k0.public.to_public_key_der().expect("der");
    let jwk = public(&k0).to_string();
    let mut ne = k0.public.n().to_bytes_be();
    ne.extend(k0.public.e().to_bytes_be());
    let lure_url = format!("http://{lure_addr}/keys");
    let attacker_jwk = public(&attacker).to_string();
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));

    let mut cases: Vec<(&str, String)> = vec![
        // A1: alg none, every spelling; empty or missing signature.
        (
            "A1 none",
            format!("{}.{p64}.", B64.encode(r#"{"alg":"none","typ":"JWT"}"#)),
        ),
        (
            "A1 None",
            format!("{}.{p64}.", B64.encode(r#"{"alg":"None"}"#)),
        ),
        (
            "A1 NONE",
            format!("{}.{p64}.", B64.encode(r#"{"alg":"NONE"}"#)),
        ),
        (
            "A1 noNE",
            format!("{}.{p64}.", B64.encode(r#"{"alg":"noNE"}"#)),
        ),
        (
            "A1 none with kid",
            format!("{}.{p64}.", B64.encode(r#"{"alg":"none","kid":"k0"}"#)),
        ),
        (
            "A1 empty signature",
            format!("{}.{p64}.", B64.encode(header(&k0))),
        ),
        (
            "A1 missing third segment",
            format!("{}.{p64}", B64.encode(header(&k0))),
        ),
        (
            "A1 none, signature kept",
            format!("{}.{p64}.{sig}", B64.encode(r#"{"alg":"none"}"#)),
        ),
        // A2: HS256 keyed with the public key, in every encoding.
        (
            "A2 HS256 PEM",
            hs256(pem.as_bytes(), r#"{"alg":"HS256","kid":"k0"}"#, &payload),
        ),
        (
            "A2 HS256 DER",
            hs256(der.as_bytes(), r#"{"alg":"HS256","kid":"k0"}"#, &payload),
        ),
        (
            "A2 HS256 JWK",
            hs256(jwk.as_bytes(), r#"{"alg":"HS256","kid":"k0"}"#, &payload),
        ),
        (
            "A2 HS256 n||e",
            hs256(&ne, r#"{"alg":"HS256","kid":"k0"}"#, &payload),
        ),
        // A4: kid injection, signed by an attacker key.
        (
            "A4 kid path",
            rs256(
                &attacker,
                r#"{"alg":"RS256","kid":"../../../../dev/null"}"#,
                &payload,
            ),
        ),
        (
            "A4 kid environ",
            rs256(
                &attacker,
                r#"{"alg":"RS256","kid":"/proc/self/environ"}"#,
                &payload,
            ),
        ),
        (
            "A4 kid sql",
            rs256(&attacker, r#"{"alg":"RS256","kid":"' OR 1=1--"}"#, &payload),
        ),
        (
            "A4 kid 10 kB",
            rs256(
                &attacker,
                &format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(10_000)),
                &payload,
            ),
        ),
        (
            "A4 kid NUL",
            rs256(&attacker, r#"{"alg":"RS256","kid":"k0\u0000"}"#, &payload),
        ),
        (
            "A4 kid unicode",
            rs256(&attacker, r#"{"alg":"RS256","kid":"k０"}"#, &payload),
        ),
        (
            "A4 attacker key, real kid",
            rs256(&attacker, &header(&k0), &payload),
        ),
        (
            "A4 no kid, two keys",
            rs256(&k0, r#"{"alg":"RS256","typ":"JWT"}"#, &payload),
        ),
        (
            "A4 k1's kid, k0's signature",
            rs256(&k0, &header(&k1), &payload),
        ),
        // A5: key-location headers pointing at the lure or embedding the attacker's key.
        (
            "A5 jku",
            rs256(
                &attacker,
                &format!(r#"{{"alg":"RS256","kid":"k0","jku":"{lure_url}"}}"#),
                &payload,
            ),
        ),
        (
            "A5 x5u",
            rs256(
                &attacker,
                &format!(r#"{{"alg":"RS256","kid":"k0","x5u":"{lure_url}"}}"#),
                &payload,
            ),
        ),
        (
            "A5 jwk",
            rs256(
                &attacker,
                &format!(r#"{{"alg":"RS256","kid":"k0","jwk":{attacker_jwk}}}"#),
                &payload,
            ),
        ),
        (
            "A5 x5c",
            rs256(
                &attacker,
                r#"{"alg":"RS256","kid":"k0","x5c":["MIIB"]}"#,
                &payload,
            ),
        ),
        (
            "A5 jku with the genuine signature",
            rs256(
                &k0,
                &format!(r#"{{"alg":"RS256","kid":"k0","jku":"{lure_url}"}}"#),
                &payload,
            ),
        ),
        // A6: crit, wrong typ.
        (
            "A6 crit",
            rs256(
                &k0,
                r#"{"alg":"RS256","kid":"k0","crit":["exp"]}"#,
                &payload,
            ),
        ),
        (
            "A6 typ at+jwt",
            rs256(
                &k0,
                r#"{"alg":"RS256","kid":"k0","typ":"at+jwt"}"#,
                &payload,
            ),
        ),
        // A7: time claims.
        (
            "A7 expired beyond leeway",
            with(&k0, |c| c["exp"] = json!(now() - 31)),
        ),
        (
            "A7 nbf future",
            with(&k0, |c| c["nbf"] = json!(now() + 120)),
        ),
        (
            "A7 iat future",
            with(&k0, |c| c["iat"] = json!(now() + 3600)),
        ),
        (
            "A7 exp missing",
            with(&k0, |c| {
                c.as_object_mut().expect("object").remove("exp");
            }),
        ),
        ("A7 exp string", with(&k0, |c| c["exp"] = json!("never"))),
        ("A7 nbf string", with(&k0, |c| c["nbf"] = json!("2099"))),
        // A8: issuer and audience.
        (
            "A8 wrong iss",
            with(&k0, |c| c["iss"] = json!("https://evil.example")),
        ),
        (
            "A8 wrong aud",
            with(&k0, |c| c["aud"] = json!("other-client")),
        ),
        (
            "A8 missing aud",
            with(&k0, |c| {
                c.as_object_mut().expect("object").remove("aud");
            }),
        ),
        (
            "A8 aud array with junk",
            with(&k0, |c| c["aud"] = json!([AUD, "junk"])),
        ),
        // A10: malformed base64url.
        (
            "A10 padding",
            format!("{}=.{p64}.{sig}", B64.encode(header(&k0))),
        ),
        (
            "A10 standard alphabet",
            format!(
                "{}.{}.{sig}",
                B64.encode(header(&k0)),
                STANDARD.encode(&payload)
            ),
        ),
        (
            "A10 whitespace",
            format!("{}. {p64}.{sig}", B64.encode(header(&k0))),
        ),
        ("A10 four segments", format!("{genuine}.x")),
        (
            "A10 two segments",
            format!("{}.{p64}", B64.encode(header(&k0))),
        ),
        ("A10 empty segments", "..".into()),
        ("A10 trailing dot", format!("{genuine}.")),
        ("A10 non-canonical signature", {
            let mut s = sig.clone();
            let last = s.pop().expect("char");
            // Flip the unused low bits of the last character.
            let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let i = alphabet.find(last).expect("b64 char");
            s.push(alphabet.as_bytes()[(i ^ 1) % 64] as char);
            format!("{}.{p64}.{s}", B64.encode(header(&k0)))
        }),
        // A11: duplicates.
        (
            "A11 duplicate sub",
            rs256(
                &k0,
                &header(&k0),
                &payload.replacen('{', r#"{"sub":"admin","#, 1),
            ),
        ),
        (
            "A11 duplicate exp",
            rs256(
                &k0,
                &header(&k0),
                &payload.replacen('{', &format!(r#"{{"exp":{},"#, now() + 999_999), 1),
            ),
        ),
        (
            "A11 duplicate alg",
            rs256(&k0, r#"{"alg":"RS256","alg":"none","kid":"k0"}"#, &payload),
        ),
        // A12: nested and JWE.
        (
            "A12 cty JWT",
            rs256(&k0, r#"{"alg":"RS256","kid":"k0","cty":"JWT"}"#, &payload),
        ),
        ("A12 JWE compact", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d".into()),
        // A13: odd numbers.
        (
            "A13 exp 1e400",
            rs256(
                &k0,
                &header(&k0),
                &payload.replacen('{', r#"{"exp":1e400,"#, 1).replacen(
                    &format!(r#","exp":{}"#, claims()["exp"]),
                    "",
                    1,
                ),
            ),
        ),
        (
            "A13 exp 2^64",
            with(&k0, |c| c["exp"] = json!(18_446_744_073_709_551_615u64)),
        ),
        ("A13 exp -1", with(&k0, |c| c["exp"] = json!(-1))),
        ("A13 exp 1.5", with(&k0, |c| c["exp"] = json!(1.5))),
        ("A13 exp 0", with(&k0, |c| c["exp"] = json!(0))),
        ("A13 exp bool", with(&k0, |c| c["exp"] = json!(true))),
        // A14: deep JSON.
        ("A14 deep payload", rs256(&k0, &header(&k0), &deep)),
        (
            "A14 deep header",
            format!("{}.{p64}.{sig}", B64.encode(&deep)),
        ),
    ];
    // A3: algorithms off the allow-list, over the genuine payload and signature.
    for (label, alg) in [
        ("A3 HS512", "HS512"),
        ("A3 PS256", "PS256"),
        ("A3 ES256", "ES256"),
        ("A3 EdDSA", "EdDSA"),
        ("A3 RS512", "RS512"),
    ] {
        let header = B64.encode(format!(r#"{{"alg":"{alg}","kid":"k0"}}"#));
        cases.push((label, format!("{header}.{p64}.{sig}")));
    }
    // A9: oversized tokens (8 kB is the sidecar's cap).
    cases.push((
        "A9 9 kB",
        format!("{}.{}.{sig}", B64.encode(header(&k0)), "A".repeat(9_000)),
    ));
    cases.push((
        "A9 10k claims",
        rs256(&k0, &header(&k0), &{
            let mut c = claims();
            for i in 0..10_000 {
                c[format!("c{i}")] = json!(i);
            }
            c.to_string()
        }),
    ));

    let mut refused = 0;
    for (name, token) in &cases {
        let (status, reason) = check(&client, &addr, token).await;
        assert!(
            status == 401 || status == 431 || status == 400,
            "{name}: {status} {reason}"
        );
        refused += 1;
    }
    // A9: very large heads are refused fast.
    for size in [64 * 1024, 1024 * 1024] {
        let started = Instant::now();
        let status = raw_status(
            &addr,
            &format!(
                "GET /v1/check/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                "A".repeat(size)
            ),
        );
        // `security.md` A9: 431 or 401, fast (0: the connection was closed on the head).
        assert!(
            [431, 400, 401, 0].contains(&status),
            "A9 {size} bytes: {status}"
        );
        println!(
            "A9: a {size}-byte Authorization header answered {status} in {:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "A9 {size}: slow"
        );
    }
    // A16: two Authorization headers are refused; a lowercase scheme is accepted.
    let two = raw_status(
        &addr,
        &format!(
            "GET /v1/check/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {genuine}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            with(&k1, |c| c["sub"] = json!("other"))
        ),
    );
    assert!(two == 400 || two == 401, "A16 two headers: {two}");
    let lower = raw_status(
        &addr,
        &format!(
            "GET /v1/check/orders HTTP/1.1\r\nHost: x\r\nAuthorization: bearer {genuine}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(lower, 200, "A16 lowercase bearer");
    // R8 clock skew as the sidecar sees it: a control plane whose clock is 20 s off (inside
    // the 30 s leeway) mints tokens that are accepted; 31 s or more off, refused (above).
    let ahead = with(&k0, |c| {
        c["iat"] = json!(now() + 20);
        c["nbf"] = json!(now() + 20);
    });
    assert_eq!(
        check(&client, &addr, &ahead).await.0,
        200,
        "R8 issuer 20 s ahead"
    );
    let behind = with(&k0, |c| c["exp"] = json!(now() - 20));
    assert_eq!(
        check(&client, &addr, &behind).await.0,
        200,
        "R8 issuer 20 s behind"
    );
    // The genuine token still works; a k1-signed one too (both keys trusted).
    assert_eq!(check(&client, &addr, &genuine).await.0, 200);
    assert_eq!(check(&client, &addr, &with(&k1, |_| {})).await.0, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        lured.load(Ordering::SeqCst),
        0,
        "A5: the sidecar connected out"
    );
    println!(
        "JWT attack table: {refused} forgeries refused by the running sidecar, 2 oversized heads refused, 0 outbound connections"
    );
}

/// DER `DigestInfo` prefix for SHA-256 (RFC 8017 §9.2 note 1).
const SHA256_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
/// The order of P-256's base point.
const P256_ORDER: &str = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";

/// `00 01 FF…FF 00 t`, `len` bytes: the RSASSA-PKCS1-v1_5 encoded message of `t` (or, with
/// fewer than 8 padding bytes, the short-padding layout Bleichenbacher's 2006 forgery uses).
fn encoded(len: usize, t: &[u8]) -> Vec<u8> {
    let mut em = vec![0x00, 0x01];
    em.resize(len - t.len() - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(t);
    em
}

/// The raw RSA private operation on `em`: a signature over exactly these bytes, whatever they
/// are, left-padded to the modulus length.
fn raw_rsa(k: &Key, em: &[u8]) -> Vec<u8> {
    use rsa::traits::PrivateKeyParts;
    let s = rsa::BigUint::from_bytes_be(em).modpow(k.private.d(), k.private.n());
    left_pad(&s.to_bytes_be(), k.pair.public().modulus_len())
}

fn left_pad(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len.saturating_sub(bytes.len())];
    out.extend_from_slice(bytes);
    out
}

/// `security.md` A15: Wycheproof's invalid-signature classes for RSASSA-PKCS1-v1_5 and ECDSA,
/// re-created over a genuine token's signing input with a key the sidecar trusts. (Wycheproof's
/// own files sign their own messages with their own keys; wrapped in a JWT as they are, every
/// one would fail on the message alone and test nothing.) The RSA cases are raw private-key
/// operations on malformed encodings, so each signature is arithmetically right for its bytes
/// and only a strict padding and `DigestInfo` check refuses it. The genuine token is decided
/// first, so a verification cache keyed on anything less than the whole token would be caught.
#[tokio::test]
async fn wycheproof_class_signatures_are_refused() {
    let k0 = key("k0");
    let (sc, _dir) = sidecar_trusting(&[&k0]);
    let addr = sc.url.trim_start_matches("http://").to_owned();
    let client = crate::support::http_client();

    let genuine = with(&k0, |_| {});
    let (signing, sig64) = genuine.rsplit_once('.').expect("jwt");
    let sig = B64.decode(sig64).expect("base64url");
    let len = sig.len();
    let digest = ring::digest::digest(&ring::digest::SHA256, signing.as_bytes());
    let info = [&SHA256_INFO[..], digest.as_ref()].concat();
    // The harness's own check: a correct encoding through the raw operation is the very
    // signature ring made (PKCS #1 v1.5 is deterministic), and it is accepted.
    assert_eq!(
        raw_rsa(&k0, &encoded(len, &info)),
        sig,
        "raw RSA matches ring"
    );
    assert_eq!(check(&client, &addr, &genuine).await.0, 200, "genuine");

    let n = k0.private.n();
    let flip = |at: usize| {
        let mut s = sig.clone();
        s[at] ^= 0x01;
        s
    };
    let with_info = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut t = info.clone();
        f(&mut t);
        raw_rsa(&k0, &encoded(len, &t))
    };
    let with_em = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut em = encoded(len, &info);
        f(&mut em);
        raw_rsa(&k0, &em)
    };
    let other_digest =
        ring::digest::digest(&ring::digest::SHA256, format!("{signing}x").as_bytes());
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, signing.as_bytes());
    let one = rsa::BigUint::from(1u8);
    let rsa_cases: Vec<(&str, Vec<u8>)> = vec![
        // The encoded message.
        ("block type 02", with_em(&|em| em[1] = 0x02)),
        ("block type 00", with_em(&|em| em[1] = 0x00)),
        ("first byte 01", with_em(&|em| em[0] = 0x01)),
        (
            "a zero byte inside the padding",
            with_em(&|em| em[5] = 0x00),
        ),
        ("padding byte FE", with_em(&|em| em[10] = 0xfe)),
        (
            "no zero separator",
            with_em(&|em| {
                let at = em.len() - info.len() - 1;
                em[at] = 0xff;
            }),
        ),
        (
            "Bleichenbacher 2006: short padding, garbage after the DigestInfo",
            {
                let mut em = vec![
                    0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
                ];
                em.extend_from_slice(&info);
                em.resize(len, 0x5a);
                raw_rsa(&k0, &em)
            },
        ),
        (
            "the bare digest, no DigestInfo",
            raw_rsa(&k0, &encoded(len, digest.as_ref())),
        ),
        // The DigestInfo.
        (
            "DigestInfo without the NULL parameters",
            with_info(&|t| {
                t.drain(15..17);
                t[1] = 0x2f;
                t[3] = 0x0b;
            }),
        ),
        (
            "DigestInfo with a long-form length",
            with_info(&|t| {
                t[1] = 0x31;
                t.insert(1, 0x81);
            }),
        ),
        (
            "DigestInfo naming SHA-512 over a SHA-256 digest",
            with_info(&|t| t[14] = 0x03),
        ),
        ("DigestInfo with a foreign OID", with_info(&|t| t[6] = 0x2a)),
        (
            "DigestInfo parameters not NULL",
            with_info(&|t| t[15] = 0x04),
        ),
        (
            "DigestInfo with trailing garbage",
            with_info(&|t| {
                t[1] += 2;
                t.extend_from_slice(&[0x00, 0x00]);
            }),
        ),
        (
            "DigestInfo digest one byte short",
            with_info(&|t| {
                t[1] -= 1;
                t[18] -= 1;
                t.pop();
            }),
        ),
        ("SHA-1 DigestInfo", {
            let mut t = vec![
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ];
            t.extend_from_slice(sha1.as_ref());
            raw_rsa(&k0, &encoded(len, &t))
        }),
        (
            "the digest of another message",
            with_info(&|t| {
                t.truncate(19);
                t.extend_from_slice(other_digest.as_ref());
            }),
        ),
        // The signature as a number.
        ("signature 0", vec![0; len]),
        ("signature 1", left_pad(&[1], len)),
        ("signature n-1", left_pad(&(n - &one).to_bytes_be(), len)),
        ("signature n", left_pad(&n.to_bytes_be(), len)),
        ("signature n+1", left_pad(&(n + &one).to_bytes_be(), len)),
        ("signature all FF", vec![0xff; len]),
        (
            "signature + n",
            (rsa::BigUint::from_bytes_be(&sig) + n).to_bytes_be(),
        ),
        // The signature's length.
        ("a leading zero byte", [&[0][..], &sig].concat()),
        ("a trailing zero byte", [&sig[..], &[0]].concat()),
        ("first byte dropped", sig[1..].to_vec()),
        ("last byte dropped", sig[..len - 1].to_vec()),
        ("the signature twice", [&sig[..], &sig].concat()),
        ("one byte", vec![0x01]),
        // Bit flips.
        ("first bit flipped", flip(0)),
        ("a middle bit flipped", flip(len / 2)),
        ("last bit flipped", flip(len - 1)),
    ];
    let rsa_count = rsa_cases.len();

    // ECDSA (ES256 is off the allow-list, and the snapshot holds no EC key): r = s = 0, r = s = n,
    // high-S, DER instead of the fixed r‖s form, wrong lengths — over an ES256 header naming the
    // RSA key's kid (key confusion) and a genuine P-256 signature of that signing input.
    let rng = ring::rand::SystemRandom::new();
    let ec = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .expect("p-256 key");
    let fixed = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        ec.as_ref(),
        &rng,
    )
    .expect("fixed");
    let asn1 = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        ec.as_ref(),
        &rng,
    )
    .expect("asn1");
    let payload64 = signing.split_once('.').expect("jwt").1;
    let es_signing = format!(
        "{}.{payload64}",
        B64.encode(r#"{"alg":"ES256","typ":"JWT","kid":"k0"}"#)
    );
    let es = fixed
        .sign(&rng, es_signing.as_bytes())
        .expect("sign")
        .as_ref()
        .to_vec();
    let order = rsa::BigUint::parse_bytes(P256_ORDER.as_bytes(), 16).expect("order");
    let high_s = [
        &es[..32],
        &left_pad(
            &(&order - rsa::BigUint::from_bytes_be(&es[32..])).to_bytes_be(),
            32,
        )[..],
    ]
    .concat();
    let order32 = left_pad(&order.to_bytes_be(), 32);
    let ec_cases: Vec<(&str, Vec<u8>)> = vec![
        ("ES256 genuine P-256 signature, RSA kid", es.clone()),
        ("ES256 r = s = 0", vec![0; 64]),
        ("ES256 r = s = n", [&order32[..], &order32].concat()),
        ("ES256 high-S", high_s),
        (
            "ES256 DER-encoded",
            asn1.sign(&rng, es_signing.as_bytes())
                .expect("sign")
                .as_ref()
                .to_vec(),
        ),
        ("ES256 63 bytes", es[..63].to_vec()),
        ("ES256 65 bytes", [&es[..], &[0]].concat()),
    ];

    let mut refused = 0;
    for (name, bad) in rsa_cases {
        let token = format!("{signing}.{}", B64.encode(&bad));
        let (status, reason) = check(&client, &addr, &token).await;
        assert_eq!(status, 401, "A15 RS256 {name}: {status} {reason}");
        refused += 1;
    }
    for (name, bad) in ec_cases {
        let token = format!("{es_signing}.{}", B64.encode(&bad));
        let (status, reason) = check(&client, &addr, &token).await;
        assert_eq!(status, 401, "A15 {name}: {status} {reason}");
        refused += 1;
    }
    // Nothing above disturbed the genuine token's standing.
    assert_eq!(
        check(&client, &addr, &genuine).await.0,
        200,
        "genuine after"
    );
    println!(
        "A15: {refused} Wycheproof-class signatures refused ({rsa_count} RS256, {} ES256); the genuine token allowed before and after",
        refused - rsa_count
    );
}
