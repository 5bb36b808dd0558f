//! Client-credentials API tokens over HTTP: account and user tokens, the secret shown once,
//! login (v2 snake_case, v1 camelCase) and refresh, the 100-refresh-token cap, updates,
//! expiry, deletion and user lock refused at the control plane and at every sidecar, the
//! machine-to-machine strategy switch, and the permissions that gate self-service.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::enforcement::distribution::{applied, check, sidecar_for};
use crate::support::world::World;
use crate::support::{Reply, claims};

const TENANT_TOKENS: &str = "/identity/resources/tenants/api-tokens/v1";
const USER_TOKENS: &str = "/identity/resources/users/api-tokens/v1";
const LOGIN: &str = "/identity/resources/auth/v2/api-token";
const REFRESH: &str = "/identity/resources/auth/v2/api-token/token/refresh";

async fn login(w: &World, client_id: &str, secret: &str) -> Reply {
    w.cp.call(
        Method::POST,
        LOGIN,
        None,
        Some(&json!({"clientId": client_id, "secret": secret})),
    )
    .await
}

async fn refresh(w: &World, token: &str) -> Reply {
    w.cp.call(
        Method::POST,
        REFRESH,
        None,
        Some(&json!({"refreshToken": token})),
    )
    .await
}

fn creds(r: &Reply) -> (String, String) {
    (
        r.body["clientId"].as_str().unwrap().to_owned(),
        r.body["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn account_tokens_log_in_refresh_update_and_die_everywhere_when_deleted() {
    let w = World::new().await;
    let sc_token = w.cp.running.credentials.sidecar_token.clone().unwrap();
    let mut scs = Vec::new();
    for _ in 0..3 {
        scs.push(sidecar_for(&w.cp, &sc_token, None, None).await);
    }
    let t = w.tenant("Acme").await;
    let admin_role = w.role_id("Admin").await;
    let created = w
        .env(
            Method::POST,
            TENANT_TOKENS,
            Some(&t),
            Some(json!({"description": "ci", "roleIds": [admin_role], "metadata": {"team": "infra"}})),
        )
        .await;
    created.assert_spec("TenantApiTokensV1Controller_createTenantApiToken", 201);
    let (cid, secret) = creds(&created);
    assert!(secret.len() >= 32);
    // The secret is shown once: never listed again.
    let list = w.env(Method::GET, TENANT_TOKENS, Some(&t), None).await;
    // The spec types `expires` as a required date-time; a token that never expires lists
    // `null` there (there is no date for "never").
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["expires"], serde_json::Value::Null);
    assert_eq!(list.body[0]["clientId"], cid.as_str());
    assert!(list.body[0].get("secret").is_none());
    assert!(!list.text.contains(&secret));

    let r = login(&w, &cid, &secret).await;
    r.assert_spec("AuthenticationApiTokenControllerV2_authApiToken", 200);
    let c = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(
        (c["type"].as_str(), c["sub"].as_str()),
        (Some("tenantApiToken"), Some(cid.as_str()))
    );
    assert_eq!(c["tenantId"], t.as_str());
    assert_eq!(c["roles"], json!(["Admin"]));
    assert!(
        c["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "fe.secure.*")
    );
    assert_eq!(c["metadata"], json!({"team": "infra"}));
    assert!(c["applicationId"].is_string());
    // Wrong secret and unknown client id: the same refusal.
    let wrong = login(&w, &cid, "0000").await;
    wrong.assert_error(401, "ER-UNAUTHORIZED");
    let unknown = login(&w, "4d3c1b6e-0000-4000-8000-000000000000", &secret).await;
    assert_eq!((unknown.status, &unknown.body), (wrong.status, &wrong.body));

    // Refresh: single use, rotated.
    let rt = r.body["refresh_token"].as_str().unwrap().to_owned();
    let r2 = refresh(&w, &rt).await;
    r2.assert_spec("AuthenticationApiTokenControllerV2_refreshToken", 200);
    refresh(&w, &rt).await.assert_error(401, "ER-UNAUTHORIZED");
    // The v1 variant answers camelCase.
    let v1 =
        w.cp.call(
            Method::POST,
            "/identity/resources/auth/v1/api-token",
            None,
            Some(&json!({"clientId": cid, "secret": secret})),
        )
        .await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    assert!(v1.body["accessToken"].is_string() && v1.body["expiresIn"].is_number());

    // Update: new roles apply from the next login.
    let ro = w.role_id("ReadOnly").await;
    let up = w
        .env(
            Method::PATCH,
            &format!("{TENANT_TOKENS}/{cid}"),
            Some(&t),
            Some(json!({"roleIds": [ro], "description": "ro"})),
        )
        .await;
    up.assert_spec("TenantApiTokensV1Controller_updateTenantApiToken", 200);
    let c = claims(
        login(&w, &cid, &secret).await.body["access_token"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(c["roles"], json!(["ReadOnly"]));

    // Allowed through every sidecar, then refused everywhere once the token is deleted.
    let access = login(&w, &cid, &secret).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let last_rt = refresh(&w, r2.body["refresh_token"].as_str().unwrap())
        .await
        .body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let version = w.cp.running.state.hub.version();
    for sc in &scs {
        applied(sc, version).await;
        let (status, body, headers) = check(sc, &access).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["x-token-type"], "tenantApiToken");
    }
    let started = Instant::now();
    let del = w
        .env(
            Method::DELETE,
            &format!("{TENANT_TOKENS}/{cid}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(del.status, 200, "{}", del.text);
    for sc in &scs {
        loop {
            let (status, body, _) = check(sc, &access).await;
            if status == 401 && body["reason"] == "token_revoked" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    println!(
        "deleted API token refused by 3 sidecars {} ms after the call",
        started.elapsed().as_millis()
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    login(&w, &cid, &secret)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    refresh(&w, &last_rt)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    w.env(
        Method::DELETE,
        &format!("{TENANT_TOKENS}/{cid}"),
        Some(&t),
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    w.cp.assert_served(&[
        "TenantApiTokensV1Controller_createTenantApiToken",
        "TenantApiTokensV1Controller_getTenantsApiTokens",
        "TenantApiTokensV1Controller_updateTenantApiToken",
        "TenantApiTokensV1Controller_deleteTenantApiToken",
        "AuthenticationApiTokenControllerV2_authApiToken",
        "AuthenticationApiTokenControllerV2_refreshToken",
    ]);
}

#[tokio::test]
async fn the_101st_login_evicts_the_oldest_refresh_token() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    let created = w
        .env(
            Method::POST,
            "/identity/resources/tenants/api-tokens/v2",
            Some(&t),
            Some(json!({"description": "many"})),
        )
        .await;
    created.assert_spec("TenantApiTokensV2Controller_createTenantApiToken", 201);
    let (cid, secret) = creds(&created);
    let mut refresh_tokens = Vec::new();
    for _ in 0..101 {
        let r = login(&w, &cid, &secret).await;
        assert_eq!(r.status, 200, "{}", r.text);
        refresh_tokens.push(r.body["refresh_token"].as_str().unwrap().to_owned());
    }
    refresh(&w, &refresh_tokens[0])
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    // The 100 newest all work.
    for rt in &refresh_tokens[1..] {
        assert_eq!(refresh(&w, rt).await.status, 200);
    }
}

#[tokio::test]
async fn tokens_expire_and_the_strategy_switch_disables_them() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    let created = w
        .env(
            Method::POST,
            TENANT_TOKENS,
            Some(&t),
            Some(json!({"expiresInMinutes": 5})),
        )
        .await;
    assert!(created.body["expires"].is_string());
    let (cid, secret) = creds(&created);
    let r = login(&w, &cid, &secret).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["expires_in"].as_i64().unwrap() <= 300,
        "never past the token's own expiry"
    );
    for bad in [
        json!({"expiresInMinutes": 0}),
        json!({"expiresInMinutes": 1.5}),
        json!({"metadata": "x"}),
        json!({"roleIds": ["nope"]}),
    ] {
        w.env(Method::POST, TENANT_TOKENS, Some(&t), Some(bad))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    w.env(Method::POST, TENANT_TOKENS, None, Some(json!({})))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    w.cp.running.state.clock.advance(301);
    login(&w, &cid, &secret)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    refresh(&w, r.body["refresh_token"].as_str().unwrap())
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    // machineToMachineAuthStrategy = AccessToken turns client credentials off, with the text
    // the SDKs match.
    let w2 = World::new().await;
    let t2 = w2.tenant("B").await;
    let (cid2, secret2) = creds(
        &w2.env(Method::POST, TENANT_TOKENS, Some(&t2), Some(json!({})))
            .await,
    );
    w2.env(
        Method::POST,
        "/identity/resources/configurations/v1",
        None,
        Some(json!({"machineToMachineAuthStrategy": "AccessToken"})),
    )
    .await;
    let off = login(&w2, &cid2, &secret2).await;
    assert_eq!(off.status, 403);
    assert_eq!(off.body["errors"], json!(["Api tokens are disabled"]));
}

#[tokio::test]
async fn user_tokens_carry_the_users_rights_and_follow_its_lock() {
    let w = World::new().await;
    let sc_token = w.cp.running.credentials.sidecar_token.clone().unwrap();
    let sc = sidecar_for(&w.cp, &sc_token, None, None).await;
    let t = w.tenant("Acme").await;
    let uid = w.user(&t, "dev@acme.test", &["Admin"]).await;
    w.user(&t, "viewer@acme.test", &["ReadOnly"]).await;
    let dev = w.token_for("dev@acme.test").await;
    let viewer = w.token_for("viewer@acme.test").await;
    // Self-service with the user's own token.
    let created = w
        .as_user(
            &dev,
            Method::POST,
            USER_TOKENS,
            Some(json!({"description": "laptop"})),
        )
        .await;
    created.assert_spec("UserApiTokensV1Controller_createTenantApiToken", 201);
    let (cid, secret) = creds(&created);
    let mine = w.as_user(&dev, Method::GET, USER_TOKENS, None).await;
    mine.assert_spec("UserApiTokensV1Controller_getApiTokens", 200);
    assert_eq!(mine.body.as_array().unwrap().len(), 1);
    // Another user sees none of them; a read-only user cannot create one.
    assert_eq!(
        w.as_user(&viewer, Method::GET, USER_TOKENS, None)
            .await
            .body,
        json!([])
    );
    w.as_user(&viewer, Method::POST, USER_TOKENS, Some(json!({})))
        .await
        .assert_error(403, "ER-FORBIDDEN");
    w.as_user(&viewer, Method::POST, TENANT_TOKENS, Some(json!({})))
        .await
        .assert_error(403, "ER-FORBIDDEN");
    // The environment token acts for a user with both headers.
    let by_env = w
        .send(crate::support::world::Req {
            method: Method::POST,
            path: USER_TOKENS.into(),
            bearer: &w.token,
            tenant: Some(&t),
            user: Some(&uid),
            body: Some(json!({"description": "ci"})),
        })
        .await;
    assert_eq!(by_env.status, 201, "{}", by_env.text);
    let r = login(&w, &cid, &secret).await;
    let c = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(
        (c["type"].as_str(), c["userId"].as_str()),
        (Some("userApiToken"), Some(uid.as_str()))
    );
    assert_eq!(c["roles"], json!(["Admin"]), "the user's own roles");
    let access = r.body["access_token"].as_str().unwrap().to_owned();
    applied(&sc, w.cp.running.state.hub.version()).await;
    assert_eq!(check(&sc, &access).await.0, 200);
    // Locking the user: no login, no refresh, and the issued JWT is refused by the sidecar.
    w.env(
        Method::POST,
        &format!("/identity/resources/users/v1/{uid}/lock"),
        None,
        None,
    )
    .await;
    login(&w, &cid, &secret)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    refresh(&w, r.body["refresh_token"].as_str().unwrap())
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    let started = Instant::now();
    loop {
        let (status, body, _) = check(&sc, &access).await;
        if status == 401 && body["reason"] == "token_revoked" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Deleting.
    let d = w
        .as_user(
            &viewer,
            Method::DELETE,
            &format!("{USER_TOKENS}/{cid}"),
            None,
        )
        .await;
    d.assert_error(403, "ER-FORBIDDEN");
    let d = w
        .send(crate::support::world::Req {
            method: Method::DELETE,
            path: format!("{USER_TOKENS}/{cid}"),
            bearer: &w.token,
            tenant: Some(&t),
            user: Some(&uid),
            body: None,
        })
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    // Removing the user from the account ends its other tokens there too.
    w.env(
        Method::POST,
        &format!("/identity/resources/users/v1/{uid}/unlock"),
        None,
        None,
    )
    .await;
    let (cid2, secret2) = creds(&by_env);
    assert_eq!(login(&w, &cid2, &secret2).await.status, 200);
    // A second account keeps the user alive, so this is a removal, not a deletion.
    let other = w.tenant("Other").await;
    let added = w
        .env(
            Method::POST,
            &format!("/identity/resources/users/v1/{uid}/tenant"),
            None,
            Some(json!({"tenantId": other})),
        )
        .await;
    assert!(added.status.is_success(), "{}", added.text);
    let removed = w
        .env(
            Method::DELETE,
            &format!("/identity/resources/users/v1/{uid}"),
            Some(&t),
            None,
        )
        .await;
    assert!(removed.status.is_success(), "{}", removed.text);
    let still = w
        .env(
            Method::GET,
            &format!("/identity/resources/users/v1/{uid}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(still.status, 200, "the user still exists: {}", still.text);
    login(&w, &cid2, &secret2)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    w.cp.assert_served(&[
        "UserApiTokensV1Controller_createTenantApiToken",
        "UserApiTokensV1Controller_getApiTokens",
        "UserApiTokensV1Controller_deleteApiToken",
    ]);
}

const TENANT_ACCESS: &str = "/identity/resources/tenants/access-tokens/v1";
const USER_ACCESS: &str = "/identity/resources/users/access-tokens/v1";
const VENDOR_USERS: &str = "/identity/resources/vendor-only/users/access-tokens/v1";
const VENDOR_TENANTS: &str = "/identity/resources/vendor-only/tenants/access-tokens/v1";

#[tokio::test]
async fn access_tokens_are_jwts_looked_up_by_id_and_gone_at_once_when_deleted() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    let uid = w.user(&t, "svc@acme.test", &["Admin"]).await;
    let user_token = w.token_for("svc@acme.test").await;
    let admin_role = w.role_id("Admin").await;
    // Off unless the environment chose access tokens.
    let off = w
        .env(
            Method::POST,
            TENANT_ACCESS,
            Some(&t),
            Some(json!({"roleIds": [admin_role]})),
        )
        .await;
    assert_eq!(
        (off.status.as_u16(), &off.body["errors"]),
        (403, &json!(["Api tokens are disabled"]))
    );
    w.env(
        Method::POST,
        "/identity/resources/configurations/v1",
        None,
        Some(json!({"machineToMachineAuthStrategy": "AccessToken"})),
    )
    .await;
    let created = w
        .env(
            Method::POST,
            TENANT_ACCESS,
            Some(&t),
            Some(json!({"description": "etl", "roleIds": [admin_role]})),
        )
        .await;
    created.assert_spec(
        "TenantAccessTokensV1Controller_createTenantAccessToken",
        201,
    );
    let id = created.body["id"].as_str().unwrap().to_owned();
    let c = claims(created.body["secret"].as_str().unwrap());
    assert_eq!(
        (c["type"].as_str(), c["sub"].as_str()),
        (Some("tenantAccessToken"), Some(id.as_str()))
    );
    assert!(c.get("exp").is_none(), "no expiry asked, none in the JWT");
    assert!(
        c.get("roles")
            .is_none_or(|r| r.as_array().unwrap().is_empty()),
        "roles are looked up, not carried"
    );
    let list = w.env(Method::GET, TENANT_ACCESS, Some(&t), None).await;
    list.assert_spec("TenantAccessTokensV1Controller_getTenantAccessTokens", 200);
    assert!(list.body["accessTokens"][0].get("secret").is_none());
    // Vendor-only lookups, without frontegg-tenant-id (as the SDKs call them).
    let active = w
        .env(Method::GET, &format!("{VENDOR_TENANTS}/active"), None, None)
        .await;
    assert_eq!(active.body, json!([id]));
    let data = w
        .env(Method::GET, &format!("{VENDOR_TENANTS}/{id}"), None, None)
        .await;
    data.assert_spec(
        "VendorOnlyTenantAccessTokensV1Controller_getTenantAccessTokenData",
        200,
    );
    assert_eq!(data.body["roles"], json!(["Admin"]));
    assert!(
        data.body["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "fe.secure.*")
    );

    // A user's token: its own rights, gone when the user is locked.
    let mine = w
        .as_user(
            &user_token,
            Method::POST,
            USER_ACCESS,
            Some(json!({"description": "cli", "expiresInMinutes": 60})),
        )
        .await;
    mine.assert_spec("UserAccessTokensV1Controller_createUserAccessToken", 201);
    let uat = mine.body["id"].as_str().unwrap().to_owned();
    let c = claims(mine.body["secret"].as_str().unwrap());
    assert_eq!(
        (c["type"].as_str(), c["userId"].as_str()),
        (Some("userAccessToken"), Some(uid.as_str()))
    );
    assert!(c["exp"].is_number());
    let listed = w.as_user(&user_token, Method::GET, USER_ACCESS, None).await;
    listed.assert_spec("UserAccessTokensV1Controller_getUserAccessTokens", 200);
    assert_eq!(listed.body["accessTokens"].as_array().unwrap().len(), 1);
    let active = w
        .env(Method::GET, &format!("{VENDOR_USERS}/active"), None, None)
        .await;
    active.assert_spec(
        "VendorOnlyUserAccessTokensV1Controller_getActiveAccessTokens",
        200,
    );
    assert_eq!(active.body, json!([uat]));
    let data = w
        .env(Method::GET, &format!("{VENDOR_USERS}/{uat}"), None, None)
        .await;
    data.assert_spec(
        "VendorOnlyUserAccessTokensV1Controller_getUserAccessTokenData",
        200,
    );
    assert_eq!(data.body["userId"], uid.as_str());
    w.env(
        Method::POST,
        &format!("/identity/resources/users/v1/{uid}/lock"),
        None,
        None,
    )
    .await;
    assert_eq!(
        w.env(Method::GET, &format!("{VENDOR_USERS}/active"), None, None)
            .await
            .body,
        json!([])
    );
    w.env(Method::GET, &format!("{VENDOR_USERS}/{uat}"), None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    w.env(
        Method::POST,
        &format!("/identity/resources/users/v1/{uid}/unlock"),
        None,
        None,
    )
    .await;
    // Expiry: gone from the lists once past.
    w.cp.running.state.clock.advance(3601);
    let w_token = w.cp.vendor_token().await;
    let after =
        w.cp.call(
            Method::GET,
            &format!("{VENDOR_USERS}/active"),
            Some(&w_token),
            None,
        )
        .await;
    assert_eq!(after.body, json!([]));
    // Deletion: 404 at once; a user token cannot delete the account's tokens.
    let d =
        w.cp.call(
            Method::DELETE,
            &format!("{TENANT_ACCESS}/{id}"),
            Some(&w_token),
            None,
        )
        .await;
    d.assert_error(400, "ER-INVALID-INPUT"); // the account header is required
    let d = w
        .send(crate::support::world::Req {
            method: Method::DELETE,
            path: format!("{TENANT_ACCESS}/{id}"),
            bearer: &w_token,
            tenant: Some(&t),
            user: None,
            body: None,
        })
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    let gone =
        w.cp.call(
            Method::GET,
            &format!("{VENDOR_TENANTS}/{id}"),
            Some(&w_token),
            None,
        )
        .await;
    gone.assert_error(404, "ER-NOT-FOUND");
    let d = w
        .send(crate::support::world::Req {
            method: Method::DELETE,
            path: format!("{USER_ACCESS}/{uat}"),
            bearer: &w_token,
            tenant: Some(&t),
            user: Some(&uid),
            body: None,
        })
        .await;
    assert_eq!(d.status, 200, "{}", d.text);
    w.cp.assert_served(&[
        "TenantAccessTokensV1Controller_createTenantAccessToken",
        "TenantAccessTokensV1Controller_getTenantAccessTokens",
        "TenantAccessTokensV1Controller_deleteTenantAccessToken",
        "UserAccessTokensV1Controller_createUserAccessToken",
        "UserAccessTokensV1Controller_getUserAccessTokens",
        "UserAccessTokensV1Controller_deleteUserAccessToken",
        "VendorOnlyUserAccessTokensV1Controller_getActiveAccessTokens",
        "VendorOnlyUserAccessTokensV1Controller_getUserAccessTokenData",
        "VendorOnlyTenantAccessTokensV1Controller_getTenantAccessTokenData",
    ]);
}

async fn with_api_key(
    addr: std::net::SocketAddr,
    path: &str,
    key: &str,
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let r = crate::support::reply(
        crate::support::http_client()
            .get(format!("http://{addr}{path}"))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (r.status.as_u16(), r.body, r.headers)
}

#[tokio::test]
async fn access_tokens_pass_every_sidecar_in_both_modes_until_deleted() {
    let w = World::new().await;
    w.env(
        Method::POST,
        "/identity/resources/configurations/v1",
        None,
        Some(json!({"machineToMachineAuthStrategy": "AccessToken"})),
    )
    .await;
    let sc_token = w.cp.running.credentials.sidecar_token.clone().unwrap();
    let mut scs = Vec::new();
    for _ in 0..3 {
        scs.push(sidecar_for(&w.cp, &sc_token, None, None).await);
    }
    let t = w.tenant("Acme").await;
    w.user(&t, "person@acme.test", &["Admin"]).await;
    let user_jwt = w.token_for("person@acme.test").await;
    let ro = w.role_id("ReadOnly").await;
    let created = w
        .env(
            Method::POST,
            TENANT_ACCESS,
            Some(&t),
            Some(json!({"roleIds": [ro]})),
        )
        .await;
    let (id, secret) = (
        created.body["id"].as_str().unwrap().to_owned(),
        created.body["secret"].as_str().unwrap().to_owned(),
    );
    let version = w.cp.running.state.hub.version();
    for sc in &scs {
        applied(sc, version).await;
        let (status, body, headers) = with_api_key(sc.addr, "/v1/check/reports", &secret).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["x-token-type"], "tenantAccessToken");
        assert_eq!(
            headers["x-user-roles"], "ReadOnly",
            "rights from the pushed record"
        );
        assert_eq!(headers["x-user-id"], id.as_str());
    }
    // Wrong header for the type, both ways.
    let (status, body, _) = with_api_key(scs[0].addr, "/v1/check", &user_jwt).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (401, Some("wrong_token_type"))
    );
    assert_eq!(
        check(&scs[0], &secret).await.1["reason"],
        "wrong_token_type"
    );
    // Reverse-proxy mode honours it too.
    let proxy = sidecar_for(
        &w.cp,
        &sc_token,
        None,
        Some(format!("http://{}", w.cp.running.addr)),
    )
    .await;
    applied(&proxy, version).await;
    let (status, body, _) = with_api_key(proxy.addr, "/healthz", &secret).await;
    assert_eq!(status, 200, "{body}");
    // Deleted: refused by every sidecar.
    let started = Instant::now();
    let d = w
        .send(crate::support::world::Req {
            method: Method::DELETE,
            path: format!("{TENANT_ACCESS}/{id}"),
            bearer: &w.token,
            tenant: Some(&t),
            user: None,
            body: None,
        })
        .await;
    assert_eq!(d.status, 200);
    for sc in scs.iter().chain(std::iter::once(&proxy)) {
        loop {
            let (status, body, _) = with_api_key(sc.addr, "/v1/check/reports", &secret).await;
            if status == 401 && body["reason"] == "token_revoked" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let took = started.elapsed();
    println!(
        "deleted access token refused by 4 sidecars {} ms after the call",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(1));
}
