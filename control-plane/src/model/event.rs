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
pub struct EventRecord {
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
    /// The role key, permission key or token id concerned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When, RFC 3339.
    pub at: String,
}

impl Record for EventRecord {
    const TREE: Tree = Tree::Events;
    fn key(&self) -> Vec<u8> {
        self.seq.to_be_bytes().to_vec()
    }
}

/// What happened, with exactly what each kind concerns: the one way to record an event
/// ([`Event::record`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Every token of the account is void.
    TenantDeleted { tenant: &'a str },
    /// Every token of the user is void.
    UserLocked { user: &'a str },
    /// The user's tokens in the account are void.
    UserDisabled { tenant: &'a str, user: &'a str },
    /// The user's tokens in the account are void.
    UserRemovedFromTenant { tenant: &'a str, user: &'a str },
    /// Every token of the user is void.
    UserDeleted { user: &'a str },
    /// The user's tokens in the account carry roles it no longer has.
    UserRolesRemoved { tenant: &'a str, user: &'a str },
    /// A user-wide privilege the user's tokens state was taken away.
    UserPrivilegesReduced { user: &'a str },
    /// Tokens carrying role `key` (in `tenant`, or any account) carry too much: the role was
    /// deleted, renamed or moved out of scope.
    RoleDeleted {
        tenant: Option<&'a str>,
        key: &'a str,
    },
    /// Permissions were taken out of role `key`.
    RolePermissionsRemoved {
        tenant: Option<&'a str>,
        key: &'a str,
    },
    /// Nobody holds permission `key` any more: deleted, renamed, classified `NEVER` or taken
    /// out of `ALWAYS`.
    PermissionRevoked { key: &'a str },
    /// Tokens carrying the session's `sid` are void.
    SessionRevoked {
        tenant: &'a str,
        user: &'a str,
        session: &'a str,
    },
    /// The signing-key ring changed.
    KeysChanged,
    /// Configuration sidecars decide with changed (token lifetime).
    ConfigChanged,
    /// The restrictions of an account, or of the environment, changed.
    RestrictionsChanged { tenant: Option<&'a str> },
    /// An access token was created.
    AccessTokenCreated {
        tenant: &'a str,
        user: Option<&'a str>,
        id: &'a str,
    },
    /// An API token or access token was deleted: its JWTs are void from `through`.
    TokenDeleted {
        tenant: &'a str,
        user: Option<&'a str>,
        id: &'a str,
    },
    /// Rights were taken from an API token: JWTs issued before carry too much.
    ApiTokenRightsReduced { tenant: &'a str, client_id: &'a str },
}

impl Event<'_> {
    /// The stored kind.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::TenantDeleted { .. } => EventKind::TenantDeleted,
            Event::UserLocked { .. } => EventKind::UserLocked,
            Event::UserDisabled { .. } => EventKind::UserDisabled,
            Event::UserRemovedFromTenant { .. } => EventKind::UserRemovedFromTenant,
            Event::UserDeleted { .. } => EventKind::UserDeleted,
            Event::UserRolesRemoved { .. } => EventKind::UserRolesRemoved,
            Event::UserPrivilegesReduced { .. } => EventKind::UserPrivilegesReduced,
            Event::RoleDeleted { .. } => EventKind::RoleDeleted,
            Event::RolePermissionsRemoved { .. } => EventKind::RolePermissionsRemoved,
            Event::PermissionRevoked { .. } => EventKind::PermissionRevoked,
            Event::SessionRevoked { .. } => EventKind::SessionRevoked,
            Event::KeysChanged => EventKind::KeysChanged,
            Event::ConfigChanged => EventKind::ConfigChanged,
            Event::RestrictionsChanged { .. } => EventKind::RestrictionsChanged,
            Event::AccessTokenCreated { .. } => EventKind::AccessTokenCreated,
            Event::TokenDeleted { .. } => EventKind::ApiTokenDeleted,
            Event::ApiTokenRightsReduced { .. } => EventKind::ApiTokenRightsReduced,
        }
    }

    /// The stored form, at `at` (sequence number unassigned).
    fn stored(&self, at: &str) -> EventRecord {
        let (tenant, user, session, subject) = match *self {
            Event::TenantDeleted { tenant } => (Some(tenant), None, None, None),
            Event::UserLocked { user }
            | Event::UserDeleted { user }
            | Event::UserPrivilegesReduced { user } => (None, Some(user), None, None),
            Event::UserDisabled { tenant, user }
            | Event::UserRemovedFromTenant { tenant, user }
            | Event::UserRolesRemoved { tenant, user } => (Some(tenant), Some(user), None, None),
            Event::RoleDeleted { tenant, key } | Event::RolePermissionsRemoved { tenant, key } => {
                (tenant, None, None, Some(key))
            }
            Event::PermissionRevoked { key } => (None, None, None, Some(key)),
            Event::SessionRevoked {
                tenant,
                user,
                session,
            } => (Some(tenant), Some(user), Some(session), None),
            Event::KeysChanged | Event::ConfigChanged => (None, None, None, None),
            Event::RestrictionsChanged { tenant } => (tenant, None, None, None),
            Event::AccessTokenCreated { tenant, user, id }
            | Event::TokenDeleted { tenant, user, id } => (Some(tenant), user, None, Some(id)),
            Event::ApiTokenRightsReduced { tenant, client_id } => {
                (Some(tenant), None, None, Some(client_id))
            }
        };
        let owned = |v: Option<&str>| v.map(str::to_owned);
        EventRecord {
            seq: 0,
            kind: self.kind(),
            tenant_id: owned(tenant),
            user_id: owned(user),
            session_id: owned(session),
            subject: owned(subject),
            at: at.to_owned(),
        }
    }

    /// Append this event at `at` inside the caller's transaction, the one that makes the
    /// change; returns its sequence number.
    pub fn record(&self, tx: &mut Tx<'_>, at: &str) -> Result<u64, StoreError> {
        let mut e = self.stored(at);
        let last = tx
            .get_raw(Tree::Meta, SEQ_KEY)?
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_be_bytes);
        e.seq = last + 1;
        tx.put_raw(Tree::Meta, SEQ_KEY, &e.seq.to_be_bytes())?;
        tx.put(&e)?;
        Ok(e.seq)
    }
}

/// The sequence number of the last event (0 when there is none).
pub fn last_seq(db: &Db) -> Result<u64, StoreError> {
    Ok(db
        .get_raw(Tree::Meta, SEQ_KEY)?
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes))
}

