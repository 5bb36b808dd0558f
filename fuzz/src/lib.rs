//! The bodies of Tessera's fuzz targets, shared by `cargo fuzz` (`fuzz/fuzz_targets/`, nightly,
//! libFuzzer) and the stable corpus replay that `cargo test` runs in CI
//! (`tests/fuzz_corpus.rs` includes this file). Each target takes arbitrary bytes and panics
//! only when a property is broken — a panic inside Tessera's code, or an oracle below:
//!
//! - [`token`]: the sidecar's whole decision (token parsing, signature, claims, revocations,
//!   restrictions, routes). An allowed request must carry a token whose signature an
//!   independent check accepts, for the right issuer and audience, unexpired, not revoked,
//!   from an address the environment does not block, with the route's permission.
//! - [`push`]: push-frame decoding and application. A refused message leaves the state as it
//!   was; an applied one never moves the version back within an epoch.
//! - [`net`]: CIDR, domain, email and forwarded-address parsing. Parsing is idempotent (what
//!   comes out parses to itself) and addresses come out canonical.
//! - [`body`]: JSON bodies of the control plane's public and management routes, over HTTP to a
//!   real in-memory control plane. Never a 5xx.

use std::net::IpAddr;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{self, KeyPair, RsaKeyPair};
use serde_json::Value;
use shared::wire::{self, PushMessage};
use sidecar::decide::TokenSource;
use sidecar::state::{Facts, Sidecar};

/// The time every decision is made at (fixed, so a replayed input decides the same way).
pub const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://issuer.fuzz";
const AUDIENCE: &str = "fuzz-app";
const KID: &str = "fuzz";
const LEEWAY: i64 = 30;
const MAC: &[u8] = b"fuzz-mac-key-0123456789abcdef012";
/// A test-only RSA key (PKCS#8 DER) so committed corpus tokens carry valid signatures.
static KEY_DER: &[u8] = include_bytes!("fuzz-key.pk8");

const ROUTES: &str = r#"
default = "authenticated"

[[route]]
path = "/health"
public = true

[[route]]
path = "/admin/**"
permissions = ["admin.write"]
"#;

fn key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::from_pkcs8(KEY_DER).expect("the fixture key parses"))
}

fn public_key() -> wire::PublicKey {
    let p = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key().public());
    wire::PublicKey {
        kid: KID.into(),
        alg: "RS256".into(),
        n: B64.encode(p.n),
        e: B64.encode(p.e),
        state: wire::KeyState::Active,
    }
}

/// `header.payload.signature` with the fixture key over arbitrary header and payload bytes.
pub fn sign(header: &[u8], payload: &[u8]) -> String {
    let signing = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let mut sig = vec![0; key().public().modulus_len()];
    key()
        .sign(
            &signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing.as_bytes(),
            &mut sig,
        )
        .expect("signing");
    format!("{signing}.{}", B64.encode(sig))
}

fn snapshot(version: u64, epoch: &str) -> wire::Snapshot {
    let revoke = |kind, id: &str| wire::Revocation {
        kind,
        id: id.into(),
        tenant_id: None,
        not_before: NOW,
        expires_at: NOW + 86_400,
    };
    wire::Snapshot {
        protocol: wire::PROTOCOL,
        version,
        epoch: epoch.into(),
        issued_at: NOW,
        keys: vec![public_key()],
        policy: wire::Policy {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            access_token_ttl: 3600,
        },
        revocations: vec![
            revoke(wire::RevocationKind::Session, "revoked-sid"),
            revoke(wire::RevocationKind::User, "revoked-user"),
        ],
        restrictions: vec![wire::ScopeRestrictions {
            tenant_id: None,
            ip: Some(wire::IpPolicy {
                strategy: wire::ListType::Block,
                cidrs: vec!["10.0.0.0/8".into()],
            }),
            domains: Some(wire::DomainPolicy {
                list_type: wire::ListType::Block,
                block_public: false,
                domains: vec!["blocked.example".into()],
            }),
        }],
        access_tokens: vec![wire::AccessTokenRecord {
            id: "access-1".into(),
            tenant_id: "t1".into(),
            user_id: None,
            roles: vec!["Reader".into()],
            permissions: vec!["app.read".into()],
            expires_at: None,
            email: None,
        }],
    }
}

