//! The `tessera-control-plane` command: flags, logging, the runtime, the first-start banner,
//! and shutdown on SIGTERM/SIGINT.

use std::process::ExitCode;

use clap::Parser;

use crate::config::{Args, Config, LogFormat};
use crate::model::clock::Clock;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(crate::config::Command::Migrate { from }) = args.command.clone() {
        init_tracing(args.log_format.unwrap_or_default());
        let Some(url) = args.database_url.clone() else {
            eprintln!("tessera-control-plane migrate: --database-url is required");
            return ExitCode::from(2);
        };
        return match migrate(&url, from.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tessera-control-plane migrate: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tessera-control-plane: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera-control-plane: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera-control-plane: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `migrate`: the schema, then (with `from`) the move of an embedded store, verified.
fn migrate(url: &str, from: Option<&str>) -> Result<(), String> {
    let version = crate::store::postgres::migrate(url).map_err(|e| e.to_string())?;
    println!("database schema at version {version}");
    let Some(from) = from else {
        return Ok(());
    };
    let dir = from
        .strip_prefix("sled:")
        .ok_or("--from must be sled:DIR (the embedded store's directory)")?;
    let source = crate::store::SledKv::open(std::path::Path::new(dir))
        .map_err(|e| format!("cannot open the embedded store in {dir}: {e}"))?;
    let target = crate::store::postgres::PgKv::open(url, 4).map_err(|e| e.to_string())?;
    let report = crate::store::copy::copy(&source, &target).map_err(|e| e.to_string())?;
    for (tree, n) in &report.trees {
        println!("{tree}: {n} copied and read back");
    }
    println!(
        "moved {} entries from {dir} into the database, verified",
        report.total()
    );
    Ok(())
}

/// `RUST_LOG` (or `TESSERA_LOG`) filters; the default is `info`.
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("TESSERA_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

async fn run(mut config: Config) -> anyhow::Result<()> {
    let dev = config.dev;
    // Development mode runs one local sidecar, which needs the plaintext subscription token:
    // unless one is configured, a fresh one replaces the stored digest at every dev start.
    let dev_sidecar_token = match (&config.sidecar_token, dev) {
        (None, true) => {
            let t = crate::crypto::random_secret_hex();
            config.sidecar_token = Some(t.clone());
            Some(t)
        }
        (Some(t), true) => Some(t.clone()),
        _ => None,
    };
    let data_dir = config.data_dir.clone();
    let outbox = config.email_outbox.clone();
    let signal = shutdown_signal();
    let running = crate::start(config, Clock::system()).await?;
    let sidecar = DevSidecar::from_env();
    print_banner(&running, dev, outbox.as_deref(), &sidecar);
    let _sidecar = match (dev_sidecar_token, data_dir) {
        (Some(token), Some(dir)) => sidecar.spawn(&running.url(), &token, &dir.join("sidecar")),
        _ => None,
    };
    signal.await;
    tracing::info!("shutting down: draining requests and flushing the store");
    running.shutdown().await;
    Ok(())
}

/// `--dev`: the local sidecar's addresses and binary. `TESSERA_DEV_SIDECAR_LISTEN`,
/// `TESSERA_DEV_SIDECAR_ADMIN_LISTEN` and `TESSERA_DEV_SIDECAR_BIN` override the defaults
/// (`127.0.0.1:8081`, `127.0.0.1:9091`, `tessera-sidecar` beside this executable);
/// `TESSERA_DEV_SIDECAR=off` skips it.
struct DevSidecar {
    listen: String,
    admin: String,
    bin: Option<std::path::PathBuf>,
    enabled: bool,
}

impl DevSidecar {
    fn from_env() -> Self {
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
        DevSidecar {
            listen: var("TESSERA_DEV_SIDECAR_LISTEN", "127.0.0.1:8081"),
            admin: var("TESSERA_DEV_SIDECAR_ADMIN_LISTEN", "127.0.0.1:9091"),
            bin: std::env::var_os("TESSERA_DEV_SIDECAR_BIN")
                .map(Into::into)
                .or_else(|| {
                    std::env::current_exe()
                        .ok()
                        .map(|e| e.with_file_name("tessera-sidecar"))
                }),
            enabled: !std::env::var("TESSERA_DEV_SIDECAR").is_ok_and(|v| v == "off"),
        }
    }

    /// Start it, killed when we exit.
    fn spawn(
        &self,
        url: &str,
        token: &str,
        state_dir: &std::path::Path,
    ) -> Option<tokio::process::Child> {
        if !self.enabled {
            return None;
        }
        let exe = self.bin.as_ref().filter(|b| b.exists());
        let Some(exe) = exe else {
            println!(
                "(no tessera-sidecar beside this binary: build it with `cargo build --bins` to run one)"
            );
            return None;
        };
        let spawned = tokio::process::Command::new(exe)
            .args([
                "--listen",
                &self.listen,
                "--admin-listen",
                &self.admin,
                "--control-plane",
                url,
            ])
            .arg("--state-dir")
            .arg(state_dir)
            .env("TESSERA_SIDECAR_TOKEN", token)
            // Its logs go to stderr with ours; its stdout is not ours to share.
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn();
        match spawned {
            Ok(child) => {
                println!(
                    "  dev sidecar: forward-auth http://{}/v1/check, admin http://{}",
                    self.listen, self.admin
                );
                Some(child)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not start the dev sidecar");
                None
            }
        }
    }
}

fn print_banner(
    r: &crate::Running,
    dev: bool,
    outbox: Option<&std::path::Path>,
    sidecar: &DevSidecar,
) {
    let url = r.url();
    println!("Tessera control plane listening on {url}");
    println!("  environment clientId: {}", r.client_id);
    match &r.credentials.api_key {
        Some(k) => println!("  environment API key:  {k}   (shown once; stored hashed)"),
        None => println!("  environment API key:  (set earlier; stored hashed, not shown again)"),
    }
    if let Some(t) = &r.credentials.sidecar_token {
        println!("  sidecar token:        {t}   (shown once; stored hashed)");
    }
    if dev {
        let key = r.credentials.api_key.as_deref().unwrap_or("<your API key>");
        println!(
            "\nTry it:\n  TOKEN=$(curl -s {url}/auth/vendor -H 'content-type: application/json' \\\n      \
             -d '{{\"clientId\":\"{cid}\",\"secret\":\"{key}\"}}' | sed -E 's/.*\"token\":\"([^\"]+)\".*/\\1/')\n  \
             curl -s {url}/tenants/resources/tenants/v1 -H \"x-access-token: $TOKEN\" \\\n      \
             -H 'content-type: application/json' -d '{{\"name\":\"Acme\"}}'\n  \
             curl -s {url}/tenants/resources/tenants/v1 -H \"Authorization: Bearer $TOKEN\"\n  \
             curl -s -i {url}/identity/resources/migrations/v1/local/bulk -X POST   # 501 until implemented\n  \
             curl -s {url}/metrics | grep control_plane_http_requests_total\n  \
             curl -s -i http://{sc}/v1/check   # 401 no_token (503 until the sidecar holds a snapshot)\n  \
             curl -s http://{admin}/status\n",
            cid = r.client_id,
            sc = sidecar.listen,
            admin = sidecar.admin,
        );
        if let Some(dir) = outbox {
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
            println!(
                "Users (sign up, activate with the link from the outbox, log in, pass the sidecar, refresh, log out, be refused by the sidecar):\n  \
                 curl -s {url}/identity/resources/users/v1/signUp -H 'content-type: application/json' -d '{{\"email\":\"me@example.com\",\"password\":\"Choose-a-Pass-1\",\"companyName\":\"My Company\",\"provider\":\"local\"}}'; sleep 1\n  \
                 LINK=$(grep -ah '^http.*activate?' {outbox}/*activation.eml | tail -n 1 | tr -d '\\r')\n  \
                 USER_ID=$(echo \"$LINK\" | sed -E 's/.*userId=([^&]+).*/\\1/'); CODE=$(echo \"$LINK\" | sed -E 's/.*token=([^&]+).*/\\1/')\n  \
                 curl -s -c cookies.txt {url}/identity/resources/users/v1/activate -H 'content-type: application/json' -d \"{{\\\"userId\\\":\\\"$USER_ID\\\",\\\"token\\\":\\\"$CODE\\\"}}\"\n  \
                 ACCESS=$(curl -s -c cookies.txt {url}/identity/resources/auth/v1/user -H 'content-type: application/json' -d '{{\"email\":\"me@example.com\",\"password\":\"Choose-a-Pass-1\"}}' | sed -E 's/.*\"accessToken\":\"([^\"]+)\".*/\\1/')\n  \
                 curl -s -i http://{sc}/v1/check -H \"Authorization: Bearer $ACCESS\"   # 200 with x-user-id, x-tenant-id, ...\n  \
                 curl -s -b cookies.txt -c cookies.txt -X POST {url}/identity/resources/auth/v1/user/token/refresh\n  \
                 curl -s -i -b cookies.txt -X POST {url}/identity/resources/auth/v1/logout\n  \
                 sleep 0.2; curl -s -i http://{sc}/v1/check -H \"Authorization: Bearer $ACCESS\"   # 401 token_revoked\n",
                outbox = dir.display(),
                sc = sidecar.listen,
            );
        }
    }
}

/// Register for SIGTERM and SIGINT now (so a signal that arrives while starting up is not
/// lost to the default action) and return a future that resolves on either.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = int.recv() => {},
                    }
                }
                _ => {
                    tracing::error!("cannot listen for SIGTERM/SIGINT; stop with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
