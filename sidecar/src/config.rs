//! Sidecar configuration: defaults, a TOML file (`--config`), then environment and flags.
//! Flag and variable names are a contract (`design.md` §1).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

/// Command-line flags; every one also reads an environment variable.
#[derive(Debug, Default, Parser)]
#[command(
    name = "tessera-sidecar",
    version,
    about = "Tessera sidecar: forward-auth and reverse proxy"
)]
pub struct Args {
    /// TOML configuration file; keys are the long flag names.
    #[arg(long, env = "TESSERA_SIDECAR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data listener [default: 127.0.0.1:8081].
    #[arg(long, env = "TESSERA_SIDECAR_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Admin listener: /metrics, /healthz, /readyz, /status [default: 127.0.0.1:9091].
    #[arg(long, env = "TESSERA_SIDECAR_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Control plane base URL.
    #[arg(long, env = "TESSERA_CONTROL_PLANE_URL")]
    pub control_plane: Option<String>,
    /// Subscription credential.
    #[arg(long, env = "TESSERA_SIDECAR_TOKEN", hide_env_values = true)]
    pub sidecar_token: Option<String>,
    /// PEM file of extra CA certificates trusted for an https control plane (besides the
    /// public web roots).
    #[arg(long, env = "TESSERA_CONTROL_PLANE_CA")]
    pub control_plane_ca: Option<PathBuf>,
    /// Where the last-known-good snapshot is persisted.
    #[arg(long, env = "TESSERA_SIDECAR_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Reverse-proxy mode: authorize, then forward here.
    #[arg(long, env = "TESSERA_UPSTREAM")]
    pub upstream: Option<String>,
    /// CIDRs whose X-Forwarded-For / Forwarded headers are believed (comma separated).
    #[arg(
        long = "trusted-proxy",
        env = "TESSERA_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// With --trusted-proxy: the one forwarding header those proxies write and the sidecar
    /// believes, `x-forwarded-for` or `forwarded` [default: x-forwarded-for].
    #[arg(long, env = "TESSERA_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// The proxy in front (forward-auth): `nginx` (X-Original-URI/-Method), `traefik`
    /// (X-Forwarded-Uri/-Method) or `envoy` (the path after /v1/check) [default: nginx].
    #[arg(long, env = "TESSERA_SIDECAR_INTEGRATION")]
    pub integration: Option<String>,
    /// Route rules file.
    #[arg(long, env = "TESSERA_ROUTES")]
    pub routes: Option<PathBuf>,
    /// Seconds a token is accepted past `exp` / before `nbf` (clock skew) [default: 30].
    #[arg(long, env = "TESSERA_SIDECAR_LEEWAY")]
    pub leeway: Option<u32>,
    /// Memory bound of the verified-token cache, bytes [default: 67108864].
    #[arg(long, env = "TESSERA_SIDECAR_CACHE_BYTES")]
    pub cache_bytes: Option<u64>,
    /// Client connections served at once; beyond them a connection gets an immediate 503 with
    /// Retry-After [default: half the file-descriptor limit less 64, at most 10000].
    #[arg(long, env = "TESSERA_SIDECAR_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds without contact with the control plane after which /readyz fails
    /// (decisions go on from the last good state) [default: 3600].
    #[arg(long, env = "TESSERA_SIDECAR_MAX_STALENESS")]
    pub max_staleness: Option<u64>,
    /// This sidecar's id in the control plane's status [default: generated once and kept in
    /// the state directory].
    #[arg(long, env = "TESSERA_SIDECAR_ID")]
    pub sidecar_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    control_plane: Option<String>,
    sidecar_token: Option<String>,
    control_plane_ca: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    upstream: Option<String>,
    trusted_proxy: Option<Vec<String>>,
    client_ip_header: Option<String>,
    integration: Option<String>,
    routes: Option<PathBuf>,
    leeway: Option<u32>,
    max_connections: Option<usize>,
    cache_bytes: Option<u64>,
    max_staleness: Option<u64>,
    sidecar_id: Option<String>,
}

