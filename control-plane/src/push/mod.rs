//! Distribution to sidecars (`design.md` §5): the hub that turns committed security events
//! into versioned, authenticated frames ([`shared::wire`]) and fans them out, and the
//! bookkeeping of which sidecar applied what.
//!
//! Versions are event sequence numbers. One task ([`run`]) wakes after every durable commit,
//! reads the events past the last published version, builds **one** delta and broadcasts
//! its encoded frame to every stream; each stream forwards frames in order and fills any gap
//! (a slow stream that lagged, or frames published between its snapshot and its
//! subscription) with a catch-up delta built from the store.

pub mod status;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use shared::wire::{self, Delta, Policy, PublicKey, PushMessage, Revocation, RevocationKind};
use tokio::sync::broadcast;

use crate::model::event::{self, EventKind, EventRecord};
use crate::store::StoreError;

pub use self::status::{SidecarStatus, Sidecars, everywhere, wait_applied_shared};

/// Most events one catch-up delta covers; a sidecar further behind gets a snapshot.
pub const MAX_CATCH_UP: usize = 10_000;

/// Leeway added to revocation lifetimes (sidecars accept `exp` this late).
pub const LEEWAY_SECS: i64 = 60;

/// An encoded frame moving sidecars from `base` to `version`.
#[derive(Debug)]
pub struct Frame {
    /// The version it applies to.
    pub base: u64,
    /// The version after it.
    pub version: u64,
    /// `<mac> <json>\n`.
    pub bytes: Bytes,
}

/// Where the event log stands when a control plane starts: its last version, and the epoch
/// of a store several replicas share (else the hub makes one of its own).
#[derive(Clone, Debug, Default)]
pub struct LogPosition {
    /// The last event's sequence number.
    pub version: u64,
    /// The shared store's epoch.
    pub epoch: Option<String>,
}

/// The fan-out point. One per control plane.
pub struct Hub {
    mac_key: [u8; 32],
    epoch: String,
    version: AtomicU64,
    frames: broadcast::Sender<Arc<Frame>>,
    closing: tokio::sync::watch::Sender<bool>,
    /// Connected and known sidecars.
    pub sidecars: Sidecars,
}

impl Hub {
    /// A hub at the store's current version, in `epoch` (a shared store's), else in one of
    /// this process's own.
    pub fn new(mac_key: [u8; 32], version: u64, epoch: Option<String>) -> Self {
        let (frames, _) = broadcast::channel(1024);
        Hub {
            mac_key,
            epoch: epoch.unwrap_or_else(|| crate::crypto::new_uuid().to_string()),
            version: AtomicU64::new(version),
            frames,
            closing: tokio::sync::watch::channel(false).0,
            sidecars: Sidecars::default(),
        }
    }

    /// The last published version.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// This process's epoch (see [`wire::Snapshot::epoch`]).
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Subscribe to published frames.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.frames.subscribe()
    }

    /// End every stream and the publisher (shutdown): open streams would otherwise hold
    /// the graceful drain.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Hub::close`] was called.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + use<> {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|c| *c).await;
        }
    }

    /// Encode a message with the frame key.
    pub fn encode(&self, msg: &PushMessage) -> Bytes {
        Bytes::from(wire::encode(&self.mac_key, msg))
    }
}

/// What distribution reads and updates: the store, the clock, the environment's issuer and
/// audience, the caches behind what it pushes, the hub, and its metrics. (Not the
/// application's state: distribution sits below the HTTP layer.)
#[derive(Clone)]
pub struct Context {
    /// The store.
    pub db: crate::store::Db,
    /// The fan-out point.
    pub hub: Arc<Hub>,
    /// The clock.
    pub clock: crate::model::clock::Clock,
    /// Token issuer: the public URL.
    pub issuer: Arc<str>,
    /// Token audience: the environment's client id.
    pub audience: Arc<str>,
    /// The compiled restriction policies.
    pub restrictions: Arc<crate::model::restrictions::Policies>,
    /// The roles-and-permissions catalogue.
    pub catalogs: Arc<crate::model::catalog::Catalogs>,
    /// The last version published.
    pub version_gauge: prometheus::IntGauge,
    /// Time to build and broadcast one delta.
    pub fanout: prometheus::Histogram,
}

