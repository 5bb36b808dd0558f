//! The sidecar's real command-line entry point, built in this package so that tests can
//! spawn it as a process (`CARGO_BIN_EXE_e2e-sidecar`).

fn main() -> std::process::ExitCode {
    sidecar::cli_main()
}
