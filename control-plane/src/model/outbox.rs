//! The durable queue of messages (a transactional outbox). A flow queues what it sends
//! with [`queue`] inside the transaction that makes the message true — the reset token and
//! its mail commit together — and the delivery task (`delivery`) takes it from there.
//!
//! Invariants:
//! - No message is sent that was not committed, and none in an acknowledged reply is lost:
//!   the queue is written in the flow's own transaction, covered by its flush (a `kill -9`
//!   after the reply leaves the message queued; the next start delivers it).
//! - No extra durable write on the path that sends: a known address costs the flow's one
//!   transaction, as an unknown address's decoy does (`security.md` D, the enumeration
//!   tests).
//! - No secret at rest in the clear: a queued message carries links and codes, so it is
//!   sealed (AES-256-GCM, `mfa::seal`) with its queue id as associated data, and removed once
//!   delivered, dropped or expired.
//! - No message sent twice once the provider accepted it, except across a crash before its
//!   removal reached the disk (at least once: a lost code is worse than a repeated one). The
//!   removal rides the next flush (within a second) instead of adding an fsync per message.
//! - No retry after a message's lifetime (its code's or link's): it is dropped, not sent late.
//!   The retry schedule lives in the record, so a restart resumes it.

use serde::{Deserialize, Serialize};

use super::message::{Channel, Message};
use super::mfa::seal;
use crate::store::{Db, Record, StoreError, Tree, Tx};

/// The first retry waits this long; each later one twice the last.
const FIRST_RETRY_MS: u64 = 500;
/// The longest wait between attempts.
const MAX_RETRY_MS: u64 = 10 * 60 * 1000;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER_MS: u64 = 60 * 60 * 1000;
/// How many queued messages the delivery task reads at a time.
pub const BATCH: usize = 256;

/// One queued message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Queued {
    /// Queue order: milliseconds since the epoch and randomness, hex (sorts by time).
    pub id: String,
    /// The flow that sent it, for logs and metrics without opening it.
    pub kind: String,
    /// Email or SMS.
    pub channel: Channel,
    /// The [`Message`] as JSON, sealed.
    sealed: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not before this (milliseconds since the epoch).
    pub next_at_ms: u64,
    /// Dropped after this (milliseconds since the epoch).
    pub until_ms: u64,
    /// The request that queued it.
    pub request_id: Option<String>,
    /// A decoy: rendered like a message, never sent (the same work for an address that is
    /// nobody's as for one that is somebody's).
    #[serde(default)]
    pub decoy: bool,
    /// With a store several replicas share: the replica delivering it holds it until then
    /// (milliseconds since the epoch), so no other sends it meanwhile.
    #[serde(default)]
    pub claimed_until_ms: u64,
}

impl Record for Queued {
    const TREE: Tree = Tree::Outbox;
    fn key(&self) -> Vec<u8> {
        self.id.as_bytes().to_vec()
    }
}

/// Milliseconds since the epoch (the queue runs on real time, like the retries it waits
/// for).
pub fn now_ms() -> u64 {
    let ns = crate::model::clock::Clock::system()
        .now()
        .unix_timestamp_nanos();
    u64::try_from(ns / 1_000_000).unwrap_or(0)
}

/// Queue order: microseconds since the epoch, strictly increasing within the process (two
/// messages of one millisecond keep the order they were queued in; a restart continues
/// after the clock, which has moved on).
fn next_seq(now_ms: u64) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let want = now_ms.saturating_mul(1000);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = want.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn owner(id: &str) -> String {
    format!("outbox/{id}")
}

/// Queue `m` inside the flow's transaction; it is delivered after the commit.
pub fn queue(tx: &mut Tx<'_>, m: &Message) -> Result<(), StoreError> {
    put(tx, m, false)
}

/// Queue a decoy shaped like `m` for an address that is nobody's: the same writes, and the
/// same rendering by the delivery task, which then drops it unsent.
pub fn queue_decoy(tx: &mut Tx<'_>, m: &Message) -> Result<(), StoreError> {
    put(tx, m, true)
}

fn put(tx: &mut Tx<'_>, m: &Message, decoy: bool) -> Result<(), StoreError> {
    if m.to.is_empty() {
        return Ok(()); // a user without an address (username sign-up) gets no mail
    }
    let now = now_ms();
    let id = format!(
        "{:016x}{}",
        next_seq(now),
        crate::crypto::hex(&crate::crypto::random_bytes::<4>())
    );
    let json = serde_json::to_vec(m).map_err(|e| StoreError::Backend(e.to_string()))?;
    let sealed = seal::seal(tx, &owner(&id), &json, &seal::Fresh::new())?;
    tx.put(&Queued {
        kind: m.kind.to_string(),
        channel: m.channel,
        sealed,
        attempts: 0,
        next_at_ms: now,
        until_ms: now + u64::from(m.lifetime) * 1000,
        request_id: crate::trace::request_id(),
        decoy,
        id,
        claimed_until_ms: 0,
    })
}

/// How long a replica holds a message it is delivering.
pub const CLAIM_MS: u64 = 30_000;

/// Take message `id` for delivery by this replica until `now_ms` + [`CLAIM_MS`]: `false` if
/// another replica holds it (or it is gone). Several replicas share one queue; one sends.
pub async fn claim(db: &Db, id: &str, now_ms: u64) -> Result<bool, StoreError> {
    db.write(|tx| {
        let Some(mut q) = tx.get::<Queued>(id.as_bytes())? else {
            return Ok(false);
        };
        if q.claimed_until_ms > now_ms {
            return Ok(false);
        }
        q.claimed_until_ms = now_ms + CLAIM_MS;
        tx.put(&q)?;
        Ok(true)
    })
    .await
}

