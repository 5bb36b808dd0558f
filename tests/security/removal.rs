//! `security.md` M3, M4 over HTTP with a subscribed sidecar: whatever takes rights away
//! reaches the sidecar, and whatever is deleted takes everything that hangs on it along.
//!
//! Before: deleting an account left its API tokens and access tokens alive (an API token
//! still logged in, and re-creating the account id adopted it; an access token passed the
//! sidecar again once its revocation entry expired); turning group roles off, moving an
//! environment role to one account and reclassifying a permission away from `ALWAYS`
//! recorded nothing, so the control plane denied while the sidecar allowed; and a user
//! removed from an account kept its group membership, so re-added it had `Admin` again.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::enforcement::distribution::{applied, sidecar_config, sidecar_token};
use crate::support::world::World;
use crate::support::{http_client, reply};

const USERS_V1: &str = "/identity/resources/users/v1";
const ROLES: &str = "/identity/resources/roles/v1";
const PERMISSIONS: &str = "/identity/resources/permissions/v1";
const GROUPS: &str = "/identity/resources/groups/v1";
const TENANTS: &str = "/tenants/resources/tenants/v1";
const API_V1: &str = "/identity/resources/tenants/api-tokens/v1";
const USER_API: &str = "/identity/resources/users/api-tokens/v1";
const ACCESS: &str = "/identity/resources/tenants/access-tokens/v1";
const USER_ACCESS: &str = "/identity/resources/users/access-tokens/v1";
const API_LOGIN: &str = "/identity/resources/auth/v2/api-token";
const CONFIG: &str = "/identity/resources/configurations/v1";

/// A sidecar subscribed to `w` with probe routes: `/perm` needs `app.p`, `/role` needs
/// role `R`, `/always` needs `app.always`.
async fn probing_sidecar(w: &World, dir: &std::path::Path) -> sidecar::Running {
    let rules = dir.join("routes.toml");
    std::fs::write(
        &rules,
        r#"
[[route]]
path = "/perm/**"
permissions = ["app.p"]
[[route]]
path = "/role/**"
roles = ["R"]
[[route]]
path = "/always/**"
permissions = ["app.always"]
"#,
    )
    .unwrap();
    sidecar::start(sidecar_config(sidecar::config::Args {
        control_plane: Some(w.cp.running.url()),
        sidecar_token: Some(sidecar_token(w)),
        routes: Some(rules),
        ..Default::default()
    }))
    .await
    .unwrap()
}

