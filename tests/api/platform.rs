//! `POST /auth/vendor` and the environment-token extractor.

use reqwest::Method;
use serde_json::json;

use crate::support::{Cp, reply};

#[tokio::test]
async fn credentials_get_a_token_with_and_without_trailing_slash() {
    let cp = Cp::start().await;
    for path in ["/auth/vendor", "/auth/vendor/"] {
        let r = cp
            .call(
                Method::POST,
                path,
                None,
                Some(&json!({"clientId": cp.client_id, "secret": cp.api_key})),
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert!(r.body["token"].as_str().is_some_and(|t| t.len() > 20));
        assert_eq!(r.body["expiresIn"], 3600);
    }
}

#[tokio::test]
async fn wrong_secret_and_unknown_client_get_the_same_401() {
    let cp = Cp::start().await;
    let wrong_secret = cp
        .call(
            Method::POST,
            "/auth/vendor",
            None,
            Some(&json!({"clientId": cp.client_id, "secret": "nope"})),
        )
        .await;
    let unknown_client = cp
        .call(
            Method::POST,
            "/auth/vendor/",
            None,
            Some(&json!({"clientId": "someone-else", "secret": cp.api_key})),
        )
        .await;
    wrong_secret.assert_error(401, "ER-UNAUTHORIZED");
    unknown_client.assert_error(401, "ER-UNAUTHORIZED");
    assert_eq!(wrong_secret.text, unknown_client.text);
    let missing_field = cp
        .call(
            Method::POST,
            "/auth/vendor",
            None,
            Some(&json!({"clientId": cp.client_id})),
        )
        .await;
    missing_field.assert_error(400, "ER-INVALID-INPUT");
}

#[tokio::test]
async fn the_token_works_in_both_header_styles() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let list = "/tenants/resources/tenants/v1";
    assert_eq!(
        cp.call(Method::GET, list, Some(&token), None).await.status,
        200
    );
    for scheme in ["Bearer", "bearer"] {
        let res = cp
            .client
            .get(cp.url(list))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn missing_forged_and_foreign_tokens_are_refused() {
    let cp = Cp::start().await;
    let other = Cp::start().await;
    let foreign = other.vendor_token().await;
    let token = cp.vendor_token().await;
    let list = "/tenants/resources/tenants/v1";
    cp.call(Method::GET, list, None, None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    cp.call(Method::GET, list, Some(&foreign), None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    let mut forged = token.clone();
    forged.insert(10, 'x');
    cp.call(Method::GET, list, Some(&forged), None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    cp.call(Method::GET, list, Some(&"t".repeat(4000)), None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    // The same header twice is ambiguous.
    let res = cp
        .client
        .get(cp.url(list))
        .header("x-access-token", &token)
        .header("x-access-token", &token)
        .send()
        .await
        .unwrap();
    reply(res).await.assert_error(400, "ER-INVALID-INPUT");
    let basic = cp
        .client
        .get(cp.url(list))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    reply(basic).await.assert_error(401, "ER-UNAUTHORIZED");
}

#[tokio::test]
async fn tokens_expire_on_the_servers_clock() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let list = "/tenants/resources/tenants/v1";
    assert_eq!(
        cp.call(Method::GET, list, Some(&token), None).await.status,
        200
    );
    cp.running.state.clock.advance(3601);
    cp.call(Method::GET, list, Some(&token), None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
    let fresh = cp.vendor_token().await;
    assert_eq!(
        cp.call(Method::GET, list, Some(&fresh), None).await.status,
        200
    );
}
