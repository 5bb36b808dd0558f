//! JWT templates and targeting end to end (`compat-wave2.md` §12.2, §12.3): the template
//! and targeting APIs as Terraform calls them (create then read by `id`, 404 meaning gone;
//! POST the targeting, PUT on 409 with its empty reply), the refusals (HS256, reserved
//! claims, lifetimes out of range, a rule naming no template, deleting a template a rule
//! names), and issuance: the first matching rule's template adds its claims and sets the
//! lifetime of user tokens and API tokens, never replacing a claim Tessera sets, and the
//! sidecar verifies the templated token and still revokes it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::enforcement::distribution::{applied, check, sidecar_for, sidecar_token, until_denied};
use crate::support::claims;
use crate::support::world::World;

const P: &str = "/identity/resources";
const TEMPLATES: &str = "/identity/resources/jwt-templates/v1";
const TARGETING: &str = "/identity/resources/configurations/v1/jwt-template-targeting";

fn gold_template() -> Value {
    json!({
        "key": "gold",
        "name": "Gold customers",
        "expiration": 2_592_000,
        "algorithm": "RS256",
        "templateSchema": {"claims": {
            "iss": "{{iss}}", "aud": "{{applicationId}}",
            "plan": "{{user.metadata.plan}}",
            "org": "{{tenant.name}}",
            "greeting": "Hello {{name}}",
            "profile": {"email": "{{user.email}}", "tier": 1},
        }},
    })
}

fn rule(attribute: &str, op: &str, list: &[&str], treatment: &str) -> Value {
    json!({"conditionLogic": "and", "treatment": treatment,
        "conditions": [{"attribute": attribute, "op": op, "value": {"list": list}, "negate": false}]})
}