async fn at(sc: &sidecar::Running, path: &str, header: (&str, &str)) -> (u16, String) {
    let r = reply(
        http_client()
            .get(format!("http://{}/v1/check{path}", sc.addr))
            .header(header.0, header.1)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (
        r.status.as_u16(),
        r.body["reason"].as_str().unwrap_or("").to_owned(),
    )
}

/// Poll until `f` holds (at most `within`); how long it took.
async fn until<F, Fut>(within: Duration, what: &str, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !f().await {
        assert!(started.elapsed() < within, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// An account token (`account_path`, with `Admin`) and a personal one of `user`
/// (`user_path`) in `tenant`: `(id, secret)` each.
async fn two_tokens(
    w: &World,
    tenant: &str,
    user: &str,
    account_path: &str,
    user_path: &str,
) -> ((String, String), (String, String)) {
    let admin = w.role_id("Admin").await;
    let account = w
        .env(
            Method::POST,
            account_path,
            Some(tenant),
            Some(json!({"roleIds": [admin]})),
        )
        .await;
    let personal = w
        .send(crate::support::world::Req {
            method: Method::POST,
            path: user_path.into(),
            bearer: &w.token,
            tenant: Some(tenant),
            user: Some(user),
            body: Some(json!({"description": "mine"})),
        })
        .await;
    (secret_of(&account), secret_of(&personal))
}

fn secret_of(r: &crate::support::Reply) -> (String, String) {
    (
        r.body["clientId"]
            .as_str()
            .or(r.body["id"].as_str())
            .unwrap_or_else(|| panic!("{}", r.text))
            .to_owned(),
        r.body["secret"].as_str().unwrap().to_owned(),
    )
}

/// M3 / finding 5: an account's API tokens and access tokens die with it, for good: no
/// login, no sidecar, not after its revocation entries expire, not when the account id is
/// created again.
#[tokio::test]
async fn an_accounts_tokens_die_with_it_for_good() {
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let sc = probing_sidecar(&w, dir.path()).await;
    let recreate = |id: &str| {
        let body = json!({"name": "Again", "tenantId": id});
        let w = &w;
        async move { w.env(Method::POST, TENANTS, None, Some(body)).await }
    };

    // Client-credentials API tokens: the account's and a member's.
    let t = w.tenant("Doomed").await;
    let uid = w.user(&t, "member@doomed.test", &["Admin"]).await;
    let ((acct, acct_secret), (pers, pers_secret)) =
        two_tokens(&w, &t, &uid, API_V1, USER_API).await;
    let login = |cid: String, secret: String| {
        let w = &w;
        async move {
            w.cp.call(
                Method::POST,
                API_LOGIN,
                None,
                Some(&json!({"clientId": cid, "secret": secret})),
            )
            .await
        }
    };
    let mut jwts = Vec::new();
    for (cid, secret) in [(&acct, &acct_secret), (&pers, &pers_secret)] {
        let r = login(cid.clone(), secret.clone()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        jwts.push(r.body["access_token"].as_str().unwrap().to_owned());
    }
    applied(&sc, w.cp.running.state.hub.version()).await;
    for j in &jwts {
        assert_eq!(
            at(&sc, "/orders", ("authorization", &format!("Bearer {j}")))
                .await
                .0,
            200
        );
    }
    let del = w
        .env(Method::DELETE, &format!("{TENANTS}/{t}"), None, None)
        .await;
    assert_eq!(del.status, 200, "{}", del.text);
    for (cid, secret) in [(&acct, &acct_secret), (&pers, &pers_secret)] {
        login(cid.clone(), secret.clone())
            .await
            .assert_error(401, "ER-UNAUTHORIZED");
    }
    for j in &jwts {
        let bearer = format!("Bearer {j}");
        until(
            Duration::from_secs(1),
            "the sidecar still allows a deleted account's API token",
            || {
                let b = bearer.clone();
                let sc = &sc;
                async move { at(sc, "/orders", ("authorization", &b)).await.0 == 401 }
            },
        )
        .await;
    }
    assert_eq!(recreate(&t).await.status, 201);
    for (cid, secret) in [(&acct, &acct_secret), (&pers, &pers_secret)] {
        login(cid.clone(), secret.clone())
            .await
            .assert_error(401, "ER-UNAUTHORIZED");
    }

    // Access tokens (the other strategy): the account's and a member's.
    let c = w
        .env(
            Method::POST,
            CONFIG,
            None,
            Some(json!({"machineToMachineAuthStrategy": "AccessToken"})),
        )
        .await;
    assert!(c.status.is_success(), "{}", c.text);
    let t2 = w.tenant("Doomed too").await;
    let uid2 = w.user(&t2, "member@doomed2.test", &["Admin"]).await;
    let ((acct_id, acct_key), (_, user_key)) =
        two_tokens(&w, &t2, &uid2, ACCESS, USER_ACCESS).await;
    applied(&sc, w.cp.running.state.hub.version()).await;
    for k in [&acct_key, &user_key] {
        assert_eq!(at(&sc, "/orders", ("x-api-key", k)).await.0, 200);
    }
    let del = w
        .env(Method::DELETE, &format!("{TENANTS}/{t2}"), None, None)
        .await;
    assert_eq!(del.status, 200, "{}", del.text);
    for k in [&acct_key, &user_key] {
        until(
            Duration::from_secs(1),
            "the sidecar still allows a deleted account's access token",
            || {
                let k = k.clone();
                let sc = &sc;
                async move { at(sc, "/orders", ("x-api-key", &k)).await.0 == 401 }
            },
        )
        .await;
    }
    // Both clocks three hours on: the control plane's revocation entries have expired
    // (the longest token lifetime is one hour) and so have the sidecar's (swept as its own
    // clock would sweep them). Nothing is left to come back.
    w.cp.running.state.clock.advance(3 * 3600);
    sc.sidecar.revocations.sweep(i64::MAX);
    assert!(sc.sidecar.revocations.is_empty());
    // (The environment token expired too: a fresh one.)
    let env = w.cp.vendor_token().await;
    let again = w
        .call(
            &env,
            Method::POST,
            TENANTS,
            None,
            Some(json!({"name": "Again", "tenantId": t2})),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    applied(&sc, w.cp.running.state.hub.version()).await;
    for k in [&acct_key, &user_key] {
        assert_eq!(at(&sc, "/orders", ("x-api-key", k)).await.0, 401);
    }
    w.call(
        &env,
        Method::GET,
        &format!("/identity/resources/vendor-only/tenants/access-tokens/v1/{acct_id}"),
        None,
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    sc.shutdown().await;
}

/// Keys of what `me/authorization` says the token may do now: `(permission keys, role
/// keys)`, or nothing when the control plane no longer accepts the token.
async fn control_plane_rights(w: &World, token: &str) -> (Vec<String>, Vec<String>) {
    let r = w
        .as_user(
            token,
            Method::GET,
            "/identity/resources/users/v1/me/authorization",
            None,
        )
        .await;
    if r.status != 200 {
        return (vec![], vec![]);
    }
    let keys = |k: &str| -> Vec<String> {
        r.body[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["key"].as_str().unwrap().to_owned())
            .collect()
    };
    (keys("permissions"), keys("roles"))
}

const PROBES: [(&str, &str); 3] = [
    ("/perm/x", "app.p"),
    ("/role/x", "R"),
    ("/always/x", "app.always"),
];

/// What the control plane allows for each probe.
async fn cp_allows(w: &World, token: &str) -> [bool; 3] {
    let (perms, roles) = control_plane_rights(w, token).await;
    [
        perms.iter().any(|p| p == "app.p"),
        roles.iter().any(|r| r == "R"),
        perms.iter().any(|p| p == "app.always"),
    ]
}

async fn sidecar_allows(sc: &sidecar::Running, token: &str) -> [bool; 3] {
    let b = format!("Bearer {token}");
    let mut out = [false; 3];
    for (i, (path, _)) in PROBES.iter().enumerate() {
        out[i] = at(sc, path, ("authorization", &b)).await.0 == 200;
    }
    out
}

/// One way a user comes to hold role `R` (and so `app.p`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Via {
    Direct,
    Group,
}

/// Every mutation that can take rights away, with the way the user held them.
#[derive(Clone, Copy, Debug)]
enum Mutation {
    RoleTakenFromUser,
    RolePermissionsReplaced,
    PermissionDeleted,
    PermissionClassifiedNever,
    PermissionRenamed,
    AlwaysReclassifiedAssignable,
    RoleRenamed,
    RoleDeleted,
    RoleMovedToAnotherAccount,
    GroupRoleRemoved,
    UserRemovedFromGroup,
    GroupDeleted,
    GroupRolesDisabled,
    GroupsDisabled,
    UserDisabled,
    UserLocked,
    UserRemovedFromAccount,
    AccountDeleted,
}

impl Mutation {
    fn via(self) -> Via {
        match self {
            Mutation::GroupRoleRemoved
            | Mutation::UserRemovedFromGroup
            | Mutation::GroupDeleted
            | Mutation::GroupRolesDisabled
            | Mutation::GroupsDisabled => Via::Group,
            _ => Via::Direct,
        }
    }

    /// Whether the user can still log in afterwards (and so be compared again with a fresh
    /// token).
    fn user_remains(self) -> bool {
        !matches!(
            self,
            Mutation::UserDisabled
                | Mutation::UserLocked
                | Mutation::UserRemovedFromAccount
                | Mutation::AccountDeleted
        )
    }
}

struct Fixture {
    tenant: String,
    other_tenant: String,
    user: String,
    role: String,
    perm: String,
    always: String,
    group: Option<String>,
}

async fn fixture(w: &World, via: Via) -> Fixture {
    let perms = w
        .env(
            Method::POST,
            PERMISSIONS,
            None,
            Some(json!([
                {"key": "app.p", "name": "P"},
                {"key": "app.always", "name": "Always", "assignmentType": "ALWAYS"}
            ])),
        )
        .await;
    assert_eq!(perms.status, 201, "{}", perms.text);
    let perm = perms.body[0]["id"].as_str().unwrap().to_owned();
    let always = perms.body[1]["id"].as_str().unwrap().to_owned();
    let r = w
        .env(
            Method::POST,
            ROLES,
            None,
            Some(json!([{"key": "R", "name": "R", "level": 3}])),
        )
        .await;
    let role = r.body[0]["id"].as_str().unwrap().to_owned();
    w.env(
        Method::PUT,
        &format!("{ROLES}/{role}/permissions"),
        None,
        Some(json!({"permissionIds": [perm]})),
    )
    .await;
    let tenant = w.tenant("Acme").await;
    let other_tenant = w.tenant("Other").await;
    let roles: &[&str] = if via == Via::Direct { &["R"] } else { &[] };
    let user = w.user(&tenant, "holder@acme.test", roles).await;
    let group = match via {
        Via::Direct => None,
        Via::Group => {
            let g = w
                .env(
                    Method::POST,
                    GROUPS,
                    Some(&tenant),
                    Some(json!({"name": "G"})),
                )
                .await;
            let gid = g.body["id"].as_str().unwrap().to_owned();
            for (path, body) in [
                (format!("{GROUPS}/{gid}/roles"), json!({"roleIds": [role]})),
                (format!("{GROUPS}/{gid}/users"), json!({"userIds": [user]})),
            ] {
                let r = w.env(Method::POST, &path, Some(&tenant), Some(body)).await;
                assert!(r.status.is_success(), "{path}: {}", r.text);
            }
            Some(gid)
        }
    };
    Fixture {
        tenant,
        other_tenant,
        user,
        role,
        perm,
        always,
        group,
    }
}

async fn mutate(w: &World, f: &Fixture, m: Mutation) {
    let g = f.group.clone().unwrap_or_default();
    let (method, path, tenant, body): (Method, String, Option<&str>, Option<Value>) = match m {
        Mutation::RoleTakenFromUser => (
            Method::DELETE,
            format!("{USERS_V1}/{}/roles", f.user),
            Some(&f.tenant),
            Some(json!({"roleIds": [f.role]})),
        ),
        Mutation::RolePermissionsReplaced => (
            Method::PUT,
            format!("{ROLES}/{}/permissions", f.role),
            None,
            Some(json!({"permissionIds": []})),
        ),
        Mutation::PermissionDeleted => (
            Method::DELETE,
            format!("{PERMISSIONS}/{}", f.perm),
            None,
            None,
        ),
        Mutation::PermissionClassifiedNever => (
            Method::PUT,
            format!("{PERMISSIONS}/classification"),
            None,
            Some(json!({"permissionIds": [f.perm], "type": "NEVER"})),
        ),
        Mutation::PermissionRenamed => (
            Method::PATCH,
            format!("{PERMISSIONS}/{}", f.perm),
            None,
            Some(json!({"key": "app.q"})),
        ),
        Mutation::AlwaysReclassifiedAssignable => (
            Method::PUT,
            format!("{PERMISSIONS}/classification"),
            None,
            Some(json!({"permissionIds": [f.always], "type": "ASSIGNABLE"})),
        ),
        Mutation::RoleRenamed => (
            Method::PATCH,
            format!("{ROLES}/{}", f.role),
            None,
            Some(json!({"key": "R2"})),
        ),
        Mutation::RoleDeleted => (Method::DELETE, format!("{ROLES}/{}", f.role), None, None),
        Mutation::RoleMovedToAnotherAccount => (
            Method::PUT,
            format!("{ROLES}/{}/tenant", f.role),
            None,
            Some(json!({"tenantId": f.other_tenant})),
        ),
        Mutation::GroupRoleRemoved => (
            Method::DELETE,
            format!("{GROUPS}/{g}/roles"),
            Some(&f.tenant),
            Some(json!({"roleIds": [f.role]})),
        ),
        Mutation::UserRemovedFromGroup => (
            Method::DELETE,
            format!("{GROUPS}/{g}/users"),
            Some(&f.tenant),
            Some(json!({"userIds": [f.user]})),
        ),
        Mutation::GroupDeleted => (
            Method::DELETE,
            format!("{GROUPS}/{g}"),
            Some(&f.tenant),
            None,
        ),
        Mutation::GroupRolesDisabled => (
            Method::POST,
            format!("{GROUPS}/config"),
            None,
            Some(json!({"rolesEnabled": false})),
        ),
        Mutation::GroupsDisabled => (
            Method::POST,
            format!("{GROUPS}/config"),
            None,
            Some(json!({"enabled": false})),
        ),
        Mutation::UserDisabled => (
            Method::POST,
            format!("/identity/resources/tenants/users/v1/{}/disable", f.user),
            Some(&f.tenant),
            None,
        ),
        Mutation::UserLocked => (
            Method::POST,
            format!("{USERS_V1}/{}/lock", f.user),
            None,
            None,
        ),
        Mutation::UserRemovedFromAccount => (
            Method::DELETE,
            format!("{USERS_V1}/{}", f.user),
            Some(&f.tenant),
            None,
        ),
        Mutation::AccountDeleted => (
            Method::DELETE,
            format!("{TENANTS}/{}", f.tenant),
            None,
            None,
        ),
    };
    let r = w.env(method, &path, tenant, body).await;
    assert!(r.status.is_success(), "{m:?}: {path}: {}", r.text);
}

/// M4 / finding 9, differentially: for every mutation that can take rights away, a token
/// issued before it is allowed by the sidecar for nothing the control plane no longer
/// allows (within 1 s); and once the holder logs in again, the sidecar decides exactly as
/// the control plane does.
#[tokio::test]
async fn the_sidecar_never_allows_what_the_control_plane_took_away() {
    use Mutation::*;
    let all = [
        RoleTakenFromUser,
        RolePermissionsReplaced,
        PermissionDeleted,
        PermissionClassifiedNever,
        PermissionRenamed,
        AlwaysReclassifiedAssignable,
        RoleRenamed,
        RoleDeleted,
        RoleMovedToAnotherAccount,
        GroupRoleRemoved,
        UserRemovedFromGroup,
        GroupDeleted,
        GroupRolesDisabled,
        GroupsDisabled,
        UserDisabled,
        UserLocked,
        UserRemovedFromAccount,
        AccountDeleted,
    ];
    let mut slowest = Duration::ZERO;
    for m in all {
        let w = World::new().await;
        let dir = tempfile::tempdir().unwrap();
        let sc = probing_sidecar(&w, dir.path()).await;
        let f = fixture(&w, m.via()).await;
        let token = w.token_for("holder@acme.test").await;
        applied(&sc, w.cp.running.state.hub.version()).await;
        assert_eq!(
            cp_allows(&w, &token).await,
            [true, true, true],
            "{m:?}: setup"
        );
        assert_eq!(
            sidecar_allows(&sc, &token).await,
            [true, true, true],
            "{m:?}: setup"
        );
        mutate(&w, &f, m).await;
        let cp = cp_allows(&w, &token).await;
        assert_ne!(cp, [true, true, true], "{m:?} took nothing away");
        let took = until(
            Duration::from_secs(1),
            &format!("{m:?}: the sidecar still allows what the control plane does not ({cp:?})"),
            || {
                let (sc, token) = (&sc, token.clone());
                async move {
                    let s = sidecar_allows(sc, &token).await;
                    s.iter()
                        .zip(cp)
                        .all(|(sidecar, control)| !*sidecar || control)
                }
            },
        )
        .await;
        slowest = slowest.max(took);
        if m.user_remains() {
            // Revocations are by the second: a token from the next second on is current.
            let second = w.cp.running.state.clock.unix();
            while w.cp.running.state.clock.unix() == second {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let fresh = w.token_for("holder@acme.test").await;
            let cp = cp_allows(&w, &fresh).await;
            applied(&sc, w.cp.running.state.hub.version()).await;
            assert_eq!(
                sidecar_allows(&sc, &fresh).await,
                cp,
                "{m:?}: a fresh token"
            );
        }
        sc.shutdown().await;
    }
    println!(
        "differential: {} mutations, each enforced by the sidecar within {} ms of the call",
        all.len(),
        slowest.as_millis()
    );
}

/// M3 / finding 9: a user removed from an account and added back comes back with nothing —
/// no group membership, no session, no personal token.
#[tokio::test]
async fn a_user_added_back_comes_back_with_nothing() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    let other = w.tenant("Other").await;
    let admin = w.role_id("Admin").await;
    let uid = w.user(&t, "returning@acme.test", &[]).await;
    // A second membership keeps the user alive when it leaves the first account.
    let r = w
        .env(
            Method::POST,
            &format!("{USERS_V1}/{uid}/tenant"),
            None,
            Some(json!({"tenantId": other})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let g = w
        .env(
            Method::POST,
            GROUPS,
            Some(&t),
            Some(json!({"name": "Admins"})),
        )
        .await;
    let gid = g.body["id"].as_str().unwrap().to_owned();
    for (path, body) in [
        (format!("{GROUPS}/{gid}/roles"), json!({"roleIds": [admin]})),
        (format!("{GROUPS}/{gid}/users"), json!({"userIds": [uid]})),
    ] {
        assert!(
            w.env(Method::POST, &path, Some(&t), Some(body))
                .await
                .status
                .is_success()
        );
    }
    let login = w.login("returning@acme.test").await;
    let token = login.body["accessToken"].as_str().unwrap().to_owned();
    let cookie = login.cookie();
    assert!(
        w.my_permissions(&token)
            .await
            .iter()
            .any(|p| p == "fe.secure.*")
    );
    let rm = w
        .env(Method::DELETE, &format!("{USERS_V1}/{uid}"), Some(&t), None)
        .await;
    assert_eq!(rm.status, 200, "{}", rm.text);
    let back = w
        .env(
            Method::POST,
            &format!("{USERS_V1}/{uid}/tenant"),
            None,
            Some(json!({"tenantId": t})),
        )
        .await;
    assert_eq!(back.status, 201, "{}", back.text);
    // The old session ended with the membership: its refresh token is dead.
    let refreshed = reply(
        http_client()
            .post(w.cp.url("/identity/resources/auth/v1/user/token/refresh"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap(),
    )
    .await;
    refreshed.assert_error(401, "ER-UNAUTHORIZED");
    let group = w
        .env(Method::GET, &format!("{GROUPS}/{gid}"), Some(&t), None)
        .await;
    assert_eq!(group.body["users"], json!([]), "{}", group.text);
    let again = w.token_for("returning@acme.test").await;
    let perms = w.my_permissions(&again).await;
    assert!(
        !perms.iter().any(|p| p.starts_with("fe.secure")),
        "{perms:?}"
    );
}

/// Tokens carry `superUser`, which services may read: taking it away voids the tokens that
/// still say so, at every sidecar.
#[tokio::test]
async fn taking_super_user_away_voids_the_tokens_that_say_so() {
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let sc = probing_sidecar(&w, dir.path()).await;
    let t = w.tenant("Acme").await;
    let uid = w.user(&t, "root@acme.test", &[]).await;
    let path = format!("{USERS_V1}/{uid}/superuser");
    let on = w
        .env(Method::PUT, &path, None, Some(json!({"superUser": true})))
        .await;
    assert_eq!(on.status, 200, "{}", on.text);
    let token = w.token_for("root@acme.test").await;
    assert_eq!(crate::support::claims(&token)["superUser"], true);
    applied(&sc, w.cp.running.state.hub.version()).await;
    let bearer = format!("Bearer {token}");
    assert_eq!(at(&sc, "/orders", ("authorization", &bearer)).await.0, 200);
    let off = w
        .env(Method::PUT, &path, None, Some(json!({"superUser": false})))
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    until(
        Duration::from_secs(1),
        "a token saying superUser still passes",
        || {
            let (sc, b) = (&sc, bearer.clone());
            async move { at(sc, "/orders", ("authorization", &b)).await.0 == 401 }
        },
    )
    .await;
    sc.shutdown().await;
}
