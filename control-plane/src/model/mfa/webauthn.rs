//! WebAuthn Level 2 relying-party checks (W3C §7.1 registration, §7.2 authentication), on
//! ring and ciborium: the options a ceremony hands the browser, and the pure verification of
//! what comes back. Keys: ES256 (P-256), RS256, EdDSA (Ed25519), from their COSE form
//! (RFC 9052/9053). Attestation `none`; `packed` self-attestation is verified; other
//! statements are ignored (Tessera asks for `none` and trusts no attestation).
//!
//! Every value the browser decodes is unpadded base64url (`compat-wave2.md` §4).

use ring::signature::{self, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::crypto::{b64url, ct_eq, sha256, unb64url};

/// A ceremony lives this long (milliseconds, the `timeout` sent).
pub const TIMEOUT_MS: i64 = 60_000;

/// A stored public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublicKey {
    /// ECDSA P-256 with SHA-256: the uncompressed point.
    Es256(String),
    /// RSASSA-PKCS1-v1_5 with SHA-256: modulus and exponent.
    Rs256 {
        /// Modulus, base64url.
        n: String,
        /// Exponent, base64url.
        e: String,
    },
    /// Ed25519: the 32-byte key.
    EdDsa(String),
}

/// Why a ceremony's reply was refused (one message to the caller; the reason is logged).
#[derive(Debug, thiserror::Error)]
#[error("WebAuthn verification failed: {0}")]
pub struct WebAuthnError(pub &'static str);

fn fail(why: &'static str) -> WebAuthnError {
    WebAuthnError(why)
}

/// `navigator.credentials.create` options (the `options` of the pre-enrol reply).
pub fn creation_options(
    rp_name: &str,
    rp_id: &str,
    user_id: &str,
    email: &str,
    display_name: &str,
    challenge: &[u8],
    exclude: &[String],
) -> Value {
    json!({
        "rp": {"name": rp_name, "id": rp_id},
        "user": {"id": b64url(user_id.as_bytes()), "name": email, "displayName": if display_name.is_empty() { email } else { display_name }},
        "challenge": b64url(challenge),
        "pubKeyCredParams": [
            {"type": "public-key", "alg": -7},
            {"type": "public-key", "alg": -257},
            {"type": "public-key", "alg": -8}
        ],
        "timeout": TIMEOUT_MS,
        "excludeCredentials": exclude.iter().map(|id| json!({"type": "public-key", "id": id})).collect::<Vec<_>>(),
        "authenticatorSelection": {"userVerification": "preferred"},
        "attestation": "none"
    })
}

/// `navigator.credentials.get` options (the `options` of the pre-verify reply).
pub fn request_options(rp_id: &str, challenge: &[u8], allow: &[String]) -> Value {
    json!({
        "challenge": b64url(challenge),
        "allowCredentials": allow.iter().map(|id| json!({"type": "public-key", "id": id})).collect::<Vec<_>>(),
        "timeout": TIMEOUT_MS,
        "rpId": rp_id,
        "userVerification": "preferred"
    })
}

/// What a ceremony expects back.
pub struct Expected<'a> {
    /// The challenge sent.
    pub challenge: &'a [u8],
    /// The relying party id.
    pub rp_id: &'a str,
    /// Whether an origin is one of the login box's.
    pub origin_ok: &'a (dyn Fn(&str) -> bool + Sync),
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, WebAuthnError> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p).ok_or(fail("a field is missing"))?;
    }
    cur.as_str().ok_or(fail("a field is not a string"))
}

fn bytes(v: &Value, path: &[&str]) -> Result<Vec<u8>, WebAuthnError> {
    unb64url(field(v, path)?).ok_or(fail("a field is not base64url"))
}

/// Check `clientDataJSON` (raw bytes) against the ceremony.
fn client_data(raw: &[u8], kind: &str, exp: &Expected<'_>) -> Result<(), WebAuthnError> {
    let cd: Value =
        shared::json::from_bytes(raw).map_err(|_| fail("clientDataJSON is not JSON"))?;
    if cd.get("type").and_then(Value::as_str) != Some(kind) {
        return Err(fail("wrong ceremony type"));
    }
    let got = unb64url(field(&cd, &["challenge"])?).ok_or(fail("bad challenge encoding"))?;
    if !ct_eq(&got, exp.challenge) {
        return Err(fail("challenge mismatch"));
    }
    if !(exp.origin_ok)(field(&cd, &["origin"])?) {
        return Err(fail("origin not allowed"));
    }
    Ok(())
}

/// Parsed authenticator data (§6.1).
struct AuthData<'a> {
    rp_id_hash: &'a [u8],
    flags: u8,
    sign_count: u32,
    /// Credential id and the COSE key's bytes onward (attested credential data).
    attested: Option<(&'a [u8], &'a [u8])>,
}

