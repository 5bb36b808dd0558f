//! `security.md` §H as one suite: an account administrator of account A, holding a real user
//! token, goes after account B's roles, groups, API tokens, IP rules, sessions and users —
//! with B's id in the `frontegg-tenant-id` header (H1), another user's id in
//! `frontegg-user-id` (H2), B's ids in paths (H3), B's role on its own user (H5), the
//! environment-only routes (H6) and polluted paging parameters (H7). Every attempt is
//! refused or confined to A (path ids answer 404, never 403: no existence oracle), and B's
//! state is read back unchanged afterwards. Mass assignment (H4) is
//! `users::self_service_cannot_set_privileged_fields`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::world::{Req, World};

const ROLES: &str = "/identity/resources/roles/v1";
const GROUPS: &str = "/identity/resources/groups/v1";
const TENANT_TOKENS: &str = "/identity/resources/tenants/api-tokens/v1";
const IP: &str = "/identity/resources/configurations/v1/restrictions/ip";
const USERS_V1: &str = "/identity/resources/users/v1";
const MY_SESSIONS: &str = "/identity/resources/users/sessions/v1/me";

/// What B owns, read with the environment token.
async fn b_state(w: &World, b: &str) -> Value {
    let mut out = serde_json::Map::new();
    for path in [ROLES, GROUPS, TENANT_TOKENS, IP] {
        let r = w.env(Method::GET, path, Some(b), None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        out.insert(path.into(), r.body);
    }
    Value::Object(out)
}

fn ids(v: &Value) -> Vec<String> {
    let items = v
        .get("items")
        .or_else(|| v.get("groups"))
        .unwrap_or(v)
        .as_array()
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|i| {
            i["id"]
                .as_str()
                .or(i["clientId"].as_str())
                .map(String::from)
        })
        .collect()
}

