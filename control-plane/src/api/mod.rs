//! The HTTP API, one module per resource area. Every operation of the identity spec is
//! routed under `/identity` and `/frontegg/identity`, with and without a trailing slash;
//! an operation no area implements answers 501 `ER-NOT-IMPLEMENTED`.
//!
//! An area implements spec operations by operationId ([`Ops::add`]); method and path come
//! from the generated table, so a handler cannot be mounted at a path the spec does not have,
//! and `docs/api-coverage.md` is derived from the same registrations.

mod approvals;
mod auth;
mod platform;
mod rbac;
mod restrictions;
mod settings;
mod sso;
mod tenants;
mod tessera;
mod tokens;
mod users;

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::handler::Handler;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::error::ApiError;
use crate::http::AppState;

use crate::spec::{OpIndex, ops as spec_ops};
pub use crate::spec::{PREFIXES, SpecOp, spec_index, spec_operations};

/// An area's implementations of spec operations, by operationId, and the routes real
/// clients call outside the spec (`compat-wave2.md` Appendix A).
#[derive(Default)]
pub(crate) struct Ops {
    handlers: Vec<(&'static str, MethodRouter<AppState>)>,
    unknown: Vec<&'static str>,
    extra: Vec<(&'static str, MethodRouter<AppState>)>,
    team: Vec<(&'static str, MethodRouter<AppState>)>,
    root: Vec<(&'static str, MethodRouter<AppState>)>,
}

impl Ops {
    /// Implement `operation_id` with `handler`, at the spec's method and path.
    pub(crate) fn add<H, T>(mut self, operation_id: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        match spec_index(operation_id) {
            Some(i) => self.handlers.push((
                operation_id,
                on(method_filter(spec_ops::OPERATIONS[i].method), handler),
            )),
            None => self.unknown.push(operation_id),
        }
        self
    }

    /// A route outside the spec that real clients call, at a spec-style `path`
    /// (`/resources/...`): mounted like the spec's routes, under both prefixes, with and
    /// without a trailing slash.
    pub(crate) fn add_extra(mut self, path: &'static str, route: MethodRouter<AppState>) -> Self {
        self.extra.push((path, route));
        self
    }

    /// A route of Frontegg's team service that the admin portal calls (`api.teams.*`), at
    /// `path` (`/team/resources/...`) and under `/frontegg`, with and without a trailing slash.
    pub(crate) fn add_team(mut self, path: &'static str, route: MethodRouter<AppState>) -> Self {
        self.team.push((path, route));
        self
    }

    /// A route of Tessera's own or of the platform (`/tessera/v1/...`, `/healthz`,
    /// `/.well-known/jwks.json`, the tenants API), at `path` from the root, with and without
    /// a trailing slash.
    pub(crate) fn add_root(mut self, path: &'static str, route: MethodRouter<AppState>) -> Self {
        self.root.push((path, route));
        self
    }

    /// Combine two areas.
    pub(crate) fn merge(mut self, other: Ops) -> Self {
        self.handlers.extend(other.handlers);
        self.unknown.extend(other.unknown);
        self.extra.extend(other.extra);
        self.team.extend(other.team);
        self.root.extend(other.root);
        self
    }
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    }
}

/// Every area's spec implementations; one line per area.
fn implementations() -> Ops {
    Ops::default()
        .merge(settings::ops())
        .merge(rbac::ops())
        .merge(tokens::ops())
        .merge(tenants::ops())
        .merge(tessera::ops())
        .merge(platform::ops())
        .merge(users::ops())
        .merge(auth::ops())
        .merge(restrictions::ops())
        .merge(sso::ops())
        .merge(approvals::ops())
}

/// The operationIds that have a real handler.
pub fn implemented_operations() -> BTreeSet<&'static str> {
    implementations()
        .handlers
        .iter()
        .map(|(id, _)| *id)
        .collect()
}

/// The paths of the routes real clients call outside the spec: spec-style (`/resources/...`,
/// under both identity prefixes) and the team service's (`/team/...`, bare and under
/// `/frontegg`).
pub fn extra_paths() -> Vec<&'static str> {
    let ops = implementations();
    ops.extra
        .iter()
        .chain(ops.team.iter())
        .map(|(p, _)| *p)
        .collect()
}

/// Register `mr` at `path` and at `path/` (a trailing slash is answered, never redirected).
pub(crate) fn route_both(
    router: Router<AppState>,
    path: &str,
    mr: MethodRouter<AppState>,
) -> Router<AppState> {
    router
        .route(path, mr.clone())
        .route(&format!("{path}/"), mr)
}

/// The spec's operations, implemented or 501, under both prefixes.
fn spec_routes(ops: Ops) -> Router<AppState> {
    for id in &ops.unknown {
        tracing::error!(
            operation.id = id,
            "an area implements an operation the spec does not have"
        );
    }
    let mut implemented: BTreeMap<&str, MethodRouter<AppState>> =
        ops.handlers.into_iter().collect();
    let mut by_route: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    for (index, op) in spec_ops::OPERATIONS.iter().enumerate() {
        let id = op.operation_id;
        let mr = implemented.remove(id).unwrap_or_else(|| {
            on(method_filter(op.method), move || async move {
                ApiError::not_implemented(id)
            })
        });
        let mr = mr.layer(axum::middleware::map_response(
            move |mut res: Response| async move {
                res.extensions_mut().insert(OpIndex(index));
                res
            },
        ));
        let merged = match by_route.remove(op.route) {
            Some(existing) => existing.merge(mr),
            None => mr,
        };
        by_route.insert(op.route, merged);
    }
    let mut root = Router::new();
    for (path, mr) in ops.root {
        root = route_both(root, path, mr);
    }
    let mut team: BTreeMap<&str, MethodRouter<AppState>> = BTreeMap::new();
    for (path, mr) in ops.team {
        let merged = match team.remove(path) {
            Some(existing) => existing.merge(mr),
            None => mr,
        };
        team.insert(path, merged);
    }
    for (path, mr) in team {
        root = route_both(root, path, mr.clone());
        root = route_both(root, &format!("/frontegg{path}"), mr);
    }
    for (path, mr) in ops.extra {
        let merged = match by_route.remove(path) {
            Some(existing) => existing.merge(mr),
            None => mr,
        };
        by_route.insert(path, merged);
    }
    let mut router = Router::new();
    for (route, mr) in by_route {
        for prefix in PREFIXES {
            router = route_both(router, &format!("{prefix}{route}"), mr.clone());
        }
    }
    router.merge(root)
}

/// The routes of the `--metrics-listen` listener.
pub(crate) fn metrics_routes() -> Router<AppState> {
    platform::health::metrics_routes()
}

/// Every route of the control plane.
pub(crate) fn routes() -> Router<AppState> {
    spec_routes(implementations())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_spec_operation_once() {
        let ops = spec_operations();
        assert_eq!(ops.len(), 307);
        let ids: BTreeSet<_> = ops.iter().map(|o| o.operation_id).collect();
        assert_eq!(ids.len(), 307);
        let keys: BTreeSet<_> = ops.iter().map(|o| (o.method, o.route)).collect();
        assert_eq!(keys.len(), 307, "two operations share a method and route");
    }

    #[test]
    fn every_registration_names_a_spec_operation() {
        assert!(implementations().unknown.is_empty());
        let bogus = Ops::default().add("NoSuchOperation", || async {});
        assert_eq!(bogus.unknown, ["NoSuchOperation"]);
    }

    #[test]
    fn extras_mount_under_both_prefixes() {
        let ids: Vec<&str> = implementations().extra.iter().map(|(p, _)| *p).collect();
        assert!(ids.contains(&"/resources/configurations/v1/restrictions/ip/bulk"));
        assert!(ids.iter().all(|p| p.starts_with("/resources/")), "{ids:?}");
    }

    #[test]
    fn routes_build_without_overlaps() {
        // axum panics on overlapping registrations; building the router is the check.
        let _ = routes();
        let _ = spec_routes(Ops::default().add("UsersControllerV1_signUpUser", || async { "ok" }));
    }
}
