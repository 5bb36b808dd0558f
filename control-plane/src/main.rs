//! `tessera-control-plane`: see `control_plane::cli`.

fn main() -> std::process::ExitCode {
    control_plane::cli::main()
}