fn new_sidecar() -> Sidecar {
    let config = sidecar::Config::from_args(sidecar::config::Args::default()).expect("config");
    let routes = sidecar::routes::Routes::parse(ROUTES).expect("routes");
    let sc = Sidecar::new(config, "fuzz".into(), routes).expect("sidecar");
    sidecar::sync::apply(&sc, PushMessage::Snapshot(snapshot(5, "e1"))).expect("applies");
    sc
}

fn claims_of(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let header = serde_json::from_slice(&B64.decode(parts.next()?).ok()?).ok()?;
    let claims = serde_json::from_slice(&B64.decode(parts.next()?).ok()?).ok()?;
    Some((header, claims))
}

fn signature_is_genuine(token: &str) -> bool {
    let Some((signed, sig)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(sig) = B64.decode(sig) else {
        return false;
    };
    signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        key().public_key().as_ref(),
    )
    .verify(signed.as_bytes(), &sig)
    .is_ok()
}

/// The sidecar's decision. Byte 0 picks the method, path, client address and how the token
/// arrives; the rest is either the raw token or (odd modes) a payload — or `header NUL
/// payload` — that is signed with the fixture key first, so claim handling past the
/// signature is reached. Returns whether the request was allowed.
pub fn token(data: &[u8]) -> bool {
    static SIDECAR: OnceLock<Sidecar> = OnceLock::new();
    let sc = SIDECAR.get_or_init(new_sidecar);
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let token = if mode & 1 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        match rest.iter().position(|&b| b == 0) {
            Some(i) => sign(&rest[..i], &rest[i + 1..]),
            None => sign(br#"{"alg":"RS256","typ":"JWT","kid":"fuzz"}"#, rest),
        }
    };
    let paths = ["/orders/1", "/admin/users", "/health", "/"];
    let ips: [IpAddr; 4] = [
        [127, 0, 0, 1].into(),
        [10, 1, 2, 3].into(),
        "::ffff:10.0.0.1".parse().expect("ip"),
        "2001:db8::1".parse().expect("ip"),
    ];
    let path = paths[usize::from(mode >> 2) % 4];
    let client_ip = ips[usize::from(mode >> 4) % 4];
    let source = if mode & 2 == 0 {
        TokenSource::Bearer(&token)
    } else {
        TokenSource::ApiKey(&token)
    };
    let facts = Facts {
        method: if mode >> 6 == 0 { "GET" } else { "POST" },
        path,
        token: source,
        client_ip,
    };
    if sc.decide(&facts, NOW).is_err() {
        return false;
    }
    assert!(
        !matches!(client_ip, IpAddr::V4(v4) if v4.octets()[0] == 10) && client_ip != ips[2],
        "allowed from an address the environment blocks: {client_ip}"
    );
    if path == "/health" {
        return true;
    }
    assert!(
        signature_is_genuine(&token),
        "allowed a token without a genuine signature: {token:?}"
    );
    let (header, c) = claims_of(&token).expect("an allowed token decodes");
    assert_eq!(header["alg"], "RS256", "{token}");
    assert_eq!(c["iss"], ISSUER, "allowed another issuer: {c}");
    assert_eq!(c["aud"], AUDIENCE, "allowed another audience: {c}");
    if let Some(exp) = c["exp"].as_i64() {
        assert!(exp + LEEWAY >= NOW, "allowed an expired token: {c}");
    }
    assert_ne!(c["sid"], "revoked-sid", "allowed a revoked session: {c}");
    // A user revocation voids what was issued up to its `notBefore` (NOW).
    let user = if c["userId"].is_string() {
        &c["userId"]
    } else {
        &c["sub"]
    };
    if c["iat"].as_i64().is_some_and(|iat| iat <= NOW) {
        assert_ne!(user, "revoked-user", "allowed a revoked user: {c}");
    }
    if path.starts_with("/admin/") {
        let held = c["permissions"].as_array().cloned().unwrap_or_default();
        assert!(
            held.iter().any(|p| p == "admin.write"),
            "allowed /admin without admin.write: {c}"
        );
    }
    true
}

