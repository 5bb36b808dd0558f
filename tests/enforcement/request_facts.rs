//! `security.md` L1–L4 against the real sidecar binary: what a forward-auth check decides on
//! comes only from what the proxy in front vouches for, a path has one canonical form (or is
//! refused), the service never sees a client's own identity headers, and exactly one
//! forwarding header names the client. Tokens are minted with a key the sidecar's persisted
//! state trusts; the service behind proxy mode is a WSGI application (what a Flask service
//! is), so the path and headers checked are the ones such a service would act on.
//!
//! Before: `X-Forwarded-Uri` won over `X-Original-URI`, so with nginx a request for
//! `/closed/x` carrying `X-Forwarded-Uri: /public/x` passed with no token; `/%61dmin/x`,
//! `//admin/x`, `/./admin/x`, `/Admin/x`, `/admin;x/y`, `/public/../admin/x` reached an
//! Admin-only route; `x_user_roles` reached the service as `HTTP_X_USER_ROLES`; a client's
//! `X-Forwarded-For` beat the trusted proxy's `Forwarded`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::minted::{Key, Spawned, addrs, key, spawned, with};
use crate::support::process::{Proc, spawn};
use crate::support::{RawReply, metrics, raw_get, repo_root, sample};

pub const ROUTES: &str = r#"
default = "authenticated"
[[route]]
path = "/public/**"
public = true
[[route]]
path = "/closed/**"
deny = true
[[route]]
path = "/admin/**"
roles = ["Admin"]
"#;

/// A token without roles, and an Admin's.
fn tokens(k: &Key) -> (String, String) {
    (
        with(k, |c| {
            c["roles"] = json!([]);
            c["permissions"] = json!([]);
        }),
        with(k, |c| c["roles"] = json!(["Admin"])),
    )
}

/// A sidecar on `k` with the route rules and `flags`; (it, data address, admin address).
fn sidecar(k: &Key, flags: &[&str]) -> (Spawned, String, String) {
    let mut all = vec!["--routes", "{dir}/routes.toml"];
    all.extend_from_slice(flags);
    let s = spawned(&[k], json!({}), &[("routes.toml", ROUTES)], &all);
    let (data, admin) = addrs(&s.proc);
    (s, data, admin)
}

/// The WSGI service (`tests/fixtures/wsgi_echo.py`); its `host:port`.
pub fn wsgi_echo() -> (Proc, String) {
    let script = repo_root().join("tests/fixtures/wsgi_echo.py");
    let p = spawn("python3", &[script.to_str().expect("utf-8")]);
    let addr = p.url.trim_start_matches("http://").to_owned();
    (p, addr)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[tokio::test]
async fn forward_auth_decides_only_on_what_the_proxy_sets() {
    let k = key("k0");
    let (plain, _) = tokens(&k);
    let plain_auth = bearer(&plain);
    let no = (400, "ambiguous_request");
    // (integration, check target, headers, expected status and reason)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, (u16, &'a str));
    let cases: Vec<Case<'_>> = vec![
        // nginx sets X-Original-URI; a client's X-Forwarded-Uri rides along in the sub-request.
        (
            "nginx",
            "/v1/check",
            vec![("X-Original-URI", "/closed/x")],
            (403, "route_denied"),
        ),
        (
            "nginx",
            "/v1/check",
            vec![
                ("X-Original-URI", "/closed/x"),
                ("X-Forwarded-Uri", "/public/x"),
            ],
            no,
        ),
        (
            "nginx",
            "/v1/check",
            vec![
                ("X-Original-URI", "/admin/x"),
                ("X-Forwarded-Uri", "/public/x"),
            ],
            no,
        ),
        (
            "nginx",
            "/v1/check",
            vec![
                ("X-Original-URI", "/admin/x"),
                ("X-Original-URI", "/public/x"),
            ],
            no,
        ),
        (
            "nginx",
            "/v1/check",
            vec![
                ("X-Original-URI", "/public/x"),
                ("X-Original-Method", "GET"),
                ("X-Forwarded-Method", "DELETE"),
            ],
            no,
        ),
        (
            "nginx",
            "/v1/check/public/x",
            vec![("X-Original-URI", "/admin/x")],
            no,
        ),
        (
            "nginx",
            "/v1/check",
            vec![("X-Original-URI", "/public/x?a=1")],
            (200, ""),
        ),
        // Traefik sets X-Forwarded-*; a client's X-Original-URI is the spoof there.
        (
            "traefik",
            "/v1/check",
            vec![
                ("X-Forwarded-Uri", "/closed/x"),
                ("X-Original-URI", "/public/x"),
            ],
            no,
        ),
        (
            "traefik",
            "/v1/check",
            vec![
                ("X-Forwarded-Uri", "/public/x"),
                ("X-Forwarded-Method", "GET"),
            ],
            (200, ""),
        ),
        // Envoy puts the path after /v1/check; any header naming another path is refused.
        (
            "envoy",
            "/v1/check/closed/x",
            vec![("X-Forwarded-Uri", "/public/x")],
            no,
        ),
        ("envoy", "/v1/check/closed/x", vec![], (403, "route_denied")),
        (
            "envoy",
            "/v1/check/admin/x",
            vec![("Authorization", plain_auth.as_str())],
            (403, "insufficient_permissions"),
        ),
    ];
    for integration in ["nginx", "traefik", "envoy"] {
        let (_sc, data, admin) = sidecar(&k, &["--integration", integration]);
        let mine: Vec<&Case<'_>> = cases.iter().filter(|c| c.0 == integration).collect();
        let mut refused = 0;
        for (_, target, headers, (status, reason)) in &mine {
            let r = raw_get(&data, target, headers);
            assert_eq!(
                (r.status, r.reason().as_str()),
                (*status, *reason),
                "{integration} {target} {headers:?}: {}",
                r.body
            );
            if *status == 400 {
                refused += 1;
            }
        }
        let m = metrics(&format!("http://{admin}/metrics")).await;
        assert_eq!(
            sample::<u64>(
                &m,
                r#"sidecar_decisions_total{reason="ambiguous_request",result="deny"}"#
            ),
            Some(refused),
            "{integration}: every refusal is counted"
        );
    }
}

