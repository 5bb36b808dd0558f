//! Configuration: defaults, then a TOML file (`--config`), then environment variables and
//! flags (flags win). Flag and variable names are a contract (`design.md` §1).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

use crate::hashing::Argon2Cost;

/// The commands besides serving (the default).
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Apply the database schema's missing versions to `--database-url`, then exit; with
    /// `--from sled:DIR`, then also move that embedded store into the (empty) database and
    /// verify it.
    Migrate {
        /// The store to move: `sled:DIR` (stop its control plane first).
        #[arg(long)]
        from: Option<String>,
    },
}

/// Command-line flags; every one also reads an environment variable.
#[derive(Debug, Default, Parser)]
#[command(
    name = "tessera-control-plane",
    version,
    about = "Tessera identity control plane"
)]
pub struct Args {
    /// What to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// TOML configuration file; keys are the long flag names (e.g. `data-dir = "/var/lib/tessera"`).
    #[arg(long, env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "TESSERA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Embedded store directory [default: ./tessera-data].
    #[arg(long, env = "TESSERA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL instead of the embedded store (`postgres://user:password@host/db`,
    /// `?sslmode=require` for TLS); several control planes may share it.
    #[arg(
        long,
        env = "TESSERA_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
    /// Environment (vendor) client id; generated on first start when absent.
    #[arg(long, env = "TESSERA_CLIENT_ID")]
    pub client_id: Option<String>,
    /// Environment (vendor) API key; generated and printed once on first start when absent.
    #[arg(long, env = "TESSERA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Credential sidecars present to subscribe; generated and printed when absent.
    #[arg(long, env = "TESSERA_SIDECAR_TOKEN", hide_env_values = true)]
    pub sidecar_token: Option<String>,
    /// External base URL (token `iss`, links in emails) [default: http://<listen>].
    #[arg(long, env = "TESSERA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Development mode: prints a curl walkthrough with the credentials.
    #[arg(long)]
    pub dev: bool,
    /// Log format: `pretty` or `json` [default: pretty].
    #[arg(long, env = "TESSERA_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Largest accepted request body in bytes [default: 1048576].
    #[arg(long, env = "TESSERA_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Lifetime of environment tokens from `/auth/vendor`, seconds [default: 3600].
    #[arg(long, env = "TESSERA_VENDOR_TOKEN_TTL")]
    pub vendor_token_ttl: Option<u32>,
    /// Longest a key rotation waits for every connected sidecar to hold the next key before
    /// signing with it, seconds [default: 10].
    #[arg(long, env = "TESSERA_KEY_ROTATION_WAIT")]
    pub key_rotation_wait: Option<u64>,
    /// CIDRs of proxies whose X-Forwarded-For / Forwarded headers are believed for the
    /// client address (comma separated); otherwise the socket peer is the client.
    #[arg(
        long = "trusted-proxy",
        env = "TESSERA_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// With --trusted-proxy: the one forwarding header those proxies write and the control
    /// plane believes, `x-forwarded-for` or `forwarded` [default: x-forwarded-for].
    #[arg(long, env = "TESSERA_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Serve `/metrics` on this address instead of the public listener (which then answers
    /// 404 for it).
    #[arg(long, env = "TESSERA_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Browser origins (comma separated, `https://app.example.com`) that may make
    /// cookie-authenticated calls, besides the public URL's own origin.
    #[arg(long, env = "TESSERA_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// `Domain` of the refresh cookie, for an application on a sibling subdomain
    /// (`example.com` lets `app.example.com` and `id.example.com` share it) [default: the
    /// public URL's host only].
    #[arg(long, env = "TESSERA_COOKIE_DOMAIN")]
    pub cookie_domain: Option<String>,
    /// Directory where outgoing email is written as `.eml` files [default: <data-dir>/outbox].
    #[arg(long, env = "TESSERA_EMAIL_OUTBOX")]
    pub email_outbox: Option<PathBuf>,
    /// SMTP server for outgoing email, e.g. `smtp://user:pass@mail.example.com:587` or
    /// `smtps://…`; without it, email goes to the outbox directory.
    #[arg(long, env = "TESSERA_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of outgoing email [default: Tessera <no-reply@localhost>].
    #[arg(long, env = "TESSERA_EMAIL_FROM")]
    pub email_from: Option<String>,
    /// argon2id memory cost for password hashes, KiB [default: 19456].
    #[arg(long, env = "TESSERA_ARGON2_MEMORY_KIB")]
    pub argon2_memory_kib: Option<u32>,
    /// argon2id passes [default: 2].
    #[arg(long, env = "TESSERA_ARGON2_ITERATIONS")]
    pub argon2_iterations: Option<u32>,
    /// argon2id lanes [default: 1].
    #[arg(long, env = "TESSERA_ARGON2_PARALLELISM")]
    pub argon2_parallelism: Option<u32>,
    /// Password checks that may wait for a free core (one runs per core); beyond them logins
    /// and password changes are refused with 503 + Retry-After instead of queueing
    /// [default: 256].
    #[arg(long, env = "TESSERA_HASH_QUEUE")]
    pub hash_queue: Option<usize>,
    /// Free space (MiB) writes must leave on the data directory's disk; below it writes are
    /// refused with 503 and reads go on (0 = no floor) [default: 32].
    #[arg(long, env = "TESSERA_MIN_FREE_MB")]
    pub min_free_mb: Option<u64>,
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The same keys, read from the `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    client_id: Option<String>,
    api_key: Option<String>,
    sidecar_token: Option<String>,
    public_url: Option<String>,
    dev: Option<bool>,
    log_format: Option<LogFormat>,
    max_body_bytes: Option<usize>,
    vendor_token_ttl: Option<u32>,
    key_rotation_wait: Option<u64>,
    trusted_proxy: Option<Vec<String>>,
    client_ip_header: Option<String>,
    metrics_listen: Option<SocketAddr>,
    allowed_origins: Option<Vec<String>>,
    cookie_domain: Option<String>,
    argon2_memory_kib: Option<u32>,
    argon2_iterations: Option<u32>,
    argon2_parallelism: Option<u32>,
    hash_queue: Option<usize>,
    min_free_mb: Option<u64>,
    email_outbox: Option<PathBuf>,
    email_from: Option<String>,
    smtp_url: Option<String>,
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Store directory; `None` keeps everything in memory (tests only).
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL; when set, the store is there (`data_dir` then only holds the outbox).
    pub database_url: Option<String>,
    /// Environment client id to enforce, if given.
    pub client_id: Option<String>,
    /// Environment API key to enforce, if given.
    pub api_key: Option<String>,
    /// Sidecar subscription credential to enforce, if given.
    pub sidecar_token: Option<String>,
    /// External base URL; `None` derives it from the bound address.
    pub public_url: Option<String>,
    /// Development mode.
    pub dev: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Request limits.
    pub limits: Limits,
    /// Environment-token lifetime in seconds.
    pub vendor_token_ttl: u32,
    /// Longest wait for sidecars during a key rotation.
    pub key_rotation_wait: std::time::Duration,
    /// Trusted proxies (client address rule, shared with the sidecar).
    pub trusted_proxies: Vec<shared::net::Cidr>,
    /// The forwarding header trusted proxies write (the only one read).
    pub client_ip_header: shared::net::ForwardedHeader,
    /// Where `/metrics` is served instead of the public listener, if set.
    pub metrics_listen: Option<SocketAddr>,
    /// Origins allowed to make cookie-authenticated calls (`scheme://host[:port]`, lower
    /// case), besides the public URL's.
    pub allowed_origins: Vec<String>,
    /// `Domain` of the refresh cookie, normalised; the public URL's host is it or under it.
    pub cookie_domain: Option<String>,
    /// Password-hash cost.
    pub argon2: Argon2Cost,
    /// Outbox directory for email; `None` with no data directory keeps mail in memory.
    pub email_outbox: Option<PathBuf>,
    /// Sender address.
    pub email_from: String,
    /// SMTP server URL; `None` writes email to the outbox.
    pub smtp_url: Option<String>,
    /// Where the mail and SMS providers' APIs are (their public endpoints; tests point them
    /// at loopback stand-ins). Not a flag.
    pub provider_endpoints: Endpoints,
}

