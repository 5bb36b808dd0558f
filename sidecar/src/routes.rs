//! Route rules (`--routes`, TOML): method + path pattern → requirements. Compiled once when
//! the file is (re)loaded; matching is a walk over pre-split segments, no regex, no
//! allocation.
//!
//! ```toml
//! default = "authenticated"          # or "public" / "deny" for unmatched routes
//! case_sensitive = false             # default: letters match in either case
//!
//! [[route]]
//! path = "/health"
//! public = true
//!
//! [[route]]
//! methods = ["POST", "DELETE"]       # default: any method
//! path = "/admin/**"                 # `*` one segment, `**` the rest (zero or more)
//! permissions = ["admin.write"]      # any-of by default
//! roles = ["Admin"]
//! match = "all"                      # "any" (default) or "all" of the listed roles/permissions
//! token_types = ["userToken"]        # default: any Bearer token type
//! step_up = true                     # acr/amr as in compat.md §2.5
//! max_age = 300                      # seconds since auth_time (step-up)
//! ```
//! The first matching rule wins. Rules match the request's canonical path
//! ([`crate::path::canonical`]): `/%61dmin/x`, `//admin/x` and `/public/../admin/x` are all
//! `/admin/x`. Letters match in either case unless `case_sensitive = true` (so `/Admin/x` meets
//! the `/admin/**` rule: a service that reads paths case-insensitively cannot be reached past
//! a rule by a change of case); methods always match in either case. A listed permission is
//! satisfied as the control plane decides it ([`shared::rights::grants`]): `fe.secure.*` in a
//! rule requires that wildcard (or a wider one), not any permission under it.

use std::path::Path;

use serde::Deserialize;

/// What a matched route requires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirement {
    /// No token needed.
    pub public: bool,
    /// Never allowed.
    pub deny: bool,
    /// Role keys.
    pub roles: Vec<String>,
    /// Permission keys; each is satisfied by a held permission that grants it
    /// ([`shared::rights::grants`]: `fe.secure.*` requires that wildcard or a wider one).
    pub permissions: Vec<String>,
    /// All of the roles and permissions rather than any one.
    pub all: bool,
    /// Token types allowed; empty means every Bearer type.
    pub token_types: Vec<shared::claims::TokenType>,
    /// Step-up required.
    pub step_up: bool,
    /// Step-up max age, seconds.
    pub max_age: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Lit(String),
    One,
    Rest,
}

#[derive(Clone, Debug)]
struct Rule {
    methods: Vec<String>,
    pattern: Vec<Seg>,
    req: Requirement,
}

/// The compiled rules.
#[derive(Clone, Debug)]
pub struct Routes {
    rules: Vec<Rule>,
    default: Requirement,
    case_sensitive: bool,
}

impl Default for Routes {
    /// Without a file: every route needs a valid token.
    fn default() -> Self {
        Routes {
            rules: Vec::new(),
            default: Requirement::default(),
            case_sensitive: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    case_sensitive: bool,
    #[serde(default)]
    route: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    path: String,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    deny: bool,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default, rename = "match")]
    match_: Option<String>,
    #[serde(default)]
    token_types: Vec<String>,
    #[serde(default)]
    step_up: bool,
    #[serde(default)]
    max_age: Option<i64>,
}

fn compile_path(p: &str) -> Result<Vec<Seg>, String> {
    if !p.starts_with('/') {
        return Err(format!("path {p:?} must start with '/'"));
    }
    let parts: Vec<&str> = p[1..].split('/').collect();
    let mut out = Vec::with_capacity(parts.len());
    for (i, s) in parts.iter().enumerate() {
        out.push(match *s {
            "**" if i + 1 == parts.len() => Seg::Rest,
            "**" => return Err(format!("path {p:?}: '**' only at the end")),
            "*" => Seg::One,
            s if s.contains('*') => return Err(format!("path {p:?}: '*' must be a whole segment")),
            "." | ".." => return Err(format!("path {p:?}: no dot segments")),
            s => {
                // A literal is written as requests are compared: in canonical form.
                let lit = format!("/{s}");
                match crate::path::canonical(&lit) {
                    Ok(c) if c == lit.as_str() => Seg::Lit(s.to_owned()),
                    Ok(c) => {
                        return Err(format!(
                            "path {p:?}: write segment {s:?} in canonical form ({:?})",
                            &c[1..]
                        ));
                    }
                    Err(e) => return Err(format!("path {p:?}: {}", e.message())),
                }
            }
        });
    }
    Ok(out)
}

/// Whether a canonical `path` matches `pattern`.
fn matches(pattern: &[Seg], path: &str, case_sensitive: bool) -> bool {
    let mut segs = path.strip_prefix('/').unwrap_or(path).split('/');
    for p in pattern {
        match p {
            Seg::Rest => return true,
            Seg::One => {
                if segs.next().is_none_or(str::is_empty) {
                    return false;
                }
            }
            Seg::Lit(l) => {
                let same = |s: &str| {
                    if case_sensitive {
                        s == l
                    } else {
                        s.eq_ignore_ascii_case(l)
                    }
                };
                if !segs.next().is_some_and(same) {
                    return false;
                }
            }
        }
    }
    segs.next().is_none()
}

