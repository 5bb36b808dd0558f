//! The decision engine: pure, synchronous functions over one [`View`], the request facts
//! and `now`. No I/O, no async, no locks of its own (the revocation sets are concurrent
//! maps, the token cache is the caller's). The adapter ([`crate::http`]) does the impure
//! work around it; [`decide`] is the one entry point.
//!
//! Order (`design.md` §6): the environment's IP rules → the route match (public, denied) →
//! token extraction and header/type routing → signature and parse (cached) → `exp`/`nbf`
//! with leeway → the verifying key still trusted → issuer/audience → revocations → the
//! account's IP rules and both levels' email-domain rules → route requirements.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use std::sync::Arc;

use shared::claims::{AccessClaims, STEP_UP_ACR};
use shared::wire::AccessTokenRecord;

use crate::cache::TokenCache;
use crate::routes::Requirement;
use crate::snapshot::{Revocations, Snapshot, TokenFacts};
use crate::view::View;

/// Longest token accepted (bytes); longer ones are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The request facts the decision needs, borrowed from the request.
pub struct Facts<'a> {
    /// Method of the original request.
    pub method: &'a str,
    /// Canonical path of the original request ([`crate::path::canonical`]).
    pub path: &'a str,
    /// The credential.
    pub token: TokenSource<'a>,
    /// The client's address (trusted-proxy rule applied).
    pub client_ip: std::net::IpAddr,
}

/// Who an allowed request is.
pub struct Identity {
    /// The verified token.
    pub verified: Arc<Verified>,
    /// For an access token (`x-api-key`): its record, whose rights replace the token's.
    pub record: Option<Arc<AccessTokenRecord>>,
}

/// An allowed request's identity (none for public routes).
pub type Permit = Option<Identity>;

/// Decide one request against one view: the environment's IP rules, the route match, the
/// (cached) signature check, then [`authorize`].
pub fn decide(
    view: &View,
    cache: &TokenCache,
    facts: &Facts<'_>,
    now: i64,
) -> Result<Permit, DenyReason> {
    let Some(snap) = view.snapshot.as_deref() else {
        return Err(DenyReason::SnapshotUnavailable);
    };
    check_environment_ip(snap, facts.client_ip)?;
    let req = view.routes.find(facts.method, facts.path);
    if req.public {
        return Ok(None);
    }
    if req.deny {
        return Err(DenyReason::RouteDenied);
    }
    let token = facts.token.token().ok_or(DenyReason::NoToken)?;
    let verified = cache.get_or_verify(token, || verify_token(snap, token))?;
    let record = authorize(
        snap,
        &view.revocations,
        &verified,
        &Inputs {
            source: facts.token,
            client_ip: facts.client_ip,
            route: req,
            now,
            leeway: view.leeway,
            access_tokens: &view.access_tokens,
        },
    )?;
    Ok(Some(Identity { verified, record }))
}

/// Why a request is denied. The `as_str` form is the metric label, the log field and the
/// `reason` of the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// No token where one is required.
    NoToken,
    /// Not a well-formed JWT (segments, base64url, JSON, claim types, duplicates, size).
    Malformed,
    /// `alg` other than RS256, or forbidden header parameters (`jku`, `x5u`, `jwk`, `crit`…).
    UnsupportedAlgorithm,
    /// `kid` missing (with several keys) or not in the key set.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// `exp` passed (beyond the leeway) or missing.
    Expired,
    /// `nbf` or `iat` in the future (beyond the leeway).
    NotYetValid,
    /// `iss` or `aud` is not this environment's.
    WrongAudience,
    /// The token type is not accepted in this header or on this route.
    WrongTokenType,
    /// A revocation voids the token (logout, lock, removal…).
    Revoked,
    /// The route needs roles or permissions the token lacks.
    Forbidden,
    /// The route needs a stepped-up (multi-factor, recent) authentication.
    StepUpRequired,
    /// The route is closed.
    RouteDenied,
    /// The client address is refused by the environment's or the account's IP rules.
    IpRestricted,
    /// The token's email domain is refused by the environment's or the account's rules.
    DomainRestricted,
    /// No policy snapshot is held: fail closed.
    SnapshotUnavailable,
    /// The original request's method or URI is not given exactly once, or two sources of it
    /// disagree, or the request carries an identity header in a spelling a proxy would not
    /// replace (`security.md` L1, L3).
    AmbiguousRequest,
    /// The request path cannot be made unambiguous (an encoded separator, a parameter, a
    /// control character, a bad encoding: `security.md` L2).
    InvalidPath,
    /// More than one credential: two `Authorization` headers, two `x-api-key`s, or both; or
    /// one that is not `Bearer` / not ASCII.
    AmbiguousCredentials,
}

