//! Schema conformance (`security.md` §I): for every implemented operation of the spec,
//! generated requests — path parameters naming real and missing things, no body, an empty
//! object, broken JSON, a body built from the request schema, and no credentials — must
//! never get a 5xx (or a 501), and every 2xx body must match the operation's response
//! schema.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::schema::check_reply;
use crate::support::spec;
use crate::support::world::World;

/// A value for a schema: the first enum value, an example of the type, recursing into
/// required properties.
fn example(spec: &Value, schema: &Value, name: &str, depth: usize) -> Value {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &spec["components"]["schemas"][r.rsplit('/').next().unwrap_or_default()],
        None => schema,
    };
    if let Some(e) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return e.clone();
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return example(spec, first, name, depth);
        }
    }
    let lower = name.to_ascii_lowercase();
    match schema.get("type").and_then(Value::as_str) {
        Some("string") if lower.contains("email") => json!("conformance@example.com"),
        Some("string") if lower.contains("password") => json!("Conformance-Passw0rd!"),
        Some("string") if schema["format"] == "date-time" => json!("2026-01-01T00:00:00Z"),
        Some("string") => json!("conformance"),
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") if depth < 4 => {
            json!([example(spec, &schema["items"], name, depth + 1)])
        }
        Some("array") => json!([]),
        _ if depth < 4 => {
            let mut obj = serde_json::Map::new();
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = schema["properties"].as_object() {
                for (k, v) in props {
                    if required.contains(k.as_str()) {
                        obj.insert(k.clone(), example(spec, v, k, depth + 1));
                    }
                }
            }
            Value::Object(obj)
        }
        _ => json!({}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_implemented_operation_survives_generated_requests() {
    let spec = spec();
    let implemented = control_plane::api::implemented_operations();
    let w = World::new().await;
    let tenant = w.tenant("Conformance").await;
    let user = w.user(&tenant, "owner@conformance.test", &["Admin"]).await;
    let user_token = w.token_for("owner@conformance.test").await;
    let mut sent = 0;
    let mut failures = Vec::new();
    let mut validated = 0;
    let paths = spec["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let Some(id) = op["operationId"].as_str() else {
                continue;
            };
            if !implemented.contains(id) {
                continue;
            }
            let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
            let generated = if body_schema.is_null() {
                None
            } else {
                Some(example(&spec, body_schema, "", 0))
            };
            let m: Method = method.to_ascii_uppercase().parse().expect("method");
            for real in [true, false] {
                let mut url = format!("/identity{path}");
                while let (Some(a), Some(b)) = (url.find('{'), url.find('}')) {
                    let name = &url[a + 1..b];
                    let value = if !real {
                        "00000000-0000-4000-8000-000000000000".to_owned()
                    } else if name.contains("enant") {
                        tenant.clone()
                    } else if name.contains("ser") || name == "id" {
                        user.clone()
                    } else {
                        "conformance".to_owned()
                    };
                    url.replace_range(a..=b, &value);
                }
                let bodies: Vec<Option<String>> = vec![
                    None,
                    Some("{}".into()),
                    Some("{\"broken\": ".into()),
                    generated.as_ref().map(Value::to_string),
                ];
                for body in bodies.into_iter().flatten().map(Some).chain([None]) {
                    for (bearer, with_tenant) in [
                        (Some(w.token.as_str()), true),
                        (Some(user_token.as_str()), false),
                        (None, false),
                    ] {
                        let mut req = w.cp.client.request(m.clone(), w.cp.url(&url));
                        if let Some(b) = bearer {
                            req = req.header("authorization", format!("Bearer {b}"));
                        }
                        if with_tenant {
                            req = req.header("frontegg-tenant-id", &tenant);
                        }
                        if let Some(b) = &body {
                            req = req
                                .header("content-type", "application/json")
                                .body(b.clone());
                        }
                        let r = req.send().await.expect("answered");
                        sent += 1;
                        let status = r.status().as_u16();
                        let text = r.text().await.unwrap_or_default();
                        if status >= 500 {
                            failures.push(format!("{id} {m} {url} body {body:?}: {status} {text}"));
                            continue;
                        }
                        if (200..300).contains(&status) {
                            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                            match check_reply(&spec, id, status, &value) {
                                None => {}
                                Some(Ok(())) => validated += 1,
                                Some(Err(e)) => failures.push(format!(
                                    "{id} {m} {url}: {status} body does not match the schema ({e}): {text}"
                                )),
                            }
                        }
                    }
                }
            }
        }
    }
    println!(
        "conformance: {} operations, {sent} generated requests, {validated} 2xx bodies validated, {} failures",
        implemented.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