/// Bounds on what one request may cost.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Deepest JSON nesting accepted in a body.
    pub max_json_depth: usize,
    /// Largest request head (request line + headers), bytes.
    pub max_header_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Time allowed to receive a request head, and to wait idle for the next one.
    pub header_read_timeout: std::time::Duration,
    /// Time allowed for in-flight requests to finish on shutdown.
    pub drain_timeout: std::time::Duration,
    /// Password checks allowed to wait for a core before requests are shed.
    pub max_hash_queue: usize,
    /// Time allowed to receive a whole request body once its head has arrived (a body
    /// trickled a byte at a time must not hold a connection forever).
    pub body_read_timeout: std::time::Duration,
    /// Free space writes must leave on the data directory's disk, bytes.
    pub min_free_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_json_depth: 32,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            header_read_timeout: std::time::Duration::from_secs(7),
            drain_timeout: std::time::Duration::from_secs(20),
            max_hash_queue: 256,
            body_read_timeout: std::time::Duration::from_secs(10),
            min_free_bytes: 32 << 20,
        }
    }
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Resolve flags/env over the optional file over defaults.
    pub fn from_args(args: Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let limits = Limits {
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(1024 * 1024),
            max_hash_queue: args
                .hash_queue
                .or(file.hash_queue)
                .unwrap_or(Limits::default().max_hash_queue),
            min_free_bytes: args
                .min_free_mb
                .or(file.min_free_mb)
                .map_or(Limits::default().min_free_bytes, |mb| {
                    mb.saturating_mul(1 << 20)
                }),
            ..Limits::default()
        };
        if limits.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max-body-bytes must be at least 1024".into(),
            ));
        }
        let vendor_token_ttl = args
            .vendor_token_ttl
            .or(file.vendor_token_ttl)
            .unwrap_or(3600);
        if !(60..=86_400).contains(&vendor_token_ttl) {
            return Err(ConfigError::Invalid(
                "vendor-token-ttl must be 60..=86400 seconds".into(),
            ));
        }
        let key_rotation_wait = args
            .key_rotation_wait
            .or(file.key_rotation_wait)
            .unwrap_or(10);
        if key_rotation_wait > 600 {
            return Err(ConfigError::Invalid(
                "key-rotation-wait must be at most 600 seconds".into(),
            ));
        }
        let key_rotation_wait = std::time::Duration::from_secs(key_rotation_wait);
        let proxies = if args.trusted_proxies.is_empty() {
            file.trusted_proxy.clone().unwrap_or_default()
        } else {
            args.trusted_proxies.clone()
        };
        let trusted_proxies = proxies
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(shared::net::parse_cidr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::Invalid(format!("trusted-proxy: {e}")))?;
        let client_ip_header = args
            .client_ip_header
            .clone()
            .or(file.client_ip_header.clone())
            .map(|h| h.parse())
            .transpose()
            .map_err(|e| ConfigError::Invalid(format!("client-ip-header: {e}")))?
            .unwrap_or_default();
        let origins = if args.allowed_origins.is_empty() {
            file.allowed_origins.clone().unwrap_or_default()
        } else {
            args.allowed_origins.clone()
        };
        let allowed_origins = origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
            .map(|o| {
                normalize_origin(o).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "allowed-origins: {o:?} is not an origin (scheme://host[:port])"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let public_url = args.public_url.or(file.public_url);
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let cookie_domain = args
            .cookie_domain
            .or(file.cookie_domain)
            .map(|d| cookie_domain(&d, public_url.as_deref(), listen))
            .transpose()?;
        let defaults = Argon2Cost::default();
        let argon2 = Argon2Cost {
            memory_kib: args
                .argon2_memory_kib
                .or(file.argon2_memory_kib)
                .unwrap_or(defaults.memory_kib),
            iterations: args
                .argon2_iterations
                .or(file.argon2_iterations)
                .unwrap_or(defaults.iterations),
            parallelism: args
                .argon2_parallelism
                .or(file.argon2_parallelism)
                .unwrap_or(defaults.parallelism),
        };
        if argon2::Params::new(
            argon2.memory_kib,
            argon2.iterations,
            argon2.parallelism,
            None,
        )
        .is_err()
        {
            return Err(ConfigError::Invalid(
                "argon2 parameters out of range (memory >= 8 x parallelism KiB, iterations >= 1)"
                    .into(),
            ));
        }
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./tessera-data"));
        let email_outbox = Some(
            args.email_outbox
                .or(file.email_outbox)
                .unwrap_or_else(|| data_dir.join("outbox")),
        );
        let email_from = args
            .email_from
            .or(file.email_from)
            .unwrap_or_else(|| "Tessera <no-reply@localhost>".into());
        if email_from.contains(['\r', '\n']) {
            return Err(ConfigError::Invalid("email-from must be one line".into()));
        }
        let smtp_url = args.smtp_url.or(file.smtp_url);
        if let Some(u) = &smtp_url
            && !(u.starts_with("smtp://") || u.starts_with("smtps://"))
        {
            return Err(ConfigError::Invalid(
                "smtp-url must start with smtp:// or smtps://".into(),
            ));
        }
        Ok(Config {
            argon2,
            email_outbox,
            email_from,
            smtp_url,
            provider_endpoints: Endpoints::default(),
            listen,
            data_dir: Some(
                args.data_dir
                    .or(file.data_dir)
                    .unwrap_or_else(|| PathBuf::from("./tessera-data")),
            ),
            database_url: args.database_url.or(file.database_url),
            client_id: args.client_id.or(file.client_id),
            api_key: args.api_key.or(file.api_key),
            sidecar_token: args.sidecar_token.or(file.sidecar_token),
            public_url,
            dev: args.dev || file.dev.unwrap_or(false),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            limits,
            vendor_token_ttl,
            key_rotation_wait,
            trusted_proxies,
            client_ip_header,
            metrics_listen: args.metrics_listen.or(file.metrics_listen),
            allowed_origins,
            cookie_domain,
        })
    }

    /// An in-memory configuration on `127.0.0.1:0` (tests).
    pub fn for_test() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            database_url: None,
            client_id: None,
            api_key: None,
            sidecar_token: None,
            public_url: None,
            dev: false,
            log_format: LogFormat::Pretty,
            limits: Limits::default(),
            vendor_token_ttl: 3600,
            key_rotation_wait: std::time::Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            client_ip_header: shared::net::ForwardedHeader::default(),
            metrics_listen: None,
            allowed_origins: Vec::new(),
            cookie_domain: None,
            argon2: Argon2Cost::cheap(),
            email_outbox: None,
            email_from: "Tessera <no-reply@localhost>".into(),
            smtp_url: None,
            provider_endpoints: Endpoints::default(),
        }
    }
}

