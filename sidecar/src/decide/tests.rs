//! Table tests of the decision engine: every deny reason, the leeway boundaries, the JWT
//! attacks of `security.md` §A, and property checks over random inputs.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};
use shared::wire::{KeyState, Policy, PublicKey, Revocation, RevocationKind};

use super::*;
use crate::snapshot::AccessTokens;

/// `authorize`, keeping only allow/deny.
fn auth(
    s: &Snapshot,
    revs: &Revocations,
    v: &Verified,
    inputs: &Inputs<'_>,
) -> Result<(), DenyReason> {
    authorize(s, revs, v, inputs).map(|_| ())
}
use crate::routes::{Requirement, Routes};
use crate::snapshot::{self, Revocations, Snapshot};

const NOW: i64 = 1_800_000_000;
const CLIENT: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));
const LEEWAY: i64 = 30;
const ISS: &str = "https://login.example";
const AUD: &str = "client-1";

struct Key {
    pair: RsaKeyPair,
    public: PublicKey,
    n: Vec<u8>,
}

fn key(i: usize) -> &'static Key {
    static KEYS: OnceLock<Vec<Key>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..2)
            .map(|i| {
                let mut rng = rsa::rand_core::OsRng;
                let private = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
                let der = private.to_pkcs8_der().unwrap();
                let n = private.n().to_bytes_be();
                let e = private.e().to_bytes_be();
                Key {
                    pair: RsaKeyPair::from_pkcs8(der.as_bytes()).unwrap(),
                    public: PublicKey {
                        kid: format!("k{i}"),
                        alg: "RS256".into(),
                        n: B64.encode(&n),
                        e: B64.encode(&e),
                        state: KeyState::Active,
                    },
                    n,
                }
            })
            .collect()
    })[i]
}

