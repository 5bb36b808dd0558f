//! Login sessions and their refresh tokens. A refresh token is 256 random bits, handed out
//! once and stored only as its SHA-256; the session id goes into access tokens as `sid`.

use serde::{Deserialize, Serialize};

use crate::crypto::{b64url, hex, random_bytes, sha256};
use crate::model::clock::UnixSecs;
use crate::model::event::Event;
use crate::model::setting::{self, ScopedSetting, SettingError};
use crate::store::{Index, IndexEntry, Record, StoreError, Tree, Tx};

/// A stored session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// UUID (`sid` in access tokens).
    pub id: String,
    /// The user.
    pub user_id: String,
    /// The account the session is in.
    pub tenant_id: String,
    /// Hex SHA-256 of the current refresh token.
    pub refresh_sha256: String,
    /// Unix seconds.
    pub created_at: UnixSecs,
    /// Unix seconds; the refresh token is refused from then on.
    pub expires_at: UnixSecs,
    /// Unix seconds of the last login or refresh.
    pub last_used_at: UnixSecs,
    /// Client IP at creation, if known.
    pub ip: Option<String>,
    /// User agent at creation, if sent.
    pub user_agent: Option<String>,
    /// Digests of this session's rotated-out refresh tokens (newest last, at most
    /// [`MAX_ROTATED`]): presenting one again revokes the session.
    #[serde(default)]
    pub rotated_sha256: Vec<String>,
    /// How the login that opened it went beyond the first factor (RFC 8176 methods, e.g.
    /// `["mfa", "otp"]`); empty for a one-factor login. An authorization code of the hosted
    /// login carries it into the tokens it is exchanged for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// How many rotated-out refresh tokens per session are remembered for reuse detection.
pub const MAX_ROTATED: usize = 100;

/// Sessions by the digest of their current refresh token.
pub const BY_REFRESH: Index<Session> = Index::unique(Tree::RefreshTokens);
/// Sessions by the digests of their rotated-out refresh tokens (reuse detection).
pub const BY_ROTATED: Index<Session> = Index::unique(Tree::RotatedRefreshTokens);

impl Record for Session {
    const TREE: Tree = Tree::Sessions;
    const INDEXES: &'static [Tree] = &[Tree::RefreshTokens, Tree::RotatedRefreshTokens];
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
    fn indexes(&self) -> Vec<IndexEntry> {
        std::iter::once(BY_REFRESH.entry(self.refresh_sha256.as_bytes()))
            .chain(
                self.rotated_sha256
                    .iter()
                    .map(|d| BY_ROTATED.entry(d.as_bytes())),
            )
            .collect()
    }
}

/// A fresh session id.
pub fn new_id() -> String {
    crate::crypto::new_uuid().to_string()
}

/// A fresh refresh token and its stored digest.
pub fn new_refresh_token() -> (String, String) {
    let token = b64url(&random_bytes::<32>());
    let digest = hex(&sha256(token.as_bytes()));
    (token, digest)
}

/// The session a refresh-token digest belongs to, current or rotated out.
pub fn by_refresh_token(
    db: &crate::store::Db,
    digest: &str,
) -> Result<Option<Session>, StoreError> {
    match db.find(BY_REFRESH, digest.as_bytes())? {
        Some(s) => Ok(Some(s)),
        None => db.find(BY_ROTATED, digest.as_bytes()),
    }
}

/// The digest a refresh token is stored under.
pub fn refresh_digest(token: &str) -> String {
    hex(&sha256(token.as_bytes()))
}

/// The session ids of one user (an index kept in the same transaction as the sessions, so
/// the concurrent-session limit holds under parallel logins).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSessions {
    /// The user.
    pub user_id: String,
    /// Session ids, oldest first.
    pub session_ids: Vec<String>,
}

impl Record for UserSessions {
    const TREE: Tree = Tree::UserSessions;
    fn key(&self) -> Vec<u8> {
        self.user_id.as_bytes().to_vec()
    }
}

