//! Which sidecars exist, what each has applied, and waiting until they all have.

use dashmap::DashMap;
use serde::Serialize;
use tokio::sync::watch;

/// What the control plane knows about one sidecar.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SidecarStatus {
    /// The sidecar's id.
    pub id: String,
    /// The address its stream comes from.
    pub address: String,
    /// The data-listener address it reported, if any.
    pub listen: Option<String>,
    /// The last version it acknowledged as applied and persisted.
    pub applied_version: u64,
    /// Open streams (normally 0 or 1).
    #[serde(skip)]
    pub streams: u32,
    /// Unix seconds of the last stream frame sent or acknowledgement received.
    #[serde(skip)]
    pub last_contact_unix: i64,
    /// Unix seconds when its current stream opened.
    #[serde(skip)]
    pub connected_since_unix: Option<i64>,
    /// The last rejection it reported (a nack), if any.
    pub last_error: Option<String>,
    /// Times it has (re)connected since the control plane started.
    pub connects: u64,
}

/// The registry. Acknowledgements bump a watch so waiters re-check.
pub struct Sidecars {
    map: DashMap<String, SidecarStatus>,
    changed: watch::Sender<u64>,
}

impl Default for Sidecars {
    fn default() -> Self {
        Sidecars {
            map: DashMap::new(),
            changed: watch::channel(0).0,
        }
    }
}

impl Sidecars {
    /// A stream opened.
    pub fn connected(&self, id: &str, address: String, listen: Option<String>, now: i64) {
        let mut e = self
            .map
            .entry(id.to_owned())
            .or_insert_with(|| SidecarStatus {
                id: id.to_owned(),
                address: address.clone(),
                listen: None,
                applied_version: 0,
                streams: 0,
                last_contact_unix: now,
                connected_since_unix: None,
                last_error: None,
                connects: 0,
            });
        e.address = address;
        e.listen = listen;
        e.streams += 1;
        e.connects += 1;
        e.last_contact_unix = now;
        e.connected_since_unix = Some(now);
        drop(e);
        self.changed.send_modify(|n| *n += 1);
    }

    /// A stream closed.
    pub fn disconnected(&self, id: &str) {
        if let Some(mut e) = self.map.get_mut(id) {
            e.streams = e.streams.saturating_sub(1);
            if e.streams == 0 {
                e.connected_since_unix = None;
            }
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// An acknowledgement (or nack) arrived. Unknown sidecars (no stream yet) are ignored.
    pub fn acked(&self, id: &str, version: u64, error: Option<String>, now: i64) -> bool {
        let Some(mut e) = self.map.get_mut(id) else {
            return false;
        };
        e.last_contact_unix = now;
        match error {
            None => {
                e.applied_version = version;
                e.last_error = None;
            }
            Some(err) => e.last_error = Some(err),
        }
        drop(e);
        self.changed.send_modify(|n| *n += 1);
        true
    }

    /// Every sidecar, sorted by id.
    pub fn list(&self) -> Vec<SidecarStatus> {
        let mut all: Vec<SidecarStatus> = self.map.iter().map(|e| e.value().clone()).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Wait until every connected sidecar has applied `version`, at most `limit`. Returns
    /// (connected, acknowledged) at the end.
    pub async fn wait_applied(&self, version: u64, limit: std::time::Duration) -> (usize, usize) {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let (connected, acked) = self.count_applied(version);
            if acked == connected {
                return (connected, acked);
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return (connected, acked) },
                () = tokio::time::sleep_until(deadline) => return self.count_applied(version),
            }
        }
    }

    fn count_applied(&self, version: u64) -> (usize, usize) {
        let mut connected = 0;
        let mut acked = 0;
        for e in self.map.iter().filter(|e| e.streams > 0) {
            connected += 1;
            if e.applied_version >= version {
                acked += 1;
            }
        }
        (connected, acked)
    }
}

/// With a store several replicas share: wait until every sidecar connected to any of them
/// has applied `version`, at most `limit` (re-checked at every commit, which an
/// acknowledgement is, and every 50 ms). Returns (connected, acknowledged) at the end.
pub async fn wait_applied_shared(
    db: &crate::store::Db,
    clock: &crate::model::clock::Clock,
    version: u64,
    limit: std::time::Duration,
) -> (usize, usize) {
    let mut commits = db.commits();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let (connected, acked) = count_shared(db, clock.unix(), version);
        if acked == connected || tokio::time::Instant::now() >= deadline {
            return (connected, acked);
        }
        tokio::select! {
            _ = commits.changed() => {}
            () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn count_shared(db: &crate::store::Db, now: i64, version: u64) -> (usize, usize) {
    let all = crate::model::sidecar::all(db).unwrap_or_default();
    let connected: Vec<_> = all.iter().filter(|s| s.connected(now)).collect();
    let acked = connected
        .iter()
        .filter(|s| s.applied_version >= version)
        .count();
    (connected.len(), acked)
}

/// Every sidecar: this hub's registry, or with a shared store every replica's (a stale
/// stream counted as closed).
pub fn everywhere(
    hub_sidecars: &Sidecars,
    db: &crate::store::Db,
    now: i64,
) -> Result<Vec<SidecarStatus>, crate::store::StoreError> {
    if !db.shared() {
        return Ok(hub_sidecars.list());
    }
    Ok(crate::model::sidecar::all(db)?
        .into_iter()
        .map(|r| SidecarStatus {
            streams: if r.connected(now) { r.streams } else { 0 },
            id: r.id,
            address: r.address,
            listen: r.listen,
            applied_version: r.applied_version,
            last_contact_unix: r.last_contact_unix,
            connected_since_unix: r.connected_since_unix,
            last_error: r.last_error,
            connects: r.connects,
        })
        .collect())
}
