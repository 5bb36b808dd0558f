//! The push protocol between the control plane and its sidecars (`design.md` §5).
//!
//! The sidecar opens `GET /tessera/v1/sidecars/stream?since=<version>&id=<sidecar id>` with
//! `Authorization: Bearer <sidecar token>` and reads an endless body of **frames**, one per
//! line: `<64 hex digits of HMAC-SHA256(k, json)> <json>\n` with `k` = SHA-256 of the sidecar
//! token ([`mac_key`]; the control plane keeps only that digest). The MAC makes a
//! truncated, bit-flipped or forged frame fail as a whole before any of it is parsed. The
//! JSON is a [`PushMessage`]: one full [`Snapshot`] when the sidecar has nothing usable, then
//! [`Delta`]s, each moving the sidecar from exactly `base` to `version`, and heartbeats.
//! A sidecar acknowledges with `POST /tessera/v1/sidecars/ack` ([`Ack`]), also every few
//! seconds when nothing changes (its heartbeat).
//!
//! Versions are the control plane's security-event sequence numbers: every change a sidecar
//! must know about is an event, so "version ≥ v" means "has seen every change up to v".

use ring::hmac;
use serde::{Deserialize, Serialize};

/// The protocol version spoken by this build; a message with another is refused.
pub const PROTOCOL: u32 = 1;

/// Largest frame a sidecar accepts (a full snapshot with 100k revocations is ~20 MiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// Path of the stream, relative to the control plane's base URL.
pub const STREAM_PATH: &str = "/tessera/v1/sidecars/stream";

/// Path of acknowledgements.
pub const ACK_PATH: &str = "/tessera/v1/sidecars/ack";

/// One message on the stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PushMessage {
    /// The whole state at `version`: replaces whatever the sidecar held.
    Snapshot(Snapshot),
    /// The changes from `base` to `version`.
    Delta(Delta),
    /// Nothing changed; the stream is alive. `version` is the control plane's current one.
    Heartbeat {
        /// Protocol version.
        protocol: u32,
        /// The control plane's current version.
        version: u64,
        /// Control-plane clock, Unix seconds (sidecars report skew).
        now: i64,
    },
}

/// Where a signing key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not yet signing: sidecars learn it before any token carries it.
    Next,
    /// Signing.
    Active,
    /// No longer signing; tokens it signed stay valid until they expire.
    Retired,
}

/// A public RS256 signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicKey {
    /// Key id (`kid` of the JWT header).
    pub kid: String,
    /// Always `RS256`.
    pub alg: String,
    /// Modulus, base64url without padding.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
    /// Life-cycle state.
    pub state: KeyState,
}

/// What a revocation voids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationKind {
    /// Every token carrying `sid` = `id`.
    Session,
    /// The token whose `jti` is `id`, or every JWT of the API token whose client id is `id`.
    Token,
    /// Every token of user `id` issued at or before `notBefore`.
    User,
    /// Every token of user `id` for account `tenantId` issued at or before `notBefore`.
    UserInTenant,
    /// Every token for account `id` issued at or before `notBefore`.
    Tenant,
    /// Every token carrying role key `id` issued at or before `notBefore` (its holder
    /// refreshes and gets current claims).
    Role,
    /// Every token carrying permission key `id` issued at or before `notBefore`.
    Permission,
}

/// One revocation entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revocation {
    /// What it voids.
    pub kind: RevocationKind,
    /// The session, token, user, account, role key or permission key.
    pub id: String,
    /// The account, for [`RevocationKind::UserInTenant`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Tokens issued at or before this Unix second are void.
    pub not_before: i64,
    /// After this Unix second no token it could void is still valid: it can be dropped.
    pub expires_at: i64,
}

/// Policy flags decisions need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// Expected `iss` of tokens (the control plane's public URL).
    pub issuer: String,
    /// Expected `aud` of tokens (the environment's client id).
    pub audience: String,
    /// Access-token lifetime, seconds (revocation entries outlive it).
    pub access_token_ttl: i64,
}

/// Allow-list or block-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ListType {
    /// Only what is listed gets in.
    Allow,
    /// What is listed is refused.
    Block,
}

/// The active IP rules of one scope: the CIDRs whose entry is active and has the
/// configuration's strategy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IpPolicy {
    /// ALLOW: only these; BLOCK: not these.
    pub strategy: ListType,
    /// Canonical CIDR text.
    pub cidrs: Vec<String>,
}

/// The active email-domain rules of one scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DomainPolicy {
    /// ALLOW: only these; BLOCK: not these.
    pub list_type: ListType,
    /// Refuse public (free) email providers' domains as well.
    pub block_public: bool,
    /// Normalised rules: `example.com` or `*.example.com`.
    pub domains: Vec<String>,
}