const UP: u8 = 0x01;
const AT: u8 = 0x40;

fn auth_data(raw: &[u8]) -> Result<AuthData<'_>, WebAuthnError> {
    if raw.len() < 37 {
        return Err(fail("authenticator data too short"));
    }
    let flags = raw[32];
    let sign_count = u32::from_be_bytes([raw[33], raw[34], raw[35], raw[36]]);
    let attested = if flags & AT != 0 {
        let rest = &raw[37..];
        if rest.len() < 18 {
            return Err(fail("attested credential data too short"));
        }
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        let rest = &rest[18..];
        if rest.len() < len || len == 0 || len > 1023 {
            return Err(fail("bad credential id length"));
        }
        Some((&rest[..len], &rest[len..]))
    } else {
        None
    };
    Ok(AuthData {
        rp_id_hash: &raw[..32],
        flags,
        sign_count,
        attested,
    })
}

type Cbor = ciborium::value::Value;

fn cbor_int(v: &Cbor) -> Option<i128> {
    v.as_integer().map(i128::from)
}

fn cose_get(map: &[(Cbor, Cbor)], key: i128) -> Option<&Cbor> {
    map.iter()
        .find(|(k, _)| cbor_int(k) == Some(key))
        .map(|(_, v)| v)
}

/// A COSE_Key (the first CBOR item of `raw`) as a [`PublicKey`].
fn cose_key(raw: &[u8]) -> Result<PublicKey, WebAuthnError> {
    let v: Cbor = ciborium::de::from_reader(raw).map_err(|_| fail("COSE key is not CBOR"))?;
    let map = v.as_map().ok_or(fail("COSE key is not a map"))?;
    let kty = cose_get(map, 1).and_then(cbor_int);
    let alg = cose_get(map, 3).and_then(cbor_int);
    let b = |k: i128| -> Result<Vec<u8>, WebAuthnError> {
        cose_get(map, k)
            .and_then(Cbor::as_bytes)
            .cloned()
            .ok_or(fail("COSE key lacks a parameter"))
    };
    match (kty, alg) {
        (Some(2), Some(-7)) => {
            if cose_get(map, -1).and_then(cbor_int) != Some(1) {
                return Err(fail("EC2 key is not P-256"));
            }
            let (x, y) = (b(-2)?, b(-3)?);
            if x.len() != 32 || y.len() != 32 {
                return Err(fail("bad P-256 coordinates"));
            }
            let mut point = vec![4u8];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            Ok(PublicKey::Es256(b64url(&point)))
        }
        (Some(3), Some(-257)) => {
            let (n, e) = (b(-1)?, b(-2)?);
            if n.len() < 256 {
                return Err(fail("RSA key shorter than 2048 bits"));
            }
            Ok(PublicKey::Rs256 {
                n: b64url(&n),
                e: b64url(&e),
            })
        }
        (Some(1), Some(-8)) => {
            if cose_get(map, -1).and_then(cbor_int) != Some(6) {
                return Err(fail("OKP key is not Ed25519"));
            }
            let x = b(-2)?;
            if x.len() != 32 {
                return Err(fail("bad Ed25519 key"));
            }
            Ok(PublicKey::EdDsa(b64url(&x)))
        }
        _ => Err(fail("unsupported key type or algorithm")),
    }
}

impl PublicKey {
    /// Verify `sig` over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let dec = |s: &str| unb64url(s).unwrap_or_default();
        match self {
            PublicKey::Es256(p) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, dec(p))
                    .verify(msg, sig)
                    .is_ok()
            }
            PublicKey::Rs256 { n, e } => signature::RsaPublicKeyComponents {
                n: dec(n),
                e: dec(e),
            }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
            .is_ok(),
            PublicKey::EdDsa(k) => UnparsedPublicKey::new(&signature::ED25519, dec(k))
                .verify(msg, sig)
                .is_ok(),
        }
    }

    fn alg(&self) -> i128 {
        match self {
            PublicKey::Es256(_) => -7,
            PublicKey::Rs256 { .. } => -257,
            PublicKey::EdDsa(_) => -8,
        }
    }
}

/// A verified registration: the credential to store.
#[derive(Debug)]
pub struct Registered {
    /// The credential id, base64url.
    pub credential_id: String,
    /// Its public key.
    pub key: PublicKey,
    /// The authenticator's counter.
    pub sign_count: u32,
}

