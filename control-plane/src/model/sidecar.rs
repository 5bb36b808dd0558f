//! What every replica knows of every sidecar, when several control planes share one store
//! (PostgreSQL): the replica that holds a sidecar's stream records it opening, living (at
//! each heartbeat) and closing, and whichever replica an acknowledgement reaches records
//! it — so `GET /tessera/v1/sidecars` and the key-rotation gate see the sidecars of every
//! replica. With an embedded store the hub's own registry is the whole truth and nothing is
//! written here.
//!
//! Invariants:
//! - A sidecar counts as connected only while its stream's replica keeps refreshing it
//!   ([`STALE_AFTER`]): a replica that died takes its sidecars with it within that time.
//! - An acknowledged version only grows.

use serde::{Deserialize, Serialize};

use crate::store::{Db, Record, StoreError, Tree};

/// Seconds after the last refresh from its stream's replica that a sidecar stops counting as
/// connected (three heartbeats).
pub const STALE_AFTER: i64 = 15;

/// One sidecar, as the replicas share it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidecarRecord {
    /// The sidecar's id.
    pub id: String,
    /// Where its stream comes from.
    pub address: String,
    /// Its data listener, as it reported it.
    pub listen: Option<String>,
    /// The last version it acknowledged.
    pub applied_version: u64,
    /// Its last rejection, if any.
    pub last_error: Option<String>,
    /// Streams opened so far.
    pub connects: u64,
    /// Open streams.
    pub streams: u32,
    /// Unix seconds of the last refresh or acknowledgement.
    pub last_contact_unix: i64,
    /// Unix seconds its current stream opened.
    pub connected_since_unix: Option<i64>,
}

impl Record for SidecarRecord {
    const TREE: Tree = Tree::Sidecars;
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}

impl SidecarRecord {
    /// Whether a stream is open and its replica alive.
    pub fn connected(&self, now: i64) -> bool {
        self.streams > 0 && now - self.last_contact_unix <= STALE_AFTER
    }
}

/// A stream opened (at the replica recording it).
pub async fn opened(
    db: &Db,
    id: &str,
    address: &str,
    listen: Option<String>,
    now: i64,
) -> Result<(), StoreError> {
    db.write(|tx| {
        let mut r = tx
            .get::<SidecarRecord>(id.as_bytes())?
            .unwrap_or(SidecarRecord {
                id: id.to_owned(),
                address: String::new(),
                listen: None,
                applied_version: 0,
                last_error: None,
                connects: 0,
                streams: 0,
                last_contact_unix: now,
                connected_since_unix: None,
            });
        // A stream held by a replica that stopped refreshing it is gone.
        if !r.connected(now) {
            r.streams = 0;
        }
        address.clone_into(&mut r.address);
        r.listen.clone_from(&listen);
        r.streams += 1;
        r.connects += 1;
        r.last_contact_unix = now;
        r.connected_since_unix = Some(now);
        tx.put(&r)
    })
    .await
}

/// A stream is still open (its replica's heartbeat).
pub async fn alive(db: &Db, id: &str, now: i64) -> Result<(), StoreError> {
    db.write(|tx| {
        if let Some(mut r) = tx.get::<SidecarRecord>(id.as_bytes())? {
            r.last_contact_unix = now;
            tx.put(&r)?;
        }
        Ok(())
    })
    .await
}

/// A stream closed.
pub async fn closed(db: &Db, id: &str) -> Result<(), StoreError> {
    db.write(|tx| {
        if let Some(mut r) = tx.get::<SidecarRecord>(id.as_bytes())? {
            r.streams = r.streams.saturating_sub(1);
            if r.streams == 0 {
                r.connected_since_unix = None;
            }
            tx.put(&r)?;
        }
        Ok(())
    })
    .await
}

/// An acknowledgement (or, with `error`, a rejection) reached some replica; `false` for a
/// sidecar no replica has seen open a stream.
pub async fn acked(
    db: &Db,
    id: &str,
    version: u64,
    error: Option<String>,
    now: i64,
) -> Result<bool, StoreError> {
    db.write(|tx| {
        let Some(mut r) = tx.get::<SidecarRecord>(id.as_bytes())? else {
            return Ok(false);
        };
        r.last_contact_unix = now;
        match &error {
            None => {
                r.applied_version = r.applied_version.max(version);
                r.last_error = None;
            }
            Some(e) => r.last_error = Some(e.clone()),
        }
        tx.put(&r)?;
        Ok(true)
    })
    .await
}

/// Every sidecar any replica has seen, by id.
pub fn all(db: &Db) -> Result<Vec<SidecarRecord>, StoreError> {
    db.scan::<SidecarRecord>(b"")
}