/// Session limits for an account (or the environment default): seconds and counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPolicy {
    /// Idle timeout: a refresh after this long without use is refused.
    pub session_idle_timeout_configuration: Toggle<u32>,
    /// Absolute lifetime of a session from login.
    pub session_timeout_configuration: Toggle<u32>,
    /// Most live sessions per user; the oldest is ended when a login goes over.
    pub session_concurrent_configuration: ConcurrentToggle,
}

/// An optional limit with its value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Toggle<T> {
    /// Whether the limit applies.
    pub is_active: bool,
    /// Seconds.
    pub timeout: T,
}

/// The concurrent-session limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConcurrentToggle {
    /// Whether the limit applies.
    pub is_active: bool,
    /// Most live sessions.
    pub max_sessions: u32,
}

/// A stored session policy: the environment default (`tenant_id` = `None`) or an account's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSessionPolicy {
    /// The account, or `None` for the environment default.
    pub tenant_id: Option<String>,
    /// The limits.
    pub policy: SessionPolicy,
}

impl Record for StoredSessionPolicy {
    const TREE: Tree = Tree::Environment;
    fn key(&self) -> Vec<u8> {
        setting::key::<Self>(self.tenant_id.as_deref())
    }
}

/// A change to the session limits: the given parts replace the stored ones.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyChange {
    /// Idle timeout, 60 seconds to 24 days.
    pub session_idle_timeout_configuration: Option<Toggle<i64>>,
    /// Absolute lifetime, at least 60 seconds.
    pub session_timeout_configuration: Option<Toggle<i64>>,
    /// Concurrent sessions, 1 to 10000.
    pub session_concurrent_configuration: Option<ConcurrentChange>,
}

/// The concurrent-session limit, as requested.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConcurrentChange {
    /// Whether the limit applies.
    pub is_active: bool,
    /// Most live sessions.
    pub max_sessions: i64,
}

