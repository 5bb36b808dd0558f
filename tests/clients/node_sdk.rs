//! `@frontegg/client` 5.3.2 (Frontegg's Node SDK), unmodified, validating the tokens Tessera
//! issues the way a backend does (`tests/js/backend-sdk.mjs`): it authenticates with the
//! environment's credentials, fetches the public key and verifies each token — a default
//! token, a token a JWT template shaped (its added claims reach the application), a role
//! requirement met and unmet, and a token whose payload was altered.

use reqwest::Method;
use serde_json::{Value, json};

use super::rest_api::{node_with_packages, run};
use crate::support::world::World;

const P: &str = "/identity/resources";

/// The SDK's verdict on each named token: `Ok(entity)` or `Err(message)`.
fn verdicts(text: &str) -> std::collections::HashMap<String, Result<Value, String>> {
    text.lines()
        .filter_map(|l| {
            let (verdict, rest) = l.split_once(' ')?;
            let (name, detail) = rest.split_once(' ').unwrap_or((rest, ""));
            let v = match verdict {
                "ok" => Ok(serde_json::from_str(detail).ok()?),
                "refused" => Err(detail.to_owned()),
                _ => return None,
            };
            Some((name.to_owned(), v))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_sdk_validates_default_and_templated_tokens() {
    let Some((node, dir)) = node_with_packages() else {
        return;
    };
    let w = World::new().await;
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
    let r = w
        .env(
            Method::POST,
            &format!("{P}/jwt-templates/v1"),
            None,
            Some(json!({"key": "gold", "name": "Gold", "expiration": 7200, "algorithm": "RS256",
                "templateSchema": {"claims": {"plan": "{{user.metadata.plan}}", "org": "{{tenant.name}}"}}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = w
        .env(
            Method::POST,
            &format!("{P}/configurations/v1/jwt-template-targeting"),
            None,
            Some(json!({"rules": [{"conditionLogic": "and", "treatment": "gold", "conditions": [
                {"attribute": "userEmail", "op": "ends_with", "value": {"list": ["@gold.test"]}, "negate": false}]}]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let templated = w.token_for("ada@gold.test").await;
    let plain = w.token_for("bob@plain.test").await;
    // The same signature over another payload (the plan raised by hand).
    let altered = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = templated.split('.').collect();
        let mut c: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        c["roles"] = json!(["Admin", "Owner"]);
        format!("{}.{}.{}", parts[0], b64.encode(c.to_string()), parts[2])
    };
    let tokens = json!([
        {"name": "plain", "token": plain},
        {"name": "templated", "token": templated, "roles": ["Admin"]},
        {"name": "unmet-role", "token": templated, "roles": ["Owner"]},
        {"name": "altered", "token": altered},
    ]);
    let env = [
        ("TESSERA_URL", w.cp.running.url()),
        ("TESSERA_CLIENT_ID", w.cp.client_id.clone()),
        ("TESSERA_API_KEY", w.cp.api_key.clone()),
        ("TESSERA_TOKENS", tokens.to_string()),
    ];
    let (ok, text) = tokio::task::spawn_blocking(move || run(&node, &dir, "backend-sdk.mjs", &env))
        .await
        .unwrap();
    println!("{text}");
    assert!(ok, "the Node SDK script failed:\n{text}");
    let v = verdicts(&text);
    let plain = v["plain"].as_ref().expect("the default token validates");
    assert_eq!(plain["email"], "bob@plain.test");
    assert!(plain.get("plan").is_none(), "{plain}");
    let shaped = v["templated"]
        .as_ref()
        .expect("the templated token validates");
    assert_eq!(
        (
            shaped["plan"].as_str(),
            shaped["org"].as_str(),
            shaped["sub"].as_str()
        ),
        (Some("platinum"), Some("Gold Crew"), Some(gold.as_str()))
    );
    assert_eq!(
        shaped["exp"].as_i64().unwrap() - shaped["iat"].as_i64().unwrap(),
        7200
    );
    assert!(v["unmet-role"].is_err(), "{:?}", v["unmet-role"]);
    assert!(v["altered"].is_err(), "{:?}", v["altered"]);
}
