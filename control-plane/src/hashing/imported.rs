//! Password hashes imported from another system (the data-migration API, `compat-wave2.md`
//! §16): `bcrypt`, `scrypt`, `firebase-scrypt`, `pbkdf2`, `argon2`, `sha256`, `sha1`. An
//! imported hash is checked once, at the user's first successful login, and replaced there by
//! Tessera's argon2id hash (`model::login::check_password`).
//!
//! Invariants:
//! - A hash is parsed and its cost bounded when it is imported ([`parse`]): an unreadable
//!   hash, a missing parameter or a cost beyond the bounds below is refused then (a per-user
//!   error), never discovered at login. The bounds keep one check within what an attacker
//!   may make the server do per login attempt (scrypt ≤ 64 MiB, bcrypt cost ≤ 15, PBKDF2
//!   ≤ 2,000,000 iterations, argon2 ≤ 256 MiB and 10 passes).
//! - Every comparison is constant-time (`crypto::ct_eq`, or the crates' own).
//! - The stored form is `$tessera-imported$` + base64url(JSON): never a PHC string, so no
//!   imported hash is ever mistaken for one of Tessera's own.
//!
//! The encodings accepted (documented in `docs/migration.md`):
//! - `bcrypt`: the modular-crypt string (`$2a$`, `$2b$`, `$2y$`).
//! - `argon2`: a PHC string (`$argon2id$`, `$argon2i$`, `$argon2d$`).
//! - `scrypt`: `salt⟨saltSeparator⟩key`, the salt as text, the key base64 or hex;
//!   `passwordHashConfig` `{saltSeparator, N, r, p, keyLen}`.
//! - `firebase-scrypt`: `salt:passwordHash` as Firebase's `auth:export` writes each (base64);
//!   `passwordHashConfig` `{memCost, rounds, saltSeparator, signerKey}` from the project's
//!   password hash parameters.
//! - `pbkdf2`: Django's `pbkdf2_sha256$iterations$salt$hash`, or `salt⟨saltSeparator⟩hash`
//!   with `passwordHashConfig` `{iterations, digest: sha1|sha256|sha512, saltSeparator}`.
//! - `sha256`, `sha1`: the digest (hex or base64) of the password, or `salt⟨saltSeparator⟩digest`
//!   of the salt and password (`saltPosition` `prefix`, the default, or `suffix`).

use base64::Engine;
use serde::{Deserialize, Serialize};

/// The stored form's prefix.
pub const PREFIX: &str = "$tessera-imported$";

const MAX_BCRYPT_COST: u32 = 15;
const MAX_SCRYPT_BYTES: u64 = 64 * 1024 * 1024;
const MAX_PBKDF2_ITERATIONS: u32 = 2_000_000;
const MAX_ARGON2_KIB: u32 = 256 * 1024;
const MAX_ARGON2_PASSES: u32 = 10;

/// The types the migration API names (`PasswordHashingType`).
pub const TYPES: &[&str] = &[
    "bcrypt",
    "scrypt",
    "firebase-scrypt",
    "pbkdf2",
    "argon2",
    "sha256",
    "sha1",
];

/// A parsed imported hash, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Imported {
    Bcrypt {
        hash: String,
    },
    Argon2 {
        phc: String,
    },
    Scrypt {
        salt: String,
        key: String,
        log_n: u8,
        r: u32,
        p: u32,
    },
    FirebaseScrypt {
        salt: String,
        hash: String,
        salt_separator: String,
        signer_key: String,
        rounds: u32,
        mem_cost: u32,
    },
    Pbkdf2 {
        digest: Digest,
        iterations: u32,
        salt: String,
        hash: String,
    },
    Sha {
        digest: Digest,
        salt: String,
        salt_last: bool,
        hash: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Digest {
    Sha1,
    Sha256,
    Sha512,
}

impl Digest {
    fn named(s: &str) -> Option<Digest> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "sha1" => Some(Digest::Sha1),
            "sha256" => Some(Digest::Sha256),
            "sha512" => Some(Digest::Sha512),
            _ => None,
        }
    }
    fn len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha256 => 32,
            Digest::Sha512 => 64,
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s.trim()).ok())
}