fn snap(keys: &[usize]) -> Snapshot {
    Snapshot {
        version: 1,
        epoch: "e".into(),
        keys: Arc::new(
            snapshot::build_keys(
                &keys
                    .iter()
                    .map(|i| key(*i).public.clone())
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
        ),
        policy: Policy {
            issuer: ISS.into(),
            audience: AUD.into(),
            access_token_ttl: 3600,
        },
        restrictions: Arc::default(),
    }
}

fn claims() -> Value {
    json!({
        "sub": "u1", "type": "userToken", "tenantId": "t1", "tenantIds": ["t1"],
        "roles": ["Admin"], "permissions": ["fe.secure.read.users", "app.write"],
        "applicationId": AUD, "iss": ISS, "aud": AUD, "iat": NOW - 10, "exp": NOW + 600,
        "sid": "s1", "userId": "u1"
    })
}

fn sign_raw(k: &Key, header: &str, payload: &str) -> String {
    sign_bytes(k, header, payload.as_bytes())
}

fn sign_bytes(k: &Key, header: &str, payload: &[u8]) -> String {
    let signing = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let mut sig = vec![0; k.pair.public().modulus_len()];
    k.pair
        .sign(
            &RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing.as_bytes(),
            &mut sig,
        )
        .unwrap();
    format!("{signing}.{}", B64.encode(sig))
}

fn mint(claims: &Value) -> String {
    sign_raw(
        key(0),
        r#"{"alg":"RS256","typ":"JWT","kid":"k0"}"#,
        &claims.to_string(),
    )
}

fn with(f: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    f(&mut c);
    mint(&c)
}

fn check(
    s: &Snapshot,
    revs: &Revocations,
    token: &str,
    req: &Requirement,
    now: i64,
) -> Result<(), DenyReason> {
    let v = verify_token(s, token)?;
    auth(
        s,
        revs,
        &v,
        &Inputs {
            source: TokenSource::Bearer(token),
            client_ip: CLIENT,
            route: req,
            now,
            leeway: LEEWAY,
            access_tokens: &AccessTokens::default(),
        },
    )
}

fn decide(token: &str) -> Result<(), DenyReason> {
    check(
        &snap(&[0]),
        &Revocations::default(),
        token,
        &Requirement::default(),
        NOW,
    )
}

#[test]
fn a_valid_token_is_allowed() {
    assert_eq!(decide(&mint(&claims())), Ok(()));
    // A `kid`-less token verifies only when the key set is unambiguous.
    let no_kid = sign_raw(
        key(0),
        r#"{"alg":"RS256","typ":"JWT"}"#,
        &claims().to_string(),
    );
    assert_eq!(decide(&no_kid), Ok(()));
    let two = snap(&[0, 1]);
    assert_eq!(
        check(
            &two,
            &Revocations::default(),
            &no_kid,
            &Requirement::default(),
            NOW
        ),
        Err(DenyReason::UnknownKey)
    );
}

#[test]
fn algorithm_attacks_are_refused() {
    let payload = B64.encode(claims().to_string());
    // A1: none in every spelling, empty and missing signature.
    for alg in ["none", "None", "NONE", "noNE"] {
        let h = B64.encode(format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"k0"}}"#));
        assert_eq!(
            decide(&format!("{h}.{payload}.")),
            Err(DenyReason::UnsupportedAlgorithm),
            "{alg}"
        );
        assert_eq!(
            decide(&format!("{h}.{payload}")),
            Err(DenyReason::Malformed),
            "{alg}"
        );
    }
    // A2: HS256 signed with the public key's bytes (n, n||e, the JWK JSON).
    let h = B64.encode(r#"{"alg":"HS256","typ":"JWT","kid":"k0"}"#);
    let k = key(0);
    for secret in [k.n.clone(), serde_json::to_vec(&k.public).unwrap()] {
        let signing = format!("{h}.{payload}");
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            signing.as_bytes(),
        );
        assert_eq!(
            decide(&format!("{signing}.{}", B64.encode(mac.as_ref()))),
            Err(DenyReason::UnsupportedAlgorithm)
        );
    }
    // A3: other algorithms, even validly RSA-signed.
    for alg in ["HS512", "PS256", "RS512", "ES256", "EdDSA", "rs256"] {
        let t = sign_raw(
            k,
            &format!(r#"{{"alg":"{alg}","kid":"k0"}}"#),
            &claims().to_string(),
        );
        assert_eq!(decide(&t), Err(DenyReason::UnsupportedAlgorithm), "{alg}");
    }
    // A5/A6/A12: key-pointing and critical headers, other types, nested JWTs.
    for extra in [
        r#""jku":"http://127.0.0.9/jwks""#,
        r#""x5u":"http://127.0.0.9/c""#,
        r#""jwk":{"kty":"RSA"}"#,
        r#""x5c":["MII"]"#,
        r#""crit":["exp"]"#,
        r#""cty":"JWT""#,
        r#""typ":"at+jwt""#,
        r#""alg":"RS256""#,
    ] {
        let t = sign_raw(
            k,
            &format!(r#"{{"alg":"RS256","kid":"k0",{extra}}}"#),
            &claims().to_string(),
        );
        assert_eq!(decide(&t), Err(DenyReason::UnsupportedAlgorithm), "{extra}");
    }
}

#[test]
fn unknown_or_hostile_key_ids_never_verify() {
    let other = sign_raw(
        key(1),
        r#"{"alg":"RS256","kid":"k1"}"#,
        &claims().to_string(),
    );
    assert_eq!(decide(&other), Err(DenyReason::UnknownKey));
    // Signed by another key under a trusted kid.
    let forged = sign_raw(
        key(1),
        r#"{"alg":"RS256","kid":"k0"}"#,
        &claims().to_string(),
    );
    assert_eq!(decide(&forged), Err(DenyReason::BadSignature));
    for kid in [
        "../../../../dev/null",
        "/proc/self/environ",
        "' OR 1=1--",
        "k0\u{0}",
        "ķ0",
        &"k".repeat(10_000),
    ] {
        let h = serde_json::json!({"alg": "RS256", "kid": kid}).to_string();
        let t = sign_raw(key(0), &h, &claims().to_string());
        assert!(decide(&t).is_err(), "{kid:.20}");
    }
}

#[test]
fn malformed_tokens_are_refused() {
    let good = mint(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let cases = [
        String::new(),
        parts[..2].join("."),
        format!("{good}.x"),
        format!("{good}."),
        format!(".{}.{}", parts[1], parts[2]),
        format!("{}..{}", parts[0], parts[2]),
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
        good.replace('-', "+").replace('_', "/"),
        format!(" {good}"),
        format!("{}.{} .{}", parts[0], parts[1], parts[2]),
        "a".repeat(MAX_TOKEN_BYTES + 1),
    ];
    for t in cases {
        let r = decide(&t);
        assert!(
            matches!(
                r,
                Err(DenyReason::Malformed
                    | DenyReason::BadSignature
                    | DenyReason::UnsupportedAlgorithm)
            ),
            "{t:.40}: {r:?}"
        );
        assert!(r.is_err());
    }
    // A11/A13: duplicate claims and odd claim values, validly signed.
    let raw = |payload: &str| sign_raw(key(0), r#"{"alg":"RS256","kid":"k0"}"#, payload);
    let base = claims().to_string();
    let body = &base[1..base.len() - 1];
    for payload in [
        format!(r#"{{{body},"sub":"other"}}"#),
        format!(r#"{{{body},"exp":9999999999}}"#),
        base.replace(&format!("\"exp\":{}", NOW + 600), "\"exp\":\"never\""),
        base.replace(&format!("\"exp\":{}", NOW + 600), "\"exp\":1e400"),
        base.replace(&format!("\"exp\":{}", NOW + 600), "\"exp\":1.5"),
        base.replace(&format!("\"exp\":{}", NOW + 600), "\"exp\":true"),
        base.replace(
            &format!("\"exp\":{}", NOW + 600),
            "\"exp\":18446744073709551616",
        ),
        base.replace(
            &format!("\"aud\":\"{AUD}\""),
            &format!("\"aud\":[\"{AUD}\",\"junk\"]"),
        ),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
    ] {
        assert_eq!(
            decide(&raw(&payload)),
            Err(DenyReason::Malformed),
            "{payload:.80}"
        );
    }
    // A15: signatures of the wrong length.
    assert_eq!(
        decide(&format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20])),
        Err(DenyReason::BadSignature)
    );
}

#[test]
fn time_claims_with_leeway_boundaries() {
    let at = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        mint(&c)
    };
    assert_eq!(decide(&at(&|c| c["exp"] = json!(NOW - LEEWAY))), Ok(()));
    assert_eq!(
        decide(&at(&|c| c["exp"] = json!(NOW - LEEWAY - 1))),
        Err(DenyReason::Expired)
    );
    assert_eq!(
        decide(&at(&|c| {
            c.as_object_mut().unwrap().remove("exp");
        })),
        Err(DenyReason::Expired)
    );
    assert_eq!(decide(&at(&|c| c["nbf"] = json!(NOW + LEEWAY))), Ok(()));
    assert_eq!(
        decide(&at(&|c| c["nbf"] = json!(NOW + LEEWAY + 1))),
        Err(DenyReason::NotYetValid)
    );
    assert_eq!(
        decide(&at(&|c| c["iat"] = json!(NOW + LEEWAY + 1))),
        Err(DenyReason::NotYetValid)
    );
    assert_eq!(
        decide(&at(&|c| c["iss"] = json!("https://evil.example"))),
        Err(DenyReason::WrongAudience)
    );
    assert_eq!(
        decide(&at(&|c| c["aud"] = json!("client-2"))),
        Err(DenyReason::WrongAudience)
    );
    assert_eq!(
        decide(&at(&|c| c["type"] = json!("userAccessToken"))),
        Err(DenyReason::WrongTokenType)
    );
    assert_eq!(
        decide(&at(&|c| c["type"] = json!("tenantApiToken"))),
        Ok(())
    );
}

#[test]
fn x_api_key_tokens_need_an_active_record() {
    let s = snap(&[0]);
    // An access token without `exp` (they may never expire), `sub` = its id.
    let t = with(|c| {
        c["type"] = json!("tenantAccessToken");
        c["sub"] = json!("at-1");
        c.as_object_mut().unwrap().remove("exp");
        c.as_object_mut().unwrap().remove("userId");
        c["roles"] = json!(["Forged"]);
    });
    let v = verify_token(&s, &t).unwrap();
    let set = std::cell::RefCell::new(AccessTokens::default());
    let route = Routes::parse("[[route]]\npath = \"/ops\"\nroles = [\"Operator\"]\n").unwrap();
    let at = |source: TokenSource<'_>, path: &str, now: i64| {
        authorize(
            &s,
            &Revocations::default(),
            &v,
            &Inputs {
                source,
                client_ip: CLIENT,
                route: route.find("GET", path),
                now,
                leeway: LEEWAY,
                access_tokens: &set.borrow(),
            },
        )
        .map(|r| r.map(|r| r.id.clone()))
    };
    // Not in the active set: refused.
    assert_eq!(
        at(TokenSource::ApiKey(&t), "/x", NOW),
        Err(DenyReason::Revoked)
    );
    *set.borrow_mut() = AccessTokens::of(&[shared::wire::AccessTokenRecord {
        id: "at-1".into(),
        tenant_id: "t1".into(),
        user_id: None,
        roles: vec!["Operator".into()],
        permissions: vec![],
        expires_at: Some(NOW + 60),
        email: None,
    }]);
    assert_eq!(
        at(TokenSource::ApiKey(&t), "/x", NOW),
        Ok(Some("at-1".into()))
    );
    // Route rules use the record's roles, never the token's.
    assert_eq!(
        at(TokenSource::ApiKey(&t), "/ops", NOW),
        Ok(Some("at-1".into()))
    );
    // The record's expiry counts.
    assert_eq!(
        at(TokenSource::ApiKey(&t), "/x", NOW + 60 + LEEWAY + 1),
        Err(DenyReason::Expired)
    );
    // Wrong header for the type, both ways.
    assert_eq!(
        at(TokenSource::Bearer(&t), "/x", NOW),
        Err(DenyReason::WrongTokenType)
    );
    let user = mint(&claims());
    let uv = verify_token(&s, &user).unwrap();
    assert_eq!(
        auth(
            &s,
            &Revocations::default(),
            &uv,
            &Inputs {
                source: TokenSource::ApiKey(&user),
                client_ip: CLIENT,
                route: &Requirement::default(),
                now: NOW,
                leeway: LEEWAY,
                access_tokens: &set.borrow(),
            }
        ),
        Err(DenyReason::WrongTokenType)
    );
    // Removed from the set: refused at once.
    *set.borrow_mut() = AccessTokens::of(&[]);
    assert_eq!(
        at(TokenSource::ApiKey(&t), "/x", NOW),
        Err(DenyReason::Revoked)
    );
}

fn rev(kind: RevocationKind, id: &str, tenant: Option<&str>, not_before: i64) -> Revocation {
    Revocation {
        kind,
        id: id.into(),
        tenant_id: tenant.map(Into::into),
        not_before,
        expires_at: NOW + 3600,
    }
}

#[test]
fn revocations_void_exactly_what_they_name() {
    let s = snap(&[0]);
    let token = mint(&claims()); // iat = NOW - 10
    let req = Requirement::default();
    let cases: Vec<(Revocation, bool)> = vec![
        (rev(RevocationKind::Session, "s1", None, 0), true),
        (rev(RevocationKind::Session, "s2", None, 0), false),
        (rev(RevocationKind::User, "u1", None, NOW - 10), true),
        (rev(RevocationKind::User, "u1", None, NOW - 11), false),
        (rev(RevocationKind::User, "u2", None, NOW), false),
        (
            rev(RevocationKind::UserInTenant, "u1", Some("t1"), NOW),
            true,
        ),
        (
            rev(RevocationKind::UserInTenant, "u1", Some("t2"), NOW),
            false,
        ),
        (rev(RevocationKind::Tenant, "t1", None, NOW), true),
        (rev(RevocationKind::Tenant, "t2", None, NOW), false),
        (rev(RevocationKind::Role, "Admin", None, NOW), true),
        (rev(RevocationKind::Role, "Admin", Some("t1"), NOW), true),
        (rev(RevocationKind::Role, "Admin", Some("t2"), NOW), false),
        (rev(RevocationKind::Role, "Viewer", None, NOW), false),
        (
            rev(RevocationKind::Permission, "app.write", None, NOW),
            true,
        ),
        (
            rev(RevocationKind::Permission, "app.read", None, NOW),
            false,
        ),
    ];
    for (r, voids) in cases {
        let revs = Revocations::default();
        revs.insert(&r);
        let got = check(&s, &revs, &token, &req, NOW);
        assert_eq!(got.is_err(), voids, "{r:?}");
        if voids {
            assert_eq!(got, Err(DenyReason::Revoked));
        }
        // Round trip through the wire form keeps the meaning.
        let back = Revocations::default();
        back.replace(&revs.to_wire());
        assert_eq!(check(&s, &back, &token, &req, NOW).is_err(), voids);
        // Expired entries are swept.
        revs.sweep(NOW + 3601);
        assert!(revs.is_empty());
    }
}

#[test]
fn a_cached_verification_dies_with_its_key() {
    let token = mint(&claims());
    let v = verify_token(&snap(&[0]), &token).unwrap();
    let rotated = snap(&[1]);
    assert_eq!(
        auth(
            &rotated,
            &Revocations::default(),
            &v,
            &Inputs {
                source: TokenSource::Bearer(&token),
                client_ip: CLIENT,
                route: &Requirement::default(),
                now: NOW,
                leeway: LEEWAY,
                access_tokens: &AccessTokens::default(),
            }
        ),
        Err(DenyReason::UnknownKey)
    );
}

#[test]
fn route_requirements() {
    let s = snap(&[0]);
    let revs = Revocations::default();
    let token = mint(&claims());
    let routes = Routes::parse(
        r#"
[[route]]
path = "/any"
roles = ["Viewer"]
permissions = ["app.write"]
[[route]]
path = "/all"
roles = ["Admin"]
permissions = ["app.write", "app.delete"]
match = "all"
[[route]]
path = "/prefix"
permissions = ["fe.secure.*"]
[[route]]
path = "/read-users"
permissions = ["fe.secure.read.users"]
[[route]]
path = "/api-only"
token_types = ["tenantApiToken"]
[[route]]
path = "/stepup"
step_up = true
max_age = 300
"#,
    )
    .unwrap();
    let at = |p: &str, t: &str| check(&s, &revs, t, routes.find("GET", p), NOW);
    assert_eq!(at("/any", &token), Ok(()));
    assert_eq!(at("/all", &token), Err(DenyReason::Forbidden));
    // M2: one `grants` semantics with the control plane. A rule naming a wildcard needs that
    // wildcard: a specific permission under it is not enough (a ReadOnly holder of
    // `fe.secure.read.*` is not a writer) …
    assert_eq!(at("/prefix", &token), Err(DenyReason::Forbidden));
    let reader = with(|c| c["permissions"] = json!(["fe.secure.read.*"]));
    assert_eq!(at("/prefix", &reader), Err(DenyReason::Forbidden));
    assert_eq!(at("/read-users", &reader), Ok(()));
    // … and a held wildcard grants every permission under it.
    let admin = with(|c| c["permissions"] = json!(["fe.secure.*"]));
    assert_eq!(at("/prefix", &admin), Ok(()));
    assert_eq!(at("/read-users", &admin), Ok(()));
    assert_eq!(at("/read-users", &token), Ok(()));
    assert_eq!(at("/api-only", &token), Err(DenyReason::WrongTokenType));
    assert_eq!(at("/stepup", &token), Err(DenyReason::StepUpRequired));
    let stepped = with(|c| {
        c["acr"] = json!(shared::claims::STEP_UP_ACR);
        c["amr"] = json!(["mfa", "otp"]);
        c["auth_time"] = json!(NOW - 100);
    });
    assert_eq!(at("/stepup", &stepped), Ok(()));
    let old = with(|c| {
        c["acr"] = json!(shared::claims::STEP_UP_ACR);
        c["amr"] = json!(["mfa", "otp"]);
        c["auth_time"] = json!(NOW - 301);
    });
    assert_eq!(at("/stepup", &old), Err(DenyReason::StepUpRequired));
    let weak = with(|c| {
        c["acr"] = json!(shared::claims::STEP_UP_ACR);
        c["amr"] = json!(["mfa"]);
        c["auth_time"] = json!(NOW);
    });
    assert_eq!(at("/stepup", &weak), Err(DenyReason::StepUpRequired));
    assert_eq!(DenyReason::Forbidden.status(), 403);
    assert_eq!(DenyReason::Expired.status(), 401);
    let labels: std::collections::HashSet<_> = DenyReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), DenyReason::ALL.len(), "labels are distinct");
}