/// The restrictions of one scope: the environment (`tenantId` absent) or an account. `None`
/// for a kind means no active configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScopeRestrictions {
    /// The account, or none for the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Active IP rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpPolicy>,
    /// Active email-domain rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<DomainPolicy>,
}

/// An active access token as sidecars honour it (`x-api-key`): the rights come from here,
/// not from the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessTokenRecord {
    /// The token's id (its JWT's `sub`).
    pub id: String,
    /// The account.
    pub tenant_id: String,
    /// The user, for a user's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Role keys.
    pub roles: Vec<String>,
    /// Permission keys.
    pub permissions: Vec<String>,
    /// Unix seconds; absent: never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The user's normalised address (a user's token with an address): the email-domain
    /// rules apply to it at the sidecar, as to a user token's `email` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The whole distributed state at one version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshot {
    /// Protocol version.
    pub protocol: u32,
    /// State version (event sequence number).
    pub version: u64,
    /// The control plane's boot id. A sidecar resumes with deltas only within the epoch of
    /// its snapshot; after a control-plane restart it gets a fresh snapshot (a version the
    /// old process pushed but never made durable may have been reused).
    pub epoch: String,
    /// Control-plane clock when built, Unix seconds.
    pub issued_at: i64,
    /// Public signing keys.
    pub keys: Vec<PublicKey>,
    /// Policy flags.
    pub policy: Policy,
    /// Live revocations.
    pub revocations: Vec<Revocation>,
    /// Every scope with active restrictions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<ScopeRestrictions>,
    /// Every active access token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_tokens: Vec<AccessTokenRecord>,
}

/// The changes from `base` to `version`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delta {
    /// Protocol version.
    pub protocol: u32,
    /// The version this delta applies to; a sidecar at another version must not apply it.
    pub base: u64,
    /// The version after applying it.
    pub version: u64,
    /// Control-plane clock when built, Unix seconds.
    pub issued_at: i64,
    /// The complete new key set, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<PublicKey>>,
    /// The new policy, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// Revocations added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocations: Vec<Revocation>,
    /// Scopes whose restrictions changed, each complete (both kinds `None`: none left).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<ScopeRestrictions>,
    /// The complete set of active access tokens, when it may have changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_tokens: Option<Vec<AccessTokenRecord>>,
}

/// A sidecar's acknowledgement (and heartbeat), `POST /tessera/v1/sidecars/ack`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ack {
    /// The sidecar's id (stable across restarts: kept in its state directory).
    pub sidecar_id: String,
    /// The version applied and persisted.
    pub version: u64,
    /// `None` when the last message applied; otherwise why it was rejected (a nack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a frame was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Too large.
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Not `<mac> <json>`.
    #[error("malformed frame")]
    Malformed,
    /// The MAC does not match: corrupted, truncated or forged.
    #[error("frame authentication failed")]
    BadMac,
    /// The JSON is not a valid message.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// Another protocol version.
    #[error("unsupported protocol version {0}")]
    Protocol(u32),
}

/// The frame-authentication key for a sidecar token: its SHA-256.
pub fn mac_key(sidecar_token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, sidecar_token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn key(k: &[u8]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, k)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let val = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.chunks(2)
        .map(|p| Some(val(p[0])? << 4 | val(p[1])?))
        .collect()
}

/// Encode a message as one frame (with the trailing newline).
pub fn encode(mac_key: &[u8], msg: &PushMessage) -> Vec<u8> {
    let json = serde_json::to_vec(msg).unwrap_or_default();
    let tag = hmac::sign(&key(mac_key), &json);
    let mut out = Vec::with_capacity(json.len() + 66);
    out.extend_from_slice(hex(tag.as_ref()).as_bytes());
    out.push(b' ');
    out.extend_from_slice(&json);
    out.push(b'\n');
    out
}

/// Decode one frame (without its newline): check size, MAC (constant time), JSON shape and
/// protocol version. Nothing of a frame that fails is used.
pub fn decode(mac_key: &[u8], frame: &[u8]) -> Result<PushMessage, WireError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge(frame.len()));
    }
    if frame.len() < 66 || frame[64] != b' ' {
        return Err(WireError::Malformed);
    }
    let tag = unhex(&frame[..64]).ok_or(WireError::Malformed)?;
    let json = &frame[65..];
    hmac::verify(&key(mac_key), json, &tag).map_err(|_| WireError::BadMac)?;
    let msg: PushMessage =
        crate::json::from_bytes(json).map_err(|e| WireError::Invalid(e.to_string()))?;
    let protocol = match &msg {
        PushMessage::Snapshot(s) => s.protocol,
        PushMessage::Delta(d) => d.protocol,
        PushMessage::Heartbeat { protocol, .. } => *protocol,
    };
    if protocol != PROTOCOL {
        return Err(WireError::Protocol(protocol));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests;