/// Verify a registration (`publicKeyCredentialToJSON` of `navigator.credentials.create`).
pub fn verify_registration(
    credential: &Value,
    exp: &Expected<'_>,
) -> Result<Registered, WebAuthnError> {
    let cdj = bytes(credential, &["response", "clientDataJSON"])?;
    client_data(&cdj, "webauthn.create", exp)?;
    let att = bytes(credential, &["response", "attestationObject"])?;
    let obj: Cbor =
        ciborium::de::from_reader(att.as_slice()).map_err(|_| fail("attestation is not CBOR"))?;
    let map = obj.as_map().ok_or(fail("attestation is not a map"))?;
    let get = |k: &str| {
        map.iter()
            .find(|(key, _)| key.as_text() == Some(k))
            .map(|(_, v)| v)
    };
    let fmt = get("fmt").and_then(Cbor::as_text).ok_or(fail("no fmt"))?;
    let raw = get("authData")
        .and_then(Cbor::as_bytes)
        .ok_or(fail("no authData"))?;
    let ad = auth_data(raw)?;
    if !ct_eq(ad.rp_id_hash, &sha256(exp.rp_id.as_bytes())) {
        return Err(fail("rpIdHash mismatch"));
    }
    if ad.flags & UP == 0 {
        return Err(fail("user not present"));
    }
    let (cred_id, key_bytes) = ad.attested.ok_or(fail("no attested credential"))?;
    let key = cose_key(key_bytes)?;
    let id = credential
        .get("rawId")
        .or_else(|| credential.get("id"))
        .and_then(Value::as_str)
        .and_then(unb64url)
        .ok_or(fail("no credential id"))?;
    if !ct_eq(&id, cred_id) {
        return Err(fail("credential id mismatch"));
    }
    if fmt == "packed" {
        let stmt = get("attStmt")
            .and_then(Cbor::as_map)
            .ok_or(fail("no attStmt"))?;
        let st = |k: &str| {
            stmt.iter()
                .find(|(key, _)| key.as_text() == Some(k))
                .map(|(_, v)| v)
        };
        // Self attestation (no certificate): signed by the credential's own key.
        if st("x5c").is_none() {
            let alg = st("alg").and_then(cbor_int);
            let sig = st("sig").and_then(Cbor::as_bytes).ok_or(fail("no sig"))?;
            if alg != Some(key.alg()) {
                return Err(fail("attestation alg mismatch"));
            }
            let mut msg = raw.clone();
            msg.extend_from_slice(&sha256(&cdj));
            if !key.verify(&msg, sig) {
                return Err(fail("bad self-attestation signature"));
            }
        }
    }
    Ok(Registered {
        credential_id: b64url(cred_id),
        key,
        sign_count: ad.sign_count,
    })
}

/// Verify an assertion of the credential `credential_id` with `key`, last counter
/// `stored_count`, for the user whose handle is `user_handle`; the new counter.
pub fn verify_assertion(
    credential: &Value,
    exp: &Expected<'_>,
    credential_id: &str,
    key: &PublicKey,
    stored_count: u32,
    user_handle: &[u8],
) -> Result<u32, WebAuthnError> {
    let id = credential
        .get("rawId")
        .or_else(|| credential.get("id"))
        .and_then(Value::as_str)
        .ok_or(fail("no credential id"))?;
    let stored = unb64url(credential_id).unwrap_or_default();
    if !ct_eq(&unb64url(id).unwrap_or_default(), &stored) {
        return Err(fail("unknown credential"));
    }
    let cdj = bytes(credential, &["response", "clientDataJSON"])?;
    client_data(&cdj, "webauthn.get", exp)?;
    let raw = bytes(credential, &["response", "authenticatorData"])?;
    let ad = auth_data(&raw)?;
    if !ct_eq(ad.rp_id_hash, &sha256(exp.rp_id.as_bytes())) {
        return Err(fail("rpIdHash mismatch"));
    }
    if ad.flags & UP == 0 {
        return Err(fail("user not present"));
    }
    // `userHandle` may be null (non-discoverable keys); when sent it must be the user's.
    match credential.pointer("/response/userHandle") {
        None | Some(Value::Null) => {}
        Some(Value::String(h)) if h.is_empty() => {}
        Some(Value::String(h)) => {
            if !ct_eq(&unb64url(h).unwrap_or_default(), user_handle) {
                return Err(fail("userHandle mismatch"));
            }
        }
        Some(_) => return Err(fail("bad userHandle")),
    }
    let sig = bytes(credential, &["response", "signature"])?;
    let mut msg = raw.clone();
    msg.extend_from_slice(&sha256(&cdj));
    if !key.verify(&msg, &sig) {
        return Err(fail("bad signature"));
    }
    if (ad.sign_count != 0 || stored_count != 0) && ad.sign_count <= stored_count {
        return Err(fail(
            "signature counter did not increase (cloned authenticator?)",
        ));
    }
    Ok(ad.sign_count)
}
