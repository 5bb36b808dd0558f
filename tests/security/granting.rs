//! `security.md` M1, M2, L5 over HTTP: no path confers more than its caller may. One rule
//! (`model::grant`) decides every path that gives roles or permissions to someone — a
//! user's roles, a new user's roles (named or the account's defaults), a group's roles, a
//! group's members, an account API token's roles or permissions (v1 and v2, create and
//! update), an account access token's roles — and `NEVER` permissions are never conferred.
//!
//! The weaker caller is a user whose only role is level 5 and holds every permission these
//! routes need; the stronger role is `Admin` (level 0). Before, the API-token and access-token
//! routes checked only that the role existed (the token's JWT carried `Admin` and
//! `fe.secure.*`), and joining a group checked only membership.

use reqwest::Method;
use serde_json::{Value, json};

use crate::enforcement::distribution::{applied, sidecar_token};
use crate::support::world::World;
use crate::support::{claims, http_client, reply};

const ROLES: &str = "/identity/resources/roles/v1";
const PERMISSIONS: &str = "/identity/resources/permissions/v1";
const USERS_V1: &str = "/identity/resources/users/v1";
const GROUPS: &str = "/identity/resources/groups/v1";
const API_V1: &str = "/identity/resources/tenants/api-tokens/v1";
const API_V2: &str = "/identity/resources/tenants/api-tokens/v2";
const ACCESS: &str = "/identity/resources/tenants/access-tokens/v1";
const CONFIG: &str = "/identity/resources/configurations/v1";
const API_LOGIN: &str = "/identity/resources/auth/v2/api-token";

/// What the weaker caller holds: enough to reach every grant route.
const WRITER_PERMISSIONS: &[&str] = &[
    "fe.secure.read.users",
    "fe.secure.write.users",
    "fe.secure.write.usersRoles",
    "fe.secure.read.groups",
    "fe.secure.write.groups",
    "fe.secure.write.groupsRoles",
    "fe.secure.write.groupsUsers",
    "fe.secure.read.tenantApiTokens",
    "fe.secure.write.tenantApiTokens",
    "fe.secure.read.roles",
    "fe.secure.write.updateRole",
];