/// The observable state of a sidecar: version, epoch, key ids, revocations.
fn observe(sc: &Sidecar) -> (u64, String, Vec<String>, usize) {
    let cur = sc.snapshot().expect("a snapshot is held");
    let mut kids: Vec<String> = cur.keys.keys().cloned().collect();
    kids.sort();
    (cur.version, cur.epoch.clone(), kids, sc.revocations.len())
}

/// A push frame at a sidecar holding version 5 of epoch `e1`. Even byte 0: the rest is the
/// frame as received (MAC and all); odd: the rest is the message JSON and the target adds a
/// valid MAC, so decoding and validation past authentication are reached. Returns whether
/// the frame decoded and, if so, whether the sidecar applied it.
pub fn push(data: &[u8]) -> Option<bool> {
    let (&mode, rest) = data.split_first()?;
    let frame = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let tag = ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, MAC), rest);
        let mut f: Vec<u8> = tag
            .as_ref()
            .iter()
            .flat_map(|b| format!("{b:02x}").into_bytes())
            .collect();
        f.push(b' ');
        f.extend_from_slice(rest);
        f
    };
    let msg = wire::decode(MAC, &frame).ok()?;
    let sc = new_sidecar();
    let before = observe(&sc);
    match sidecar::sync::apply(&sc, msg) {
        Err(_) => {
            assert_eq!(observe(&sc), before, "a refused message changed the state");
            Some(false)
        }
        Ok(_) => {
            let after = observe(&sc);
            if after.1 == before.1 {
                assert!(after.0 >= before.0, "rolled back {before:?} to {after:?}");
            }
            Some(true)
        }
    }
}

/// Address, CIDR, domain and email parsing.
pub fn net(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = shared::net::parse_cidr(s) {
        let text = c.to_string();
        assert_eq!(shared::net::parse_cidr(&text), Ok(c), "{s:?} → {text:?}");
        assert!(
            c.contains(c.addr),
            "{text} does not contain its own address"
        );
    }
    if let Ok(d) = shared::net::normalize_domain(s) {
        assert_eq!(shared::net::normalize_domain(&d), Ok(d.clone()), "{s:?}");
        assert!(
            d.is_ascii() && !d.bytes().any(|b| b.is_ascii_uppercase()),
            "{d:?}"
        );
    }
    if let Ok(r) = shared::net::normalize_domain_rule(s) {
        assert_eq!(
            shared::net::normalize_domain_rule(&r),
            Ok(r.clone()),
            "{s:?}"
        );
    }
    if let Ok(e) = control_plane::model::email::normalize(s) {
        assert_eq!(control_plane::model::email::normalize(&e), Ok(e.clone()));
        let (_, domain) = s
            .trim()
            .rsplit_once('@')
            .expect("a normalised address had an @");
        let norm_domain = shared::net::email_domain(&e).expect("a domain");
        assert_eq!(
            shared::net::normalize_domain(domain).as_deref(),
            Ok(norm_domain),
            "{s:?}: the address's domain and the domain rule's differ"
        );
    }
    if let Some(d) = shared::net::email_domain(s) {
        assert!(!d.is_empty() && s.ends_with(d));
    }
    // Forwarded headers: an untrusted peer is the client, whatever the headers say; a trusted
    // one yields a canonical address.
    let lines: Vec<&str> = s.lines().collect();
    let trusted = [shared::net::parse_cidr("127.0.0.0/8").expect("cidr")];
    let stranger: IpAddr = [192, 0, 2, 7].into();
    for header in [
        shared::net::ForwardedHeader::XForwardedFor,
        shared::net::ForwardedHeader::Forwarded,
    ] {
        assert_eq!(
            shared::net::client_ip(stranger, &trusted, header, &lines),
            stranger
        );
        let ip = shared::net::client_ip([127, 0, 0, 1].into(), &trusted, header, &lines);
        assert_eq!(shared::net::canonical(ip), ip);
    }
}