/// A small deterministic generator for the property checks.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + i64::try_from(self.next() % u64::try_from(hi - lo).unwrap()).unwrap()
    }
}

#[test]
fn property_an_expired_token_is_never_allowed() {
    let s = snap(&[0]);
    let revs = Revocations::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cache: HashMap<i64, String> = HashMap::new();
    for _ in 0..300 {
        let exp = rng.range(NOW - 10_000, NOW + 10_000);
        let now = rng.range(NOW - 10_000, NOW + 10_000);
        let token = cache
            .entry(exp / 500)
            .or_insert_with(|| {
                with(|c| {
                    c["exp"] = json!(exp / 500 * 500);
                    c["iat"] = json!(NOW - 20_000);
                })
            })
            .clone();
        let exp = exp / 500 * 500;
        let r = check(&s, &revs, &token, &Requirement::default(), now);
        if now > exp + LEEWAY {
            assert_eq!(r, Err(DenyReason::Expired), "exp {exp} now {now}");
        } else {
            assert_eq!(r, Ok(()), "exp {exp} now {now}");
        }
    }
}

#[test]
fn property_an_unknown_kid_never_verifies() {
    let s = snap(&[0, 1]);
    let mut rng = Rng(42);
    let payload = claims().to_string();
    for _ in 0..200 {
        let len = usize::try_from(rng.range(0, 40)).unwrap();
        let kid: String = (0..len)
            .map(|_| char::from_u32(u32::try_from(rng.range(1, 0x2FF)).unwrap()).unwrap_or('x'))
            .collect();
        if kid == "k0" || kid == "k1" {
            continue;
        }
        let h = json!({"alg": "RS256", "kid": kid}).to_string();
        for k in [0, 1] {
            let t = sign_raw(key(k), &h, &payload);
            assert_eq!(
                verify_token(&s, &t).map(|_| ()),
                Err(DenyReason::UnknownKey),
                "{kid:?}"
            );
        }
    }
}