/// Role keys and permission keys of a rule must be keys the control plane can issue; a
/// permission may be a wildcard only as `prefix.*`.
fn check_keys(path: &str, roles: &[String], permissions: &[String]) -> Result<(), String> {
    for k in roles.iter().chain(permissions) {
        if !shared::rights::is_valid_key(k) {
            return Err(format!(
                "route {path:?}: {k:?} is not a role or permission key ({})",
                shared::rights::KEY_RULE
            ));
        }
    }
    for r in roles {
        if r.contains('*') {
            return Err(format!(
                "route {path:?}: role {r:?}: roles have no wildcards"
            ));
        }
    }
    for p in permissions {
        if p.contains('*') && (!p.ends_with(".*") || p[..p.len() - 1].contains('*')) {
            return Err(format!(
                "route {path:?}: permission {p:?}: a wildcard is written prefix.*"
            ));
        }
    }
    Ok(())
}

impl Routes {
    /// Parse and compile rules; any error refuses the whole file.
    pub fn parse(text: &str) -> Result<Routes, String> {
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let default = match f.default.as_deref().unwrap_or("authenticated") {
            "authenticated" => Requirement::default(),
            "public" => Requirement {
                public: true,
                ..Requirement::default()
            },
            "deny" => Requirement {
                deny: true,
                ..Requirement::default()
            },
            other => {
                return Err(format!(
                    "default must be authenticated, public or deny, not {other:?}"
                ));
            }
        };
        let mut rules = Vec::with_capacity(f.route.len());
        for r in f.route {
            let token_types = r
                .token_types
                .iter()
                .map(|t| {
                    shared::claims::TokenType::parse(t)
                        .ok_or_else(|| format!("unknown token type {t:?}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if r.public && (r.deny || !r.roles.is_empty() || !r.permissions.is_empty() || r.step_up)
            {
                return Err(format!(
                    "route {:?}: public excludes other requirements",
                    r.path
                ));
            }
            check_keys(&r.path, &r.roles, &r.permissions)?;
            let all = match r.match_.as_deref() {
                None | Some("any") => false,
                Some("all") => true,
                Some(o) => return Err(format!("match must be any or all, not {o:?}")),
            };
            rules.push(Rule {
                methods: r.methods.iter().map(|m| m.to_ascii_uppercase()).collect(),
                pattern: compile_path(&r.path)?,
                req: Requirement {
                    public: r.public,
                    deny: r.deny,
                    roles: r.roles,
                    permissions: r.permissions,
                    all,
                    token_types,
                    step_up: r.step_up || r.max_age.is_some(),
                    max_age: r.max_age,
                },
            });
        }
        Ok(Routes {
            rules,
            default,
            case_sensitive: f.case_sensitive,
        })
    }

    /// Read and compile a rules file.
    pub fn load(path: &Path) -> Result<Routes, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Routes::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The requirement of the first rule matching `method` and the canonical `path`
    /// ([`crate::path::canonical`]), else the default.
    pub fn find(&self, method: &str, path: &str) -> &Requirement {
        self.rules
            .iter()
            .find(|r| {
                (r.methods.is_empty() || r.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
                    && matches(&r.pattern, path, self.case_sensitive)
            })
            .map_or(&self.default, |r| &r.req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_segments() {
        let r = Routes::parse(
            r#"
default = "deny"
[[route]]
path = "/health"
public = true
[[route]]
methods = ["post"]
path = "/admin/**"
permissions = ["admin.write"]
[[route]]
path = "/users/*/profile"
roles = ["Admin", "Viewer"]
match = "all"
"#,
        )
        .unwrap();
        assert!(r.find("GET", "/health").public);
        assert!(r.find("GET", "/healthz").deny);
        assert!(r.find("GET", "/health/x").deny);
        assert_eq!(r.find("POST", "/admin").permissions, ["admin.write"]);
        assert_eq!(r.find("POST", "/admin/a/b").permissions, ["admin.write"]);
        assert!(r.find("GET", "/admin/a").deny, "method must match");
        assert!(r.find("POST", "/administrator").deny);
        assert!(r.find("GET", "/users/7/profile").all);
        assert!(r.find("GET", "/users//profile").deny);
        assert!(r.find("GET", "/users/7/profile/x").deny);
        assert!(
            r.find("GET", "/HEALTH").public,
            "letters match in either case"
        );
        assert_eq!(r.find("post", "/Admin/a").permissions, ["admin.write"]);
        let sensitive = Routes::parse(
            "default = \"deny\"\ncase_sensitive = true\n[[route]]\npath = \"/health\"\npublic = true",
        )
        .unwrap();
        assert!(sensitive.find("GET", "/health").public);
        assert!(sensitive.find("GET", "/Health").deny);
    }

    #[test]
    fn bad_files_are_refused_whole() {
        for bad in [
            "default = \"maybe\"",
            "[[route]]\npath = \"admin\"",
            "[[route]]\npath = \"/a/**/b\"",
            "[[route]]\npath = \"/a*\"",
            "[[route]]\npath = \"/a\"\ntoken_types = [\"magic\"]",
            "[[route]]\npath = \"/a\"\npublic = true\nroles = [\"x\"]",
            "[[route]]\npath = \"/a\"\nunknown = 1",
            "[[route]]\npath = \"/a\"\nmatch = \"some\"",
            "[[route]]\npath = \"/a/../b\"",
            "[[route]]\npath = \"/%61\"",
            "[[route]]\npath = \"/a;b\"",
            "[[route]]\npath = \"/a%2Fb\"",
            "[[route]]\npath = \"/a\"\nroles = [\"Super,Admin\"]",
            "[[route]]\npath = \"/a\"\nroles = [\"Admin*\"]",
            "[[route]]\npath = \"/a\"\npermissions = [\"fe.secure*\"]",
            "[[route]]\npath = \"/a\"\npermissions = [\"a b\"]",
        ] {
            assert!(Routes::parse(bad).is_err(), "{bad}");
        }
    }
}
