//! User pools end to end (`compat-wave2.md` §13): Terraform's create, read, update and
//! delete of every source type, the list, assignments and users; and password logins
//! checked by the pools' own systems — one loopback stand-in speaks Auth0's (`/oauth/token`
//! password and client-credentials grants, `/userinfo`, Management API `/api/v2/users`),
//! Cognito's (`InitiateAuth` with `SECRET_HASH`, `GetUser`) and Firebase's
//! (`accounts:signInWithPassword`, `accounts:lookup`) documented APIs. And the Auth0 import
//! (`migrations/v1/auth0`) through the Management API.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::Cp;
use crate::support::provider::{Seen, StandIn};
use crate::support::world::World;

const SOURCES: &str = "/identity/resources/user-sources/v1";
const LOGIN: &str = "/identity/resources/auth/v1/user";

fn header_json(s: &Seen) -> Value {
    serde_json::from_str(&s.body).unwrap_or(Value::Null)
}

/// The account the Auth0 stand-in's users name in their `app_metadata`.
const AUTH0_TENANT: &str = "0b6f3c2e-5a1d-4e8f-9c7b-2d4e6f8a0c1e";

/// Auth0, Cognito (app client `cg-client`, secret `cg-secret`) and Firebase (key `fb-key`),
/// each knowing one person with one password.
fn answer(_: usize, s: &Seen) -> (u16, String) {
    let b = header_json(s);
    let ok = |v: Value| (200, v.to_string());
    let path = s.path.as_str();
    if path.starts_with("/oauth/token") {
        return match b["grant_type"].as_str() {
            Some("password")
                if b["username"] == "zero@pool.test"
                    && b["password"] == "auth0-pw"
                    && b["client_id"] == "a0-client"
                    && b["client_secret"] == "a0-secret" =>
            {
                ok(json!({"access_token": "a0-user-token", "token_type": "Bearer"}))
            }
            Some("client_credentials") if b["client_secret"] == "a0-secret" => {
                ok(json!({"access_token": "a0-mgmt-token", "token_type": "Bearer"}))
            }
            _ => (403, json!({"error": "invalid_grant"}).to_string()),
        };
    }
    if path.starts_with("/userinfo") {
        if s.header("authorization") != Some("Bearer a0-user-token") {
            return (401, "{}".into());
        }
        return ok(
            json!({"sub": "auth0|zero", "email": "zero@pool.test", "email_verified": true, "name": "Zero Auth"}),
        );
    }
    if path.starts_with("/api/v2/users") {
        if s.header("authorization") != Some("Bearer a0-mgmt-token") {
            return (401, "{}".into());
        }
        if !path.contains("page=0") {
            return ok(json!([]));
        }
        let tenant = AUTH0_TENANT;
        return ok(json!([
            {"user_id": "auth0|1", "email": "one@auth0.test", "email_verified": true, "name": "One", "app_metadata": {"tenantId": tenant}},
            {"user_id": "auth0|2", "email": "two@auth0.test", "email_verified": false, "app_metadata": {"tenantId": tenant}, "user_metadata": {"plan": "pro"}},
            {"user_id": "auth0|3", "email": "lost@auth0.test", "app_metadata": {}},
        ]));
    }
    if path.starts_with("/cognito/") {
        let target = s.header("x-amz-target").unwrap_or_default();
        if target.ends_with("InitiateAuth") {
            let p = &b["AuthParameters"];
            let expected = {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"cg-secret");
                let tag = ring::hmac::sign(&key, b"cog@pool.testcg-client");
                base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
            };
            if b["AuthFlow"] == "USER_PASSWORD_AUTH"
                && b["ClientId"] == "cg-client"
                && p["USERNAME"] == "cog@pool.test"
                && p["PASSWORD"] == "cognito-pw"
                && p["SECRET_HASH"] == expected.as_str()
            {
                return ok(json!({"AuthenticationResult": {"AccessToken": "cg-token"}}));
            }
            return (
                400,
                json!({"__type": "NotAuthorizedException", "message": "Incorrect username or password."}).to_string(),
            );
        }
        if target.ends_with("GetUser") && b["AccessToken"] == "cg-token" {
            return ok(json!({"Username": "cog", "UserAttributes": [
                {"Name": "sub", "Value": "cg-sub-1"}, {"Name": "email", "Value": "cog@pool.test"},
                {"Name": "email_verified", "Value": "true"}, {"Name": "name", "Value": "Cog Nito"},
            ]}));
        }
        return (
            400,
            json!({"__type": "InvalidParameterException"}).to_string(),
        );
    }
    if path.starts_with("/firebase/v1/accounts:signInWithPassword?key=fb-key") {
        if b["email"] == "fire@pool.test" && b["password"] == "firebase-pw" {
            return ok(
                json!({"localId": "fb-1", "email": "fire@pool.test", "idToken": "fb-token", "registered": true}),
            );
        }
        return (
            400,
            json!({"error": {"code": 400, "message": "INVALID_PASSWORD"}}).to_string(),
        );
    }
    if path.starts_with("/firebase/v1/accounts:lookup?key=fb-key") && b["idToken"] == "fb-token" {
        return ok(
            json!({"users": [{"localId": "fb-1", "email": "fire@pool.test", "emailVerified": true, "displayName": "Fire Base"}]}),
        );
    }
    (404, "{}".into())
}