fn with_restrictions(scopes: Vec<shared::wire::ScopeRestrictions>) -> Snapshot {
    let mut s = snap(&[0]);
    let wire = shared::wire::Snapshot {
        protocol: shared::wire::PROTOCOL,
        version: 1,
        epoch: "e".into(),
        issued_at: NOW,
        keys: vec![key(0).public.clone()],
        policy: s.policy.clone(),
        revocations: vec![],
        restrictions: scopes,
        access_tokens: vec![],
    };
    s.restrictions = snapshot::from_wire(&wire).unwrap().restrictions;
    s
}

fn ip_scope(
    tenant: Option<&str>,
    strategy: shared::wire::ListType,
    cidrs: &[&str],
) -> shared::wire::ScopeRestrictions {
    shared::wire::ScopeRestrictions {
        tenant_id: tenant.map(Into::into),
        ip: Some(shared::wire::IpPolicy {
            strategy,
            cidrs: cidrs.iter().map(|c| (*c).into()).collect(),
        }),
        domains: None,
    }
}

#[test]
fn ip_and_domain_restrictions() {
    use shared::wire::ListType::{Allow, Block};
    let token = with(|c| c["email"] = json!("Ada@Example.COM."));
    let at = |s: &Snapshot, ip: &str| {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        check_environment_ip(s, ip)?;
        let v = verify_token(s, &token)?;
        auth(
            s,
            &Revocations::default(),
            &v,
            &Inputs {
                source: TokenSource::Bearer(&token),
                client_ip: ip,
                route: &Requirement::default(),
                now: NOW,
                leeway: LEEWAY,
                access_tokens: &AccessTokens::default(),
            },
        )
    };
    // Environment BLOCK, before any token work.
    let s = with_restrictions(vec![ip_scope(None, Block, &["203.0.113.0/24"])]);
    assert_eq!(at(&s, "203.0.113.9"), Err(DenyReason::IpRestricted));
    assert_eq!(at(&s, "::ffff:203.0.113.9"), Err(DenyReason::IpRestricted));
    assert_eq!(at(&s, "198.51.100.7"), Ok(()));
    assert_eq!(
        check_environment_ip(&s, "203.0.113.1".parse().unwrap()),
        Err(DenyReason::IpRestricted)
    );
    // Account ALLOW: only the listed addresses, only for tokens of that account.
    let s = with_restrictions(vec![ip_scope(Some("t1"), Allow, &["10.0.0.0/8"])]);
    assert_eq!(at(&s, "10.1.2.3"), Ok(()));
    assert_eq!(at(&s, "11.0.0.0"), Err(DenyReason::IpRestricted));
    let s = with_restrictions(vec![ip_scope(Some("t2"), Allow, &["10.0.0.0/8"])]);
    assert_eq!(
        at(&s, "11.0.0.0"),
        Ok(()),
        "another account's rules do not apply"
    );
    // An empty ALLOW list admits nobody.
    let s = with_restrictions(vec![ip_scope(Some("t1"), Allow, &[])]);
    assert_eq!(at(&s, "10.1.2.3"), Err(DenyReason::IpRestricted));
    // Domains: the normalised email claim against environment and account lists.
    let dom =
        |tenant: Option<&str>, list: shared::wire::ListType, public: bool, domains: &[&str]| {
            shared::wire::ScopeRestrictions {
                tenant_id: tenant.map(Into::into),
                ip: None,
                domains: Some(shared::wire::DomainPolicy {
                    list_type: list,
                    block_public: public,
                    domains: domains.iter().map(|d| (*d).into()).collect(),
                }),
            }
        };
    let s = with_restrictions(vec![dom(None, Block, false, &["example.com"])]);
    assert_eq!(at(&s, "198.51.100.7"), Err(DenyReason::DomainRestricted));
    let s = with_restrictions(vec![dom(Some("t1"), Allow, false, &["example.com"])]);
    assert_eq!(at(&s, "198.51.100.7"), Ok(()));
    let s = with_restrictions(vec![dom(Some("t1"), Allow, false, &["*.example.com"])]);
    assert_eq!(
        at(&s, "198.51.100.7"),
        Err(DenyReason::DomainRestricted),
        "apex not in *."
    );
    let s = with_restrictions(vec![dom(None, Block, true, &[])]);
    let gmail = with(|c| c["email"] = json!("someone@gmail.com"));
    let v = verify_token(&s, &gmail).unwrap();
    assert_eq!(
        auth(
            &s,
            &Revocations::default(),
            &v,
            &Inputs {
                source: TokenSource::Bearer(&gmail),
                client_ip: CLIENT,
                route: &Requirement::default(),
                now: NOW,
                leeway: LEEWAY,
                access_tokens: &AccessTokens::default(),
            }
        ),
        Err(DenyReason::DomainRestricted)
    );
    assert_eq!(at(&s, "198.51.100.7"), Ok(()), "example.com is not public");
    // A rule that is not normalised, or a bad CIDR, refuses the whole message.
    let bad = shared::wire::Snapshot {
        protocol: 1,
        version: 1,
        epoch: "e".into(),
        issued_at: NOW,
        keys: vec![key(0).public.clone()],
        policy: snap(&[0]).policy.clone(),
        revocations: vec![],
        restrictions: vec![ip_scope(None, Block, &["10.0.0.1/8"])],
        access_tokens: vec![],
    };
    assert!(snapshot::from_wire(&bad).is_err());
    let bad = shared::wire::Snapshot {
        restrictions: vec![dom(None, Block, false, &["EXAMPLE.com"])],
        ..bad
    };
    assert!(snapshot::from_wire(&bad).is_err());
}