impl DenyReason {
    /// Every reason, in metric order.
    pub const ALL: [DenyReason; 19] = [
        DenyReason::NoToken,
        DenyReason::Malformed,
        DenyReason::UnsupportedAlgorithm,
        DenyReason::UnknownKey,
        DenyReason::BadSignature,
        DenyReason::Expired,
        DenyReason::NotYetValid,
        DenyReason::WrongAudience,
        DenyReason::WrongTokenType,
        DenyReason::Revoked,
        DenyReason::Forbidden,
        DenyReason::StepUpRequired,
        DenyReason::RouteDenied,
        DenyReason::IpRestricted,
        DenyReason::DomainRestricted,
        DenyReason::SnapshotUnavailable,
        DenyReason::AmbiguousRequest,
        DenyReason::InvalidPath,
        DenyReason::AmbiguousCredentials,
    ];

    /// The label.
    pub const fn as_str(self) -> &'static str {
        match self {
            DenyReason::NoToken => "no_token",
            DenyReason::Malformed => "malformed_token",
            DenyReason::UnsupportedAlgorithm => "unsupported_algorithm",
            DenyReason::UnknownKey => "unknown_key",
            DenyReason::BadSignature => "bad_signature",
            DenyReason::Expired => "token_expired",
            DenyReason::NotYetValid => "token_not_yet_valid",
            DenyReason::WrongAudience => "wrong_audience",
            DenyReason::WrongTokenType => "wrong_token_type",
            DenyReason::Revoked => "token_revoked",
            DenyReason::Forbidden => "insufficient_permissions",
            DenyReason::StepUpRequired => "step_up_required",
            DenyReason::RouteDenied => "route_denied",
            DenyReason::IpRestricted => "ip_restricted",
            DenyReason::DomainRestricted => "email_domain_restricted",
            DenyReason::SnapshotUnavailable => "snapshot_unavailable",
            DenyReason::AmbiguousRequest => "ambiguous_request",
            DenyReason::InvalidPath => "invalid_path",
            DenyReason::AmbiguousCredentials => "ambiguous_credentials",
        }
    }

    /// The HTTP status: 401 when a (better) token would help, 403 when it would not, 400 for
    /// a request that cannot be decided as sent, 503 without state.
    pub const fn status(self) -> u16 {
        match self {
            DenyReason::Forbidden
            | DenyReason::RouteDenied
            | DenyReason::IpRestricted
            | DenyReason::DomainRestricted => 403,
            DenyReason::AmbiguousRequest
            | DenyReason::InvalidPath
            | DenyReason::AmbiguousCredentials => 400,
            DenyReason::SnapshotUnavailable => 503,
            _ => 401,
        }
    }

    /// A human-readable message.
    pub const fn message(self) -> &'static str {
        match self {
            DenyReason::NoToken => "Authentication required",
            DenyReason::Malformed => "The token is malformed",
            DenyReason::UnsupportedAlgorithm => "The token's algorithm or header is not accepted",
            DenyReason::UnknownKey => "The token was not signed by a known key",
            DenyReason::BadSignature => "The token signature is invalid",
            DenyReason::Expired => "The token has expired",
            DenyReason::NotYetValid => "The token is not valid yet",
            DenyReason::WrongAudience => "The token was issued for another environment",
            DenyReason::WrongTokenType => "This kind of token is not accepted here",
            DenyReason::Revoked => "The token has been revoked",
            DenyReason::Forbidden => "Insufficient permissions",
            DenyReason::StepUpRequired => "A stepped-up authentication is required",
            DenyReason::RouteDenied => "This route is closed",
            DenyReason::IpRestricted => "Access from this address is not allowed",
            DenyReason::DomainRestricted => "This email domain is not allowed",
            DenyReason::SnapshotUnavailable => {
                "No policy snapshot has been received from the control plane"
            }
            DenyReason::AmbiguousRequest => {
                "The original request is ambiguous: its method or URI is given more than once or two ways, or it carries a forged identity header"
            }
            DenyReason::InvalidPath => "The request path is ambiguous and is refused",
            DenyReason::AmbiguousCredentials => {
                "Send exactly one credential: one Authorization: Bearer or one x-api-key header"
            }
        }
    }
}

