//! Tokens minted by the harness with its own RS256 key, and the pushed state (snapshot) a
//! sidecar under test decides from.

use std::path::Path;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use shared::wire::{
    self, AccessTokenRecord, DomainPolicy, IpPolicy, KeyState, ListType, Policy, PublicKey,
    Revocation, RevocationKind, ScopeRestrictions,
};

/// The issuer and audience every minted token carries and every snapshot expects.
pub const ISSUER: &str = "http://issuer";
/// See [`ISSUER`].
pub const AUDIENCE: &str = "aud";

/// An RS256 key pair.
pub struct Signer {
    pair: RsaKeyPair,
    /// Its public half as pushed to sidecars.
    pub public: PublicKey,
    /// The public half as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), for the peers.
    pub public_pem: String,
}

impl Signer {
    /// A fresh 2048-bit key.
    pub fn new() -> Self {
        let mut rng = rsa::rand_core::OsRng;
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("key generation");
        let der = private.to_pkcs8_der().expect("pkcs8");
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pem");
        Signer {
            public_pem,
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

    /// A signed JWT with these claims.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let header = B64.encode(r#"{"alg":"RS256","typ":"JWT","kid":"bench"}"#);
        let signing = format!("{header}.{}", B64.encode(claims.to_string()));
        let mut sig = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing.as_bytes(),
                &mut sig,
            )
            .expect("sign");
        format!("{signing}.{}", B64.encode(sig))
    }

    /// A user token for user `i` (its own session), valid for an hour.
    pub fn user_token(&self, i: usize, now: i64) -> String {
        self.sign(&serde_json::json!({
            "sub": format!("user-{i}"), "type": "userToken", "tenantId": "t1", "tenantIds": ["t1"],
            "roles": ["Admin"], "permissions": ["app.read", "app.write"],
            "applicationId": AUDIENCE, "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "exp": now + 3600, "sid": format!("session-{i}"),
            "userId": format!("user-{i}"), "email": "bench@example.com"
        }))
    }

    /// `n` distinct user tokens, signed on every core.
    pub fn user_tokens(&self, n: usize, now: i64) -> Vec<String> {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let chunk = n.div_ceil(threads);
        std::thread::scope(|s| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        (t * chunk..((t + 1) * chunk).min(n))
                            .map(|i| self.user_token(i, now))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().expect("minting thread"))
                .collect()
        })
    }

    /// An access token (`x-api-key`) with id `access-<i>`: no expiry, rights in the pushed
    /// record.
    pub fn access_token(&self, i: usize, now: i64) -> String {
        self.sign(&serde_json::json!({
            "sub": format!("access-{i}"), "type": "tenantAccessToken", "tenantId": "t1",
            "applicationId": AUDIENCE, "iss": ISSUER, "aud": AUDIENCE, "iat": now
        }))
    }

    /// Raw RS256 verifications per second on the calling thread, over `tokens`, for about
    /// `secs`: with aws-lc-rs on a key parsed once (what the sidecar does), or, with `ring`,
    /// ring's verification from the key's components (ring has no pre-parsed RSA key).
    pub fn raw_verify_rate(&self, tokens: &[String], secs: f64, ring: bool) -> f64 {
        let (n, e) = (
            B64.decode(&self.public.n).expect("n"),
            B64.decode(&self.public.e).expect("e"),
        );
        let ring_key = ring::signature::RsaPublicKeyComponents {
            n: n.clone(),
            e: e.clone(),
        };
        let parsed = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e }
            .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
            .expect("key");
        let verify = |msg: &[u8], sig: &[u8]| {
            if ring {
                ring_key
                    .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                    .is_ok()
            } else {
                parsed.verify_sig(msg, sig).is_ok()
            }
        };
        let signed: Vec<(Vec<u8>, Vec<u8>)> = tokens
            .iter()
            .take(256)
            .map(|t| {
                let (signing, sig) = t.rsplit_once('.').expect("jwt");
                (signing.as_bytes().to_vec(), B64.decode(sig).expect("sig"))
            })
            .collect();
        let started = Instant::now();
        let mut count = 0u64;
        while started.elapsed().as_secs_f64() < secs {
            for (msg, sig) in &signed {
                assert!(verify(msg, sig), "verifies");
                count += 1;
            }
        }
        count as f64 / started.elapsed().as_secs_f64()
    }
}