struct ControlPlane {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    base: String,
    vendor_token: String,
    _running: control_plane::Running,
}

fn control_plane() -> &'static ControlPlane {
    static CP: OnceLock<ControlPlane> = OnceLock::new();
    CP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (running, vendor_token, client) = rt.block_on(async {
            let running = control_plane::start(
                control_plane::config::Config::for_test(),
                control_plane::model::clock::Clock::system(),
            )
            .await
            .expect("control plane starts");
            let client = reqwest::Client::new();
            let secret = running.credentials.api_key.clone().expect("api key");
            let res: Value = client
                .post(format!("{}/auth/vendor", running.url()))
                .json(&serde_json::json!({"clientId": running.client_id, "secret": secret}))
                .send()
                .await
                .expect("answered")
                .json()
                .await
                .expect("json");
            let token = res["token"].as_str().expect("token").to_owned();
            (running, token, client)
        });
        ControlPlane {
            rt,
            client,
            base: running.url(),
            vendor_token,
            _running: running,
        }
    })
}

/// Routes whose JSON bodies are fuzzed: (method, path, with the environment token).
pub const BODY_ROUTES: &[(&str, &str, bool)] = &[
    ("POST", "/identity/resources/auth/v1/user", false),
    ("POST", "/identity/resources/users/v1/signUp", false),
    (
        "POST",
        "/identity/resources/auth/v1/user/token/refresh",
        false,
    ),
    (
        "POST",
        "/identity/resources/users/v1/passwords/reset",
        false,
    ),
    (
        "POST",
        "/identity/resources/users/v1/passwords/reset/verify",
        false,
    ),
    (
        "POST",
        "/identity/resources/users/v1/signUp/username",
        false,
    ),
    (
        "POST",
        "/identity/resources/users/v2/passwords/reset/email",
        false,
    ),
    ("POST", "/identity/resources/users/v1/activate", false),
    ("POST", "/identity/resources/auth/v2/api-token", false),
    ("POST", "/identity/resources/users/v2", true),
    ("POST", "/identity/resources/users/v1", true),
    ("POST", "/tenants/resources/tenants/v1", true),
    ("POST", "/identity/resources/roles/v2", true),
    (
        "POST",
        "/identity/resources/configurations/v1/restrictions/ip",
        true,
    ),
    (
        "POST",
        "/identity/resources/configurations/restrictions/v1/email-domain/replace-bulk",
        true,
    ),
    (
        "POST",
        "/identity/resources/configurations/v1/lockout-policy",
        true,
    ),
    ("POST", "/identity/resources/permissions/v1", true),
    ("POST", "/identity/resources/configurations/v1", true),
    (
        "POST",
        "/identity/resources/auth/v1/passwordless/magiclink/prelogin",
        false,
    ),
    (
        "POST",
        "/identity/resources/auth/v1/passwordless/code/postlogin",
        false,
    ),
    (
        "POST",
        "/identity/resources/tenants/invites/v1/verify",
        false,
    ),
    (
        "POST",
        "/identity/resources/users/v1/invitation/accept/code",
        false,
    ),
    ("POST", "/identity/resources/tenants/invites/v1", true),
    (
        "POST",
        "/identity/resources/configurations/v1/invitation/strategies",
        true,
    ),
];