/// Spellings of `/admin/x` and `/closed/x` (and of the way from `/public` to them) that
/// another reader could take for them.
fn spellings() -> Vec<String> {
    let mut out: Vec<String> = [
        "/%61dmin/x",
        "/%61%64%6d%69%6E/x",
        "//admin/x",
        "/admin//x",
        "/./admin/x",
        "/Admin/x",
        "/ADMIN/x",
        "/admin;x/y",
        "/admin%3Bx/y",
        "/public/../admin/x",
        "/public/%2e%2e/admin/x",
        "/public/.%2E/admin/x",
        "/public/x/../../admin/x",
        "/public%2F..%2Fadmin/x",
        "/public%2f..%2fadmin/x",
        "/public/..%2Fadmin/x",
        "/public/..%5Cadmin/x",
        "/admin%00/x",
        "/admin%2Fx",
        "//closed/x",
        "/%63losed/x",
        "/closed%2Fx",
        "/cLoSeD/x",
        "/public/../closed/x",
        "/public/%2E%2E/closed/x",
        "/closed;/x",
        "/%c0%ae%c0%ae/closed/x",
        "/public/%e2%80%8b/../../admin/x",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // And generated ones: every segment of the protected path re-spelled character by
    // character (upper/lower hex, case), with `./` and `x/../` inserted.
    for (i, target) in ["admin", "closed"].iter().enumerate() {
        for n in 0..24usize {
            let mut p = String::new();
            if n % 3 == 1 {
                p.push_str("/public/..");
            }
            if n % 4 == 2 {
                p.push_str("/.");
            }
            p.push('/');
            for (j, c) in target.chars().enumerate() {
                match (n + j + i) % 4 {
                    0 => p.push_str(&format!("%{:02X}", u32::from(c))),
                    1 => p.push_str(&format!("%{:02x}", u32::from(c))),
                    2 => p.push(c.to_ascii_uppercase()),
                    _ => p.push(c),
                }
            }
            p.push_str(if n % 5 == 0 { "//x" } else { "/x" });
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn equivalent_spellings_are_decided_as_the_path_or_refused() {
    let k = key("k0");
    let (plain, admin_token) = tokens(&k);
    let (_fa, fa, _) = sidecar(&k, &["--integration", "nginx"]);
    let (_env, env, _) = sidecar(&k, &["--integration", "envoy"]);
    let (_svc, svc) = wsgi_echo();
    let upstream = format!("http://{svc}");
    let (_px, px, _) = sidecar(&k, &["--upstream", &upstream]);
    let mut decided = 0;
    let mut refused = 0;
    for s in spellings() {
        let plain_auth = bearer(&plain);
        // Three readings of the same spelling: as nginx's X-Original-URI, as Envoy's path
        // suffix, and as the request itself in proxy mode.
        let replies: [RawReply; 3] = [
            raw_get(
                &fa,
                "/v1/check",
                &[("X-Original-URI", &s), ("Authorization", &plain_auth)],
            ),
            raw_get(
                &env,
                &format!("/v1/check{s}"),
                &[("Authorization", &plain_auth)],
            ),
            raw_get(&px, &s, &[("Authorization", &plain_auth)]),
        ];
        for (how, r) in ["nginx header", "envoy suffix", "proxy"]
            .iter()
            .zip(&replies)
        {
            match (r.status, r.reason().as_str()) {
                (403, "route_denied" | "insufficient_permissions") => decided += 1,
                (400, "invalid_path") => refused += 1,
                // hyper itself refuses some targets outright (a raw NUL or backslash).
                (400, "") if *how == "proxy" => refused += 1,
                other => panic!("{how} {s}: {other:?} {}", r.body),
            }
        }
        // An Admin passes the spellings that mean /admin/x, and the service sees exactly
        // the path that was decided on.
        let r = raw_get(&px, &s, &[("Authorization", &bearer(&admin_token))]);
        if replies[2].reason() == "insufficient_permissions" {
            assert_eq!(r.status, 200, "{s}: {}", r.body);
            let seen: Value = serde_json::from_str(&r.body).expect("echo");
            let path = seen["path"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            assert!(
                path == "/admin/x",
                "{s} was authorised as /admin/x and forwarded as {}",
                seen["path"]
            );
        } else {
            assert_ne!(r.status, 200, "{s}: {}", r.body);
        }
    }
    println!(
        "path spellings: {} spellings × 3 readings, {decided} decided as the protected path, {refused} refused, 0 let through",
        spellings().len()
    );
    assert!(decided > 30 && refused > 10, "{decided} {refused}");
}

#[tokio::test]
async fn the_service_never_sees_a_clients_identity_headers() {
    let k = key("k0");
    let (plain, admin_token) = tokens(&k);
    let (_svc, svc) = wsgi_echo();
    let upstream = format!("http://{svc}");
    let (_px, px, _) = sidecar(&k, &["--upstream", &upstream]);
    let forged = [
        ("X-User-Roles", "SuperAdmin"),
        ("x_user_roles", "Admin,ReadOnly"),
        ("X_User_Roles", "Admin"),
        ("x_tenant_id", "other-tenant"),
        ("X-Tenant-Id", "other-tenant"),
        ("x_user_id", "someone-else"),
        ("x_user-permissions", "fe.secure.*"),
        ("x-token_type", "tenantApiToken"),
    ];
    for token in [&plain, &admin_token] {
        let auth = bearer(token);
        let mut headers = vec![("Authorization", auth.as_str())];
        headers.extend_from_slice(&forged);
        let r = raw_get(&px, "/orders/7", &headers);
        assert_eq!(r.status, 200, "{}", r.body);
        let seen: Value = serde_json::from_str(&r.body).expect("echo");
        let http = &seen["http"];
        let roles = if token == &admin_token { "Admin" } else { "" };
        assert_eq!(
            http.get("HTTP_X_USER_ROLES")
                .and_then(Value::as_str)
                .unwrap_or(""),
            roles,
            "{http}"
        );
        assert_eq!(http["HTTP_X_TENANT_ID"], "t1", "{http}");
        assert_eq!(http["HTTP_X_USER_ID"], "u1", "{http}");
        assert_eq!(http["HTTP_X_TOKEN_TYPE"], "userToken", "{http}");
        assert!(
            http.get("HTTP_X_USER_PERMISSIONS")
                .and_then(Value::as_str)
                .is_none_or(|p| !p.contains("fe.secure")),
            "{http}"
        );
    }
    // Forward-auth cannot take them off the request, so it refuses the spellings no proxy
    // overwrites.
    let (_fa, fa, _) = sidecar(&k, &[]);
    for (name, value) in forged.iter().filter(|(n, _)| n.contains('_')) {
        let r = raw_get(
            &fa,
            "/v1/check/orders",
            &[("Authorization", &bearer(&admin_token)), (name, value)],
        );
        assert_eq!(
            (r.status, r.reason().as_str()),
            (400, "ambiguous_request"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn one_forwarding_header_names_the_client() {
    let k = key("k0");
    let (plain, _) = tokens(&k);
    // Only 203.0.113.5 may come in (the environment's ALLOW list); the trusted proxy on
    // loopback writes `Forwarded`.
    let allow = json!({"restrictions": [
        {"ip": {"strategy": "ALLOW", "cidrs": ["203.0.113.5/32"]}}
    ]});
    let sc = spawned(
        &[&k],
        allow,
        &[],
        &[
            "--trusted-proxy",
            "127.0.0.1",
            "--client-ip-header",
            "forwarded",
        ],
    );
    let (data, _) = addrs(&sc.proc);
    let auth = bearer(&plain);
    let at = |headers: &[(&str, &str)]| {
        let mut h = vec![("Authorization", auth.as_str())];
        h.extend_from_slice(headers);
        let r = raw_get(&data, "/v1/check/orders", &h);
        (r.status, r.reason())
    };
    assert_eq!(
        at(&[("Forwarded", "for=203.0.113.5")]),
        (200, String::new())
    );
    // The client's own X-Forwarded-For names the allowed address; the proxy's Forwarded
    // names the client's real one: Forwarded decides.
    assert_eq!(
        at(&[
            ("Forwarded", "for=198.51.100.9"),
            ("X-Forwarded-For", "203.0.113.5")
        ]),
        (403, "ip_restricted".into())
    );
    assert_eq!(
        at(&[("X-Forwarded-For", "203.0.113.5")]),
        (403, "ip_restricted".into()),
        "without Forwarded the proxy itself is the client"
    );
    tokio::time::sleep(Duration::ZERO).await;
}

/// nginx, where installed (CI installs Debian's `nginx-light`).
fn nginx_binary() -> Option<std::path::PathBuf> {
    crate::support::system_tool(&["/usr/sbin/nginx", "/usr/bin/nginx"], "nginx-light")
}

/// The first ```nginx block of `docs/sidecar.md`, with its addresses replaced.
fn documented_nginx(listen: &str, sidecar: &str, service: &str) -> String {
    let doc = std::fs::read_to_string(repo_root().join("docs/sidecar.md")).expect("docs");
    let block = doc
        .split("```nginx\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("docs/sidecar.md has an nginx block");
    for placeholder in ["127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:3000"] {
        assert!(
            block.contains(placeholder),
            "the example names {placeholder}"
        );
    }
    block
        .replace("127.0.0.1:8080", listen)
        .replace("127.0.0.1:8081", sidecar)
        .replace("127.0.0.1:3000", service)
}

/// nginx on `server` (a `server {}` block), stopped on drop.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nginx(bin: &std::path::Path, dir: &std::path::Path, server: &str, listen: &str) -> Nginx {
    let d = dir.to_str().expect("utf-8");
    let conf = format!(
        "daemon off; user root; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
         events {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
          fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n{server}\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx.conf");
    let child = std::process::Command::new(bin)
        .args(["-c", path.to_str().expect("utf-8"), "-p", d])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx(child);
    for _ in 0..500 {
        if std::net::TcpStream::connect(listen).is_ok() {
            return nginx;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "nginx did not listen: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

/// L1, L2, L3 through the documented nginx configuration, as printed in `docs/sidecar.md`:
/// nginx in front, the sidecar deciding its `auth_request`s, a WSGI service behind.
#[tokio::test]
async fn the_documented_nginx_configuration_holds() {
    let Some(bin) = nginx_binary() else { return };
    let k = key("k0");
    let (plain, admin_token) = tokens(&k);
    // Only the proxy's own address may come in: a client naming another in X-Forwarded-For
    // must not get in under it (the documented config overwrites the header).
    let only_loopback = json!({"restrictions": [
        {"ip": {"strategy": "ALLOW", "cidrs": ["127.0.0.1/32"]}}
    ]});
    let sc = spawned(
        &[&k],
        only_loopback,
        &[("routes.toml", ROUTES)],
        &[
            "--routes",
            "{dir}/routes.toml",
            "--trusted-proxy",
            "127.0.0.1",
        ],
    );
    let (sidecar_addr, _) = addrs(&sc.proc);
    let (_svc, svc) = wsgi_echo();
    let listen = crate::support::process::free_addr();
    let dir = tempfile::tempdir().expect("tempdir");
    let _nginx = start_nginx(
        &bin,
        dir.path(),
        &documented_nginx(&listen, &sidecar_addr, &svc),
        &listen,
    );
    let plain_auth = bearer(&plain);
    let admin_auth = bearer(&admin_token);
    // L1: a client's own X-Forwarded-Uri / X-Original-URI / -Method would ride along in
    // nginx's sub-request; the documented config replaces or clears every one of them, so
    // the request is decided as what it is.
    for (target, headers, status) in [
        ("/closed/x", vec![], 403),
        ("/closed/x", vec![("X-Forwarded-Uri", "/public/x")], 403),
        ("/closed/x", vec![("X-Original-URI", "/public/x")], 403),
        (
            "/admin/x",
            vec![
                ("X-Forwarded-Uri", "/public/x"),
                ("Authorization", plain_auth.as_str()),
            ],
            403,
        ),
        (
            "/admin/x",
            vec![
                ("X-Forwarded-Method", "OPTIONS"),
                ("Authorization", plain_auth.as_str()),
            ],
            403,
        ),
        ("/public/x", vec![("X-Forwarded-Uri", "/closed/x")], 200),
    ] {
        let r = raw_get(&listen, target, &headers);
        assert_eq!(r.status, status, "{target} {headers:?}: {}", r.body);
    }
    // L2: spellings of the protected paths are decided as them or refused, never let
    // through without the role.
    for s in spellings() {
        let r = raw_get(&listen, &s, &[("Authorization", plain_auth.as_str())]);
        assert!(
            matches!(r.status, 400 | 403),
            "{s}: {} {}",
            r.status,
            r.body
        );
    }
    // nginx turns an auth_request's 400 into a 500; the documented config gives it back.
    let r = raw_get(
        &listen,
        "/admin;x/y",
        &[("Authorization", plain_auth.as_str())],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("ER-INVALID-INPUT"), "{}", r.body);
    // L3: what the service reads as identity is the sidecar's, whatever the client sent.
    let forged = [
        ("X-User-Id", "someone-else"),
        ("X-Tenant-Id", "other-tenant"),
        ("X-User-Roles", "SuperAdmin"),
        ("X-User-Permissions", "fe.secure.*"),
        ("X-Token-Type", "tenantApiToken"),
        ("x_user_roles", "Admin"),
        ("X-Forwarded-For", "203.0.113.5"),
    ];
    let mut h = vec![("Authorization", admin_auth.as_str())];
    h.extend_from_slice(&forged);
    let r = raw_get(&listen, "/admin/x", &h);
    assert_eq!(r.status, 200, "{}", r.body);
    let seen: Value = serde_json::from_str(&r.body).expect("echo");
    let http = &seen["http"];
    assert_eq!(http["HTTP_X_USER_ID"], "u1", "{http}");
    assert_eq!(http["HTTP_X_TENANT_ID"], "t1", "{http}");
    assert_eq!(http["HTTP_X_USER_ROLES"], "Admin", "{http}");
    assert_eq!(http["HTTP_X_TOKEN_TYPE"], "userToken", "{http}");
    assert_eq!(http["HTTP_X_USER_PERMISSIONS"], "app.read", "{http}");
    // A public route: the sidecar names nobody, so the service sees no identity at all.
    let mut h = vec![];
    h.extend_from_slice(&forged);
    let r = raw_get(&listen, "/public/x", &h);
    assert_eq!(r.status, 200, "{}", r.body);
    let seen: Value = serde_json::from_str(&r.body).expect("echo");
    for name in [
        "HTTP_X_USER_ID",
        "HTTP_X_TENANT_ID",
        "HTTP_X_USER_ROLES",
        "HTTP_X_USER_PERMISSIONS",
        "HTTP_X_TOKEN_TYPE",
    ] {
        assert!(seen["http"].get(name).is_none(), "{name}: {}", seen["http"]);
    }
    // The documented config overwrites X-Forwarded-For: the client is nginx's peer.
    let mut ip_rules = json!({"restrictions": [
        {"ip": {"strategy": "ALLOW", "cidrs": ["203.0.113.5/32"]}}
    ]});
    drop(sc);
    let sc = spawned(
        &[&k],
        ip_rules.take(),
        &[("routes.toml", ROUTES)],
        &[
            "--routes",
            "{dir}/routes.toml",
            "--trusted-proxy",
            "127.0.0.1",
            "--listen",
            &sidecar_addr,
        ],
    );
    let _ = addrs(&sc.proc);
    let r = raw_get(
        &listen,
        "/orders/1",
        &[
            ("Authorization", admin_auth.as_str()),
            ("X-Forwarded-For", "203.0.113.5"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
}