fn seconds(
    field: &str,
    t: Toggle<i64>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Toggle<u32>, SettingError> {
    Ok(Toggle {
        is_active: t.is_active,
        timeout: setting::within(&format!("{field}.timeout"), t.timeout, range, " seconds")?,
    })
}

impl ScopedSetting for StoredSessionPolicy {
    const NAME: &'static str = "Session configuration";
    const PREFIX: &'static str = "session-policy";
    const DEFAULTED: bool = true;
    type Change = PolicyChange;

    fn scope(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
    fn initial(scope: Option<&str>, _now: &str) -> Self {
        StoredSessionPolicy {
            tenant_id: scope.map(str::to_owned),
            policy: SessionPolicy::default(),
        }
    }
    fn rescoped(self, scope: Option<&str>, _now: &str) -> Self {
        StoredSessionPolicy {
            tenant_id: scope.map(str::to_owned),
            ..self
        }
    }
    fn apply(&mut self, c: &PolicyChange, _now: &str) -> Result<(), SettingError> {
        let p = &mut self.policy;
        if let Some(t) = c.session_idle_timeout_configuration {
            p.session_idle_timeout_configuration =
                seconds("sessionIdleTimeoutConfiguration", t, 60..=2_073_600)?;
        }
        if let Some(t) = c.session_timeout_configuration {
            p.session_timeout_configuration =
                seconds("sessionTimeoutConfiguration", t, 60..=i64::from(u32::MAX))?;
        }
        if let Some(m) = c.session_concurrent_configuration {
            p.session_concurrent_configuration = ConcurrentToggle {
                is_active: m.is_active,
                max_sessions: setting::within(
                    "sessionConcurrentConfiguration.maxSessions",
                    m.max_sessions,
                    1..=10_000,
                    "",
                )?,
            };
        }
        Ok(())
    }
}

/// The policy in force for an account: its own, else the environment default, else none.
pub fn effective_policy(db: &crate::store::Db, tenant: &str) -> Result<SessionPolicy, StoreError> {
    Ok(setting::in_force::<StoredSessionPolicy>(db, Some(tenant))?
        .map(|p| p.policy)
        .unwrap_or_default())
}

impl SessionPolicy {
    /// Whether a session may still be refreshed at `now`.
    pub fn allows(&self, s: &Session, now: UnixSecs) -> bool {
        let idle = self.session_idle_timeout_configuration;
        let absolute = self.session_timeout_configuration;
        now < s.expires_at
            && !(idle.is_active && now >= s.last_used_at + i64::from(idle.timeout))
            && !(absolute.is_active && now >= s.created_at + i64::from(absolute.timeout))
    }
}

/// End a session: its record (with its refresh-token index entries), its place in the
/// user's index, and a revocation event — all in the caller's transaction.
pub fn revoke(tx: &mut Tx<'_>, s: &Session, at: &str) -> Result<(), StoreError> {
    tx.delete::<Session>(s.id.as_bytes())?;
    if let Some(mut idx) = tx.get::<UserSessions>(s.user_id.as_bytes())? {
        idx.session_ids.retain(|id| *id != s.id);
        tx.put(&idx)?;
    }
    Event::SessionRevoked {
        tenant: &s.tenant_id,
        user: &s.user_id,
        session: &s.id,
    }
    .record(tx, at)?;
    Ok(())
}

/// Replace the session's refresh token: the old digest moves to the reuse-detection list
/// (its index follows when the caller stores `s`). Returns the new token.
pub fn rotate(s: &mut Session) -> String {
    let (token, digest) = new_refresh_token();
    let old = std::mem::replace(&mut s.refresh_sha256, digest);
    s.rotated_sha256.push(old);
    if s.rotated_sha256.len() > MAX_ROTATED {
        s.rotated_sha256.remove(0);
    }
    token
}

/// Store a new session, add it to the user's index and, with a concurrent limit, end the
/// oldest sessions beyond it — atomically, so parallel logins never exceed the limit.
pub fn open(
    tx: &mut Tx<'_>,
    s: &Session,
    max_sessions: Option<u32>,
    at: &str,
) -> Result<(), StoreError> {
    tx.put(s)?;
    let mut idx = tx
        .get::<UserSessions>(s.user_id.as_bytes())?
        .unwrap_or(UserSessions {
            user_id: s.user_id.clone(),
            session_ids: Vec::new(),
        });
    idx.session_ids.push(s.id.clone());
    if let Some(max) = max_sessions {
        while idx.session_ids.len() > max as usize {
            let oldest = idx.session_ids.remove(0);
            if let Some(old) = tx.get::<Session>(oldest.as_bytes())? {
                tx.delete::<Session>(old.id.as_bytes())?;
                Event::SessionRevoked {
                    tenant: &old.tenant_id,
                    user: &old.user_id,
                    session: &old.id,
                }
                .record(tx, at)?;
            }
        }
    }
    tx.put(&idx)
}

/// A user's live sessions, oldest first.
pub fn live_of(
    db: &crate::store::Db,
    user_id: &str,
    now: UnixSecs,
) -> Result<Vec<Session>, StoreError> {
    let ids = db
        .get::<UserSessions>(user_id.as_bytes())?
        .map(|i| i.session_ids)
        .unwrap_or_default();
    let mut out = Vec::new();
    for id in ids {
        if let Some(s) = db
            .get::<Session>(id.as_bytes())?
            .filter(|s| s.expires_at > now)
        {
            out.push(s);
        }
    }
    Ok(out)
}

/// End the user's live sessions that `keep` does not accept; how many ended.
pub async fn end_where(
    db: &crate::store::Db,
    clock: &crate::model::clock::Clock,
    user_id: &str,
    keep: impl Fn(&Session) -> bool,
) -> Result<usize, StoreError> {
    let doomed: Vec<Session> = live_of(db, user_id, clock.unix())?
        .into_iter()
        .filter(|s| !keep(s))
        .collect();
    let at = crate::model::clock::rfc3339(clock.now());
    db.write(|tx| {
        for s in &doomed {
            if let Some(cur) = tx.get::<Session>(s.id.as_bytes())? {
                revoke(tx, &cur, &at)?;
            }
        }
        Ok(doomed.len())
    })
    .await
}