impl Default for Signer {
    fn default() -> Self {
        Self::new()
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    #[allow(clippy::disallowed_methods)] // a benchmark, not product code
    let t = std::time::SystemTime::now();
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// How much state a benchmark snapshot carries.
#[derive(Clone, Copy, Debug, Default)]
pub struct Load {
    /// Session revocations (none of them hits a benchmark token).
    pub revocations: usize,
    /// Environment IP BLOCK rules (10.x.y.0/24; none covers loopback).
    pub cidrs: usize,
    /// Environment email-domain BLOCK rules (none is the tokens' domain).
    pub domains: usize,
    /// Active access-token records `access-0`…
    pub access_tokens: usize,
}

/// The state behind "the full decision": environment IP rules, session revocations, domain
/// rules (none of which matches the benchmark's requests, so every check runs to the end).
pub const FULL_DECISION: Load = Load {
    revocations: 10_000,
    cidrs: 1_000,
    domains: 1_000,
    access_tokens: 0,
};

/// A snapshot holding `signer`'s key and `load`.
pub fn snapshot(signer: &Signer, load: Load, now: i64) -> wire::Snapshot {
    let revocations = (0..load.revocations)
        .map(|i| Revocation {
            kind: RevocationKind::Session,
            id: format!("revoked-{i}"),
            tenant_id: None,
            not_before: now,
            expires_at: now + 7200,
        })
        .collect();
    let mut restrictions = Vec::new();
    if load.cidrs > 0 || load.domains > 0 {
        restrictions.push(ScopeRestrictions {
            tenant_id: None,
            ip: (load.cidrs > 0).then(|| IpPolicy {
                strategy: ListType::Block,
                cidrs: (0..load.cidrs)
                    .map(|i| format!("10.{}.{}.0/24", i / 256 % 256, i % 256))
                    .collect(),
            }),
            domains: (load.domains > 0).then(|| DomainPolicy {
                list_type: ListType::Block,
                block_public: false,
                domains: (0..load.domains)
                    .map(|i| format!("blocked-{i}.example.org"))
                    .collect(),
            }),
        });
    }
    wire::Snapshot {
        protocol: wire::PROTOCOL,
        version: 1,
        epoch: "bench".into(),
        issued_at: now,
        keys: vec![signer.public.clone()],
        policy: Policy {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            access_token_ttl: 3600,
        },
        revocations,
        restrictions,
        access_tokens: (0..load.access_tokens)
            .map(|i| AccessTokenRecord {
                id: format!("access-{i}"),
                tenant_id: "t1".into(),
                user_id: None,
                roles: vec!["Reader".into()],
                permissions: vec!["app.read".into()],
                expires_at: None,
                email: None,
            })
            .collect(),
    }
}

/// Write `snap` as a sidecar's persisted last-known-good state in `dir`, so a sidecar
/// started there (without a control plane) decides from it.
pub fn persist_for_sidecar(dir: &Path, snap: &wire::Snapshot, now: i64) {
    let state = serde_json::json!({"savedAt": now, "lastContact": now, "snapshot": snap});
    std::fs::write(
        dir.join("state.json"),
        serde_json::to_vec(&state).expect("json"),
    )
    .expect("state file");
}

/// The route rules every sidecar benchmark uses: `/orders/**` needs `app.read`.
pub const ROUTES: &str = r#"
default = "authenticated"

[[route]]
path = "/health"
public = true

[[route]]
path = "/orders/**"
permissions = ["app.read"]
"#;