const EPOCH_KEY: &[u8] = b"push_epoch";

/// The epoch of a store several control planes share: made once, read by every replica, so
/// a sidecar's version means the same on all of them (a sidecar that moves to another
/// replica catches up instead of taking a snapshot).
pub async fn ensure_shared_epoch(db: &Db) -> Result<String, StoreError> {
    let fresh = crate::crypto::new_uuid().to_string();
    db.write(|tx| {
        if let Some(raw) = tx.get_raw(Tree::Meta, EPOCH_KEY)? {
            return Ok(String::from_utf8_lossy(&raw).into_owned());
        }
        tx.put_raw(Tree::Meta, EPOCH_KEY, fresh.as_bytes())?;
        Ok(fresh.clone())
    })
    .await
}

/// Events with `seq > after`, oldest first, at most `limit`.
pub fn after(db: &Db, after: u64, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
    db.scan_from::<EventRecord>(&after.saturating_add(1).to_be_bytes(), limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replicas on one PostgreSQL database record events at once while a follower reads the
    /// log as a hub does (`after(last)`, then `last` = the newest seen): the sequence is
    /// taken in the transaction from one counter, so a number is only ever given after the
    /// previous one committed — the follower never skips an event that commits late.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_follower_of_the_log_skips_no_event_that_replicas_commit_concurrently() {
        const EACH: usize = 60;
        let Some(url) = crate::store::postgres::test_database() else {
            return;
        };
        let replicas: Vec<Db> = (0..3)
            .map(|_| Db::open_postgres(&url, 4).unwrap())
            .collect();
        let follower = Db::open_postgres(&url, 1).unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (db, done) = (follower.clone(), done.clone());
            tokio::task::spawn_blocking(move || {
                let mut seen = Vec::new();
                let mut last = 0;
                loop {
                    let finished = done.load(std::sync::atomic::Ordering::Acquire);
                    for e in after(&db, last, 1000).unwrap() {
                        seen.push(e.seq);
                        last = e.seq;
                    }
                    if finished {
                        return seen;
                    }
                }
            })
        };
        let mut writers = Vec::new();
        for (r, db) in replicas.iter().enumerate() {
            for w in 0..2 {
                let db = db.clone();
                writers.push(tokio::spawn(async move {
                    for i in 0..EACH {
                        let user = format!("u{r}-{w}-{i}");
                        db.write(|tx| {
                            Event::UserLocked { user: &user }.record(tx, "2026-12-07T00:00:00Z")
                        })
                        .await
                        .unwrap();
                    }
                }));
            }
        }
        for w in writers {
            w.await.unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        let seen = reader.await.unwrap();
        let total = (3 * 2 * EACH) as u64;
        assert_eq!(last_seq(&follower).unwrap(), total);
        assert_eq!(
            seen,
            (1..=total).collect::<Vec<u64>>(),
            "every event, in order, once"
        );
    }

    /// Every variant, with what it concerns; a kind nothing records would be dead.
    fn every_event() -> Vec<Event<'static>> {
        let (t, u) = ("t1", "u1");
        vec![
            Event::TenantDeleted { tenant: t },
            Event::UserLocked { user: u },
            Event::UserDisabled { tenant: t, user: u },
            Event::UserRemovedFromTenant { tenant: t, user: u },
            Event::UserDeleted { user: u },
            Event::UserRolesRemoved { tenant: t, user: u },
            Event::UserPrivilegesReduced { user: u },
            Event::RoleDeleted {
                tenant: None,
                key: "admin",
            },
            Event::RolePermissionsRemoved {
                tenant: Some(t),
                key: "admin",
            },
            Event::PermissionRevoked { key: "p.read" },
            Event::SessionRevoked {
                tenant: t,
                user: u,
                session: "s1",
            },
            Event::KeysChanged,
            Event::ConfigChanged,
            Event::RestrictionsChanged { tenant: Some(t) },
            Event::AccessTokenCreated {
                tenant: t,
                user: Some(u),
                id: "a1",
            },
            Event::TokenDeleted {
                tenant: t,
                user: None,
                id: "c1",
            },
            Event::ApiTokenRightsReduced {
                tenant: t,
                client_id: "c1",
            },
        ]
    }

    #[test]
    fn each_kind_has_one_constructor_and_keeps_what_it_concerns() {
        let events = every_event();
        let kinds: std::collections::BTreeSet<String> =
            events.iter().map(|e| format!("{:?}", e.kind())).collect();
        assert_eq!(kinds.len(), events.len(), "two variants share a kind");
        for e in &events {
            let r = e.stored("2026-01-01T00:00:00Z");
            let names_user = matches!(
                e,
                Event::UserLocked { .. }
                    | Event::UserDisabled { .. }
                    | Event::UserRemovedFromTenant { .. }
                    | Event::UserDeleted { .. }
                    | Event::UserRolesRemoved { .. }
                    | Event::UserPrivilegesReduced { .. }
                    | Event::SessionRevoked { .. }
                    | Event::AccessTokenCreated { .. }
            );
            assert_eq!(r.user_id.is_some(), names_user, "{e:?}");
            assert_eq!(
                r.session_id.is_some(),
                matches!(e, Event::SessionRevoked { .. }),
                "{e:?}"
            );
            if let Event::RoleDeleted { key, .. }
            | Event::PermissionRevoked { key }
            | Event::TokenDeleted { id: key, .. } = e
            {
                assert_eq!(r.subject.as_deref(), Some(*key), "{e:?}");
            }
        }
    }
}
