//! The control plane's real command-line entry point, built in this package so that tests
//! can spawn it as a process (`CARGO_BIN_EXE_e2e-control-plane`).

fn main() -> std::process::ExitCode {
    control_plane::cli::main()
}
