//! What one decision reads: the [`View`], swapped whole through one `ArcSwap` in
//! [`crate::state::Sidecar`], so a request sees keys, policy, restrictions, access tokens and
//! route rules of one moment — never new access tokens with old keys.
//!
//! The one part that is not swapped is the revocation set: a concurrent map every view
//! shares, updated in place by deltas (100k entries are not copied per message). It only
//! grows between sweeps, and a revocation is inserted before the view it came with is
//! stored, so a request can see a revocation early, never late.

use std::sync::Arc;

use crate::routes::Routes;
use crate::snapshot::{AccessTokens, Revocations, Snapshot};

/// One consistent state for [`crate::decide::decide`].
#[derive(Clone)]
pub struct View {
    /// Keys, policy and restrictions; `None` until a snapshot is held (every request that
    /// needs one is refused then).
    pub snapshot: Option<Arc<Snapshot>>,
    /// Active access tokens (`x-api-key`), of the same version as `snapshot`.
    pub access_tokens: Arc<AccessTokens>,
    /// Route rules (the routes file; reloaded on SIGHUP).
    pub routes: Arc<Routes>,
    /// The live revocations, shared by every view (see the module doc).
    pub revocations: Arc<Revocations>,
    /// Clock-skew leeway, seconds.
    pub leeway: i64,
}

impl View {
    /// A view without a snapshot.
    pub fn empty(routes: Routes, revocations: Arc<Revocations>, leeway: i64) -> Self {
        View {
            snapshot: None,
            access_tokens: Arc::default(),
            routes: Arc::new(routes),
            revocations,
            leeway,
        }
    }

    /// This view with another snapshot and its access tokens.
    #[must_use]
    pub fn with_snapshot(&self, snapshot: Snapshot, access_tokens: Arc<AccessTokens>) -> Self {
        View {
            snapshot: Some(Arc::new(snapshot)),
            access_tokens,
            ..self.clone()
        }
    }

    /// This view with other route rules.
    #[must_use]
    pub fn with_routes(&self, routes: Routes) -> Self {
        View {
            routes: Arc::new(routes),
            ..self.clone()
        }
    }
}
