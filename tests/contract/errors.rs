//! The error model: every bad input gets its status and the one error shape.

use reqwest::Method;
use serde_json::json;

use crate::support::{Cp, reply};

const TENANTS: &str = "/tenants/resources/tenants/v1";

#[tokio::test]
async fn bad_bodies_get_clear_4xx_errors_and_change_nothing() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let post = |ct: &'static str, body: Vec<u8>| {
        cp.client
            .post(cp.url(TENANTS))
            .header("x-access-token", &token)
            .header("content-type", ct)
            .body(body)
    };
    reply(
        post("application/json", b"{\"name\": ".to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    reply(post("application/json", b"".to_vec()).send().await.unwrap())
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    reply(
        post("text/plain", b"{\"name\":\"x\"}".to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await
    .assert_error(415, "ER-UNSUPPORTED-MEDIA-TYPE");
    let two_mib = format!("{{\"name\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    reply(
        post("application/json", two_mib.into_bytes())
            .send()
            .await
            .unwrap(),
    )
    .await
    .assert_error(413, "ER-PAYLOAD-TOO-LARGE");
    let deep = format!(
        "{{\"name\":\"x\",\"metadata\":{}{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let r = reply(
        post("application/json", deep.into_bytes())
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(400, "ER-INVALID-INPUT");
    assert!(r.text.contains("nested deeper"));
    reply(
        post("application/json", b"{\"name\": 5}".to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    reply(
        post("application/json", b"[1,2]".to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    // I4 and I6: invalid UTF-8 (in a kept value, in a field the handler ignores, in a key),
    // an overlong encoding, a lone surrogate, a duplicate key.
    for body in [
        b"{\"name\":\"\xff\xfe\"}".to_vec(),
        b"{\"name\":\"x\",\"ignored\":\"\xd1\xd1\"}".to_vec(),
        b"{\"name\":\"x\",\"\xe2\x82\":1}".to_vec(),
        b"{\"name\":\"\xc0\xaf\"}".to_vec(),
        b"{\"name\":\"\\ud800\"}".to_vec(),
        b"{\"name\":\"a\",\"name\":\"b\"}".to_vec(),
    ] {
        reply(post("application/json", body).send().await.unwrap())
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    // Nothing above created anything.
    let list = cp.call(Method::GET, TENANTS, Some(&token), None).await;
    assert_eq!(list.body, json!([]));
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let cp = Cp::start().await;
    for path in [
        "/nope",
        "/identity/resources/nope/v1",
        "/identity",
        "/frontegg/identity/resources/auth/v1/usr",
    ] {
        cp.call(Method::GET, path, None, None)
            .await
            .assert_error(404, "ER-NOT-FOUND");
    }
    // Login is POST only.
    for path in [
        "/identity/resources/auth/v1/user",
        "/frontegg/identity/resources/auth/v1/user/",
    ] {
        let r = cp.call(Method::DELETE, path, None, None).await;
        r.assert_error(405, "ER-METHOD-NOT-ALLOWED");
        assert_eq!(r.headers["allow"], "POST");
    }
    cp.call(Method::PUT, "/auth/vendor", None, None)
        .await
        .assert_error(405, "ER-METHOD-NOT-ALLOWED");
    cp.call(Method::PATCH, TENANTS, None, None)
        .await
        .assert_error(405, "ER-METHOD-NOT-ALLOWED");
}

#[tokio::test]
async fn bad_query_and_path_values_are_400_or_404_in_the_error_shape() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    cp.call(
        Method::GET,
        "/tessera/v1/events?limit=abc",
        Some(&token),
        None,
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    cp.call(
        Method::GET,
        "/tessera/v1/events?limit=0",
        Some(&token),
        None,
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    cp.call(
        Method::GET,
        &format!("{TENANTS}/not-a-uuid"),
        Some(&token),
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    cp.call(
        Method::GET,
        &format!("{TENANTS}/%FF%FE"),
        Some(&token),
        None,
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
}
