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