/// The verified-token cache finds entries by a prefix of the signature; a token that shares
/// that prefix (a copied signature on another payload) must be a miss and be verified, never
/// served the cached claims.
#[test]
fn a_cache_hit_needs_the_whole_token() {
    let config = crate::Config::from_args(crate::config::Args::default()).unwrap();
    let sc = crate::state::Sidecar::new(config, "t".into(), Routes::default()).unwrap();
    sc.install(snap(&[0]), AccessTokens::default());
    let facts = |token| crate::state::Facts {
        method: "GET",
        path: "/",
        token: TokenSource::Bearer(token),
        client_ip: CLIENT,
    };
    let good = mint(&claims());
    assert!(sc.decide(&facts(&good), NOW).is_ok());
    assert!(sc.decide(&facts(&good), NOW).is_ok(), "cached");
    // Same signature, escalated payload: same cache key, different token.
    let (_, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut evil = claims();
    evil["roles"] = json!(["Owner"]);
    let forged = format!(
        "{}.{}.{sig}",
        B64.encode(r#"{"alg":"RS256","typ":"JWT","kid":"k0"}"#),
        B64.encode(evil.to_string())
    );
    assert_eq!(
        crate::state::cache_key(&forged),
        crate::state::cache_key(&good)
    );
    assert_eq!(
        sc.decide(&facts(&forged), NOW).err(),
        Some(DenyReason::BadSignature)
    );
    // The genuine token is still served (the forgery replaced nothing).
    let permit = sc.decide(&facts(&good), NOW).unwrap().unwrap();
    assert_eq!(permit.verified.claims.roles, vec!["Admin".to_owned()]);
}

#[test]
fn a_genuinely_signed_payload_that_is_not_utf8_is_malformed() {
    // The bytes sit in a claim nobody reads: serde_json's from_slice would skip them.
    let header = r#"{"alg":"RS256","typ":"JWT","kid":"k0"}"#;
    let good = claims().to_string();
    let ext = good.trim_end_matches('}');
    for bad in [&b"\xd1\xd1"[..], b"\xff", b"\xe2\x82", b"\xc0\xaf"] {
        let mut payload = format!("{ext},\"extra\":\"").into_bytes();
        payload.extend_from_slice(bad);
        payload.extend_from_slice(b"\"}");
        let token = sign_bytes(key(0), header, &payload);
        assert_eq!(decide(&token), Err(DenyReason::Malformed), "{bad:?}");
    }
    // The same token with text in that claim is allowed: the refusal is the bytes'.
    let mut c = claims();
    c["extra"] = json!("ж");
    assert_eq!(decide(&mint(&c)), Ok(()));
}

/// The header and signature are decoded into fixed buffers when they fit and into a heap
/// buffer when they do not: on both sides of each boundary the verdict is the same —
/// a padded but valid header verifies, an escaped `kid` is read, an unknown `kid` is
/// unknown at every length, and a signature of any length but the key's is bad.
#[test]
fn header_and_signature_sizes_decide_alike_on_both_sides_of_the_buffers() {
    let payload = claims().to_string();
    for pad in [0, 400, 470, 480, 490, 500, 520, 1_000, 3_000] {
        // Whitespace is valid JSON: the same header, `pad` bytes longer.
        let h = format!(r#"{{"alg":"RS256",{}"kid":"k0"}}"#, " ".repeat(pad));
        assert_eq!(decide(&sign_raw(key(0), &h, &payload)), Ok(()), "pad {pad}");
        let h = format!(r#"{{"alg":"RS256",{}"kid":"\u006b0"}}"#, " ".repeat(pad));
        assert_eq!(
            decide(&sign_raw(key(0), &h, &payload)),
            Ok(()),
            "escaped, pad {pad}"
        );
        let h = format!(r#"{{"alg":"RS256",{}"kid":"nope"}}"#, " ".repeat(pad));
        assert_eq!(
            decide(&sign_raw(key(0), &h, &payload)),
            Err(DenyReason::UnknownKey),
            "pad {pad}"
        );
    }
    let good = mint(&claims());
    let (signed, _) = good.rsplit_once('.').unwrap();
    for len in [1, 255, 257, 1_000, 1_023, 1_024, 1_025, 2_000] {
        let t = format!("{signed}.{}", B64.encode(vec![7u8; len]));
        assert_eq!(decide(&t), Err(DenyReason::BadSignature), "{len} bytes");
    }
    // Not base64 on either path.
    for len in [10, 2_000] {
        let t = format!("{signed}.{}*", "A".repeat(len));
        assert_eq!(decide(&t), Err(DenyReason::Malformed), "{len} characters");
    }
}
