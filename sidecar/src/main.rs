//! `tessera-sidecar`: see `sidecar::cli_main`.

fn main() -> std::process::ExitCode {
    sidecar::cli_main()
}
