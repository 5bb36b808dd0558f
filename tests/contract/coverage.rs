//! The generated files stay true: the routing table matches the spec and
//! `docs/api-coverage.md` matches what is implemented and tested.

use control_plane::codegen;

use crate::support::{repo_root, spec};

fn assert_fresh(path: &str, expected: &str) {
    let actual = std::fs::read_to_string(repo_root().join(path)).unwrap_or_default();
    assert!(
        actual == expected,
        "{path} is stale: run `cargo run -p tessera-control-plane --bin tessera-codegen` and commit the result"
    );
}

#[test]
fn routing_table_matches_the_spec() {
    assert_fresh(
        "control-plane/src/spec/ops.rs",
        &codegen::render_ops_table(&spec()),
    );
}

#[test]
fn api_coverage_report_is_fresh() {
    let spec = spec();
    let sources = codegen::read_rust_sources(&repo_root().join("tests")).unwrap();
    let tested = codegen::tested_operations(&spec, &sources);
    let implemented = control_plane::api::implemented_operations();
    let extra = control_plane::api::extra_paths();
    let extra_tested = codegen::tested_extra_routes(&extra, &sources);
    assert_fresh(
        "docs/api-coverage.md",
        &codegen::render_coverage(&spec, &implemented, &tested, &extra, &extra_tested),
    );
}
