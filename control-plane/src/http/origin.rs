//! Which browser origins may call the control plane with credentials: the one decision
//! behind both CORS (`cors`) and the cookie check of refresh and logout
//! (`extract::check_cookie_request`), so the two can never disagree.
//!
//! Allowed: the public URL's origin, `--allowed-origins`, and in `--dev` any port of
//! `http://localhost` and `http://127.0.0.1` (a login box served by a dev server). An origin
//! is compared after normalisation (lower case, default port dropped); anything that does
//! not parse as `scheme://host[:port]` — `null`, a path, userinfo — is not allowed.

use crate::config::normalize_origin;

/// The allowed origins.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    listed: Vec<String>,
    loopback_any_port: bool,
}

impl Origins {
    /// The public URL's origin and the configured ones; `dev` adds loopback on any port.
    pub fn new(public_url: &str, configured: &[String], dev: bool) -> Origins {
        Origins {
            listed: normalize_origin(public_url)
                .into_iter()
                .chain(configured.iter().filter_map(|o| normalize_origin(o)))
                .collect(),
            loopback_any_port: dev,
        }
    }

    /// Whether an `Origin` header value names an allowed origin.
    pub fn allows(&self, raw: &str) -> bool {
        let Some(origin) = normalize_origin(raw) else {
            return false;
        };
        if self.listed.contains(&origin) {
            return true;
        }
        self.loopback_any_port
            && ["http://localhost", "http://127.0.0.1"].iter().any(|host| {
                origin.strip_prefix(host).is_some_and(|rest| {
                    rest.is_empty()
                        || rest.strip_prefix(':').is_some_and(|port| {
                            !port.is_empty()
                                && port.len() <= 5
                                && port.bytes().all(|b| b.is_ascii_digit())
                        })
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_and_dev_loopback_are_allowed() {
        let prod = Origins::new(
            "https://id.example.com/",
            &["https://app.example.com".into()],
            false,
        );
        let dev = Origins::new("http://127.0.0.1:8080", &[], true);
        // (origin, allowed in prod, allowed in dev)
        let table = [
            ("https://id.example.com", true, false),
            ("https://ID.example.com:443", true, false),
            ("https://app.example.com", true, false),
            ("https://app.example.com/", true, false),
            ("http://app.example.com", false, false),
            ("https://app.example.com:8443", false, false),
            ("https://app.example.com.evil.test", false, false),
            ("https://evil.test", false, false),
            ("null", false, false),
            ("", false, false),
            ("https://app.example.com/path", false, false),
            ("https://user@app.example.com", false, false),
            ("http://127.0.0.1:8080", false, true),
            ("http://127.0.0.1:5173", false, true),
            ("http://localhost:3000", false, true),
            ("http://localhost", false, true),
            ("https://localhost:3000", false, false),
            ("http://localhost.evil.test:3000", false, false),
            ("http://localhost:3000x", false, false),
            ("http://localhost:", false, false),
            ("http://127.0.0.1.evil.test", false, false),
            ("http://127.0.0.2:3000", false, false),
        ];
        for (origin, in_prod, in_dev) in table {
            assert_eq!(prod.allows(origin), in_prod, "prod {origin:?}");
            assert_eq!(dev.allows(origin), in_dev, "dev {origin:?}");
        }
    }
}
