//! The task that works through accepted bulk imports (`model::migration::run_pending`):
//! wakes on every durable commit (an accepted import is one) and every few seconds (a
//! retry after a store error), and at start, so an import a restart interrupted resumes.
//! Holds only a weak store handle: it ends with the control plane.

use std::time::Duration;

use crate::model::clock::Clock;
use crate::model::migration;
use crate::store::{Db, WeakDb};

/// Start the task for `db`.
pub fn spawn(db: &Db, clock: Clock) {
    let weak = db.downgrade();
    let commits = db.commits();
    tokio::spawn(run(weak, commits, clock));
}

async fn run(db: WeakDb, mut commits: tokio::sync::watch::Receiver<u64>, clock: Clock) {
    loop {
        {
            let Some(db) = db.upgrade() else { return };
            if let Err(e) = migration::run_pending(&db, &clock).await {
                tracing::error!(error = %e, "could not continue a bulk user import");
            }
        }
        tokio::select! {
            changed = commits.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}