#[tokio::test]
async fn an_account_admin_cannot_reach_another_account() {
    let w = World::new().await;
    let a = w.tenant("A").await;
    let b = w.tenant("B").await;
    let a_user = w.user(&a, "member@a.example", &[]).await;
    w.user(&a, "admin@a.example", &["Admin"]).await;
    let b_admin = w.user(&b, "admin@b.example", &["Admin"]).await;
    let token = w.token_for("admin@a.example").await;
    let b_token = w.token_for("admin@b.example").await;

    // B's things, made with the environment token.
    let role = w
        .env(
            Method::POST,
            ROLES,
            Some(&b),
            Some(json!([{"key": "BRole", "name": "B role", "level": 3}])),
        )
        .await;
    assert_eq!(role.status, 201, "{}", role.text);
    let b_role = role.body[0]["id"].as_str().unwrap().to_owned();
    let group = w
        .env(
            Method::POST,
            GROUPS,
            Some(&b),
            Some(json!({"name": "B group"})),
        )
        .await;
    assert!(group.status.is_success(), "{}", group.text);
    let b_group = group.body["id"].as_str().unwrap().to_owned();
    let api = w
        .env(
            Method::POST,
            TENANT_TOKENS,
            Some(&b),
            Some(json!({"description": "b"})),
        )
        .await;
    assert_eq!(api.status, 201, "{}", api.text);
    let b_api = api.body["clientId"].as_str().unwrap().to_owned();
    let ip = w
        .env(
            Method::POST,
            IP,
            Some(&b),
            Some(json!({"ip": "10.9.0.0/16", "strategy": "BLOCK"})),
        )
        .await;
    assert_eq!(ip.status, 201, "{}", ip.text);
    let b_ip = ip.body["id"].as_str().unwrap().to_owned();
    let sessions = w.as_user(&b_token, Method::GET, MY_SESSIONS, None).await;
    let b_session = sessions.body[0]["id"].as_str().unwrap().to_owned();
    let before = b_state(&w, &b).await;
    for (path, id) in [
        (ROLES, &b_role),
        (GROUPS, &b_group),
        (TENANT_TOKENS, &b_api),
        (IP, &b_ip),
    ] {
        assert!(ids(&before[path]).contains(id), "{path}: {}", before[path]);
    }
    // Everything B owns (environment-wide roles are everyone's and not in here).
    let b_ids = [&b_role, &b_group, &b_api, &b_ip, &b_session, &b_admin];
    let mut refused = 0;
    // H1: B's id in the account header is ignored for a user token — lists stay A's.
    for path in [
        ROLES,
        GROUPS,
        TENANT_TOKENS,
        IP,
        MY_SESSIONS,
        "/identity/resources/users/v3",
    ] {
        let r = w
            .send(Req {
                method: Method::GET,
                path: path.into(),
                bearer: &token,
                tenant: Some(&b),
                user: None,
                body: None,
            })
            .await;
        assert!(r.status.as_u16() < 500, "{path}: {}", r.text);
        for id in b_ids {
            assert!(
                !r.text.contains(id.as_str()),
                "{path} with B's header listed B's {id}"
            );
        }
        assert!(!r.text.contains("admin@b.example"), "{path}: {}", r.text);
        refused += 1;
    }
    // H1 on writes: a group or IP rule created with B's header lands in A (or nowhere).
    for (path, body) in [
        (GROUPS, json!({"name": "planted"})),
        (IP, json!({"ip": "10.66.0.0/16", "strategy": "BLOCK"})),
    ] {
        let r = w
            .send(Req {
                method: Method::POST,
                path: path.into(),
                bearer: &token,
                tenant: Some(&b),
                user: None,
                body: Some(body),
            })
            .await;
        assert!(r.status.as_u16() < 500, "{path}: {}", r.text);
        refused += 1;
    }
    // H3: B's ids in paths get a 4xx — and exactly the answer an id that exists nowhere
    // gets (404, or 401/403 where the route takes no user token): no existence oracle.
    let missing = "00000000-0000-4000-8000-00000000beef";
    let attempts: Vec<(Method, &str, &str, Option<Value>)> = vec![
        (Method::GET, USERS_V1, &b_admin, None),
        (Method::DELETE, USERS_V1, &b_admin, None),
        (
            Method::PATCH,
            ROLES,
            &b_role,
            Some(json!({"name": "owned"})),
        ),
        (Method::DELETE, ROLES, &b_role, None),
        (Method::GET, GROUPS, &b_group, None),
        (
            Method::PATCH,
            GROUPS,
            &b_group,
            Some(json!({"name": "owned"})),
        ),
        (Method::DELETE, GROUPS, &b_group, None),
        (Method::DELETE, TENANT_TOKENS, &b_api, None),
        (Method::DELETE, IP, &b_ip, None),
        (Method::DELETE, MY_SESSIONS, &b_session, None),
    ];
    let mut not_found = 0;
    for (method, base, id, body) in attempts {
        let theirs = w
            .as_user(
                &token,
                method.clone(),
                &format!("{base}/{id}"),
                body.clone(),
            )
            .await;
        let nobodys = w
            .as_user(&token, method.clone(), &format!("{base}/{missing}"), body)
            .await;
        let answer = |r: &crate::support::Reply| (r.status.as_u16(), r.body["errorCode"].clone());
        assert_eq!(
            answer(&theirs),
            answer(&nobodys),
            "{method} {base}/<B's id> differs from a missing id: {} vs {}",
            theirs.text,
            nobodys.text
        );
        // Ending "my" session by someone else's id is a no-op success or a 404; B's session
        // is checked below.
        if !(method == Method::DELETE && base == MY_SESSIONS) {
            assert!(
                theirs.status.is_client_error(),
                "{method} {base}: {}",
                theirs.text
            );
        }
        not_found += usize::from(theirs.status == 404);
        refused += 1;
    }
    assert!(
        not_found >= 6,
        "path ids should mostly answer 404 ({not_found})"
    );
    // H5: B's role on A's own member.
    let r = w
        .as_user(
            &token,
            Method::POST,
            &format!("{USERS_V1}/{a_user}/roles"),
            Some(json!({"roleIds": [b_role]})),
        )
        .await;
    assert!(r.status.is_client_error(), "assigned B's role: {}", r.text);
    let member = w
        .env(
            Method::GET,
            &format!("/identity/resources/vendor-only/users/v1/{a_user}"),
            None,
            None,
        )
        .await;
    assert!(!member.text.contains(&b_role), "{}", member.text);
    refused += 1;
    // H6: environment-only routes refuse a user token.
    for (method, path, body) in [
        (
            Method::GET,
            format!("/identity/resources/vendor-only/users/v1/{b_admin}"),
            None,
        ),
        (
            Method::POST,
            "/tenants/resources/tenants/v1".to_owned(),
            Some(json!({"name": "X"})),
        ),
        (
            Method::GET,
            "/tenants/resources/tenants/v1".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/identity/resources/configurations/v1".to_owned(),
            Some(json!({"defaultTokenExpiration": 86400})),
        ),
        (Method::GET, "/tessera/v1/sidecars".to_owned(), None),
        (Method::POST, "/tessera/v1/keys/rotate".to_owned(), None),
        (Method::GET, "/tessera/v1/events".to_owned(), None),
    ] {
        let r = w.as_user(&token, method, &path, body).await;
        assert!(
            matches!(r.status.as_u16(), 401 | 403),
            "{path} with a user token: {} {}",
            r.status,
            r.text
        );
        assert!(!r.text.contains("admin@b.example"), "{path}: {}", r.text);
        refused += 1;
    }
    // H2: another user's id in `frontegg-user-id` does not make the caller that user.
    let me = w
        .send(Req {
            method: Method::GET,
            path: "/identity/resources/users/v2/me".into(),
            bearer: &token,
            tenant: None,
            user: Some(&b_admin),
            body: None,
        })
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["email"], "admin@a.example");
    refused += 1;
    // H7: repeated and oversized paging parameters: refused or clamped, the same each time.
    for query in [
        "_limit=1&_limit=100000",
        "_limit=100000",
        "_offset=-1",
        "_limit=abc",
    ] {
        let path = format!("{ROLES}?{query}");
        let first = w.as_user(&token, Method::GET, &path, None).await;
        let again = w.as_user(&token, Method::GET, &path, None).await;
        assert!(
            first.status == 400 || first.status == 200,
            "{query}: {} {}",
            first.status,
            first.text
        );
        assert_eq!(
            (first.status, &first.body),
            (again.status, &again.body),
            "{query}"
        );
        refused += 1;
    }

    // B is untouched: same roles, groups, API tokens, IP rules; its session still works.
    let after = b_state(&w, &b).await;
    assert_eq!(before, after, "B's state changed");
    assert_eq!(
        w.as_user(
            &b_token,
            Method::GET,
            "/identity/resources/users/v2/me",
            None
        )
        .await
        .status,
        200,
        "B's session was ended"
    );
    println!("tenant isolation: {refused} cross-account attempts, none reached account B");
}
