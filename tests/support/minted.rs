//! Tokens the test mints with RS256 keys of its own, and the real sidecar binary deciding
//! from a persisted state that trusts them (no control plane): what the attack suites share.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rsa::pkcs8::EncodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

use super::process::{Proc, spawn};

/// The issuer of minted tokens.
pub const ISS: &str = "https://issuer.example";
/// Their audience.
pub const AUD: &str = "client-1";

/// An RS256 key the test owns.
pub struct Key {
    pub kid: String,
    pub pair: RsaKeyPair,
    pub public: rsa::RsaPublicKey,
    pub private: rsa::RsaPrivateKey,
}

/// A fresh 2048-bit key named `kid`.
pub fn key(kid: &str) -> Key {
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("key");
    let der = private.to_pkcs8_der().expect("pkcs8");
    Key {
        kid: kid.into(),
        pair: RsaKeyPair::from_pkcs8(der.as_bytes()).expect("ring key"),
        public: private.to_public_key(),
        private,
    }
}

/// Unix seconds by the test's own clock.
pub fn now() -> i64 {
    #[allow(clippy::disallowed_methods)] // the test's own clock, for its tokens
    let t = std::time::SystemTime::now();
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A valid user token's claims (user `u1` of account `t1`, role `Admin`).
pub fn claims() -> Value {
    let t = now();
    json!({
        "sub": "u1", "type": "userToken", "tenantId": "t1", "tenantIds": ["t1"],
        "roles": ["Admin"], "permissions": ["app.read"], "applicationId": AUD,
        "iss": ISS, "aud": AUD, "iat": t - 10, "exp": t + 600, "sid": "s1", "userId": "u1"
    })
}

/// RS256-sign raw header and payload JSON text with `k`.
pub fn rs256(k: &Key, header: &str, payload: &str) -> String {
    let signing = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let mut sig = vec![0; k.pair.public().modulus_len()];
    k.pair
        .sign(
            &RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing.as_bytes(),
            &mut sig,
        )
        .expect("sign");
    format!("{signing}.{}", B64.encode(sig))
}

/// The standard header for `k`.
pub fn header(k: &Key) -> String {
    format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{}"}}"#, k.kid)
}

/// A token of [`claims`] changed by `f`, signed with `k`.
pub fn with(k: &Key, f: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    f(&mut c);
    rs256(k, &header(k), &c.to_string())
}

/// The JWK the sidecar's snapshot holds for `k`.
pub fn public(k: &Key) -> Value {
    json!({"kid": k.kid, "alg": "RS256", "n": B64.encode(k.public.n().to_bytes_be()),
           "e": B64.encode(k.public.e().to_bytes_be()), "state": "active"})
}

/// The real sidecar binary, deciding from a persisted state that trusts `keys` (no control
/// plane). The directory must outlive the process.
pub fn sidecar_trusting(keys: &[&Key]) -> (Proc, tempfile::TempDir) {
    sidecar_with(keys, json!({}), &[], &[])
}

/// A spawned sidecar and its state directory, stopped before the directory goes.
pub struct Spawned {
    pub proc: Proc,
    /// Kept until the process is stopped.
    pub _dir: tempfile::TempDir,
}

/// [`sidecar_with`], as one value.
pub fn spawned(keys: &[&Key], snapshot: Value, files: &[(&str, &str)], flags: &[&str]) -> Spawned {
    let (proc, dir) = sidecar_with(keys, snapshot, files, flags);
    Spawned { proc, _dir: dir }
}

/// [`sidecar_trusting`] with `snapshot` fields over the persisted snapshot (restrictions,
/// access tokens), `files` written into the state directory first (a routes file: name,
/// text) and extra flags (`{dir}` in a flag is replaced by the state directory).
pub fn sidecar_with(
    keys: &[&Key],
    snapshot: Value,
    files: &[(&str, &str)],
    flags: &[&str],
) -> (Proc, tempfile::TempDir) {
    let t = now();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut snap = json!({
        "protocol": shared::wire::PROTOCOL, "version": 1, "epoch": "attack", "issuedAt": t,
        "keys": keys.iter().map(|k| public(k)).collect::<Vec<_>>(),
        "policy": {"issuer": ISS, "audience": AUD, "accessTokenTtl": 3600},
        "revocations": [], "restrictions": [], "accessTokens": []
    });
    if let (Some(base), Some(extra)) = (snap.as_object_mut(), snapshot.as_object()) {
        base.extend(extra.clone());
    }
    let state = json!({"savedAt": t, "lastContact": t, "snapshot": snap});
    std::fs::write(dir.path().join("state.json"), state.to_string()).expect("state");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("file");
    }
    let d = dir.path().to_str().expect("utf-8").to_owned();
    let flags: Vec<String> = flags.iter().map(|f| f.replace("{dir}", &d)).collect();
    let mut args = vec![
        "--admin-listen",
        "127.0.0.1:0",
        "--state-dir",
        &d,
        "--leeway",
        "30",
    ];
    if !flags.iter().any(|f| f == "--listen") {
        args.extend(["--listen", "127.0.0.1:0"]);
    }
    args.extend(flags.iter().map(String::as_str));
    let sc = spawn(env!("CARGO_BIN_EXE_e2e-sidecar"), &args);
    (sc, dir)
}

/// A spawned sidecar's data and admin `host:port`, from the line it printed.
pub fn addrs(p: &Proc) -> (String, String) {
    let data = p
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    // The line is recorded just after the URL in it is reported: wait for it.
    for _ in 0..500 {
        let lines = p.stdout(std::time::Duration::ZERO);
        let admin = lines.iter().find_map(|l| {
            l.split("(admin http://")
                .nth(1)
                .map(|a| a.trim_end_matches(')').to_owned())
        });
        if let Some(admin) = admin {
            return (data, admin);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the sidecar never printed its admin address")
}