async fn permission_ids(w: &World, keys: &[&str]) -> Vec<String> {
    let all = w.env(Method::GET, PERMISSIONS, None, None).await.body;
    keys.iter()
        .map(|k| {
            all.as_array()
                .unwrap()
                .iter()
                .find(|p| p["key"] == *k)
                .unwrap_or_else(|| panic!("permission {k}"))["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// An environment role `key` at `level` holding `perms`; its id.
async fn role(w: &World, key: &str, level: u16, perms: &[&str]) -> String {
    let r = w
        .env(
            Method::POST,
            ROLES,
            None,
            Some(json!([{"key": key, "name": key, "level": level}])),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body[0]["id"].as_str().unwrap().to_owned();
    let ids = permission_ids(w, perms).await;
    let p = w
        .env(
            Method::PUT,
            &format!("{ROLES}/{id}/permissions"),
            None,
            Some(json!({"permissionIds": ids})),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    id
}

struct Setup {
    w: World,
    tenant: String,
    writer: String,
    writer_id: String,
    other: String,
    admin: String,
    viewer: String,
}

async fn setup() -> Setup {
    let w = World::new().await;
    let tenant = w.tenant("Acme").await;
    role(&w, "Writer", 5, WRITER_PERMISSIONS).await;
    let viewer = role(&w, "Viewer", 7, &["fe.secure.read.users"]).await;
    let admin = w.role_id("Admin").await;
    let writer_id = w.user(&tenant, "writer@acme.test", &["Writer"]).await;
    let other = w.user(&tenant, "other@acme.test", &[]).await;
    let writer = w.token_for("writer@acme.test").await;
    Setup {
        w,
        tenant,
        writer,
        writer_id,
        other,
        admin,
        viewer,
    }
}

/// The writer's rights, read back: never more than it started with.
async fn writer_is_unchanged(s: &Setup, what: &str) {
    let perms = s.w.my_permissions(&s.writer).await;
    assert!(
        !perms
            .iter()
            .any(|p| p.starts_with("fe.secure.*") || p == "fe.secure.delete.users"),
        "{what}: the writer gained {perms:?}"
    );
    let u =
        s.w.env(
            Method::GET,
            &format!("{USERS_V1}/{}", s.writer_id),
            Some(&s.tenant),
            None,
        )
        .await;
    let roles: Vec<&str> = u.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["Writer"], "{what}");
}

#[tokio::test]
async fn no_path_confers_more_than_its_caller_may() {
    let s = setup().await;
    let w = &s.w;
    let (admin, viewer) = (s.admin.clone(), s.viewer.clone());
    // A group the environment made, holding Admin; and one of the writer's own.
    let g = w
        .env(
            Method::POST,
            GROUPS,
            Some(&s.tenant),
            Some(json!({"name": "Admins"})),
        )
        .await;
    let admins = g.body["id"].as_str().unwrap().to_owned();
    let r = w
        .env(
            Method::POST,
            &format!("{GROUPS}/{admins}/roles"),
            Some(&s.tenant),
            Some(json!({"roleIds": [admin]})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let own = w
        .as_user(
            &s.writer,
            Method::POST,
            GROUPS,
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(own.status, 201, "{}", own.text);
    let mine = own.body["id"].as_str().unwrap().to_owned();
    // A token of the writer's own, with a role it may give.
    let t = w
        .as_user(
            &s.writer,
            Method::POST,
            API_V1,
            Some(json!({"roleIds": [viewer]})),
        )
        .await;
    assert_eq!(t.status, 201, "{}", t.text);
    let token_id = t.body["clientId"].as_str().unwrap().to_owned();
    let not_held = permission_ids(w, &["fe.secure.delete.users"]).await;
    let writer_role = w.role_id("Writer").await;
    // A role of the account's own, below the writer's level, that the writer may edit.
    let own_role = w
        .env(
            Method::POST,
            ROLES,
            Some(&s.tenant),
            Some(json!([{"key": "Helper", "name": "Helper", "level": 6}])),
        )
        .await;
    assert_eq!(own_role.status, 201, "{}", own_role.text);
    let own_role = own_role.body[0]["id"].as_str().unwrap().to_owned();
    // Every grant path, the stronger role (or a permission the writer lacks) → 403.
    let paths: Vec<(&str, Method, String, Value)> = vec![
        (
            "another user's roles",
            Method::POST,
            format!("{USERS_V1}/{}/roles", s.other),
            json!({"roleIds": [admin]}),
        ),
        (
            "its own roles",
            Method::POST,
            format!("{USERS_V1}/{}/roles", s.writer_id),
            json!({"roleIds": [admin]}),
        ),
        (
            "a new user's roles",
            Method::POST,
            USERS_V1.into(),
            json!({"email": "new@acme.test", "password": "Correct-Horse-9", "roleIds": [admin]}),
        ),
        (
            "its own group's roles",
            Method::POST,
            format!("{GROUPS}/{mine}/roles"),
            json!({"roleIds": [admin]}),
        ),
        (
            "membership of a group holding Admin",
            Method::POST,
            format!("{GROUPS}/{admins}/users"),
            json!({"userIds": [s.writer_id]}),
        ),
        (
            "another's membership of a group holding Admin",
            Method::POST,
            format!("{GROUPS}/{admins}/users"),
            json!({"userIds": [s.other]}),
        ),
        (
            "an API token's roles (v1)",
            Method::POST,
            API_V1.into(),
            json!({"roleIds": [admin]}),
        ),
        (
            "an API token's roles (v2)",
            Method::POST,
            API_V2.into(),
            json!({"roleIds": [admin]}),
        ),
        (
            "an API token's permissions",
            Method::POST,
            API_V1.into(),
            json!({"permissionIds": not_held}),
        ),
        (
            "an API token's roles, by update",
            Method::PATCH,
            format!("{API_V1}/{token_id}"),
            json!({"roleIds": [admin]}),
        ),
        (
            "another user's roles, by the team service",
            Method::PUT,
            "/frontegg/team/resources/members/v1".into(),
            json!({"id": s.other, "roleIds": [admin]}),
        ),
        (
            "its own roles, by the team service",
            Method::PUT,
            "/frontegg/team/resources/members/v1".into(),
            json!({"id": s.writer_id, "roleIds": [writer_role, admin]}),
        ),
        (
            "a permission it lacks, into its account's role",
            Method::PUT,
            format!("{ROLES}/{own_role}/permissions"),
            json!({"permissionIds": not_held}),
        ),
        (
            "an environment role's permissions",
            Method::PUT,
            format!("{ROLES}/{admin}/permissions"),
            json!({"permissionIds": []}),
        ),
    ];
    for (what, method, path, body) in &paths {
        let r = w
            .as_user(&s.writer, method.clone(), path, Some(body.clone()))
            .await;
        r.assert_error(403, "ER-FORBIDDEN");
        writer_is_unchanged(&s, what).await;
    }
    // The account's default roles are given by whoever creates the user: Admin as a default
    // is still Admin.
    let d = w
        .env(
            Method::PATCH,
            &format!("{ROLES}/{admin}"),
            None,
            Some(json!({"isDefault": true})),
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    w.as_user(
        &s.writer,
        Method::POST,
        USERS_V1,
        Some(json!({"email": "defaults@acme.test", "password": "Correct-Horse-9"})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    // Access tokens (the other machine-to-machine strategy).
    let c = w
        .env(
            Method::POST,
            CONFIG,
            None,
            Some(json!({"machineToMachineAuthStrategy": "AccessToken"})),
        )
        .await;
    assert!(c.status.is_success(), "{}", c.text);
    w.as_user(
        &s.writer,
        Method::POST,
        ACCESS,
        Some(json!({"roleIds": [admin]})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    writer_is_unchanged(&s, "an access token's roles").await;
    // Nothing was created along the way: the writer's own token is the account's only one.
    let listed = w.env(Method::GET, ACCESS, Some(&s.tenant), None).await.body;
    assert_eq!(listed["accessTokens"], json!([]), "{listed}");
    println!(
        "grant paths: {} refused with 403 for a level-5 caller, 0 conferred",
        paths.len() + 2
    );
}

/// The same paths are open for what the caller may give: the refusals above are the rule,
/// not a closed door.
#[tokio::test]
async fn a_caller_confers_what_is_at_or_below_its_own() {
    let s = setup().await;
    let w = &s.w;
    let viewer = s.viewer.clone();
    let r = w
        .as_user(
            &s.writer,
            Method::POST,
            &format!("{USERS_V1}/{}/roles", s.other),
            Some(json!({"roleIds": [viewer]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let g = w
        .as_user(
            &s.writer,
            Method::POST,
            GROUPS,
            Some(json!({"name": "Viewers"})),
        )
        .await;
    let gid = g.body["id"].as_str().unwrap().to_owned();
    for (path, body) in [
        (
            format!("{GROUPS}/{gid}/roles"),
            json!({"roleIds": [viewer]}),
        ),
        (
            format!("{GROUPS}/{gid}/users"),
            json!({"userIds": [s.writer_id]}),
        ),
    ] {
        let r = w.as_user(&s.writer, Method::POST, &path, Some(body)).await;
        assert_eq!(r.status, 201, "{path}: {}", r.text);
    }
    let held = permission_ids(w, &["fe.secure.read.users"]).await;
    for body in [json!({"roleIds": [viewer]}), json!({"permissionIds": held})] {
        let r = w
            .as_user(&s.writer, Method::POST, API_V1, Some(body.clone()))
            .await;
        assert_eq!(r.status, 201, "{body}: {}", r.text);
    }
}

/// No `NEVER` permission is ever conferred — not by the environment either — and none
/// reaches a token's claims: before, a token given a permission that was classified `NEVER`
/// afterwards still carried it.
#[tokio::test]
async fn never_permissions_are_never_conferred() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    let p = w
        .env(
            Method::POST,
            PERMISSIONS,
            None,
            Some(json!([{"key": "app.dangerous", "name": "Dangerous"}])),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    let pid = p.body[0]["id"].as_str().unwrap().to_owned();
    let token = w
        .env(
            Method::POST,
            API_V1,
            Some(&t),
            Some(json!({"permissionIds": [pid]})),
        )
        .await;
    assert_eq!(token.status, 201, "{}", token.text);
    let (cid, secret) = (
        token.body["clientId"].as_str().unwrap().to_owned(),
        token.body["secret"].as_str().unwrap().to_owned(),
    );
    let body = json!({"clientId": cid, "secret": secret});
    let before = w.cp.call(Method::POST, API_LOGIN, None, Some(&body)).await;
    assert_eq!(
        claims(before.body["access_token"].as_str().unwrap())["permissions"],
        json!(["app.dangerous"])
    );
    let never = w
        .env(
            Method::PUT,
            &format!("{PERMISSIONS}/classification"),
            None,
            Some(json!({"permissionIds": [pid], "type": "NEVER"})),
        )
        .await;
    assert_eq!(never.status, 200, "{}", never.text);
    let after = w.cp.call(Method::POST, API_LOGIN, None, Some(&body)).await;
    assert_eq!(
        claims(after.body["access_token"].as_str().unwrap())["permissions"],
        json!([]),
        "a NEVER permission is in no token"
    );
    w.env(
        Method::POST,
        API_V1,
        Some(&t),
        Some(json!({"permissionIds": [pid]})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
}

/// L5: role and permission keys can carry nothing a comma-separated header would read as
/// two keys (before, a role keyed `SuperAdmin,Admin` put `Admin` into `x-user-roles`).
#[tokio::test]
async fn keys_cannot_be_confused_in_a_header() {
    let w = World::new().await;
    for key in [
        "SuperAdmin,Admin",
        "Super Admin",
        "tab\tkey",
        "q\"uote",
        "caf\u{e9}",
        "Admin*",
    ] {
        w.env(
            Method::POST,
            ROLES,
            None,
            Some(json!([{"key": key, "name": "x", "level": 3}])),
        )
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    }
    for key in ["a,b", "a b", "a\"b", "a\\b"] {
        w.env(
            Method::POST,
            PERMISSIONS,
            None,
            Some(json!([{"key": key, "name": "x"}])),
        )
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    }
    let id = w.role_id("ReadOnly").await;
    w.env(
        Method::PATCH,
        &format!("{ROLES}/{id}"),
        None,
        Some(json!({"key": "ReadOnly,Admin"})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
}

/// M2: a held wildcard and a wanted one mean the same at the sidecar as at the control
/// plane. Under the rule the sidecar docs print (`permissions = ["admin.write",
/// "fe.secure.*"]`), a ReadOnly user (`fe.secure.read.*`) is not a writer; an Admin
/// (`fe.secure.*`) meets a rule requiring `fe.secure.read.users`. Before, the sidecar matched
/// a wanted wildcard by raw prefix and never expanded a held one: both the other way round.
#[tokio::test]
async fn wildcards_mean_the_same_at_the_sidecar() {
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("routes.toml");
    std::fs::write(
        &rules,
        r#"
[[route]]
path = "/write/**"
permissions = ["admin.write", "fe.secure.*"]
[[route]]
path = "/users/**"
permissions = ["fe.secure.read.users"]
"#,
    )
    .unwrap();
    let sc = sidecar::start(crate::enforcement::distribution::sidecar_config(
        sidecar::config::Args {
            control_plane: Some(w.cp.running.url()),
            sidecar_token: Some(sidecar_token(&w)),
            routes: Some(rules),
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    let t = w.tenant("Acme").await;
    w.user(&t, "reader@acme.test", &["ReadOnly"]).await;
    w.user(&t, "admin@acme.test", &["Admin"]).await;
    let reader = w.token_for("reader@acme.test").await;
    let admin = w.token_for("admin@acme.test").await;
    applied(&sc, w.cp.running.state.hub.version()).await;
    let at = |path: &str, token: &str| {
        let req = http_client()
            .get(format!("http://{}/v1/check{path}", sc.addr))
            .bearer_auth(token);
        async move {
            let r = reply(req.send().await.unwrap()).await;
            (
                r.status.as_u16(),
                r.body["reason"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    assert_eq!(
        at("/write/x", &reader).await,
        (403, "insufficient_permissions".into())
    );
    assert_eq!(at("/users/x", &reader).await.0, 200);
    assert_eq!(at("/write/x", &admin).await.0, 200);
    assert_eq!(
        at("/users/x", &admin).await.0,
        200,
        "a held wildcard grants under it"
    );
    // The control plane decides the same for the same tokens.
    w.as_user(&reader, Method::POST, API_V1, Some(json!({})))
        .await
        .assert_error(403, "ER-FORBIDDEN");
    sc.shutdown().await;
}