/// An origin as browsers send it in `Origin`: `scheme://host[:port]`, lower case, no path; a
/// default port is dropped. `None` if `raw` is not one.
pub fn normalize_origin(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = raw.split_once("://")?;
    if !matches!(scheme, "http" | "https")
        || rest.is_empty()
        || rest.contains(['/', '?', '#', '@', ' '])
    {
        return None;
    }
    let rest = match (scheme, rest.rsplit_once(':')) {
        ("http", Some((host, "80"))) | ("https", Some((host, "443"))) => host.to_owned(),
        _ => rest.to_owned(),
    };
    Some(format!("{scheme}://{rest}"))
}

/// A `--cookie-domain`: a DNS name (a leading dot is dropped, as browsers do) that the public
/// URL's host is or lies under — a browser drops a cookie whose `Domain` does not cover the
/// host that set it, and an IP address has no parent domain.
/// The host of a URL (`scheme://host[:port]/…`), lower case, without the port or the
/// brackets of an IPv6 literal; empty when there is none.
pub fn url_host(url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return String::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    host.trim_matches(['[', ']']).to_ascii_lowercase()
}

fn cookie_domain(
    raw: &str,
    public_url: Option<&str>,
    listen: SocketAddr,
) -> Result<String, ConfigError> {
    let bad = |why: &str| ConfigError::Invalid(format!("cookie-domain {raw:?}: {why}"));
    let domain = shared::net::normalize_domain(raw.trim().trim_start_matches('.'))
        .map_err(|_| bad("not a domain name"))?;
    if domain.parse::<std::net::IpAddr>().is_ok() || !domain.contains('.') && domain != "localhost"
    {
        return Err(bad(
            "an IP address or a top-level name cannot be a cookie domain",
        ));
    }
    let url = public_url.map_or_else(|| format!("http://{listen}"), str::to_owned);
    let host = url_host(&url);
    if host == domain || host.ends_with(&format!(".{domain}")) {
        Ok(domain)
    } else {
        Err(bad(&format!(
            "the public URL's host {host:?} is not it nor under it (set --public-url)"
        )))
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tessera.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndata-dir = \"/tmp/x\"\nclient-id = \"from-file\"\n",
        )
        .unwrap();
        let args = Args {
            config: Some(file),
            client_id: Some("from-flag".into()),
            ..Args::default()
        };
        let c = Config::from_args(args).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.data_dir.as_deref(), Some(Path::new("/tmp/x")));
        assert_eq!(c.client_id.as_deref(), Some("from-flag"));
        assert_eq!(c.limits.max_body_bytes, 1024 * 1024);
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let args = Args {
            config: Some(file),
            ..Args::default()
        };
        assert!(matches!(
            Config::from_args(args),
            Err(ConfigError::Parse { .. })
        ));
        let args = Args {
            vendor_token_ttl: Some(5),
            ..Args::default()
        };
        assert!(matches!(
            Config::from_args(args),
            Err(ConfigError::Invalid(_))
        ));
    }

    #[test]
    fn env_names_are_the_documented_contract() {
        use clap::CommandFactory;
        let cmd = Args::command();
        let env_of = |long: &str| {
            cmd.get_arguments()
                .find(|a| a.get_long() == Some(long))
                .and_then(|a| a.get_env())
                .map(|e| e.to_string_lossy().into_owned())
        };
        for (flag, env) in [
            ("listen", "TESSERA_LISTEN"),
            ("data-dir", "TESSERA_DATA_DIR"),
            ("database-url", "TESSERA_DATABASE_URL"),
            ("client-id", "TESSERA_CLIENT_ID"),
            ("api-key", "TESSERA_API_KEY"),
            ("sidecar-token", "TESSERA_SIDECAR_TOKEN"),
            ("public-url", "TESSERA_PUBLIC_URL"),
            ("trusted-proxy", "TESSERA_TRUSTED_PROXIES"),
            ("client-ip-header", "TESSERA_CLIENT_IP_HEADER"),
            ("metrics-listen", "TESSERA_METRICS_LISTEN"),
            ("allowed-origins", "TESSERA_ALLOWED_ORIGINS"),
        ] {
            assert_eq!(env_of(flag).as_deref(), Some(env), "--{flag}");
        }
        assert!(cmd.get_arguments().any(|a| a.get_long() == Some("dev")));
    }

    #[test]
    fn a_cookie_domain_must_cover_the_public_urls_host() {
        let listen = SocketAddr::from(([127, 0, 0, 1], 8080));
        let public = Some("https://id.example.com");
        for (raw, url, ok) in [
            ("example.com", public, Some("example.com")),
            (".Example.COM", public, Some("example.com")),
            ("id.example.com", public, Some("id.example.com")),
            ("other.com", public, None),
            ("ample.com", public, None),
            ("app.example.com", public, None),
            ("com", public, None),
            ("127.0.0.1", None, None),
            ("example.com", None, None),
            ("", public, None),
            ("exa mple.com", public, None),
        ] {
            assert_eq!(
                cookie_domain(raw, url, listen).ok().as_deref(),
                ok,
                "{raw:?} with {url:?}"
            );
        }
    }

    #[test]
    fn origins_are_normalised_or_refused() {
        assert_eq!(
            normalize_origin("HTTPS://App.Example.com:443/").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            normalize_origin("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        for bad in [
            "app.example.com",
            "ftp://x",
            "https://x/path",
            "https://",
            "https://a@b",
        ] {
            assert_eq!(normalize_origin(bad), None, "{bad}");
        }
    }
}