#[tokio::test]
async fn templates_and_targeting_as_terraform_manages_them() {
    let w = World::new().await;
    // Refusals: each a 400 that stores nothing.
    let mut bad = Vec::new();
    for (field, value) in [
        ("algorithm", json!("HS256")),
        ("algorithm", json!("none")),
        ("expiration", json!(9)),
        ("expiration", json!(15_552_001)),
        ("expiration", json!(60.5)),
        ("key", json!("has space")),
        ("key", json!("")),
        ("name", json!("")),
    ] {
        let mut t = gold_template();
        t[field] = value;
        bad.push(t);
    }
    for reserved in [
        "sub",
        "type",
        "tenantId",
        "roles",
        "permissions",
        "sid",
        "act",
    ] {
        let mut t = gold_template();
        t["templateSchema"]["claims"][reserved] = json!("x");
        bad.push(t);
    }
    let mut unclosed = gold_template();
    unclosed["templateSchema"]["claims"]["x"] = json!("{{user.email");
    bad.push(unclosed);
    let mut missing = gold_template();
    missing.as_object_mut().unwrap().remove("templateSchema");
    bad.push(missing);
    for body in bad {
        let r = w
            .env(Method::POST, TEMPLATES, None, Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    let hs = {
        let mut t = gold_template();
        t["algorithm"] = json!("HS256");
        w.env(Method::POST, TEMPLATES, None, Some(t)).await
    };
    assert!(hs.text.contains("RS256"), "{}", hs.text);
    let list = w.env(Method::GET, TEMPLATES, None, None).await;
    assert_eq!(list.body["_metadata"]["totalItems"], 0, "{}", list.text);

    // Create, read by id, a taken key, update.
    let r = w
        .env(Method::POST, TEMPLATES, None, Some(gold_template()))
        .await;
    r.assert_spec("JwtTemplatesController_createJwtTemplate", 201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["algorithm"], "RS256");
    let one = w
        .env(Method::GET, &format!("{TEMPLATES}/{id}"), None, None)
        .await;
    one.assert_spec("JwtTemplatesController_getJwtTemplateById", 200);
    assert_eq!(
        one.body["templateSchema"]["claims"]["plan"],
        "{{user.metadata.plan}}"
    );
    w.env(Method::POST, TEMPLATES, None, Some(gold_template()))
        .await
        .assert_error(409, "ER-CONFLICT");
    let mut other = gold_template();
    other["key"] = json!("silver");
    other["expiration"] = json!(600);
    let silver = w.env(Method::POST, TEMPLATES, None, Some(other)).await;
    assert_eq!(silver.status, 201, "{}", silver.text);
    let silver_id = silver.body["id"].as_str().unwrap().to_owned();
    let r = w
        .env(
            Method::PUT,
            &format!("{TEMPLATES}/{silver_id}"),
            None,
            Some(json!({"name": "Silver", "description": "second tier"})),
        )
        .await;
    r.assert_spec("JwtTemplatesController_updateJwtTemplate", 200);
    assert_eq!(
        (r.body["name"].as_str(), r.body["expiration"].as_u64()),
        (Some("Silver"), Some(600))
    );
    let r = w
        .env(Method::GET, &format!("{TEMPLATES}?keys=silver"), None, None)
        .await;
    r.assert_spec("JwtTemplatesController_getJwtTemplates", 200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["description"], "second tier");
    let r = w
        .env(
            Method::GET,
            &format!("{TEMPLATES}?_sortBy=key&_order=DESC&_limit=1"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (
            r.body["items"][0]["key"].as_str(),
            r.body["_metadata"]["totalPages"].as_u64()
        ),
        (Some("silver"), Some(2))
    );

    // Targeting: none yet (404), a rule naming no template (400), create, 409, PUT.
    w.env(Method::GET, TARGETING, None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    let r = w
        .env(
            Method::POST,
            TARGETING,
            None,
            Some(json!({"rules": [rule("userId", "in_list", &["u"], "bronze")]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = w
        .env(
            Method::POST,
            TARGETING,
            None,
            Some(json!({"rules": [rule("userEmail", "ends_with", &["@gold.test"], "gold")]})),
        )
        .await;
    r.assert_spec(
        "JwtTemplateTargetingControllerV1_createJwtTemplateTargeting",
        201,
    );
    let tid = r.body["id"].as_str().unwrap().to_owned();
    w.env(Method::POST, TARGETING, None, Some(json!({"rules": []})))
        .await
        .assert_error(409, "ER-CONFLICT");
    let r = w
        .env(
            Method::PUT,
            TARGETING,
            None,
            Some(json!({"rules": [
                rule("userEmail", "ends_with", &["@gold.test"], "gold"),
                rule("tokenType", "in_list", &["tenantApiToken"], "silver"),
            ]})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.text.as_str()), (200, ""));
    let r = w.env(Method::GET, TARGETING, None, None).await;
    r.assert_spec(
        "JwtTemplateTargetingControllerV1_getJwtTemplateTargeting",
        200,
    );
    assert_eq!(r.body["id"], tid.as_str());
    assert_eq!(r.body["targeting"]["rules"][1]["treatment"], "silver");
    // A template a rule names cannot go, nor change its key.
    w.env(
        Method::DELETE,
        &format!("{TEMPLATES}/{silver_id}"),
        None,
        None,
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    w.env(
        Method::PUT,
        &format!("{TEMPLATES}/{silver_id}"),
        None,
        Some(json!({"key": "bronze"})),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    // PATCH by id (another id: 404), DELETE by id.
    let r = w
        .env(
            Method::PATCH,
            &format!("{TARGETING}/not-{tid}"),
            None,
            Some(json!({"rules": []})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = w
        .env(
            Method::PATCH,
            &format!("{TARGETING}/{tid}"),
            None,
            Some(json!({"rules": [rule("userEmail", "ends_with", &["@gold.test"], "gold")]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = w
        .env(
            Method::DELETE,
            &format!("{TEMPLATES}/{silver_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    w.env(Method::GET, &format!("{TEMPLATES}/{silver_id}"), None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    let r = w
        .env(Method::DELETE, &format!("{TARGETING}/{tid}"), None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.env(Method::GET, TARGETING, None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    // A user token cannot touch either.
    let t = w.tenant("U").await;
    w.user(&t, "admin@jwt.test", &["Admin"]).await;
    let user = w.token_for("admin@jwt.test").await;
    assert_eq!(
        w.as_user(&user, Method::GET, TEMPLATES, None).await.status,
        401
    );
    w.cp.assert_served(&[
        "JwtTemplatesController_deleteJwtTemplate",
        "JwtTemplateTargetingControllerV1_updateJwtTemplateTargeting",
        "JwtTemplateTargetingControllerV1_patchJwtTemplateTargeting",
        "JwtTemplateTargetingControllerV1_deleteJwtTemplateTargeting",
    ]);
}

#[tokio::test]
async fn the_first_matching_rule_shapes_the_token_and_the_sidecar_verifies_it() {
    let w = World::new().await;
    let sc = sidecar_for(&w.cp, &sidecar_token(&w), None, None).await;
    let t = w.tenant("Gold Crew").await;
    let gold = w.user(&t, "ada@gold.test", &["Admin"]).await;
    w.user(&t, "bob@plain.test", &["Admin"]).await;
    let r = w
        .env(
            Method::PUT,
            &format!("{P}/users/v1/{gold}"),
            Some(&t),
            Some(json!({"metadata": "{\"plan\":\"platinum\"}"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let mut tpl = gold_template();
    // A claim Tessera sets, under a name it may leave out: never added.
    tpl["templateSchema"]["claims"]["profilePictureUrl"] = json!("https://evil.test/x.png");
    tpl["templateSchema"]["claims"]["email"] = json!("root@evil.test");
    let r = w.env(Method::POST, TEMPLATES, None, Some(tpl)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = w
        .env(
            Method::POST,
            TARGETING,
            None,
            Some(json!({"rules": [
                {"conditionLogic": "and", "treatment": "gold", "conditions": [
                    {"attribute": "userEmail", "op": "ends_with", "value": {"list": ["@gold.test"]}, "negate": false},
                    {"attribute": "tokenType", "op": "in_list", "value": {"list": ["userToken"]}, "negate": false},
                ]},
            ]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let login = w.login("ada@gold.test").await;
    assert_eq!(login.status, 200, "{}", login.text);
    let access = login.body["accessToken"].as_str().unwrap().to_owned();
    let c = claims(&access);
    assert_eq!(c["plan"], "platinum");
    assert_eq!(c["org"], "Gold Crew");
    assert_eq!(c["greeting"], "Hello Test User");
    assert_eq!(c["profile"], json!({"email": "ada@gold.test", "tier": 1}));
    assert_eq!(c["email"], "ada@gold.test");
    assert!(c.get("profilePictureUrl").is_none(), "{c}");
    assert_eq!(c["sub"], gold.as_str());
    assert_eq!(c["roles"], json!(["Admin"]));
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        2_592_000
    );
    assert_eq!(login.body["expiresIn"], 2_592_000);
    // The other user gets the default token.
    let plain = claims(&w.token_for("bob@plain.test").await);
    assert!(plain.get("plan").is_none(), "{plain}");
    assert_eq!(
        plain["exp"].as_i64().unwrap() - plain["iat"].as_i64().unwrap(),
        3600
    );

    // The sidecar verifies the templated token — and still revokes it: the revocation horizon
    // grew to the template's lifetime when the template was saved.
    assert_eq!(
        control_plane::model::vendor_config::longest_token_ttl(&w.cp.running.state.db).unwrap(),
        2_592_000
    );
    applied(&sc, w.cp.running.state.hub.version()).await;
    let (status, body, _) = check(&sc, &access).await;
    assert_eq!(status, 200, "{body}");
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/v1/{gold}/lock"),
            Some(&t),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    // The locked user's 30-day token is denied (panics if still allowed after 5 s).
    until_denied(std::slice::from_ref(&sc), &access, "token_revoked").await;
}

#[tokio::test]
async fn api_tokens_are_targeted_by_token_type() {
    let w = World::new().await;
    let t = w.tenant("Machines").await;
    let mut tpl = gold_template();
    tpl["key"] = json!("machine");
    tpl["expiration"] = json!(120);
    tpl["templateSchema"] =
        json!({"claims": {"kind": "robot of {{tenant.name}}", "client": "{{sub}}"}});
    assert_eq!(
        w.env(Method::POST, TEMPLATES, None, Some(tpl)).await.status,
        201
    );
    let r = w
        .env(
            Method::POST,
            TARGETING,
            None,
            Some(json!({"rules": [rule("tokenType", "in_list", &["tenantApiToken"], "machine")]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let created = w
        .env(
            Method::POST,
            &format!("{P}/tenants/api-tokens/v1"),
            Some(&t),
            Some(json!({"description": "ci"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let r =
        w.cp.call(
            Method::POST,
            "/identity/resources/auth/v1/api-token",
            None,
            Some(&json!({"clientId": created.body["clientId"], "secret": created.body["secret"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = claims(r.body["accessToken"].as_str().unwrap());
    assert_eq!(c["kind"], "robot of Machines");
    assert_eq!(c["client"], created.body["clientId"]);
    assert_eq!(c["type"], "tenantApiToken");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 120);
    assert_eq!(r.body["expiresIn"], 120);
}
