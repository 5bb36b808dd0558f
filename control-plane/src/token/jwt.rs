//! JWT compact serialisation, strictly: RS256 only, canonical base64url, no key-carrying or
//! critical headers, typed claims (duplicate claim names are refused by serde).

use aws_lc_rs::signature::ParsedPublicKey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::TokenError;
use super::keys::Signer;
use crate::crypto::{b64url, unb64url};

/// Longest token the control plane will look at.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three canonical base64url segments of JSON.
    #[error("malformed token")]
    Malformed,
    /// Algorithm other than RS256, or a forbidden header.
    #[error("unsupported token header")]
    BadHeader,
    /// No key with that id.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParsedHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

pub(super) fn encode<C: Serialize>(signer: &Signer, claims: &C) -> Result<String, TokenError> {
    let header = serde_json::to_vec(&Header {
        alg: "RS256",
        typ: "JWT",
        kid: &signer.kid,
    })
    .map_err(|_| TokenError::Sign)?;
    let payload = serde_json::to_vec(claims).map_err(|_| TokenError::Sign)?;
    let signing_input = format!("{}.{}", b64url(&header), b64url(&payload));
    let sig = signer.sign(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64url(&sig)))
}

pub(super) fn verify<C: DeserializeOwned>(
    verifiers: &[(String, ParsedPublicKey)],
    token: &str,
) -> Result<C, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(JwtError::Malformed);
    }
    let header: ParsedHeader = shared::json::from_bytes(&unb64url(h).ok_or(JwtError::Malformed)?)
        .map_err(|_| JwtError::BadHeader)?;
    if header.alg != "RS256" || header.typ.as_deref().is_some_and(|t| t != "JWT") {
        return Err(JwtError::BadHeader);
    }
    let kid = header.kid.ok_or(JwtError::UnknownKey)?;
    let key = verifiers
        .iter()
        .find(|(k, _)| *k == kid)
        .map(|(_, v)| v)
        .ok_or(JwtError::UnknownKey)?;
    let sig = unb64url(s).ok_or(JwtError::Malformed)?;
    let signed_len = h.len() + 1 + p.len();
    key.verify_sig(&token.as_bytes()[..signed_len], &sig)
        .map_err(|_| JwtError::BadSignature)?;
    shared::json::from_bytes(&unb64url(p).ok_or(JwtError::Malformed)?)
        .map_err(|_| JwtError::Malformed)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::token::keys::{build_ring, generate};

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    fn b64(s: &str) -> String {
        b64url(s.as_bytes())
    }

    #[test]
    fn roundtrip_and_every_forgery_is_refused() {
        let ring = build_ring(&[generate("2026-01-01T00:00:00Z").unwrap()]).unwrap();
        let other = build_ring(&[generate("2026-01-01T00:00:00Z").unwrap()]).unwrap();
        let signer = ring.active.as_ref().unwrap();
        let token = encode(signer, &serde_json::json!({"sub": "u1", "exp": 10})).unwrap();
        let ok: Claims = verify(&ring.verifiers, &token).unwrap();
        assert_eq!(
            ok,
            Claims {
                sub: "u1".into(),
                exp: 10
            }
        );

        let v = |t: &str| verify::<Claims>(&ring.verifiers, t);
        let (h, rest) = token.split_once('.').unwrap();
        let (p, s) = rest.split_once('.').unwrap();
        // Signed by another key (same kid format, different key).
        let foreign = encode(
            other.active.as_ref().unwrap(),
            &serde_json::json!({"sub": "u1", "exp": 10}),
        )
        .unwrap();
        assert_eq!(v(&foreign).unwrap_err(), JwtError::UnknownKey);
        // Payload swapped.
        let evil = format!("{h}.{}.{s}", b64(r#"{"sub":"admin","exp":10}"#));
        assert_eq!(v(&evil).unwrap_err(), JwtError::BadSignature);
        // alg none / HS256 / extra key-carrying headers.
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"HS256","typ":"JWT","kid":"x"}"#,
            &format!(
                r#"{{"alg":"RS256","kid":"{}","jku":"http://127.0.0.9/"}}"#,
                signer.kid
            ),
            &format!(r#"{{"alg":"RS256","kid":"{}","crit":["exp"]}}"#, signer.kid),
            &format!(r#"{{"alg":"RS256","kid":"{}","typ":"at+jwt"}}"#, signer.kid),
        ] {
            assert_eq!(
                v(&format!("{}.{p}.{s}", b64(header))).unwrap_err(),
                JwtError::BadHeader,
                "{header}"
            );
        }
        // Shapes.
        for bad in [
            String::new(),
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}."),
            format!("{h}.{p}.{s}.x"),
            format!("{h}..{s}"),
            format!("{h}.{p}.{s}="),
            format!("{h}.{p}+.{s}"),
            format!("{}.{p}.{s}", "A".repeat(20_000)),
        ] {
            assert!(v(&bad).is_err(), "{bad:.60}");
        }
    }

    #[test]
    fn duplicate_claims_are_refused_even_when_signed() {
        let ring = build_ring(&[generate("2026-01-01T00:00:00Z").unwrap()]).unwrap();
        let signer = ring.active.as_ref().unwrap();
        // Sign a raw payload with a duplicate claim.
        let header = serde_json::to_vec(&Header {
            alg: "RS256",
            typ: "JWT",
            kid: &signer.kid,
        })
        .unwrap();
        let input = format!(
            "{}.{}",
            b64url(&header),
            b64(r#"{"sub":"a","sub":"b","exp":1}"#)
        );
        let sig = signer.sign(input.as_bytes()).unwrap();
        let token = format!("{input}.{}", b64url(&sig));
        assert_eq!(
            verify::<Claims>(&ring.verifiers, &token).unwrap_err(),
            JwtError::Malformed
        );
    }
}