pub use shared::net::{Cidr, parse_cidr};

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Data listener.
    pub listen: SocketAddr,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// Control plane base URL.
    pub control_plane: Option<String>,
    /// Subscription credential.
    pub sidecar_token: Option<String>,
    /// Extra CA certificates for an https control plane.
    pub control_plane_ca: Option<PathBuf>,
    /// Snapshot persistence directory.
    pub state_dir: Option<PathBuf>,
    /// Reverse-proxy upstream.
    pub upstream: Option<String>,
    /// Trusted proxies.
    pub trusted_proxies: Vec<Cidr>,
    /// The forwarding header trusted proxies write (the only one read).
    pub client_ip_header: shared::net::ForwardedHeader,
    /// Where forward-auth reads the original request.
    pub integration: crate::facts::Integration,
    /// Route rules file.
    pub routes: Option<PathBuf>,
    /// Clock-skew leeway on `exp`/`nbf`, seconds.
    pub leeway: i64,
    /// Client connections served at once (the rest are shed with 503).
    pub max_connections: usize,
    /// Verified-token cache bound, bytes.
    pub cache_bytes: u64,
    /// Readiness staleness budget.
    pub max_staleness: std::time::Duration,
    /// Explicit sidecar id.
    pub sidecar_id: Option<String>,
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error("config file {0}: {1}")]
    File(PathBuf, String),
    /// A value is invalid.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Resolve flags/env over the optional file over defaults.
    pub fn from_args(args: Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::File(p.clone(), e.to_string()))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| ConfigError::File(p.clone(), e.to_string()))?
            }
            None => FileConfig::default(),
        };
        let proxies = if args.trusted_proxies.is_empty() {
            file.trusted_proxy.unwrap_or_default()
        } else {
            args.trusted_proxies
        };
        let trusted_proxies = proxies
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(parse_cidr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(ConfigError::Invalid)?;
        if let Some(url) = args
            .control_plane
            .as_deref()
            .or(file.control_plane.as_deref())
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(format!(
                "control-plane must be an http:// or https:// URL, not {url:?}"
            )));
        }
        let client_ip_header = args
            .client_ip_header
            .or(file.client_ip_header)
            .map(|h| h.parse())
            .transpose()
            .map_err(ConfigError::Invalid)?
            .unwrap_or_default();
        let integration = args
            .integration
            .or(file.integration)
            .map(|i| i.parse())
            .transpose()
            .map_err(ConfigError::Invalid)?
            .unwrap_or_default();
        Ok(Config {
            client_ip_header,
            integration,
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081))),
            admin_listen: args
                .admin_listen
                .or(file.admin_listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9091))),
            control_plane: args.control_plane.or(file.control_plane),
            sidecar_token: args.sidecar_token.or(file.sidecar_token),
            control_plane_ca: args.control_plane_ca.or(file.control_plane_ca),
            state_dir: args.state_dir.or(file.state_dir),
            upstream: args.upstream.or(file.upstream),
            trusted_proxies,
            routes: args.routes.or(file.routes),
            max_connections: match args.max_connections.or(file.max_connections) {
                Some(0) => {
                    return Err(ConfigError::Invalid(
                        "max-connections must be at least 1".into(),
                    ));
                }
                Some(n) => n,
                None => default_max_connections(),
            },
            leeway: match args.leeway.or(file.leeway).unwrap_or(30) {
                l @ 0..=300 => i64::from(l),
                _ => {
                    return Err(ConfigError::Invalid(
                        "leeway must be at most 300 seconds".into(),
                    ));
                }
            },
            cache_bytes: match args.cache_bytes.or(file.cache_bytes).unwrap_or(64 << 20) {
                b @ 1024.. => b,
                _ => {
                    return Err(ConfigError::Invalid(
                        "cache-bytes must be at least 1024".into(),
                    ));
                }
            },
            max_staleness: std::time::Duration::from_secs(
                args.max_staleness.or(file.max_staleness).unwrap_or(3600),
            ),
            sidecar_id: args.sidecar_id.or(file.sidecar_id),
        })
    }
}

/// Half of what the file-descriptor limit leaves after 64 for the process itself (a proxied
/// request may hold an upstream connection too), at least 16 and at most 10,000; read from
/// `/proc/self/limits` (10,000 where that is unavailable).
fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        });
    match soft {
        Some(n) => (n.saturating_sub(64) / 2).clamp(16, 10_000),
        None => 10_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_env_names() {
        use clap::CommandFactory;
        let c = Config::from_args(Args::default()).unwrap();
        assert_eq!(c.listen.port(), 8081);
        assert_eq!(c.admin_listen.port(), 9091);
        let cmd = Args::command();
        let env_of = |long: &str| {
            cmd.get_arguments()
                .find(|a| a.get_long() == Some(long))
                .and_then(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned())
        };
        for (flag, env) in [
            ("listen", "TESSERA_SIDECAR_LISTEN"),
            ("admin-listen", "TESSERA_SIDECAR_ADMIN_LISTEN"),
            ("control-plane", "TESSERA_CONTROL_PLANE_URL"),
            ("sidecar-token", "TESSERA_SIDECAR_TOKEN"),
            ("state-dir", "TESSERA_SIDECAR_STATE_DIR"),
            ("upstream", "TESSERA_UPSTREAM"),
            ("trusted-proxy", "TESSERA_TRUSTED_PROXIES"),
            ("routes", "TESSERA_ROUTES"),
            ("client-ip-header", "TESSERA_CLIENT_IP_HEADER"),
            ("integration", "TESSERA_SIDECAR_INTEGRATION"),
        ] {
            assert_eq!(env_of(flag).as_deref(), Some(env), "--{flag}");
        }
    }
}