/// Publish forever: after every durable commit, turn new events into one broadcast delta.
pub async fn run(cx: Context) {
    let mut commits = cx.db.commits();
    let closed = cx.hub.closed();
    tokio::pin!(closed);
    loop {
        if let Err(e) = publish_pending(&cx) {
            tracing::error!(error = %e, "cannot publish changes to sidecars");
        }
        tokio::select! {
            r = commits.changed() => if r.is_err() { return },
            () = &mut closed => return,
        }
    }
}

fn publish_pending(cx: &Context) -> Result<(), StoreError> {
    let hub = &cx.hub;
    loop {
        let base = hub.version();
        let events = event::after(&cx.db, base, MAX_CATCH_UP)?;
        let Some(last) = events.last() else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let delta = build_delta(cx, base, last.seq, &events)?;
        let bytes = hub.encode(&PushMessage::Delta(delta));
        hub.version.store(last.seq, Ordering::Release);
        let _ = hub.frames.send(Arc::new(Frame {
            base,
            version: last.seq,
            bytes,
        }));
        cx.version_gauge.set(last.seq as i64);
        cx.fanout.observe(started.elapsed().as_secs_f64());
        if events.len() < MAX_CATCH_UP {
            return Ok(());
        }
    }
}

/// Tokens live at most this long: the largest access-token lifetime ever configured.
pub fn token_ttl(cx: &Context) -> Result<i64, StoreError> {
    crate::model::vendor_config::longest_token_ttl(&cx.db)
}

fn unix_of(at: &str) -> i64 {
    crate::model::clock::unix_of(at).unwrap_or(0)
}

/// The revocation an event implies, if any. Entries live until every token issued before
/// them has expired (`ttl` plus leeway).
pub fn revocation_of(e: &EventRecord, ttl: i64) -> Option<Revocation> {
    let not_before = unix_of(&e.at);
    let entry = |kind, id: &str, tenant: Option<&str>| {
        Some(Revocation {
            kind,
            id: id.to_owned(),
            tenant_id: tenant.map(str::to_owned),
            not_before,
            expires_at: not_before + ttl + LEEWAY_SECS,
        })
    };
    let user = e.user_id.as_deref();
    let tenant = e.tenant_id.as_deref();
    match e.kind {
        EventKind::SessionRevoked => entry(RevocationKind::Session, e.session_id.as_deref()?, None),
        EventKind::UserLocked | EventKind::UserDeleted | EventKind::UserPrivilegesReduced => {
            entry(RevocationKind::User, user?, None)
        }
        EventKind::UserDisabled
        | EventKind::UserRemovedFromTenant
        | EventKind::UserRolesRemoved => match (user, tenant) {
            (Some(u), Some(t)) => entry(RevocationKind::UserInTenant, u, Some(t)),
            (Some(u), None) => entry(RevocationKind::User, u, None),
            _ => None,
        },
        EventKind::TenantDeleted => entry(RevocationKind::Tenant, tenant?, None),
        EventKind::RoleDeleted | EventKind::RolePermissionsRemoved => {
            entry(RevocationKind::Role, e.subject.as_deref()?, tenant)
        }
        EventKind::PermissionRevoked => {
            entry(RevocationKind::Permission, e.subject.as_deref()?, None)
        }
        EventKind::ApiTokenDeleted | EventKind::ApiTokenRightsReduced => {
            entry(RevocationKind::Token, e.subject.as_deref()?, None)
        }
        EventKind::KeysChanged
        | EventKind::ConfigChanged
        | EventKind::RestrictionsChanged
        | EventKind::AccessTokenCreated => None,
    }
}

/// Every active access token with its current rights.
fn access_token_records(cx: &Context) -> Result<Vec<wire::AccessTokenRecord>, StoreError> {
    crate::model::access_token::active_records(
        &cx.db,
        &*cx.catalogs.current(&cx.db)?,
        &cx.restrictions,
        cx.clock.unix(),
    )
}

/// The public keys sidecars verify with, with their states.
pub fn public_keys(cx: &Context) -> Result<Vec<PublicKey>, StoreError> {
    let now = cx.clock.unix();
    let records = crate::token::Issuer::list(&cx.db).map_err(|e| match e {
        crate::token::TokenError::Store(s) => s,
        other => StoreError::Backend(other.to_string()),
    })?;
    Ok(records
        .into_iter()
        .filter(|k| k.publish_until.is_none_or(|u| now < u))
        .map(|k| PublicKey {
            kid: k.kid,
            alg: "RS256".into(),
            n: k.n,
            e: k.e,
            state: k.state,
        })
        .collect())
}

