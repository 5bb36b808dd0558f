//! Security events: every change that alters what a principal may do (an account removed, a
//! user locked, a session revoked) is recorded in the same transaction as the change. The
//! distribution layer turns them into revocations pushed to sidecars; until then they are
//! readable at `GET /tessera/v1/events`.

use serde::{Deserialize, Serialize};

use crate::store::{Db, Record, StoreError, Tree, Tx};

const SEQ_KEY: &[u8] = b"event_seq";

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    /// An account (tenant) was deleted: every token of the account is void from `at`.
    TenantDeleted,
    /// A user was locked: every token of the user is void from `at`.
    UserLocked,
    /// A user was disabled in an account: tokens of that user in that account are void.
    UserDisabled,
    /// A user was removed from an account.
    UserRemovedFromTenant,
    /// A user was deleted.
    UserDeleted,
    /// Roles were taken from a user in an account: tokens issued before carry too much.
    UserRolesRemoved,
    /// A role was deleted: tokens carrying it carry too much.
    RoleDeleted,
    /// Permissions were taken out of a role.
    RolePermissionsRemoved,
    /// A permission was deleted or classified NEVER: nobody holds it any more.
    PermissionRevoked,
    /// A session was revoked (logout, revocation, refresh-token reuse, eviction): tokens
    /// carrying its `sid` are void.
    SessionRevoked,
    /// The signing-key ring changed (a key published, promoted or dropped).
    KeysChanged,
    /// Configuration sidecars decide with changed (token lifetime).
    ConfigChanged,
    /// The IP or email-domain restrictions of a scope (`tenant_id`, or the environment)
    /// changed.
    RestrictionsChanged,
    /// An access token was created (`subject`: its id).
    AccessTokenCreated,
    /// An API token or access token was deleted (`subject`: its client id or id): its JWTs
    /// are void.
    ApiTokenDeleted,
    /// A user-wide privilege its tokens state was taken away (`superUser`): every token of
    /// the user is void from `at`.
    UserPrivilegesReduced,
    /// Roles or permissions were taken from an API token (`subject`: its client id): the
    /// JWTs issued before carry too much.
    ApiTokenRightsReduced,
}

/// One stored event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Position in the event log, from 1.
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
    /// The account concerned, if any.
    pub tenant_id: Option<String>,
    /// The user concerned, if any.
    pub user_id: Option<String>,
    /// The session concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The role key or permission key concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When, RFC 3339.
    pub at: String,
}

impl Record for Event {
    const TREE: Tree = Tree::Events;
    fn key(&self) -> Vec<u8> {
        self.seq.to_be_bytes().to_vec()
    }
}

/// Append an event inside the caller's transaction.
pub fn record(
    tx: &mut Tx<'_>,
    kind: EventKind,
    tenant_id: Option<&str>,
    user_id: Option<&str>,
    at: &str,
) -> Result<u64, StoreError> {
    record_about(tx, kind, tenant_id, user_id, None, at)
}

/// Append an event about a role or permission key (`subject`) inside the caller's
/// transaction.
pub fn record_about(
    tx: &mut Tx<'_>,
    kind: EventKind,
    tenant_id: Option<&str>,
    user_id: Option<&str>,
    subject: Option<&str>,
    at: &str,
) -> Result<u64, StoreError> {
    append(
        tx,
        Event {
            seq: 0,
            kind,
            tenant_id: tenant_id.map(str::to_owned),
            user_id: user_id.map(str::to_owned),
            session_id: None,
            subject: subject.map(str::to_owned),
            at: at.to_owned(),
        },
    )
}

fn append(tx: &mut Tx<'_>, mut e: Event) -> Result<u64, StoreError> {
    let last = tx
        .get_raw(Tree::Meta, SEQ_KEY)?
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes);
    e.seq = last + 1;
    tx.put_raw(Tree::Meta, SEQ_KEY, &e.seq.to_be_bytes())?;
    tx.put(&e)?;
    Ok(e.seq)
}

/// Tokens carrying role `key` (in `tenant`, or every account) issued up to now carry too
/// much: the role was deleted, renamed, moved out of scope (`RoleDeleted`) or lost
/// permissions (`RolePermissionsRemoved`).
pub fn role_revoked(
    tx: &mut Tx<'_>,
    kind: EventKind,
    tenant: Option<&str>,
    key: &str,
    at: &str,
) -> Result<u64, StoreError> {
    record_about(tx, kind, tenant, None, Some(key), at)
}

/// Nobody holds permission `key` any more in tokens issued up to now: deleted, renamed,
/// classified `NEVER` or taken out of `ALWAYS`.
pub fn permission_revoked(tx: &mut Tx<'_>, key: &str, at: &str) -> Result<u64, StoreError> {
    record_about(tx, EventKind::PermissionRevoked, None, None, Some(key), at)
}

/// Append a session revocation inside the caller's transaction.
pub fn record_session_revoked(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    user_id: &str,
    session_id: &str,
    at: &str,
) -> Result<u64, StoreError> {
    append(
        tx,
        Event {
            seq: 0,
            kind: EventKind::SessionRevoked,
            tenant_id: Some(tenant_id.to_owned()),
            user_id: Some(user_id.to_owned()),
            session_id: Some(session_id.to_owned()),
            subject: None,
            at: at.to_owned(),
        },
    )
}

/// The sequence number of the last event (0 when there is none).
pub fn last_seq(db: &Db) -> Result<u64, StoreError> {
    Ok(db
        .get_raw(Tree::Meta, SEQ_KEY)?
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes))
}

/// Events with `seq > after`, oldest first, at most `limit`.
pub fn after(db: &Db, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
    db.scan_from::<Event>(&after.saturating_add(1).to_be_bytes(), limit)
}
