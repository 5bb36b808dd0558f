//! Group commit: one flusher thread makes committed transactions durable; every writer waits
//! until a flush that started after its commit has finished.
//!
//! A writer takes a sequence number *after* its transaction committed, so when the flusher
//! reads the current sequence `n` and then flushes, every commit numbered `<= n` is covered.
//! Writers arriving during a flush are covered by the next one, which they share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use tokio::sync::watch;

use super::{Kv, StoreError};

#[derive(Clone, Debug, Default)]
struct FlushState {
    /// Every commit numbered up to this is durable.
    flushed: u64,
    /// The last flush attempt that failed covered commits up to this number.
    failed: u64,
    /// Why that flush failed.
    error: Option<String>,
}

pub(super) struct Flusher {
    committed: Arc<AtomicU64>,
    /// `None` only while dropping.
    wake: Option<mpsc::Sender<()>>,
    state: watch::Receiver<FlushState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Flusher {
    /// Stop the thread and wait for it, so the backend (and sled's directory lock) is
    /// released when the last `Db` handle goes: a store can be reopened right away.
    fn drop(&mut self) {
        self.wake = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Flusher {
    pub(super) fn spawn(kv: Arc<dyn Kv>) -> Self {
        let committed = Arc::new(AtomicU64::new(0));
        let (wake, woken) = mpsc::channel::<()>();
        let (tx, state) = watch::channel(FlushState::default());
        let seen = committed.clone();
        let spawned = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || flush_loop(kv, seen, woken, tx));
        let thread = match spawned {
            Ok(t) => Some(t),
            Err(e) => {
                // Without a flusher no write can be acknowledged; writers get an error instead.
                tracing::error!(error = %e, "could not start the store flusher thread");
                None
            }
        };
        Flusher {
            committed,
            wake: Some(wake),
            state,
            thread,
        }
    }

    /// Wait until the caller's already-committed transaction is durable.
    pub(super) async fn wait_durable(&self) -> Result<(), StoreError> {
        let seq = self.committed.fetch_add(1, Ordering::AcqRel) + 1;
        self.wake
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(())
            .map_err(|_| StoreError::Closed)?;
        let mut rx = self.state.clone();
        let state = rx
            .wait_for(|s| s.flushed >= seq || s.failed >= seq)
            .await
            .map_err(|_| StoreError::Closed)?
            .clone();
        if state.flushed >= seq {
            Ok(())
        } else {
            Err(StoreError::Backend(
                state.error.unwrap_or_else(|| "flush failed".into()),
            ))
        }
    }

    /// Ask for a flush with no new commit: after a failed one, this is how the store finds
    /// out (and, through the backend's reopen, recovers) once the disk works again.
    pub(super) fn nudge(&self) {
        if let Some(w) = &self.wake {
            let _ = w.send(());
        }
    }

    /// The error of the last flush, if no flush has succeeded since.
    pub(super) fn last_error(&self) -> Option<String> {
        let s = self.state.borrow();
        (s.failed > s.flushed).then(|| s.error.clone().unwrap_or_default())
    }
}

fn flush_loop(
    kv: Arc<dyn Kv>,
    committed: Arc<AtomicU64>,
    woken: mpsc::Receiver<()>,
    state: watch::Sender<FlushState>,
) {
    let mut covered = 0u64;
    while woken.recv().is_ok() {
        // Under concurrent writes (more than one commit waiting), let the writers that are
        // running give their commits to this flush too: one yield of this thread's core.
        if committed.load(Ordering::Acquire).saturating_sub(covered) > 1 {
            std::thread::yield_now();
        }
        // Coalesce every wake-up that arrived meanwhile: one flush serves them all.
        while woken.try_recv().is_ok() {}
        let target = committed.load(Ordering::Acquire);
        covered = target;
        match kv.flush() {
            Ok(()) => state.send_modify(|s| s.flushed = s.flushed.max(target)),
            Err(e) => {
                tracing::error!(error = %e, "store flush failed; writes are not acknowledged");
                state.send_modify(|s| {
                    s.failed = s.failed.max(target);
                    s.error = Some(e.to_string());
                });
            }
        }
    }
}
