//! A software WebAuthn authenticator (W3C WebAuthn L2 §6): makes credentials and signs
//! assertions with ES256 (ring ECDSA P-256), EdDSA (ring Ed25519) or RS256 (a 2048-bit RSA
//! key), and answers with what `publicKeyCredentialToJSON` in the login box sends. CBOR is
//! written by hand (RFC 8949 §3), so the server's parser is checked against an independent
//! encoder. Knobs let a test break one thing at a time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

/// Which key the authenticator holds.
#[derive(Clone, Copy, Debug)]
pub enum Alg {
    Es256,
    EdDsa,
    Rs256,
}

enum Signer {
    Es(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rs(Box<super::minted::Key>),
}

/// One credential on one authenticator.
pub struct Authenticator {
    signer: Signer,
    /// The ES256 key as PKCS#8 (what a browser's virtual authenticator takes).
    pub pkcs8: Option<Vec<u8>>,
    pub credential_id: Vec<u8>,
    pub count: u32,
    pub rp_id: String,
    pub origin: String,
}

fn head(major: u8, n: u64, out: &mut Vec<u8>) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

/// A CBOR item, enough for COSE keys and attestation objects.
pub enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(String),
    Map(Vec<(Cbor, Cbor)>),
}

impl Cbor {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Int(i) if *i >= 0 => head(0, *i as u64, out),
            Cbor::Int(i) => head(1, (-1 - *i) as u64, out),
            Cbor::Bytes(b) => {
                head(2, b.len() as u64, out);
                out.extend(b);
            }
            Cbor::Text(t) => {
                head(3, t.len() as u64, out);
                out.extend(t.as_bytes());
            }
            Cbor::Map(kv) => {
                head(5, kv.len() as u64, out);
                for (k, v) in kv {
                    k.encode(out);
                    v.encode(out);
                }
            }
        }
    }
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn sha256(b: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b)
        .as_ref()
        .to_vec()
}

/// What a test breaks in one ceremony.
#[derive(Default, Clone)]
pub struct Tamper {
    pub challenge: Option<String>,
    pub origin: Option<String>,
    pub rp_id: Option<String>,
    pub ceremony_type: Option<String>,
    pub no_user_presence: bool,
    pub bad_signature: bool,
    pub credential_id: Option<Vec<u8>>,
    pub user_handle: Option<Value>,
    pub count: Option<u32>,
    /// `packed` self-attestation (registration), its signature broken when `bad_signature`.
    pub packed: bool,
}

