//! Tenants: create, list, get, delete, metadata; conflicts, validation, events.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::Cp;

const TENANTS: &str = "/tenants/resources/tenants/v1";

fn metadata(t: &Value) -> Value {
    serde_json::from_str(t["metadata"].as_str().expect("metadata is a JSON string")).unwrap()
}

#[tokio::test]
async fn tenant_lifecycle() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let tid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
    let created = cp
        .call(
            Method::POST,
            TENANTS,
            Some(&token),
            Some(&json!({"tenantId": tid, "name": "  Acme  ", "metadata": {"plan": "gold"}, "website": "https://acme.test"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let t = &created.body;
    assert_eq!(t["tenantId"], tid.to_lowercase());
    assert_eq!(t["name"], "Acme");
    assert_eq!(metadata(t), json!({"plan": "gold"}));
    assert_eq!(t["website"], "https://acme.test");
    assert!(t["deletedAt"].is_null());
    assert!(uuid_like(t["id"].as_str().unwrap()));
    assert!(
        time::OffsetDateTime::parse(
            t["createdAt"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );

    // Generated id; list is ordered by tenant id.
    let second = cp
        .call(
            Method::POST,
            &format!("{TENANTS}/"),
            Some(&token),
            Some(&json!({"name": "Beta"})),
        )
        .await;
    assert_eq!(second.status, 201);
    let second_id = second.body["tenantId"].as_str().unwrap().to_owned();
    assert!(uuid_like(&second_id));
    let list = cp.call(Method::GET, TENANTS, Some(&token), None).await;
    let ids: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenantId"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    assert_eq!(ids.len(), 2);

    // Get by id answers a one-element array (what clients parse); any case of the UUID.
    let one = cp
        .call(Method::GET, &format!("{TENANTS}/{tid}"), Some(&token), None)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body.as_array().unwrap().len(), 1);
    assert_eq!(one.body[0]["name"], "Acme");

    // Metadata: merge, then delete a key.
    let lower = tid.to_lowercase();
    let merged = cp
        .call(
            Method::POST,
            &format!("{TENANTS}/{lower}/metadata"),
            Some(&token),
            Some(&json!({"metadata": {"seats": 10}})),
        )
        .await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(metadata(&merged.body), json!({"plan": "gold", "seats": 10}));
    let removed = cp
        .call(
            Method::DELETE,
            &format!("{TENANTS}/{lower}/metadata/plan"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(metadata(&removed.body), json!({"seats": 10}));
    let again = cp
        .call(
            Method::GET,
            &format!("{TENANTS}/{lower}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(metadata(&again.body[0]), json!({"seats": 10}));

    // Delete: empty 200 body, then 404, and a security event is recorded.
    let deleted = cp
        .call(
            Method::DELETE,
            &format!("{TENANTS}/{lower}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.text, "");
    cp.call(
        Method::GET,
        &format!("{TENANTS}/{lower}"),
        Some(&token),
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    cp.call(
        Method::DELETE,
        &format!("{TENANTS}/{lower}"),
        Some(&token),
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    let events = cp
        .call(Method::GET, "/tessera/v1/events", Some(&token), None)
        .await;
    assert_eq!(events.status, 200);
    assert_eq!(events.body.as_array().unwrap().len(), 1);
    assert_eq!(events.body[0]["kind"], "tenantDeleted");
    assert_eq!(events.body[0]["tenantId"], lower);
    assert_eq!(events.body[0]["seq"], 1);
    let later = cp
        .call(
            Method::GET,
            "/tessera/v1/events?after=1",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(later.body, json!([]));
    let list = cp.call(Method::GET, TENANTS, Some(&token), None).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4 && s == s.to_lowercase()
}

#[tokio::test]
async fn duplicate_ids_conflict_and_invalid_input_is_refused() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let tid = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d";
    let first = cp
        .call(
            Method::POST,
            TENANTS,
            Some(&token),
            Some(&json!({"tenantId": tid, "name": "One"})),
        )
        .await;
    assert_eq!(first.status, 201);
    // The same id in another case is the same tenant.
    cp.call(
        Method::POST,
        TENANTS,
        Some(&token),
        Some(&json!({"tenantId": tid.to_uppercase(), "name": "Two"})),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    for bad in [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "x".repeat(256)}),
        json!({"name": "tab\there"}),
        json!({"tenantId": "not-a-uuid", "name": "x"}),
        json!({"name": "x", "metadata": [1]}),
        json!({"name": "x", "metadata": "not json"}),
        json!({"tenantId": 5, "name": "x"}),
    ] {
        cp.call(Method::POST, TENANTS, Some(&token), Some(&bad))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    let too_many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!(i))).collect();
    cp.call(
        Method::POST,
        &format!("{TENANTS}/{tid}/metadata"),
        Some(&token),
        Some(&json!({"metadata": too_many})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    cp.call(
        Method::POST,
        &format!("{TENANTS}/{tid}/metadata"),
        Some(&token),
        Some(&json!({"other": 1})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let missing = "00000000-0000-4000-8000-000000000000";
    cp.call(
        Method::POST,
        &format!("{TENANTS}/{missing}/metadata"),
        Some(&token),
        Some(&json!({"metadata": {"a": 1}})),
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    // Nothing but the first tenant exists, unchanged.
    let list = cp.call(Method::GET, TENANTS, Some(&token), None).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["name"], "One");
    assert_eq!(list.body[0]["metadata"], "{}");
}

#[tokio::test]
async fn every_tenant_route_requires_an_environment_token() {
    let cp = Cp::start().await;
    let id = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d";
    for (m, p) in [
        (Method::GET, TENANTS.to_owned()),
        (Method::POST, TENANTS.to_owned()),
        (Method::GET, format!("{TENANTS}/{id}")),
        (Method::DELETE, format!("{TENANTS}/{id}")),
        (Method::POST, format!("{TENANTS}/{id}/metadata")),
        (Method::DELETE, format!("{TENANTS}/{id}/metadata/k")),
        (Method::GET, "/tessera/v1/events".to_owned()),
    ] {
        cp.call(m, &p, Some("not-a-token"), Some(&json!({"name": "x"})))
            .await
            .assert_error(401, "ER-UNAUTHORIZED");
    }
}