/// Up to [`BATCH`] queued messages after `after` (from the start: `None`), in queue order:
/// the delivery task pages through the whole queue, so messages waiting on a retry never
/// hide newer ones behind them.
pub fn pending(db: &Db, after: Option<&str>) -> Result<Vec<Queued>, StoreError> {
    let from = after.map_or_else(Vec::new, |id| [id.as_bytes(), &[0]].concat());
    db.scan_from::<Queued>(&from, BATCH)
}

/// The message a record holds; `None` if it does not open (damaged), and it is dropped.
pub fn open(db: &Db, q: &Queued) -> Result<Option<Message>, StoreError> {
    Ok(seal::open(db, &owner(&q.id), &q.sealed)?
        .and_then(|json| shared::json::from_bytes::<Message>(&json).ok()))
}

/// Remove a message: delivered, dropped or expired. Durable with the next flush (a crash
/// before it sends the message again — at least once — rather than add an fsync per
/// message beside the requests that are waiting for theirs: `security.md` D).
pub fn remove(db: &Db, id: &str) -> Result<(), StoreError> {
    db.write_unflushed(|tx| tx.delete::<Queued>(id.as_bytes()))
}

/// When to try again after `attempts` failed attempts, `retry_after_ms` if the provider
/// named a wait.
pub fn next_attempt(now_ms: u64, attempts: u32, retry_after_ms: Option<u64>) -> u64 {
    let backoff = FIRST_RETRY_MS
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
        .min(MAX_RETRY_MS);
    now_ms + retry_after_ms.map_or(backoff, |a| a.min(MAX_RETRY_AFTER_MS))
}

/// Record a failed attempt: the next one at `at_ms` (durable with the next flush; lost, the
/// retry only comes sooner). Nothing happens if the message is gone.
pub fn reschedule(db: &Db, id: &str, at_ms: u64) -> Result<(), StoreError> {
    db.write_unflushed(|tx| {
        if let Some(mut q) = tx.get::<Queued>(id.as_bytes())? {
            q.attempts = q.attempts.saturating_add(1);
            q.next_at_ms = at_ms;
            // Free for any replica to try at `at_ms`.
            q.claimed_until_ms = 0;
            tx.put(&q)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::message::{Links, password_reset};

    #[tokio::test]
    async fn a_queued_message_is_sealed_and_opens_to_itself() {
        let db = Db::in_memory();
        let m = password_reset(Links("https://id.test"), "a@b.test", "u1", "SECRET-TOKEN");
        db.write(|tx| queue(tx, &m)).await.unwrap();
        let q = pending(&db, None).unwrap();
        assert_eq!(q.len(), 1);
        let raw = db
            .get_raw(Tree::Outbox, q[0].id.as_bytes())
            .unwrap()
            .unwrap();
        assert!(
            !String::from_utf8_lossy(&raw).contains("SECRET-TOKEN"),
            "the link is not stored in the clear"
        );
        assert_eq!(open(&db, &q[0]).unwrap(), Some(m));
        // Copied under another id, it does not open.
        let mut moved = q[0].clone();
        moved.id = "0".repeat(28);
        assert_eq!(open(&db, &moved).unwrap(), None);
        remove(&db, &q[0].id).unwrap();
        assert!(pending(&db, None).unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_queue_is_in_order_pages_on_and_a_user_without_an_address_gets_nothing() {
        let db = Db::in_memory();
        for to in ["1@b.test", "", "2@b.test", "3@b.test"] {
            let m = password_reset(Links("https://id.test"), to, "u", "t");
            db.write(|tx| queue(tx, &m)).await.unwrap();
        }
        let all = pending(&db, None).unwrap();
        let to: Vec<String> = all
            .iter()
            .map(|q| open(&db, q).unwrap().unwrap().to)
            .collect();
        assert_eq!(to, ["1@b.test", "2@b.test", "3@b.test"]);
        // Paging on from an id gives what follows it.
        let rest = pending(&db, Some(&all[0].id)).unwrap();
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[0].id, all[1].id);
    }

    #[test]
    fn retries_back_off_to_a_bound_and_honour_a_bounded_retry_after() {
        assert_eq!(next_attempt(0, 1, None), 500);
        assert_eq!(next_attempt(0, 2, None), 1000);
        assert_eq!(next_attempt(0, 5, None), 8000);
        assert_eq!(next_attempt(0, 60, None), MAX_RETRY_MS);
        assert_eq!(next_attempt(10, 1, Some(3000)), 3010);
        assert_eq!(next_attempt(0, 1, Some(u64::MAX / 2)), MAX_RETRY_AFTER_MS);
    }

    #[tokio::test]
    async fn a_reschedule_counts_the_attempt_and_a_removed_message_stays_removed() {
        let db = Db::in_memory();
        let m = password_reset(Links("https://id.test"), "a@b.test", "u1", "t");
        db.write(|tx| queue(tx, &m)).await.unwrap();
        let id = pending(&db, None).unwrap()[0].id.clone();
        reschedule(&db, &id, 42).unwrap();
        let q = &pending(&db, None).unwrap()[0];
        assert_eq!((q.attempts, q.next_at_ms), (1, 42));
        remove(&db, &id).unwrap();
        reschedule(&db, &id, 43).unwrap();
        assert!(pending(&db, None).unwrap().is_empty());
    }
}