/// A digest's bytes written as hex (when it has exactly the hex length) or base64.
fn digest_bytes(s: &str, len: Option<usize>) -> Result<Vec<u8>, String> {
    let s = s.trim();
    let hex = data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).ok();
    let bytes = match (hex, len) {
        (Some(h), Some(n)) if h.len() == n => h,
        (Some(h), None) if s.len() >= 32 => h,
        _ => unb64(s).ok_or("the hash is neither hex nor base64")?,
    };
    match len {
        Some(n) if bytes.len() != n => Err(format!(
            "the hash decodes to {} bytes, expected {n}",
            bytes.len()
        )),
        _ if bytes.len() < 16 => Err("the hash is shorter than 16 bytes".into()),
        _ => Ok(bytes),
    }
}

/// `passwordHashConfig`: stringified JSON.
fn config(raw: Option<&str>) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(serde_json::Map::new()),
        Some(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            _ => Err("passwordHashConfig must be a stringified JSON object".into()),
        },
    }
}

fn num(c: &serde_json::Map<String, serde_json::Value>, key: &str) -> Result<Option<u64>, String> {
    match c.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| format!("passwordHashConfig.{key} must be a positive integer")),
    }
}

fn need(c: &serde_json::Map<String, serde_json::Value>, key: &str) -> Result<u64, String> {
    num(c, key)?.ok_or_else(|| format!("passwordHashConfig.{key} is required"))
}

fn text<'a>(c: &'a serde_json::Map<String, serde_json::Value>, key: &str) -> Option<&'a str> {
    c.get(key).and_then(|v| v.as_str())
}

fn split_salt<'a>(hash: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    if sep.is_empty() {
        return None;
    }
    hash.rsplit_once(sep)
}

