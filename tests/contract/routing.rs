//! Every operation of the spec is routed under both prefixes, with and without a trailing
//! slash; unimplemented ones answer 501 naming the operation, never a fake success.

use std::collections::BTreeSet;

use reqwest::Method;

use crate::support::{Cp, spec};

/// A concrete URL path for a spec template: every `{param}` becomes a UUID.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "8c3b1e9e-3f1b-4bb4-9d8a-0d5c2d3f2a11"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_spec_operation_is_routed_under_both_prefixes() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let spec = spec();
    let implemented = control_plane::api::implemented_operations();
    let mut checked = BTreeSet::new();
    for op in control_plane::codegen::operations(&spec) {
        let method = Method::from_bytes(op.method.as_bytes()).unwrap();
        for prefix in ["/identity", "/frontegg/identity"] {
            for slash in ["", "/"] {
                let path = format!("{prefix}{}{slash}", concrete(&op.path));
                let r = cp.call(method.clone(), &path, Some(&token), None).await;
                if implemented.contains(op.operation_id.as_str()) {
                    // A real handler may refuse the empty request (400, 415, or 404 for the
                    // made-up ids), but the route itself must exist.
                    assert!(
                        ![405, 501].contains(&r.status.as_u16())
                            && !r.status.is_server_error()
                            && r.body["errors"][0] != "no such route",
                        "{} {path}: {} {}",
                        op.method,
                        r.status,
                        r.text
                    );
                } else {
                    r.assert_error(501, "ER-NOT-IMPLEMENTED");
                    assert_eq!(
                        r.body["errors"][0],
                        format!("not implemented: {}", op.operation_id),
                        "{} {path}",
                        op.method
                    );
                }
                assert!(!r.status.is_redirection());
            }
        }
        checked.insert(op.operation_id);
    }
    assert_eq!(checked.len(), 307);
}

/// The routes real clients call outside the spec are mounted like the spec's: under both
/// prefixes (the browser client uses `/frontegg/identity`), with and without a trailing
/// slash. Before, they existed under `/identity` only, so the admin portal's bulk IP call got
/// 404.
#[tokio::test]
async fn routes_outside_the_spec_are_routed_under_both_prefixes() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let t = cp
        .call(
            Method::POST,
            "/tenants/resources/tenants/v1",
            Some(&token),
            Some(&serde_json::json!({"name": "Acme"})),
        )
        .await
        .body["tenantId"]
        .as_str()
        .unwrap()
        .to_owned();
    for prefix in ["/identity", "/frontegg/identity"] {
        for slash in ["", "/"] {
            let bulk = cp
                .client
                .post(cp.url(&format!(
                    "{prefix}/resources/configurations/v1/restrictions/ip/bulk{slash}"
                )))
                .header("x-access-token", &token)
                .header("frontegg-tenant-id", &t)
                .json(&serde_json::json!({"ips": ["10.1.0.0/16"], "strategy": "BLOCK"}))
                .send()
                .await
                .unwrap();
            assert!(
                bulk.status().is_success(),
                "{prefix} bulk{slash}: {}",
                bulk.status()
            );
            for (method, path) in [
                (Method::POST, "/resources/auth/v1/api-token"),
                (Method::POST, "/resources/auth/v1/api-token/token/refresh"),
                (
                    Method::GET,
                    "/resources/vendor-only/tenants/access-tokens/v1/active",
                ),
            ] {
                let r = cp
                    .call(
                        method.clone(),
                        &format!("{prefix}{path}{slash}"),
                        Some(&token),
                        Some(&serde_json::json!({})),
                    )
                    .await;
                assert_ne!(r.status, 404, "{method} {prefix}{path}{slash}: {}", r.text);
                assert_ne!(r.status, 405, "{method} {prefix}{path}{slash}: {}", r.text);
            }
        }
    }
    // Every registered client route, whatever its method: routed (405 for another method, an
    // error of its own, never the 404 of an unknown path) at both prefixes and with a slash.
    let paths = control_plane::api::extra_paths();
    assert!(paths.len() >= 12, "{paths:?}");
    for path in paths {
        let prefixes: [&str; 2] = if path.starts_with("/team/") {
            ["", "/frontegg"]
        } else {
            ["/identity", "/frontegg/identity"]
        };
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for prefix in prefixes {
            for slash in ["", "/"] {
                let r = cp
                    .call(
                        Method::GET,
                        &format!("{prefix}{concrete}{slash}"),
                        None,
                        None,
                    )
                    .await;
                let unknown = r.status == 404 && r.text.contains("no such route");
                assert!(!unknown, "{prefix}{concrete}{slash} is not routed");
            }
        }
    }
}

/// The paths tests request come from the one generated table: every `/identity/...` path
/// literal in the suite is (a prefix of) a spec route or a registered route outside the spec,
/// so a test cannot drive a path the server does not route (a typo would answer 404 and a
/// status assertion might still pass).
#[test]
fn every_path_the_tests_name_is_a_routed_one() {
    let mut routes: Vec<Vec<String>> = control_plane::api::spec_operations()
        .iter()
        .map(|o| o.path)
        .chain(control_plane::api::extra_paths())
        .map(|p| p.split('/').map(str::to_owned).collect())
        .collect();
    routes.sort();
    let sources =
        control_plane::codegen::read_rust_sources(&crate::support::repo_root().join("tests"))
            .unwrap();
    let (mut checked, mut unknown) = (0, Vec::new());
    for (file, src) in &sources {
        for lit in src.split('"').skip(1).step_by(2) {
            let Some(rest) = lit
                .strip_prefix("/frontegg/identity")
                .or_else(|| lit.strip_prefix("/identity"))
            else {
                continue;
            };
            let rest = rest.split('?').next().unwrap_or_default();
            let rest = rest.trim_end_matches('/');
            if !rest.starts_with("/resources/") {
                continue;
            }
            checked += 1;
            let segs: Vec<&str> = rest.split('/').collect();
            let routed = routes.iter().any(|r| {
                r.len() >= segs.len()
                    && segs
                        .iter()
                        .zip(r)
                        .all(|(s, t)| s == t || t.starts_with('{') || s.contains('{'))
            });
            // `errors.rs` asks for unrouted paths on purpose (the 404 shape), and
            // `clients/cors.rs` checks that a 404 carries the CORS headers too.
            let deliberate = [
                "/resources/nope/v1",
                "/resources/auth/v1/usr",
                "/resources/no/such/route",
            ];
            if !routed && !deliberate.contains(&rest) {
                unknown.push(format!("{file}: {lit}"));
            }
        }
    }
    assert!(checked > 100, "only {checked} path literals found");
    assert!(
        unknown.is_empty(),
        "paths no route serves:\n{}",
        unknown.join("\n")
    );
}