/// Where the token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource<'a> {
    /// No token.
    None,
    /// `Authorization: Bearer` (user and API tokens).
    Bearer(&'a str),
    /// `x-api-key` (access tokens).
    ApiKey(&'a str),
}

impl<'a> TokenSource<'a> {
    /// The raw token.
    pub fn token(self) -> Option<&'a str> {
        match self {
            TokenSource::None => None,
            TokenSource::Bearer(t) | TokenSource::ApiKey(t) => Some(t),
        }
    }
}

/// A token whose signature verified, with its parsed claims: what the cache holds.
#[derive(Debug)]
pub struct Verified {
    /// The claims.
    pub claims: AccessClaims,
    /// The key that verified it (re-checked against the current snapshot on every use).
    pub kid: Box<str>,
    /// The normalised domain of the `email` claim, if any (domain rules).
    pub email_domain: Option<Box<str>>,
    /// The token itself: a cache hit is a byte-for-byte match, never just a key match.
    pub token: Box<str>,
    /// The identity headers of an allowed request, built on first use and reused for every
    /// later hit (the adapter's; access tokens take theirs from the record instead).
    pub identity_headers: std::sync::OnceLock<Box<[Option<http::HeaderValue>]>>,
}

impl Verified {
    /// Approximate heap size, for the cache's weigher.
    pub fn weight(&self, token_len: usize) -> u32 {
        let c = &self.claims;
        let strs: usize = c
            .roles
            .iter()
            .chain(&c.permissions)
            .chain(&c.tenant_ids)
            .map(|s| s.len() + 24)
            .sum();
        u32::try_from(token_len + self.token.len() + 2 * strs + 640).unwrap_or(u32::MAX)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    typ: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    kid: Option<std::borrow::Cow<'a, str>>,
}

fn b64(seg: &str) -> Result<Vec<u8>, DenyReason> {
    URL_SAFE_NO_PAD
        .decode(seg)
        .map_err(|_| DenyReason::Malformed)
}

/// A segment decoded into `buf` when it fits (the common case: no allocation on the cold
/// path), else into `spill`; the same bytes and the same refusal either way.
fn b64_in<'b>(
    seg: &str,
    buf: &'b mut [u8],
    spill: &'b mut Vec<u8>,
) -> Result<&'b [u8], DenyReason> {
    if base64::decoded_len_estimate(seg.len()) <= buf.len() {
        let n = URL_SAFE_NO_PAD
            .decode_slice(seg, buf)
            .map_err(|_| DenyReason::Malformed)?;
        Ok(&buf[..n])
    } else {
        *spill = b64(seg)?;
        Ok(spill)
    }
}

