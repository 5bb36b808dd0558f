//! CORS as a browser checks it (`compat-wave2.md` §1.11, the browser-SDK issue): an allowed
//! origin gets itself echoed with credentials on preflights, replies and errors; any other
//! origin gets no CORS header at all and cannot use the session cookie. A table over
//! origins, methods and modes (the unit table of `http::origin` covers the parsing).

use control_plane::config::Config;
use reqwest::Method;

use crate::support::Cp;

const APP: &str = "https://app.example.com";
const PUBLIC: &str = "/identity/resources/configurations/v1/public";

/// Every header `@frontegg/rest-api` may send, which a preflight must allow.
const CLIENT_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "frontegg-source",
    "frontegg-requested-application-id",
    "frontegg-login-alias",
    "frontegg-scoped-tenant",
    "x-frontegg-framework",
    "x-frontegg-sdk",
    "frontegg-tenant-id",
    "frontegg-user-id",
];

async fn start(dev: bool) -> Cp {
    let mut config = Config::for_test();
    config.allowed_origins = vec![APP.into()];
    config.dev = dev;
    Cp::start_with(config).await
}

async fn preflight(cp: &Cp, origin: &str, method: &str, path: &str) -> reqwest::Response {
    cp.client
        .request(Method::OPTIONS, cp.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", CLIENT_HEADERS.join(","))
        .send()
        .await
        .unwrap()
}

fn cors_headers(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

#[tokio::test]
async fn only_allowed_origins_get_cors_and_never_a_wildcard() {
    let cp = start(false).await;
    let dev = start(true).await;
    let own = cp.running.url();
    // (control plane, origin, allowed)
    let table: Vec<(&Cp, String, bool)> = vec![
        (&cp, APP.into(), true),
        (&cp, own.clone(), true),
        (&cp, "https://APP.example.com:443".into(), true),
        (&cp, "http://app.example.com".into(), false),
        (&cp, "https://app.example.com:8443".into(), false),
        (&cp, "https://app.example.com.evil.test".into(), false),
        (&cp, "https://evil.test".into(), false),
        (&cp, "null".into(), false),
        (&cp, "http://localhost:3000".into(), false),
        (&dev, "http://localhost:3000".into(), true),
        (&dev, "http://127.0.0.1:5173".into(), true),
        (&dev, "http://localhost.evil.test:3000".into(), false),
        (&dev, "https://evil.test".into(), false),
    ];
    for (server, origin, allowed) in &table {
        for (method, path) in [
            ("GET", PUBLIC),
            ("POST", "/identity/resources/auth/v1/user"),
            ("PATCH", "/identity/resources/roles/v1/x"),
            (
                "DELETE",
                "/frontegg/identity/resources/configurations/v1/restrictions/ip/x",
            ),
            ("PUT", "/frontegg/identity/resources/users/v1/tenant"),
        ] {
            let res = preflight(server, origin, method, path).await;
            let what = format!("preflight {method} {path} from {origin}");
            let vary = res
                .headers()
                .get("vary")
                .map(|v| v.to_str().unwrap().to_owned());
            assert!(vary.is_some_and(|v| v.contains("Origin")), "{what}: Vary");
            if *allowed {
                assert_eq!(res.status(), 204, "{what}");
                let h = res.headers();
                assert_eq!(h["access-control-allow-origin"], origin.as_str(), "{what}");
                assert_eq!(h["access-control-allow-credentials"], "true", "{what}");
                let methods = h["access-control-allow-methods"].to_str().unwrap();
                assert!(
                    methods.split(", ").any(|m| m == method),
                    "{what}: {methods}"
                );
                let allowed_headers = h["access-control-allow-headers"].to_str().unwrap();
                for name in CLIENT_HEADERS {
                    assert!(
                        allowed_headers.split(", ").any(|a| a == *name),
                        "{what}: {name} not in {allowed_headers}"
                    );
                }
            } else {
                assert_eq!(res.status(), 403, "{what}");
                assert!(
                    cors_headers(&res).is_empty(),
                    "{what}: {:?}",
                    cors_headers(&res)
                );
            }
        }
        // The actual request: a reply, an error and a 404 all carry the headers, or none.
        for (path, status) in [
            (PUBLIC, 200),
            ("/identity/resources/users/v2/me", 401),
            ("/identity/resources/no/such/route", 404),
        ] {
            let res = server
                .client
                .get(server.url(path))
                .header("origin", origin.as_str())
                .send()
                .await
                .unwrap();
            let what = format!("GET {path} from {origin}");
            assert_eq!(res.status(), status, "{what}");
            if *allowed {
                let h = res.headers();
                assert_eq!(h["access-control-allow-origin"], origin.as_str(), "{what}");
                assert_eq!(h["access-control-allow-credentials"], "true", "{what}");
                assert_eq!(
                    h["access-control-expose-headers"], "frontegg-trace-id",
                    "{what}"
                );
            } else {
                assert!(cors_headers(&res).is_empty(), "{what}");
            }
        }
        // The session cookie: refused from any origin that is not allowed.
        let refresh = server
            .client
            .post(server.url("/identity/resources/auth/v1/user/token/refresh"))
            .header("origin", origin.as_str())
            .header("cookie", "fe_refresh_x=not-a-token")
            .send()
            .await
            .unwrap();
        let expected = if *allowed { 401 } else { 403 };
        assert_eq!(refresh.status(), expected, "refresh from {origin}");
    }
    // No Origin (not a browser's cross-origin call): no CORS headers, nothing refused.
    let res = cp.client.get(cp.url(PUBLIC)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(cors_headers(&res).is_empty());
    // Two Origin headers are nobody's.
    let mut two = reqwest::header::HeaderMap::new();
    two.append("origin", APP.parse().unwrap());
    two.append("origin", APP.parse().unwrap());
    two.append("access-control-request-method", "GET".parse().unwrap());
    let res = cp
        .client
        .request(Method::OPTIONS, cp.url(PUBLIC))
        .headers(two)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(cors_headers(&res).is_empty());
}

#[tokio::test]
async fn the_environments_own_origins_join_the_configured_ones() {
    let cp = start(false).await;
    let token = cp.vendor_token().await;
    const LIST: &str = "/tessera/v1/allowed-origins";
    const ENV_APP: &str = "https://portal.example.org";
    assert_eq!(preflight(&cp, ENV_APP, "POST", PUBLIC).await.status(), 403);
    let set = cp
        .call(
            Method::PUT,
            LIST,
            Some(&token),
            Some(&serde_json::json!({"allowedOrigins": ["https://Portal.example.org:443/"]})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["allowedOrigins"], serde_json::json!([ENV_APP]));
    let res = preflight(&cp, ENV_APP, "POST", PUBLIC).await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["access-control-allow-origin"], ENV_APP);
    // The configured origin still counts; a bad entry changes nothing; a user token is refused.
    assert_eq!(preflight(&cp, APP, "GET", PUBLIC).await.status(), 204);
    for bad in [
        serde_json::json!({"allowedOrigins": ["https://ok.example.org", "not an origin"]}),
        serde_json::json!({"allowedOrigins": ["https://x.example.org/path"]}),
        serde_json::json!({"allowedOrigins": "https://x.example.org"}),
        serde_json::json!({"origins": []}),
    ] {
        cp.call(Method::PUT, LIST, Some(&token), Some(&bad))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    let now = cp.call(Method::GET, LIST, Some(&token), None).await;
    assert_eq!(now.body["allowedOrigins"], serde_json::json!([ENV_APP]));
    cp.call(Method::GET, LIST, None, None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    // Emptied: the origin is refused again, with no CORS header.
    cp.call(
        Method::PUT,
        LIST,
        Some(&token),
        Some(&serde_json::json!({"allowedOrigins": []})),
    )
    .await;
    let res = preflight(&cp, ENV_APP, "POST", PUBLIC).await;
    assert_eq!(res.status(), 403);
    assert!(cors_headers(&res).is_empty());
}
