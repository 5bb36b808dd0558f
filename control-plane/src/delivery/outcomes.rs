//! The task that settles approval executions time decided and reminds their approvers
//! (`model::approval::sweep`) and
//! posts completed executions' outcomes to their webhooks (`model::approval::Outcome`):
//! wakes on every durable commit and at least once a second, one attempt per due outcome,
//! removed once the webhook answers 2xx, retried with backoff otherwise. Holds only a weak
//! store handle: it ends with the control plane.

use std::time::Duration;

use crate::model::approval;
use crate::model::clock::Clock;
use crate::store::{Db, WeakDb};

/// Start the task for `db`.
pub fn spawn(db: &Db, clock: Clock, http: reqwest::Client, public_url: std::sync::Arc<str>) {
    let weak = db.downgrade();
    let commits = db.commits();
    tokio::spawn(run(weak, commits, clock, http, public_url));
}

async fn run(
    db: WeakDb,
    mut commits: tokio::sync::watch::Receiver<u64>,
    clock: Clock,
    http: reqwest::Client,
    public_url: std::sync::Arc<str>,
) {
    loop {
        {
            let Some(db) = db.upgrade() else { return };
            if let Err(e) =
                approval::sweep(&db, &clock, crate::model::message::Links(&public_url)).await
            {
                tracing::error!(error = %e, "could not settle due approval executions");
            }
            match approval::outcomes_due(&db, clock.unix()) {
                Ok(due) => {
                    for o in due {
                        post(&db, &clock, &http, o).await;
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not read approval outcomes"),
            }
        }
        tokio::select! {
            changed = commits.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn post(db: &Db, clock: &Clock, http: &reqwest::Client, o: approval::Outcome) {
    // One poster per outcome, also among replicas sharing the store.
    match approval::claim_outcome(db, &o.execution_id, clock.unix()).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(execution.id = %o.execution_id, error = %e, "cannot claim an approval outcome");
            return;
        }
    }
    let sent = http
        .post(&o.url)
        .header("content-type", "application/json")
        .body(o.body.clone())
        .send()
        .await;
    let result = match sent {
        Ok(r) if r.status().is_success() => {
            tracing::info!(execution.id = %o.execution_id, "approval outcome delivered");
            approval::outcome_done(db, &o.execution_id)
                .await
                .map(|()| true)
        }
        Ok(r) => {
            tracing::warn!(execution.id = %o.execution_id, status = %r.status(), attempt = o.attempts + 1, "approval webhook refused the outcome");
            approval::outcome_failed(db, &o.execution_id, clock.unix()).await
        }
        Err(e) => {
            tracing::warn!(execution.id = %o.execution_id, error = %e, attempt = o.attempts + 1, "approval webhook unreachable");
            approval::outcome_failed(db, &o.execution_id, clock.unix()).await
        }
    };
    match result {
        Ok(true) => {}
        Ok(false) => {
            tracing::error!(execution.id = %o.execution_id, "approval outcome dropped after a day of failures")
        }
        Err(e) => tracing::error!(error = %e, "could not record an approval outcome attempt"),
    }
}
