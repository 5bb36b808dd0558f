//! `tessera-codegen`: regenerate `control-plane/src/spec/ops.rs` and
//! `docs/api-coverage.md` from the spec. Run from the repository root:
//! `cargo run -p tessera-control-plane --bin tessera-codegen [-- SPEC.json]`.

use std::path::Path;
use std::process::ExitCode;

use control_plane::codegen;

fn main() -> ExitCode {
    let spec_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/spec/identity-openapi.json".into());
    match generate(Path::new(&spec_path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn generate(spec_path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let spec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(spec_path)?)?;
    std::fs::write(
        "control-plane/src/spec/ops.rs",
        codegen::render_ops_table(&spec),
    )?;
    let sources = codegen::read_rust_sources(Path::new("tests"))?;
    let tested = codegen::tested_operations(&spec, &sources);
    let implemented = control_plane::api::implemented_operations();
    let extra = control_plane::api::extra_paths();
    let extra_tested = codegen::tested_extra_routes(&extra, &sources);
    std::fs::write(
        "docs/api-coverage.md",
        codegen::render_coverage(&spec, &implemented, &tested, &extra, &extra_tested),
    )?;
    println!("wrote control-plane/src/spec/ops.rs and docs/api-coverage.md");
    Ok(())
}