/// Check the signature and parse the claims. Expiry, key trust, audience and revocations
/// are [`authorize`]'s: this part is the expensive one the adapter caches.
pub fn verify_token(snap: &Snapshot, token: &str) -> Result<Verified, DenyReason> {
    if token.len() > MAX_TOKEN_BYTES || token.is_empty() {
        return Err(DenyReason::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DenyReason::Malformed);
    };
    if h.is_empty() || p.is_empty() {
        return Err(DenyReason::Malformed);
    }
    // Unknown header parameters (jku, x5u, jwk, x5c, crit, cty, …) are refused by the
    // strict header type, so nothing can point the verifier elsewhere.
    let (mut hbuf, mut hspill) = ([0u8; 512], Vec::new());
    let header_text = shared::json::text(b64_in(h, &mut hbuf, &mut hspill)?)
        .map_err(|_| DenyReason::UnsupportedAlgorithm)?;
    let header: Header<'_> =
        serde_json::from_str(header_text).map_err(|_| DenyReason::UnsupportedAlgorithm)?;
    if header.alg != "RS256" {
        return Err(DenyReason::UnsupportedAlgorithm);
    }
    if header.typ.as_deref().is_some_and(|t| t != "JWT") {
        return Err(DenyReason::UnsupportedAlgorithm);
    }
    let (kid, key) = match header.kid.as_deref() {
        Some(kid) => (kid, snap.keys.get(kid).ok_or(DenyReason::UnknownKey)?),
        // Without a kid only an unambiguous key set will do.
        None if snap.keys.len() == 1 => snap
            .keys
            .iter()
            .next()
            .map(|(k, v)| (k.as_str(), v))
            .ok_or(DenyReason::UnknownKey)?,
        None => return Err(DenyReason::UnknownKey),
    };
    if s.is_empty() {
        return Err(DenyReason::BadSignature);
    }
    // 8192-bit keys sign 1,024 bytes.
    let (mut sbuf, mut sspill) = ([0u8; 1024], Vec::new());
    let sig = b64_in(s, &mut sbuf, &mut sspill)?;
    let signed_len = h.len() + 1 + p.len();
    key.key
        .verify_sig(&token.as_bytes()[..signed_len], sig)
        .map_err(|_| DenyReason::BadSignature)?;
    let claims: AccessClaims =
        shared::json::from_bytes(&b64(p)?).map_err(|_| DenyReason::Malformed)?;
    let email_domain = claims
        .email
        .as_deref()
        .and_then(|e| e.rsplit_once('@'))
        .and_then(|(_, d)| shared::net::normalize_domain(d).ok())
        .map(Into::into);
    Ok(Verified {
        claims,
        kid: kid.into(),
        email_domain,
        token: token.into(),
        identity_headers: std::sync::OnceLock::new(),
    })
}

/// What a request brings to [`authorize`] besides the token.
#[derive(Clone, Copy)]
pub struct Inputs<'a> {
    /// Where the token came from.
    pub source: TokenSource<'a>,
    /// The client's address.
    pub client_ip: std::net::IpAddr,
    /// The matched route's requirements.
    pub route: &'a Requirement,
    /// Unix seconds.
    pub now: i64,
    /// Clock-skew leeway, seconds.
    pub leeway: i64,
    /// Active access tokens (`x-api-key`).
    pub access_tokens: &'a crate::snapshot::AccessTokens,
}

/// Everything but the signature, against the current state, on every request.
pub fn authorize(
    snap: &Snapshot,
    revocations: &Revocations,
    v: &Verified,
    inputs: &Inputs<'_>,
) -> Result<Option<Arc<AccessTokenRecord>>, DenyReason> {
    let Inputs {
        source,
        client_ip,
        route: req,
        now,
        leeway,
        access_tokens,
    } = *inputs;
    let c = &v.claims;
    // Header routing as the SDKs do it: Bearer carries user and API tokens; `x-api-key`
    // carries access tokens, honoured only while the control plane lists them as active.
    let record = match source {
        TokenSource::Bearer(_) if c.token_type.is_bearer() => None,
        TokenSource::ApiKey(_) if c.token_type.is_access_token() => {
            let r = access_tokens.get(&c.sub).ok_or(DenyReason::Revoked)?;
            if r.tenant_id != c.tenant_id || r.user_id != c.user_id {
                return Err(DenyReason::Revoked);
            }
            Some(r)
        }
        _ => return Err(DenyReason::WrongTokenType),
    };
    // Access tokens may lack `exp`; their record's expiry counts too.
    let exp = match (&record, c.exp) {
        (_, Some(e)) => Some(e),
        (Some(_), None) => None,
        (None, None) => return Err(DenyReason::Expired),
    };
    let record_exp = record.as_ref().and_then(|r| r.expires_at);
    if [exp, record_exp]
        .into_iter()
        .flatten()
        .any(|e| now > e + leeway)
    {
        return Err(DenyReason::Expired);
    }
    if c.nbf.is_some_and(|nbf| now + leeway < nbf) || now + leeway < c.iat {
        return Err(DenyReason::NotYetValid);
    }
    // A key dropped since the token was cached no longer vouches for it.
    if !snap.keys.contains_key(&*v.kid) {
        return Err(DenyReason::UnknownKey);
    }
    if c.iss != snap.policy.issuer || c.aud != snap.policy.audience {
        return Err(DenyReason::WrongAudience);
    }
    let facts = TokenFacts {
        session: c.sid.as_deref(),
        // An API token's JWTs are revoked by its client id (their `sub`).
        token_id: c
            .jti
            .as_deref()
            .or(c.token_type.is_api_token().then_some(c.sub.as_str())),
        user: c.user_id.as_deref().or(Some(c.sub.as_str())),
        tenant: &c.tenant_id,
        roles: &c.roles,
        permissions: &c.permissions,
        issued_at: c.iat,
    };
    if revocations.voids(&facts) {
        return Err(DenyReason::Revoked);
    }
    // An access token's address is its record's (the token itself carries none).
    let email_domain = match &record {
        Some(r) => r.email.as_deref().and_then(shared::net::email_domain),
        None => v.email_domain.as_deref(),
    };
    check_restrictions(snap, &c.tenant_id, email_domain, client_ip)?;
    match &record {
        Some(r) => check_route(c, &r.roles, &r.permissions, req, now)?,
        None => check_route(c, &c.roles, &c.permissions, req, now)?,
    }
    Ok(record)
}