/// Parse an imported hash of `kind` and bound its cost: the stored form, or why not.
pub fn parse(kind: &str, hash: &str, raw_config: Option<&str>) -> Result<String, String> {
    let hash = hash.trim();
    if hash.is_empty() || hash.len() > 4096 {
        return Err("passwordHash must be 1 to 4096 characters".into());
    }
    let c = config(raw_config)?;
    let parsed = match kind {
        "bcrypt" => {
            let cost = hash
                .strip_prefix("$2a$")
                .or_else(|| hash.strip_prefix("$2b$"))
                .or_else(|| hash.strip_prefix("$2y$"))
                .or_else(|| hash.strip_prefix("$2x$"))
                .and_then(|r| r.get(..2))
                .and_then(|c| c.parse::<u32>().ok())
                .filter(|_| hash.len() == 60)
                .ok_or("a bcrypt hash is a 60-character $2a$/$2b$/$2y$ string")?;
            if !(4..=MAX_BCRYPT_COST).contains(&cost) {
                return Err(format!("bcrypt cost must be 4 to {MAX_BCRYPT_COST}"));
            }
            Imported::Bcrypt { hash: hash.into() }
        }
        "argon2" => {
            let phc = argon2::password_hash::PasswordHash::new(hash)
                .map_err(|_| "an argon2 hash is a PHC string ($argon2id$v=19$m=…)")?;
            if !["argon2id", "argon2i", "argon2d"].contains(&phc.algorithm.as_str()) {
                return Err("an argon2 hash names argon2id, argon2i or argon2d".into());
            }
            let params =
                argon2::Params::try_from(&phc).map_err(|e| format!("argon2 parameters: {e}"))?;
            if params.m_cost() > MAX_ARGON2_KIB || params.t_cost() > MAX_ARGON2_PASSES {
                return Err(format!(
                    "argon2 cost must be at most m={MAX_ARGON2_KIB}, t={MAX_ARGON2_PASSES}"
                ));
            }
            Imported::Argon2 { phc: hash.into() }
        }
        "scrypt" => {
            let sep = text(&c, "saltSeparator").unwrap_or(":");
            let n = need(&c, "N")?;
            let r = need(&c, "r")?;
            let p = num(&c, "p")?.unwrap_or(1);
            let key_len = need(&c, "keyLen")?;
            if !n.is_power_of_two() || n < 2 || !(1..=64).contains(&r) || !(1..=16).contains(&p) {
                return Err("scrypt needs N a power of two, r 1 to 64, p 1 to 16".into());
            }
            if 128 * n * r * p > MAX_SCRYPT_BYTES {
                return Err("scrypt cost must stay within 64 MiB (128·N·r·p)".into());
            }
            if !(16..=128).contains(&key_len) {
                return Err("scrypt keyLen must be 16 to 128".into());
            }
            let (salt, key) = split_salt(hash, sep)
                .ok_or("a scrypt hash is the salt and the key joined by saltSeparator")?;
            let key = digest_bytes(key, Some(key_len as usize))?;
            Imported::Scrypt {
                salt: b64(salt.as_bytes()),
                key: b64(&key),
                log_n: n.trailing_zeros() as u8,
                r: r as u32,
                p: p as u32,
            }
        }
        "firebase-scrypt" => {
            let mem_cost = need(&c, "memCost")?;
            let rounds = need(&c, "rounds")?;
            if !(1..=15).contains(&mem_cost) || !(1..=16).contains(&rounds) {
                return Err("firebase-scrypt needs memCost 1 to 15 and rounds 1 to 16".into());
            }
            let sep =
                text(&c, "saltSeparator").ok_or("passwordHashConfig.saltSeparator is required")?;
            let signer = text(&c, "signerKey").ok_or("passwordHashConfig.signerKey is required")?;
            let (salt, h) = hash
                .split_once(':')
                .ok_or("a firebase-scrypt hash is `salt:passwordHash` (base64 each)")?;
            for (name, v) in [
                ("salt", salt),
                ("hash", h),
                ("saltSeparator", sep),
                ("signerKey", signer),
            ] {
                if unb64(v).is_none() {
                    return Err(format!("firebase-scrypt {name} is not base64"));
                }
            }
            Imported::FirebaseScrypt {
                salt: salt.into(),
                hash: h.into(),
                salt_separator: sep.into(),
                signer_key: signer.into(),
                rounds: rounds as u32,
                mem_cost: mem_cost as u32,
            }
        }
        "pbkdf2" => {
            let django = hash.strip_prefix("pbkdf2_").and_then(|rest| {
                let mut parts = rest.splitn(4, '$');
                Some((parts.next()?, parts.next()?, parts.next()?, parts.next()?))
            });
            let (digest, iterations, salt, digest_text) = match django {
                Some((d, i, s, h)) => (
                    Digest::named(d).ok_or("pbkdf2 digest must be sha1, sha256 or sha512")?,
                    i.parse::<u64>()
                        .map_err(|_| "pbkdf2 iterations must be a number")?,
                    s,
                    h,
                ),
                None => {
                    let d = text(&c, "digest")
                        .or_else(|| text(&c, "algorithm"))
                        .unwrap_or("sha256");
                    let sep = text(&c, "saltSeparator").unwrap_or(":");
                    let (s, h) = split_salt(hash, sep).ok_or(
                        "a pbkdf2 hash is Django's pbkdf2_<digest>$… or salt⟨saltSeparator⟩hash",
                    )?;
                    (
                        Digest::named(d).ok_or("pbkdf2 digest must be sha1, sha256 or sha512")?,
                        need(&c, "iterations")?,
                        s,
                        h,
                    )
                }
            };
            if !(1..=u64::from(MAX_PBKDF2_ITERATIONS)).contains(&iterations) {
                return Err(format!(
                    "pbkdf2 iterations must be 1 to {MAX_PBKDF2_ITERATIONS}"
                ));
            }
            let bytes = digest_bytes(digest_text, None)?;
            if bytes.len() > 128 {
                return Err("a pbkdf2 hash is at most 128 bytes".into());
            }
            Imported::Pbkdf2 {
                digest,
                iterations: iterations as u32,
                salt: b64(salt.as_bytes()),
                hash: b64(&bytes),
            }
        }
        "sha256" | "sha1" => {
            let digest = if kind == "sha256" {
                Digest::Sha256
            } else {
                Digest::Sha1
            };
            let salt_last = match text(&c, "saltPosition") {
                None | Some("prefix") => false,
                Some("suffix") => true,
                Some(_) => return Err("saltPosition must be prefix or suffix".into()),
            };
            let sep = text(&c, "saltSeparator").unwrap_or(":");
            let (salt, h) = split_salt(hash, sep).unwrap_or(("", hash));
            let bytes = digest_bytes(h, Some(digest.len()))?;
            Imported::Sha {
                digest,
                salt: b64(salt.as_bytes()),
                salt_last,
                hash: b64(&bytes),
            }
        }
        other => {
            return Err(format!(
                "passwordHashType {other:?} is not one of {}",
                TYPES.join(", ")
            ));
        }
    };
    let json = serde_json::to_vec(&parsed).map_err(|e| e.to_string())?;
    Ok(format!("{PREFIX}{}", crate::crypto::b64url(&json)))
}