/// The policy sidecars decide with.
pub fn policy(cx: &Context) -> Result<Policy, StoreError> {
    Ok(Policy {
        issuer: cx.issuer.to_string(),
        audience: cx.audience.to_string(),
        access_token_ttl: token_ttl(cx)?,
    })
}

/// The delta from `base` to `version` made of `events` (those with `base < seq <= version`).
pub fn build_delta(
    cx: &Context,
    base: u64,
    version: u64,
    events: &[EventRecord],
) -> Result<Delta, StoreError> {
    let ttl = token_ttl(cx)?;
    let now = cx.clock.unix();
    let keys_changed = events.iter().any(|e| e.kind == EventKind::KeysChanged);
    let config_changed = events.iter().any(|e| e.kind == EventKind::ConfigChanged);
    let mut scopes: Vec<Option<&str>> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.kind == EventKind::RestrictionsChanged)
    {
        if !scopes.contains(&e.tenant_id.as_deref()) {
            scopes.push(e.tenant_id.as_deref());
        }
    }
    // Anything that can change which access tokens are active, or their rights, resends the
    // whole (small) set — email-domain rules included, which decide whether a user's tokens
    // are active.
    let access_changed = events.iter().any(|e| {
        !matches!(
            e.kind,
            EventKind::SessionRevoked | EventKind::KeysChanged | EventKind::ConfigChanged
        )
    });
    let access_tokens = access_changed
        .then(|| access_token_records(cx))
        .transpose()?;
    let restrictions = scopes
        .into_iter()
        .map(|s| crate::model::restrictions::load_policy(&cx.db, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Delta {
        protocol: wire::PROTOCOL,
        base,
        version,
        issued_at: now,
        keys: keys_changed.then(|| public_keys(cx)).transpose()?,
        policy: config_changed.then(|| policy(cx)).transpose()?,
        revocations: events
            .iter()
            .filter_map(|e| revocation_of(e, ttl))
            .filter(|r| r.expires_at > now)
            .collect(),
        restrictions,
        access_tokens,
    })
}

/// A catch-up delta from `since` to the hub's current version, or `None` when the store
/// no longer serves that range in one delta (the caller sends a snapshot).
pub fn catch_up(cx: &Context, since: u64) -> Result<Option<(u64, Bytes)>, StoreError> {
    let current = cx.hub.version();
    if since > current {
        return Ok(None);
    }
    let events: Vec<EventRecord> = event::after(&cx.db, since, MAX_CATCH_UP + 1)?
        .into_iter()
        .take_while(|e| e.seq <= current)
        .collect();
    if events.len() > MAX_CATCH_UP {
        return Ok(None);
    }
    let delta = build_delta(cx, since, current, &events)?;
    Ok(Some((current, cx.hub.encode(&PushMessage::Delta(delta)))))
}

/// The full state at the hub's current version. Keys and policy are read now (a later delta
/// that changes them carries them whole again); revocations come from the events up to
/// that version whose entries are still live.
pub fn snapshot(cx: &Context) -> Result<(u64, Bytes), StoreError> {
    let version = cx.hub.version();
    let ttl = token_ttl(cx)?;
    let now = cx.clock.unix();
    let mut revocations = Vec::new();
    let mut after = 0;
    loop {
        let batch = event::after(&cx.db, after, 4096)?;
        let Some(last) = batch.last().map(|e| e.seq) else {
            break;
        };
        for e in batch.iter().filter(|e| e.seq <= version) {
            if let Some(r) = revocation_of(e, ttl).filter(|r| r.expires_at > now) {
                revocations.push(r);
            }
        }
        if last >= version {
            break;
        }
        after = last;
    }
    let snap = wire::Snapshot {
        protocol: wire::PROTOCOL,
        version,
        epoch: cx.hub.epoch().to_owned(),
        issued_at: now,
        keys: public_keys(cx)?,
        policy: policy(cx)?,
        revocations,
        restrictions: crate::model::restrictions::all_policies(&cx.db)?,
        access_tokens: access_token_records(cx)?,
    };
    Ok((version, cx.hub.encode(&PushMessage::Snapshot(snap))))
}

/// A heartbeat frame at the current version.
pub fn heartbeat(cx: &Context) -> Bytes {
    cx.hub.encode(&PushMessage::Heartbeat {
        protocol: wire::PROTOCOL,
        version: cx.hub.version(),
        now: cx.clock.unix(),
    })
}
