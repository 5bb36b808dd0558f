//! Frontegg's backend SDKs, unmodified, validating the tokens Tessera issues the way a
//! backend does: `@frontegg/client` 5.3.2 (Node, `tests/js/backend-sdk.mjs`) and `frontegg`
//! 3.0.4 (Python, from PyPI, `tests/py/backend_sdk.py`). Each authenticates with the
//! environment's credentials, fetches the public key and verifies each token — a default
//! token, a token a JWT template shaped (its added claims reach the application), a role
//! requirement met and unmet, and a token whose payload was altered. (The Rust crate is a
//! management client that validates no token; the Go SDK is a Go module, out of reach here.)

use std::path::PathBuf;
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use super::rest_api::{node_with_packages, run};
use crate::support::repo_root;
use crate::support::world::World;

/// The Python SDK's virtual environment (`target/py-sdk`), created from the pinned
/// `tests/py/requirements.txt` when missing or when the pins changed; `None` (SKIPPED) where
/// python3 is missing, a failure in CI.
fn python_with_sdk() -> Option<PathBuf> {
    let system = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("python3"))
        .find(|p| p.exists())
        .map(|p| p.display().to_string());
    let paths: Vec<&str> = system.iter().map(String::as_str).collect();
    let python3 = crate::support::system_tool(&paths, "python3 python3-venv")?;
    let pins = repo_root().join("tests/py/requirements.txt");
    let venv = repo_root().join("target/py-sdk");
    let marker = venv.join("installed-requirements.txt");
    let wanted = std::fs::read(&pins).expect("tests/py/requirements.txt");
    if std::fs::read(&marker).ok().as_ref() != Some(&wanted) {
        let ok = |c: &mut Command| c.status().map(|s| s.success()).unwrap_or(false);
        assert!(
            ok(Command::new(&python3)
                .args(["-m", "venv", "--clear"])
                .arg(&venv)),
            "python3 -m venv failed (apt-get install python3-venv)"
        );
        assert!(
            ok(Command::new(venv.join("bin/pip"))
                .args([
                    "install",
                    "-q",
                    "--no-deps",
                    "--disable-pip-version-check",
                    "-r"
                ])
                .arg(&pins)),
            "pip install -r tests/py/requirements.txt failed"
        );
        std::fs::write(&marker, wanted).expect("marker");
    }
    Some(venv.join("bin/python"))
}

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
async fn the_node_and_python_sdks_validate_default_and_templated_tokens() {
    let Some((node, dir)) = node_with_packages() else {
        return;
    };
    let Some(python) = tokio::task::spawn_blocking(python_with_sdk).await.unwrap() else {
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
    let node_env = env.clone();
    let (ok, text) =
        tokio::task::spawn_blocking(move || run(&node, &dir, "backend-sdk.mjs", &node_env))
            .await
            .unwrap();
    println!("{text}");
    assert!(ok, "the Node SDK script failed:\n{text}");
    judge("node", &verdicts(&text), &gold);
    let (ok, text) = tokio::task::spawn_blocking(move || {
        run(
            &python,
            &repo_root().join("tests/py"),
            "backend_sdk.py",
            &env,
        )
    })
    .await
    .unwrap();
    println!("{text}");
    assert!(ok, "the Python SDK script failed:\n{text}");
    judge("python", &verdicts(&text), &gold);
}

/// One SDK's verdicts: the default token validates without the template's claims, the
/// templated one carries them with the template's lifetime, an unmet role and an altered
/// payload are refused.
fn judge(sdk: &str, v: &std::collections::HashMap<String, Result<Value, String>>, gold: &str) {
    let plain = v["plain"]
        .as_ref()
        .unwrap_or_else(|e| panic!("{sdk}: the default token validates: {e}"));
    assert_eq!(plain["email"], "bob@plain.test", "{sdk}");
    assert!(plain.get("plan").is_none(), "{sdk}: {plain}");
    let shaped = v["templated"]
        .as_ref()
        .unwrap_or_else(|e| panic!("{sdk}: the templated token validates: {e}"));
    assert_eq!(
        (
            shaped["plan"].as_str(),
            shaped["org"].as_str(),
            shaped["sub"].as_str()
        ),
        (Some("platinum"), Some("Gold Crew"), Some(gold)),
        "{sdk}"
    );
    assert_eq!(
        shaped["exp"].as_i64().unwrap() - shaped["iat"].as_i64().unwrap(),
        7200,
        "{sdk}"
    );
    assert!(v["unmet-role"].is_err(), "{sdk}: {:?}", v["unmet-role"]);
    assert!(v["altered"].is_err(), "{sdk}: {:?}", v["altered"]);
}