/// Whether `password` matches a stored imported hash (`Err` when the record is unreadable).
pub fn verify(stored: &str, password: &[u8]) -> Result<bool, String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body = stored.strip_prefix(PREFIX).ok_or("not an imported hash")?;
    let json = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| "imported hash: bad encoding")?;
    let parsed: Imported =
        shared::json::from_bytes(&json).map_err(|e| format!("imported hash: {e}"))?;
    let bytes = |s: &str| unb64(s).ok_or_else(|| "imported hash: bad base64".to_string());
    match parsed {
        Imported::Bcrypt { hash } => Ok(bcrypt::verify(password, &hash).unwrap_or(false)),
        Imported::Argon2 { phc } => {
            use argon2::PasswordVerifier;
            let h = argon2::password_hash::PasswordHash::new(&phc)
                .map_err(|e| format!("argon2: {e}"))?;
            Ok(argon2::Argon2::default()
                .verify_password(password, &h)
                .is_ok())
        }
        Imported::Scrypt {
            salt,
            key,
            log_n,
            r,
            p,
        } => {
            let expected = bytes(&key)?;
            let params = scrypt::Params::new(log_n, r, p).map_err(|e| e.to_string())?;
            let mut out = vec![0u8; expected.len()];
            scrypt::scrypt(password, &bytes(&salt)?, &params, &mut out)
                .map_err(|e| e.to_string())?;
            Ok(crate::crypto::ct_eq(&out, &expected))
        }
        Imported::FirebaseScrypt {
            salt,
            hash,
            salt_separator,
            signer_key,
            rounds,
            mem_cost,
        } => {
            let Ok(password) = std::str::from_utf8(password) else {
                return Ok(false);
            };
            Ok(firebase_scrypt::verify_password(
                password,
                &hash,
                &salt,
                &salt_separator,
                &signer_key,
                rounds,
                mem_cost,
            )
            .unwrap_or(false))
        }
        Imported::Pbkdf2 {
            digest,
            iterations,
            salt,
            hash,
        } => {
            let alg = match digest {
                Digest::Sha1 => ring::pbkdf2::PBKDF2_HMAC_SHA1,
                Digest::Sha256 => ring::pbkdf2::PBKDF2_HMAC_SHA256,
                Digest::Sha512 => ring::pbkdf2::PBKDF2_HMAC_SHA512,
            };
            let Some(iterations) = std::num::NonZeroU32::new(iterations) else {
                return Ok(false);
            };
            Ok(
                ring::pbkdf2::verify(alg, iterations, &bytes(&salt)?, password, &bytes(&hash)?)
                    .is_ok(),
            )
        }
        Imported::Sha {
            digest,
            salt,
            salt_last,
            hash,
        } => {
            let salt = bytes(&salt)?;
            let alg = match digest {
                Digest::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                Digest::Sha256 => &ring::digest::SHA256,
                Digest::Sha512 => &ring::digest::SHA512,
            };
            let mut ctx = ring::digest::Context::new(alg);
            if salt_last {
                ctx.update(password);
                ctx.update(&salt);
            } else {
                ctx.update(&salt);
                ctx.update(password);
            }
            Ok(crate::crypto::ct_eq(ctx.finish().as_ref(), &bytes(&hash)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: &str, hash: &str, config: Option<&str>, password: &str) {
        let stored = parse(kind, hash, config).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(stored.starts_with(PREFIX));
        assert!(
            verify(&stored, password.as_bytes()).unwrap(),
            "{kind}: the right password"
        );
        for wrong in [
            "",
            "x",
            &format!("{password}x"),
            &password[..password.len() - 1],
        ] {
            assert!(
                !verify(&stored, wrong.as_bytes()).unwrap(),
                "{kind}: {wrong:?}"
            );
        }
    }

    /// One vector per imported type, each made by a tool other than the code under test:
    /// bcrypt by OpenBSD's test suite, argon2 by the reference `argon2` CLI, Firebase's from
    /// its published parameters, the rest from Python's `hashlib` (`scrypt`, `pbkdf2_hmac`,
    /// `sha256`, `sha1`) and Django's `PBKDF2PasswordHasher`.
    #[test]
    fn every_imported_type_verifies_its_vector_and_nothing_else() {
        check(
            "bcrypt",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            None,
            "U*U",
        );
        check(
            "argon2",
            "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            None,
            "password",
        );
        check(
            "firebase-scrypt",
            "42xEC+ixf3L2lw==:lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==",
            Some(
                r#"{"memCost":14,"rounds":8,"saltSeparator":"Bw==","signerKey":"jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="}"#,
            ),
            "user1password",
        );
        check(
            "scrypt",
            "NaCl$fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
            Some(r#"{"saltSeparator":"$","N":1024,"r":8,"p":16,"keyLen":64}"#),
            "password",
        );
        check(
            "pbkdf2",
            "pbkdf2_sha256$1000$saltsalt$qQDPSZa3Ormyy9oK1Pu0ZLLwP2Svzmx3yu8OvDdq/J0=",
            None,
            "correct horse",
        );
        check(
            "pbkdf2",
            "saltsalt:a900cf4996b73ab9b2cbda0ad4fbb464b2f03f64afce6c77caef0ebc376afc9d",
            Some(r#"{"iterations":1000,"digest":"sha256"}"#),
            "correct horse",
        );
        check(
            "sha256",
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
            None,
            "password",
        );
        check(
            "sha1",
            "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
            None,
            "password",
        );
        check(
            "sha256",
            "pepper:4b65d30b048d9eab292a2ea50fd60423d3d5d581a6ed85169b8a0c4f7dd10c00",
            Some(r#"{"saltPosition":"prefix"}"#),
            "password",
        );
    }

    #[test]
    fn a_bad_or_too_costly_import_is_refused_when_imported() {
        let refused = [
            ("md5", "5f4dcc3b5aa765d61d8327deb882cf99", None),
            ("bcrypt", "$2a$05$short", None),
            (
                "bcrypt",
                "$2a$20$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
                None,
            ),
            ("argon2", "not a phc", None),
            (
                "argon2",
                "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
                None,
            ),
            (
                "scrypt",
                "salt$AAAA",
                Some(r#"{"saltSeparator":"$","N":1048576,"r":8,"p":1,"keyLen":64}"#),
            ),
            (
                "scrypt",
                "salt$AAAA",
                Some(r#"{"saltSeparator":"$","N":1000,"r":8,"p":1,"keyLen":64}"#),
            ),
            ("scrypt", "salt$AAAA", None),
            (
                "firebase-scrypt",
                "abc",
                Some(r#"{"memCost":14,"rounds":8}"#),
            ),
            (
                "pbkdf2",
                "pbkdf2_sha256$99999999$salt$qQDPSZa3Ormyy9oK1Pu0ZLLwP2Svzmx3yu8OvDdq/J0=",
                None,
            ),
            (
                "pbkdf2",
                "pbkdf2_md5$1000$salt$AAAAAAAAAAAAAAAAAAAAAA==",
                None,
            ),
            ("sha256", "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", None),
            ("sha1", "", None),
            (
                "sha1",
                "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8",
                Some("[1]"),
            ),
        ];
        for (kind, hash, config) in refused {
            assert!(
                parse(kind, hash, config).is_err(),
                "{kind} {hash} {config:?} was accepted"
            );
        }
        assert!(verify("$argon2id$v=19$…", b"x").is_err());
        assert!(verify(&format!("{PREFIX}!!"), b"x").is_err());
    }
}