/// The providers' API bases (their public endpoints by default; tests use loopback).
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// SendGrid.
    pub sendgrid: String,
    /// Mailgun, US region.
    pub mailgun_us: String,
    /// Mailgun, EU region.
    pub mailgun_eu: String,
    /// Amazon SES; `{region}` is replaced.
    pub ses: String,
    /// Twilio.
    pub twilio: String,
    /// The captcha verifier (reCAPTCHA's `siteverify`).
    pub recaptcha: String,
    /// Auth0; `{domain}` is replaced by the configured domain.
    pub auth0: String,
    /// Amazon Cognito; `{region}` is replaced.
    pub cognito: String,
    /// Firebase Authentication (the Identity Toolkit API).
    pub firebase: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints {
            sendgrid: "https://api.sendgrid.com".into(),
            mailgun_us: "https://api.mailgun.net".into(),
            mailgun_eu: "https://api.eu.mailgun.net".into(),
            ses: "https://email.{region}.amazonaws.com".into(),
            twilio: "https://api.twilio.com".into(),
            recaptcha: "https://www.google.com/recaptcha/api/siteverify".into(),
            auth0: "https://{domain}".into(),
            cognito: "https://cognito-idp.{region}.amazonaws.com".into(),
            firebase: "https://identitytoolkit.googleapis.com".into(),
        }
    }
}