async fn world_with(stand_in: &StandIn) -> World {
    let mut config = control_plane::config::Config::for_test();
    let b = stand_in.base.clone();
    config.provider_endpoints = control_plane::delivery::Endpoints {
        auth0: b.clone(),
        cognito: format!("{b}/cognito/{{region}}"),
        firebase: format!("{b}/firebase"),
        ..Default::default()
    };
    let cp = Cp::start_with(config).await;
    let token = cp.vendor_token().await;
    World { cp, token }
}

fn tenant_config(t: &str) -> Value {
    json!({"tenantResolverType": "static", "tenantId": t})
}

async fn create(w: &World, kind: &str, body: Value) -> crate::support::Reply {
    let path = if kind == "federation" {
        format!("{SOURCES}/federation")
    } else {
        format!("{SOURCES}/external/{kind}")
    };
    w.env(Method::POST, &path, None, Some(body)).await
}

async fn login(w: &World, email: &str, password: &str) -> crate::support::Reply {
    w.cp.call(
        Method::POST,
        LOGIN,
        None,
        Some(&json!({"email": email, "password": password})),
    )
    .await
}

fn requests_to(s: &StandIn, prefix: &str) -> usize {
    s.requests()
        .iter()
        .filter(|r| r.path.starts_with(prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_sources_are_managed_as_terraform_manages_them() {
    let stand_in = StandIn::answering(answer).await;
    let w = world_with(&stand_in).await;
    let t = w.tenant("Pool").await;
    let app = w.cp.client_id.clone();
    let bodies = [
        (
            "auth0",
            json!({"syncOnLogin": true, "isMigrated": true, "domain": "acme.auth0.com", "clientId": "a0-client", "secret": "a0-secret", "tenantConfig": tenant_config(&t)}),
        ),
        (
            "cognito",
            json!({"syncOnLogin": false, "isMigrated": false, "region": "eu-west-1", "clientId": "cg-client", "userPoolId": "eu-west-1_abc", "accessKeyId": "AKIA", "secretAccessKey": "aws-secret", "clientSecret": "cg-secret", "tenantConfig": {"tenantResolverType": "new"}}),
        ),
        (
            "firebase",
            json!({"syncOnLogin": false, "isMigrated": true, "apiKey": "fb-key", "serviceAccount": {"type": "service_account", "project_id": "p", "private_key": "-----BEGIN PRIVATE KEY-----"}, "tenantConfig": tenant_config(&t)}),
        ),
        (
            "federation",
            json!({"syncOnLogin": true, "clientId": "fed", "secret": "fed-secret", "oauth2Config": {"authorizationUrl": "https://idp.test/a", "tokenUrl": "https://idp.test/t", "userInfoUrl": "https://idp.test/u", "scopes": ["openid"]}, "tenantConfig": {"tenantResolverType": "dynamic", "tenantIdFieldName": "org"}}),
        ),
    ];
    let mut ids = Vec::new();
    for (k, (kind, configuration)) in bodies.iter().enumerate() {
        let r = create(
            &w,
            kind,
            json!({"name": format!("{kind} pool"), "description": "d", "index": k, "appIds": [app], "configuration": configuration}),
        )
        .await;
        assert_eq!(r.status, 201, "{kind}: {}", r.text);
        assert_eq!(r.body["type"], *kind);
        assert_eq!(r.body["appIds"], json!([app]));
        let id = r.body["id"].as_str().unwrap().to_owned();
        // Read: the configuration without its secrets.
        let got = w
            .env(Method::GET, &format!("{SOURCES}/{id}"), None, None)
            .await;
        assert_eq!(got.status, 200, "{}", got.text);
        assert_eq!(got.body["name"], format!("{kind} pool"));
        for secret in [
            "a0-secret",
            "aws-secret",
            "cg-secret",
            "fb-key",
            "PRIVATE KEY",
            "fed-secret",
        ] {
            assert!(
                !got.text.contains(secret),
                "{kind} shows {secret}: {}",
                got.text
            );
        }
        assert_eq!(
            got.body["configuration"]["tenantConfig"],
            configuration["tenantConfig"]
        );
        // Update (Terraform sends the whole body).
        let path = if *kind == "federation" {
            format!("{SOURCES}/federation/{id}")
        } else {
            format!("{SOURCES}/external/{kind}/{id}")
        };
        let r = w
            .env(
                Method::PUT,
                &path,
                None,
                Some(json!({"name": format!("{kind} renamed"), "index": 10 + k, "description": "e", "configuration": configuration})),
            )
            .await;
        assert_eq!(r.status, 200, "{kind}: {}", r.text);
        ids.push(id);
    }
    // The list, in index order, with user counts.
    let r = w.env(Method::GET, SOURCES, None, None).await;
    assert_eq!(r.status, 200);
    let listed: Vec<&str> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        r.body
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["usersCount"] == 0)
    );
    // Assign and unassign.
    let r = w
        .env(
            Method::POST,
            &format!("{SOURCES}/unassign"),
            None,
            Some(json!({"userSourceId": ids[0], "appIds": [app]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let got = w
        .env(Method::GET, &format!("{SOURCES}/{}", ids[0]), None, None)
        .await;
    assert_eq!(got.body["appIds"], json!([]));
    let r = w
        .env(
            Method::POST,
            &format!("{SOURCES}/assign"),
            None,
            Some(json!({"userSourceId": ids[0], "appIds": [app]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = w
        .env(
            Method::POST,
            &format!("{SOURCES}/assign"),
            None,
            Some(json!({"userSourceId": ids[0], "appIds": ["no-such-app"]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // Refusals: nothing stored.
    let refused = [
        (
            "custom-code",
            json!({"name": "code", "index": 1, "configuration": {"syncOnLogin": false, "isMigrated": true, "codePayload": "return true", "tenantConfig": {"tenantResolverType": "new"}}}),
        ),
        ("auth0", json!({"name": "x", "index": 1})),
        ("auth0", json!({"name": "x", "configuration": bodies[0].1})),
        (
            "auth0",
            json!({"name": "", "index": 1, "configuration": bodies[0].1}),
        ),
        (
            "auth0",
            json!({"name": "x", "index": 1, "configuration": {"isMigrated": true, "clientId": "c", "secret": "s", "tenantConfig": tenant_config(&t)}}),
        ),
        (
            "auth0",
            json!({"name": "x", "index": 1, "configuration": {"domain": "evil.test/path?", "clientId": "c", "secret": "s", "tenantConfig": tenant_config(&t)}}),
        ),
        (
            "firebase",
            json!({"name": "x", "index": 1, "configuration": {"apiKey": "k", "serviceAccount": {}, "tenantConfig": {"tenantResolverType": "dynamic", "tenantIdFieldName": "t"}}}),
        ),
        (
            "cognito",
            json!({"name": "x", "index": 1, "configuration": {"region": "eu-west-1", "clientId": "c", "tenantConfig": {"tenantResolverType": "new"}}}),
        ),
        (
            "federation",
            json!({"name": "x", "index": 1, "configuration": {"clientId": "c", "secret": "s", "tenantConfig": {"tenantResolverType": "new"}}}),
        ),
        (
            "federation",
            json!({"name": "x", "index": 1, "configuration": {"clientId": "c", "secret": "s", "wellknownUrl": "http://idp.example.com/.well-known/openid-configuration", "tenantConfig": {"tenantResolverType": "new"}}}),
        ),
        (
            "auth0",
            json!({"name": "x", "index": 1, "appIds": ["no-such-app"], "configuration": bodies[0].1}),
        ),
        (
            "auth0",
            json!({"name": "x", "index": 1, "configuration": {"domain": "a.test", "clientId": "c", "secret": "s", "tenantConfig": {"tenantResolverType": "sideways"}}}),
        ),
    ];
    for (kind, body) in refused {
        let r = create(&w, kind, body.clone()).await;
        assert_eq!(r.status, 400, "{kind} {body}: {}", r.text);
    }
    let r = w
        .env(Method::PUT, &format!("{SOURCES}/external/custom-code/{}", ids[0]), None, Some(json!({"name": "x", "configuration": {"codePayload": "x", "tenantConfig": {"tenantResolverType": "new"}}})))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("not supported"), "{}", r.text);
    // An update through another type's route finds nothing.
    let r = w
        .env(
            Method::PUT,
            &format!("{SOURCES}/external/cognito/{}", ids[0]),
            None,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(
        w.env(Method::GET, SOURCES, None, None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        4
    );

    // Delete: then 404, as Terraform expects of a deleted source.
    for id in &ids {
        let r = w
            .env(Method::DELETE, &format!("{SOURCES}/{id}"), None, None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            w.env(Method::GET, &format!("{SOURCES}/{id}"), None, None)
                .await
                .status,
            404
        );
        assert_eq!(
            w.env(Method::DELETE, &format!("{SOURCES}/{id}"), None, None)
                .await
                .status,
            404
        );
    }
    w.cp.assert_served(&[
        "UserSourcesControllerV1_createAuth0ExternalUserSource",
        "UserSourcesControllerV1_updateAuth0ExternalUserSource",
        "UserSourcesControllerV1_createCognitoExternalUserSource",
        "UserSourcesControllerV1_updateCognitoExternalUserSource",
        "UserSourcesControllerV1_createFirebaseExternalUserSource",
        "UserSourcesControllerV1_updateFirebaseExternalUserSource",
        "UserSourcesControllerV1_createCustomCodeExternalUserSource",
        "UserSourcesControllerV1_updateCustomCodeExternalUserSource",
        "UserSourcesControllerV1_createFederationUserSource",
        "UserSourcesControllerV1_updateFederationUserSource",
        "UserSourcesControllerV1_getUserSources",
        "UserSourcesControllerV1_getUserSource",
        "UserSourcesControllerV1_deleteUserSource",
        "UserSourcesControllerV1_assignUserSource",
        "UserSourcesControllerV1_unassignUserSource",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_check_passwords_at_login_and_import_their_users() {
    let stand_in = StandIn::answering(answer).await;
    let w = world_with(&stand_in).await;
    let t = w.tenant("Pool").await;
    let app = w.cp.client_id.clone();
    let sources = [
        (
            "auth0",
            json!({"syncOnLogin": true, "isMigrated": true, "domain": "acme.auth0.com", "clientId": "a0-client", "secret": "a0-secret", "tenantConfig": tenant_config(&t)}),
        ),
        (
            "cognito",
            json!({"syncOnLogin": false, "isMigrated": false, "region": "eu-west-1", "clientId": "cg-client", "userPoolId": "eu-west-1_abc", "accessKeyId": "AKIA", "secretAccessKey": "aws", "clientSecret": "cg-secret", "tenantConfig": {"tenantResolverType": "new"}}),
        ),
        (
            "firebase",
            json!({"syncOnLogin": false, "isMigrated": true, "apiKey": "fb-key", "serviceAccount": {"type": "service_account"}, "tenantConfig": tenant_config(&t)}),
        ),
    ];
    let mut ids = Vec::new();
    for (k, (kind, configuration)) in sources.iter().enumerate() {
        let r = create(
            &w,
            kind,
            json!({"name": kind, "index": k, "appIds": [app], "configuration": configuration}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let db = &w.cp.running.state.db;
    let user = |e: &str| control_plane::model::user::by_email(db, e).unwrap();

    // Auth0 (migrated): imported into the static account, its password now Tessera's own.
    let r = login(&w, "zero@pool.test", "auth0-pw").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["accessToken"].is_string());
    let zero = user("zero@pool.test").expect("imported");
    assert!(zero.membership(&t).is_some());
    assert_eq!(zero.name, "Zero Auth");
    assert!(zero.verified);
    assert!(
        zero.password_hash
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$")
    );
    let asked = requests_to(&stand_in, "/oauth/token");
    assert_eq!(login(&w, "zero@pool.test", "auth0-pw").await.status, 200);
    assert_eq!(
        requests_to(&stand_in, "/oauth/token"),
        asked,
        "Auth0 asked again"
    );
    assert_eq!(login(&w, "zero@pool.test", "wrong").await.status, 401);

    // Cognito (not migrated, SECRET_HASH sent): a user of a new account of its own, without
    // a local password: Cognito is asked at every login.
    let r = login(&w, "cog@pool.test", "cognito-pw").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cog = user("cog@pool.test").expect("created");
    assert!(cog.password_hash.is_none());
    assert!(cog.membership(&t).is_none());
    let asked = requests_to(&stand_in, "/cognito/");
    assert_eq!(login(&w, "cog@pool.test", "cognito-pw").await.status, 200);
    assert!(requests_to(&stand_in, "/cognito/") > asked);
    assert_eq!(user("cog@pool.test").unwrap().id, cog.id);

    // Firebase (migrated).
    let r = login(&w, "fire@pool.test", "firebase-pw").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(user("fire@pool.test").unwrap().password_hash.is_some());

    // Wrong passwords and unknown people: refused by every pool, nobody created.
    for (email, password) in [
        ("fire@pool.test-x", "firebase-pw"),
        ("nobody@pool.test", "auth0-pw"),
        ("cog@pool.test", "wrong"),
    ] {
        assert_eq!(login(&w, email, password).await.status, 401, "{email}");
    }
    assert!(user("nobody@pool.test").is_none());

    // A pool serves only its applications: unassigned, Firebase is not asked.
    let r = w
        .env(
            Method::POST,
            &format!("{SOURCES}/unassign"),
            None,
            Some(json!({"userSourceId": ids[2], "appIds": [app]})),
        )
        .await;
    assert_eq!(r.status, 201);
    let asked = requests_to(&stand_in, "/firebase/");
    assert_eq!(
        login(&w, "other@pool.test", "firebase-pw").await.status,
        401
    );
    assert_eq!(requests_to(&stand_in, "/firebase/"), asked);

    // The pools' users.
    let r = w
        .env(
            Method::GET,
            &format!("{SOURCES}/{}/users", ids[0]),
            None,
            None,
        )
        .await;
    assert_eq!(r.body["items"][0]["email"], "zero@pool.test", "{}", r.text);
    assert!(r.body["items"][0]["lastLogin"].is_string(), "{}", r.text);
    assert_eq!(r.body["_metadata"]["totalItems"], 1, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth0_import_pulls_users_through_the_management_api() {
    let stand_in = StandIn::answering(answer).await;
    let w = world_with(&stand_in).await;
    let t = AUTH0_TENANT.to_owned();
    let r = w
        .env(
            Method::POST,
            "/tenants/resources/tenants/v1",
            None,
            Some(json!({"tenantId": t, "name": "From Auth0"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = w
        .env(
            Method::POST,
            "/identity/resources/migrations/v1/auth0",
            None,
            Some(json!({"domain": "acme.auth0.com", "clientId": "a0-client", "secret": "a0-secret", "tenantIdFieldName": "tenantId"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["migrationId"].as_str().unwrap().to_owned();
    let s = super::migrations::wait_done(&w, &id).await;
    assert_eq!(s["total"], 3, "{s}");
    assert_eq!(s["migrated"], 2, "{s}");
    assert_eq!(s["errors"][0]["email"], "lost@auth0.test", "{s}");
    let db = &w.cp.running.state.db;
    let one = control_plane::model::user::by_email(db, "one@auth0.test")
        .unwrap()
        .unwrap();
    assert!(one.membership(&t).is_some());
    assert!(one.verified);
    assert_eq!(one.external_id.as_deref(), Some("auth0|1"));
    let two = control_plane::model::user::by_email(db, "two@auth0.test")
        .unwrap()
        .unwrap();
    assert!(!two.verified);
    assert!(two.metadata.contains("pro"));
    // The management token was asked for Auth0's audience.
    let token_request = stand_in
        .requests()
        .into_iter()
        .find(|r| r.path.starts_with("/oauth/token"))
        .unwrap();
    assert_eq!(
        header_json(&token_request)["audience"],
        "https://acme.auth0.com/api/v2/"
    );
    // Wrong credentials: refused, nothing imported.
    let r = w
        .env(
            Method::POST,
            "/identity/resources/migrations/v1/auth0",
            None,
            Some(json!({"domain": "acme.auth0.com", "clientId": "a0-client", "secret": "wrong", "tenantIdFieldName": "tenantId"})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    for bad in [
        json!({"domain": "evil.test/x?", "clientId": "c", "secret": "s", "tenantIdFieldName": "t"}),
        json!({"domain": "a.test", "clientId": "", "secret": "s", "tenantIdFieldName": "t"}),
    ] {
        let r = w
            .env(
                Method::POST,
                "/identity/resources/migrations/v1/auth0",
                None,
                Some(bad),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    w.cp.assert_served(&["UsersControllerV1_migrateUserFromAuth0"]);
}