/// The environment's IP rules, before any token work.
pub fn check_environment_ip(
    snap: &Snapshot,
    client_ip: std::net::IpAddr,
) -> Result<(), DenyReason> {
    match &snap.restrictions.environment {
        Some(p) if !p.policy.ip_allowed(client_ip) => Err(DenyReason::IpRestricted),
        _ => Ok(()),
    }
}

/// The account's IP rules, and the environment's and the account's email-domain rules
/// against the caller's normalised email domain (callers without one have no domain to
/// refuse).
pub fn check_restrictions(
    snap: &Snapshot,
    tenant_id: &str,
    email_domain: Option<&str>,
    client_ip: std::net::IpAddr,
) -> Result<(), DenyReason> {
    let r = &snap.restrictions;
    if r.is_empty() {
        return Ok(());
    }
    let account = r.account(tenant_id);
    if let Some(p) = account
        && !p.policy.ip_allowed(client_ip)
    {
        return Err(DenyReason::IpRestricted);
    }
    if let Some(d) = email_domain {
        for p in [r.environment.as_deref(), account].into_iter().flatten() {
            if !p.policy.domain_allowed(d) {
                return Err(DenyReason::DomainRestricted);
            }
        }
    }
    Ok(())
}

/// The route's requirements against the claims.
pub fn check_route(
    c: &AccessClaims,
    roles: &[String],
    permissions: &[String],
    req: &Requirement,
    now: i64,
) -> Result<(), DenyReason> {
    if req.deny {
        return Err(DenyReason::RouteDenied);
    }
    if !req.token_types.is_empty() && !req.token_types.contains(&c.token_type) {
        return Err(DenyReason::WrongTokenType);
    }
    let has_role = |r: &String| roles.iter().any(|h| h == r);
    // The control plane's semantics: a held wildcard grants under it; a wanted wildcard
    // needs that wildcard (or a wider one).
    let has_perm = |p: &String| shared::rights::any_grants(permissions, p);
    let wanted = req.roles.len() + req.permissions.len();
    if wanted > 0 {
        let ok = if req.all {
            req.roles.iter().all(has_role) && req.permissions.iter().all(has_perm)
        } else {
            req.roles.iter().any(has_role) || req.permissions.iter().any(has_perm)
        };
        if !ok {
            return Err(DenyReason::Forbidden);
        }
    }
    if req.step_up {
        let amr = c.amr.as_deref().unwrap_or_default();
        let acr_ok = c.acr.as_deref() == Some(STEP_UP_ACR);
        let amr_ok = amr.iter().any(|m| m == "mfa")
            && amr
                .iter()
                .any(|m| matches!(m.as_str(), "otp" | "sms" | "hwk" | "sso"));
        let age_ok = req
            .max_age
            .is_none_or(|max| now - c.auth_time.unwrap_or(0) <= max);
        if !(acr_ok && amr_ok && age_ok) {
            return Err(DenyReason::StepUpRequired);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
