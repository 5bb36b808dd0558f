//! The last good state on disk: written atomically (temporary file, fsync, rename, directory
//! fsync) before it is acknowledged, read back at start so the sidecar keeps deciding while
//! the control plane is away; and the sidecar's id, kept beside it.

use std::path::Path;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use shared::wire;

use crate::snapshot::{self, AccessTokens};
use crate::state::{Sidecar, unix_now};

const STATE_FILE: &str = "state.json";
const ID_FILE: &str = "sidecar-id";

/// The persisted last good state.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Persisted {
    saved_at: i64,
    last_contact: i64,
    snapshot: wire::Snapshot,
}

/// A random hex id.
fn random_id() -> String {
    let mut b = [0u8; 8];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The sidecar id: configured, or kept in the state directory, or fresh.
pub fn sidecar_id(configured: Option<&str>, dir: Option<&Path>) -> std::io::Result<String> {
    if let Some(id) = configured {
        return Ok(id.to_owned());
    }
    let Some(dir) = dir else {
        return Ok(format!("sidecar-{}", random_id()));
    };
    std::fs::create_dir_all(dir)?;
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => {
            let id = format!("sidecar-{}", random_id());
            write_atomic(&path, id.as_bytes())?;
            Ok(id)
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent()
        && let Ok(d) = std::fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Load the persisted state, if any and valid, into `sc`. A damaged file is reported and
/// ignored: the sidecar then fails closed until the control plane answers.
pub fn load_persisted(sc: &Sidecar, dir: &Path) {
    let path = dir.join(STATE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot read the persisted state");
            return;
        }
    };
    let parsed: Result<Persisted, String> =
        shared::json::from_bytes(&bytes).map_err(|e| e.to_string());
    match parsed.and_then(|p| {
        snapshot::from_wire(&p.snapshot)
            .map(|s| (p, s))
            .map_err(|e| e.to_string())
    }) {
        Ok((p, snap)) => {
            let now = unix_now();
            let live: Vec<_> = p
                .snapshot
                .revocations
                .into_iter()
                // Kept through the leeway: a token is accepted until exp + leeway.
                .filter(|r| r.expires_at.saturating_add(sc.config.leeway) >= now)
                .collect();
            sc.revocations.replace(&live);
            tracing::info!(
                version = snap.version,
                revocations = live.len(),
                "serving from the persisted state"
            );
            sc.install(snap, AccessTokens::of(&p.snapshot.access_tokens));
            sc.restore_contact(p.last_contact);
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "the persisted state is unusable; ignoring it");
        }
    }
}

/// Write the applied state; the (version, epoch) written, or `None` before any snapshot.
pub(super) fn persist(sc: &Sidecar, dir: &Path) -> std::io::Result<Option<(u64, String)>> {
    let view = sc.view();
    let Some(cur) = view.snapshot.as_ref() else {
        return Ok(None);
    };
    let now = unix_now();
    let p = Persisted {
        saved_at: now,
        last_contact: sc.last_contact.load(Ordering::Relaxed),
        snapshot: snapshot::to_wire(cur, &view.revocations, &view.access_tokens, now),
    };
    let bytes = serde_json::to_vec(&p).map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    write_atomic(&dir.join(STATE_FILE), &bytes)?;
    Ok(Some((cur.version, cur.epoch.clone())))
}