/// A JSON body to one of [`BODY_ROUTES`] (byte 0 picks it) at a real control plane.
/// Returns the status.
pub fn body(data: &[u8]) -> u16 {
    let Some((&pick, rest)) = data.split_first() else {
        return 0;
    };
    let (method, path, env) = BODY_ROUTES[usize::from(pick) % BODY_ROUTES.len()];
    let cp = control_plane();
    let mut req = cp
        .client
        .request(
            method.parse().expect("method"),
            format!("{}{path}", cp.base),
        )
        .header("content-type", "application/json")
        .body(rest.to_vec());
    if env {
        req = req.bearer_auth(&cp.vendor_token);
    }
    let (status, text) = cp.rt.block_on(async {
        let res = req.send().await.expect("the control plane answers");
        let status = res.status();
        (status, res.text().await.unwrap_or_default())
    });
    assert!(
        status.as_u16() < 500,
        "{method} {path} answered {status}: {text}\nbody: {:?}",
        String::from_utf8_lossy(rest)
    );
    status.as_u16()
}

/// Hand-made starting inputs per target (`tests/fuzz_corpus.rs` replays them and, with
/// `TESSERA_WRITE_FUZZ_SEEDS=1`, writes them into `fuzz/corpus/<target>/`).
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let with = |mode: u8, text: &str| {
        let mut v = vec![mode];
        v.extend_from_slice(text.as_bytes());
        v
    };
    let user = |extra: &str| {
        format!(
            r#"{{"sub":"u1","type":"userToken","tenantId":"t1","tenantIds":["t1"],"roles":["Admin"],"permissions":["app.read"{extra}],"applicationId":"{AUDIENCE}","iss":"{ISSUER}","aud":"{AUDIENCE}","iat":{},"exp":{},"sid":"s1","email":"a@example.com"}}"#,
            NOW - 10,
            NOW + 600
        )
    };
    let mut out = vec![
        // Signed by the target: allowed, admin route, blocked address, API key, header games.
        ("token", with(0x01, &user(""))),
        ("token", with(0x05, &user(r#","admin.write""#))),
        ("token", with(0x11, &user(""))),
        ("token", with(0x09, &user(""))),
        (
            "token",
            with(0x01, &user("").replace("\"s1\"", "\"revoked-sid\"")),
        ),
        (
            "token",
            with(0x01, &user("").replace(&(NOW + 600).to_string(), "1")),
        ),
        ("token", with(0x01, &user("").replace(AUDIENCE, "other"))),
        (
            "token",
            with(0x01, &user("").replace("\"u1\"", "\"revoked-user\"")),
        ),
        (
            "token",
            with(
                0x03,
                &format!(
                    r#"{{"sub":"access-1","type":"tenantAccessToken","tenantId":"t1","applicationId":"{AUDIENCE}","iss":"{ISSUER}","aud":"{AUDIENCE}","iat":{NOW}}}"#
                ),
            ),
        ),
        (
            "token",
            with(
                0x01,
                &format!(
                    "{{\"alg\":\"RS256\",\"kid\":\"fuzz\",\"jku\":\"http://x\"}}\0{}",
                    user("")
                ),
            ),
        ),
        // Raw tokens: alg none, HS256, garbage, a genuine one.
        ("token", with(0x00, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")),
        (
            "token",
            with(0x00, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
        ),
        ("token", with(0x00, "a.b.c.d")),
        (
            "token",
            with(
                0x04,
                &sign(br#"{"alg":"RS256","kid":"fuzz"}"#, user("").as_bytes()),
            ),
        ),
        // Networks and names.
        ("net", b"10.0.0.0/8".to_vec()),
        ("net", b"2001:db8::/32".to_vec()),
        ("net", b"::ffff:127.0.0.1".to_vec()),
        ("net", b"010.0.0.1/8".to_vec()),
        ("net", "Alice@Ex\u{e4}mple.COM.".as_bytes().to_vec()),
        ("net", "*.xn--exmple-cua.com".as_bytes().to_vec()),
        (
            "net",
            b"1.2.3.4, 127.0.0.5\nfor=\"[2001:db8::1]:80\"".to_vec(),
        ),
        ("net", "a@\u{FF45}xample.com".as_bytes().to_vec()),
        // Bodies: one per route, valid-looking.
        (
            "body",
            with(0, r#"{"email":"a@example.com","password":"Secret-123"}"#),
        ),
        (
            "body",
            with(
                1,
                r#"{"email":"b@example.com","password":"Secret-123","companyName":"B"}"#,
            ),
        ),
        ("body", with(2, r#"{}"#)),
        ("body", with(3, r#"{"email":"a@example.com"}"#)),
        (
            "body",
            with(4, r#"{"userId":"x","token":"y","password":"Secret-123"}"#),
        ),
        (
            "body",
            with(
                9,
                r#"{"email":"c@example.com","name":"C","tenantId":"t1","roleIds":[]}"#,
            ),
        ),
        ("body", with(11, r#"{"tenantId":"t9","name":"T9"}"#)),
        (
            "body",
            with(
                13,
                r#"{"ip":"10.0.0.0/8","strategy":"BLOCK","isActive":true}"#,
            ),
        ),
        (
            "body",
            with(14, r#"{"type":"ALLOW","domains":["example.com"]}"#),
        ),
        ("body", with(15, r#"{"enabled":true,"maxAttempts":5}"#)),
        (
            "body",
            with(18, r#"{"email":"a@example.com","username":""}"#),
        ),
        (
            "body",
            with(19, r#"{"token":"123456","email":"a@example.com"}"#),
        ),
        ("body", with(20, r#"{"token":"nope"}"#)),
        (
            "body",
            with(21, r#"{"userId":"u","token":"t","code":"123456"}"#),
        ),
        (
            "body",
            with(
                22,
                r#"{"tenantId":"t9","expiresInMinutes":1.5,"roleIds":["x"]}"#,
            ),
        ),
        (
            "body",
            with(23, r#"{"strategy":"code","codeExpiration":59}"#),
        ),
        (
            "body",
            with(
                5,
                r#"{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
            ),
        ),
    ];
    // Push: later, older and foreign messages as JSON (the target MACs them), and one frame.
    for msg in [
        PushMessage::Snapshot(snapshot(6, "e1")),
        PushMessage::Snapshot(snapshot(3, "e1")),
        PushMessage::Snapshot(snapshot(1, "e2")),
        PushMessage::Delta(wire::Delta {
            protocol: wire::PROTOCOL,
            base: 5,
            version: 6,
            issued_at: NOW,
            keys: None,
            policy: None,
            revocations: vec![],
            restrictions: vec![],
            access_tokens: None,
        }),
        PushMessage::Heartbeat {
            protocol: wire::PROTOCOL,
            version: 5,
            now: NOW,
        },
    ] {
        let mut json = serde_json::to_vec(&msg).expect("serialises");
        json.insert(0, 1);
        out.push(("push", json));
    }
    let mut frame = wire::encode(MAC, &PushMessage::Snapshot(snapshot(7, "e1")));
    frame.pop();
    frame.insert(0, 0);
    out.push(("push", frame));
    out.extend(webauthn_seeds());
    out
}

// ---- webauthn: the relying-party checks on what a browser (or an attacker) posts ----

const WA_RP: &str = "login.fuzz";
const WA_ORIGIN: &str = "https://login.fuzz";
const WA_CHALLENGE: [u8; 32] = [7; 32];
const WA_CRED: [u8; 16] = [9; 16];

fn wa_key() -> signature::Ed25519KeyPair {
    signature::Ed25519KeyPair::from_seed_unchecked(&[1; 32]).expect("seed")
}

fn wa_public() -> control_plane::model::mfa::webauthn::PublicKey {
    control_plane::model::mfa::webauthn::PublicKey::EdDsa(B64.encode(wa_key().public_key()))
}

/// A registration (mode byte even) or an assertion of the fixed Ed25519 credential (odd), as
/// the credential JSON the login box posts, through the control plane's verifier: never a
/// panic; an accepted assertion is one the fixed key signed. Whether it was accepted.
pub fn webauthn(data: &[u8]) -> bool {
    use control_plane::model::mfa::webauthn as wa;
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let Ok(credential) = serde_json::from_slice::<Value>(rest) else {
        return false;
    };
    let origin_ok = |o: &str| o == WA_ORIGIN;
    let exp = wa::Expected {
        challenge: &WA_CHALLENGE,
        rp_id: WA_RP,
        origin_ok: &origin_ok,
    };
    if mode % 2 == 0 {
        wa::verify_registration(&credential, &exp).is_ok()
    } else {
        let id = B64.encode(WA_CRED);
        let out = wa::verify_assertion(&credential, &exp, &id, &wa_public(), 0, b"user-1");
        if let Ok(n) = out {
            assert!(n > 0, "an accepted assertion moved the counter");
        }
        out.is_ok()
    }
}

fn cbor_head(major: u8, n: usize, out: &mut Vec<u8>) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else {
        out.extend([m | 24, n as u8]);
    }
}

fn webauthn_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let sha = |b: &[u8]| {
        ring::digest::digest(&ring::digest::SHA256, b)
            .as_ref()
            .to_vec()
    };
    let client_data = |kind: &str| {
        format!(
            r#"{{"type":"{kind}","challenge":"{}","origin":"{WA_ORIGIN}","crossOrigin":false}}"#,
            B64.encode(WA_CHALLENGE)
        )
        .into_bytes()
    };
    // COSE OKP Ed25519: {1: 1, 3: -8, -1: 6, -2: x}.
    let mut cose = Vec::new();
    cbor_head(5, 4, &mut cose);
    cose.extend([0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21]);
    cbor_head(2, 32, &mut cose);
    cose.extend(wa_key().public_key().as_ref());
    let mut auth = sha(WA_RP.as_bytes());
    auth.push(0x41);
    auth.extend(0u32.to_be_bytes());
    auth.extend([0u8; 16]);
    auth.extend((WA_CRED.len() as u16).to_be_bytes());
    auth.extend(WA_CRED);
    auth.extend(&cose);
    let mut att = Vec::new();
    cbor_head(5, 3, &mut att);
    for (k, v) in [
        ("fmt", None),
        ("attStmt", Some(Vec::new())),
        ("authData", Some(auth)),
    ] {
        cbor_head(3, k.len(), &mut att);
        att.extend(k.as_bytes());
        match (k, v) {
            ("fmt", _) => {
                cbor_head(3, 4, &mut att);
                att.extend(b"none");
            }
            ("attStmt", _) => cbor_head(5, 0, &mut att),
            (_, Some(a)) => {
                att.push(0x58);
                att.push(a.len() as u8);
                att.extend(a);
            }
            _ => {}
        }
    }
    let id = B64.encode(WA_CRED);
    let reg = serde_json::json!({"id": id, "rawId": id, "type": "public-key",
        "response": {"clientDataJSON": B64.encode(client_data("webauthn.create")), "attestationObject": B64.encode(&att)}});
    let mut ad = sha(WA_RP.as_bytes());
    ad.push(0x01);
    ad.extend(1u32.to_be_bytes());
    let cdj = client_data("webauthn.get");
    let mut msg = ad.clone();
    msg.extend(sha(&cdj));
    let sig = wa_key().sign(&msg);
    let assertion = serde_json::json!({"id": id, "rawId": id, "type": "public-key",
        "response": {"clientDataJSON": B64.encode(&cdj), "authenticatorData": B64.encode(&ad),
                     "signature": B64.encode(sig.as_ref()), "userHandle": null}});
    let with = |mode: u8, v: &Value| {
        let mut out = vec![mode];
        out.extend(serde_json::to_vec(v).expect("serialises"));
        out
    };
    vec![
        ("webauthn", with(0, &reg)),
        ("webauthn", with(1, &assertion)),
    ]
}