impl Authenticator {
    pub fn new(alg: Alg, rp_id: &str, origin: &str) -> Self {
        let rng = SystemRandom::new();
        let mut kept = None;
        let signer = match alg {
            Alg::Es256 => {
                let pkcs8 =
                    EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                        .unwrap();
                kept = Some(pkcs8.as_ref().to_vec());
                Signer::Es(
                    EcdsaKeyPair::from_pkcs8(
                        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                        pkcs8.as_ref(),
                        &rng,
                    )
                    .unwrap(),
                )
            }
            Alg::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                Signer::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
            }
            Alg::Rs256 => Signer::Rs(Box::new(super::minted::key("webauthn"))),
        };
        let mut credential_id = vec![0u8; 32];
        ring::rand::SecureRandom::fill(&rng, &mut credential_id).unwrap();
        Authenticator {
            signer,
            pkcs8: kept,
            credential_id,
            count: 0,
            rp_id: rp_id.into(),
            origin: origin.into(),
        }
    }

    fn cose(&self) -> Cbor {
        match &self.signer {
            Signer::Es(k) => {
                let p = k.public_key().as_ref();
                Cbor::Map(vec![
                    (Cbor::Int(1), Cbor::Int(2)),
                    (Cbor::Int(3), Cbor::Int(-7)),
                    (Cbor::Int(-1), Cbor::Int(1)),
                    (Cbor::Int(-2), Cbor::Bytes(p[1..33].to_vec())),
                    (Cbor::Int(-3), Cbor::Bytes(p[33..65].to_vec())),
                ])
            }
            Signer::Ed(k) => Cbor::Map(vec![
                (Cbor::Int(1), Cbor::Int(1)),
                (Cbor::Int(3), Cbor::Int(-8)),
                (Cbor::Int(-1), Cbor::Int(6)),
                (Cbor::Int(-2), Cbor::Bytes(k.public_key().as_ref().to_vec())),
            ]),
            Signer::Rs(k) => Cbor::Map(vec![
                (Cbor::Int(1), Cbor::Int(3)),
                (Cbor::Int(3), Cbor::Int(-257)),
                (Cbor::Int(-1), Cbor::Bytes(k.public.n().to_bytes_be())),
                (Cbor::Int(-2), Cbor::Bytes(k.public.e().to_bytes_be())),
            ]),
        }
    }

    fn alg(&self) -> i64 {
        match self.signer {
            Signer::Es(_) => -7,
            Signer::Ed(_) => -8,
            Signer::Rs(_) => -257,
        }
    }

    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Es(k) => k.sign(&rng, msg).unwrap().as_ref().to_vec(),
            Signer::Ed(k) => k.sign(msg).as_ref().to_vec(),
            Signer::Rs(k) => {
                let mut sig = vec![0; k.pair.public().modulus_len()];
                k.pair
                    .sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .unwrap();
                sig
            }
        }
    }

    fn client_data(&self, kind: &str, options: &Value, t: &Tamper) -> Vec<u8> {
        let challenge = t
            .challenge
            .clone()
            .unwrap_or_else(|| options["challenge"].as_str().unwrap().to_owned());
        serde_json::to_vec(&json!({
            "type": t.ceremony_type.clone().unwrap_or_else(|| kind.into()),
            "challenge": challenge,
            "origin": t.origin.clone().unwrap_or_else(|| self.origin.clone()),
            "crossOrigin": false
        }))
        .unwrap()
    }

    fn auth_data(&self, attested: bool, t: &Tamper) -> Vec<u8> {
        let mut ad = sha256(t.rp_id.as_deref().unwrap_or(&self.rp_id).as_bytes());
        let mut flags = if t.no_user_presence { 0 } else { 0x01 };
        if attested {
            flags |= 0x40;
        }
        ad.push(flags);
        ad.extend(t.count.unwrap_or(self.count).to_be_bytes());
        if attested {
            ad.extend([0u8; 16]);
            ad.extend((self.credential_id.len() as u16).to_be_bytes());
            ad.extend(&self.credential_id);
            ad.extend(self.cose().bytes());
        }
        ad
    }

    /// `navigator.credentials.create({publicKey: options})`, as the login box posts it.
    pub fn register(&mut self, options: &Value, t: &Tamper) -> Value {
        let cdj = self.client_data("webauthn.create", options, t);
        let ad = self.auth_data(true, t);
        let stmt = if t.packed {
            let mut msg = ad.clone();
            msg.extend(sha256(&cdj));
            let mut sig = self.sign(&msg);
            if t.bad_signature {
                sig[10] ^= 0xff;
            }
            Cbor::Map(vec![
                (Cbor::Text("alg".into()), Cbor::Int(self.alg())),
                (Cbor::Text("sig".into()), Cbor::Bytes(sig)),
            ])
        } else {
            Cbor::Map(vec![])
        };
        let att = Cbor::Map(vec![
            (
                Cbor::Text("fmt".into()),
                Cbor::Text(if t.packed { "packed" } else { "none" }.into()),
            ),
            (Cbor::Text("attStmt".into()), stmt),
            (Cbor::Text("authData".into()), Cbor::Bytes(ad)),
        ]);
        let id = B64.encode(t.credential_id.as_ref().unwrap_or(&self.credential_id));
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "response": {
                "clientDataJSON": B64.encode(&cdj),
                "attestationObject": B64.encode(att.bytes())
            }
        })
    }

    /// `navigator.credentials.get({publicKey: options})`; the counter moves on.
    pub fn assert(&mut self, options: &Value, t: &Tamper) -> Value {
        self.count += 1;
        let cdj = self.client_data("webauthn.get", options, t);
        let ad = self.auth_data(false, t);
        let mut msg = ad.clone();
        msg.extend(sha256(&cdj));
        let mut sig = self.sign(&msg);
        if t.bad_signature {
            let i = sig.len() / 2;
            sig[i] ^= 0xff;
        }
        let id = B64.encode(t.credential_id.as_ref().unwrap_or(&self.credential_id));
        json!({
            "id": id, "rawId": id, "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "response": {
                "clientDataJSON": B64.encode(&cdj),
                "authenticatorData": B64.encode(&ad),
                "signature": B64.encode(&sig),
                "userHandle": t.user_handle.clone().unwrap_or(Value::Null)
            }
        })
    }
}
