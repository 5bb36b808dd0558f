//! `security.md` I2 over HTTP: every stored JSON value is bounded (64 KiB; 413 above, nothing
//! stored), and one account's data cannot slow another's requests — no request path reads
//! every user or every group.
//!
//! Before: only the string form of `metadata` was capped, so 40 unauthenticated sign-ups of
//! 0.9 MB each were accepted; the public SMS reset, which read every user, went from 0.5 to
//! 42 ms a request, and 40 such groups made another account's `users/v2/me` go from 0.9 to
//! 94 ms, because every user-token request loaded every group.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::Reply;
use crate::support::world::World;

const USERS_V1: &str = "/identity/resources/users/v1";
const GROUPS: &str = "/identity/resources/groups/v1";
const TENANTS: &str = "/tenants/resources/tenants/v1";
const ME: &str = "/identity/resources/users/v2/me";
const SMS_RESET: &str = "/identity/resources/users/v2/passwords/reset/sms";

/// A metadata object whose text is `kib` KiB.
fn metadata(kib: usize) -> Value {
    json!({"blob": "x".repeat(kib * 1024)})
}

#[tokio::test]
async fn every_stored_json_value_is_bounded() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    let uid = w.user(&t, "me@acme.test", &["Admin"]).await;
    let me = w.token_for("me@acme.test").await;
    let g = w
        .env(Method::POST, GROUPS, Some(&t), Some(json!({"name": "G"})))
        .await;
    let gid = g.body["id"].as_str().unwrap().to_owned();
    let big = metadata(65);
    let big_text = Value::String(big.to_string());
    let users_before = w
        .env(Method::GET, "/identity/resources/users/v3", Some(&t), None)
        .await;
    // (who, method, path, tenant header, body)
    let cases: Vec<(&str, Method, String, Option<&str>, Value)> = vec![
        (
            "public",
            Method::POST,
            format!("{USERS_V1}/signUp"),
            None,
            json!({"email": "big@acme.test", "password": "Choose-a-Pass-1", "companyName": "Big", "metadata": big}),
        ),
        (
            "public",
            Method::POST,
            format!("{USERS_V1}/signUp"),
            None,
            json!({"email": "big2@acme.test", "password": "Choose-a-Pass-1", "companyName": "Big", "metadata": big_text}),
        ),
        (
            "env",
            Method::POST,
            USERS_V1.into(),
            Some(&t),
            json!({"email": "new@acme.test", "metadata": big}),
        ),
        (
            "env",
            Method::POST,
            "/identity/resources/vendor-only/users/v1".into(),
            None,
            json!({"email": "vendor@acme.test", "tenantId": t, "vendorMetadata": big}),
        ),
        (
            "env",
            Method::PUT,
            format!("{USERS_V1}/{uid}"),
            None,
            json!({"metadata": big}),
        ),
        (
            "env",
            Method::PUT,
            format!("{USERS_V1}/{uid}"),
            None,
            json!({"vendorMetadata": big_text}),
        ),
        (
            "user",
            Method::PUT,
            ME.into(),
            None,
            json!({"metadata": big}),
        ),
        (
            "env",
            Method::POST,
            GROUPS.into(),
            Some(&t),
            json!({"name": "Big", "metadata": big}),
        ),
        (
            "env",
            Method::PATCH,
            format!("{GROUPS}/{gid}"),
            Some(&t),
            json!({"metadata": big}),
        ),
        (
            "env",
            Method::POST,
            TENANTS.into(),
            None,
            json!({"name": "Big", "metadata": big}),
        ),
        (
            "env",
            Method::POST,
            "/identity/resources/tenants/api-tokens/v1".into(),
            Some(&t),
            json!({"metadata": metadata(9)}),
        ),
    ];
    for (who, method, path, tenant, body) in &cases {
        let r: Reply = match *who {
            "public" => w.cp.call(method.clone(), path, None, Some(body)).await,
            "user" => {
                w.as_user(&me, method.clone(), path, Some(body.clone()))
                    .await
            }
            _ => {
                w.env(method.clone(), path, *tenant, Some(body.clone()))
                    .await
            }
        };
        r.assert_error(413, "ER-PAYLOAD-TOO-LARGE");
    }
    // So is every other text an account stores.
    w.env(
        Method::POST,
        TENANTS,
        None,
        Some(json!({"name": "Long", "website": "x".repeat(4096)})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    // Merged account metadata is bounded as a whole.
    let m = format!("{TENANTS}/{t}/metadata");
    let half = w
        .env(
            Method::POST,
            &m,
            None,
            Some(json!({"metadata": {"a": "x".repeat(40 * 1024)}})),
        )
        .await;
    assert_eq!(half.status, 200, "{}", half.text);
    w.env(
        Method::POST,
        &m,
        None,
        Some(json!({"metadata": {"b": "x".repeat(40 * 1024)}})),
    )
    .await
    .assert_error(413, "ER-PAYLOAD-TOO-LARGE");
    // Nothing was stored.
    let users_after = w
        .env(Method::GET, "/identity/resources/users/v3", Some(&t), None)
        .await;
    assert_eq!(
        users_before.body["_metadata"]["totalItems"],
        users_after.body["_metadata"]["totalItems"]
    );
    let profile = w.as_user(&me, Method::GET, ME, None).await;
    assert_eq!(profile.body["metadata"], "{}");
    assert_eq!(w.login("big@acme.test").await.status, 401);
    // Just under the bound is fine.
    let ok = w
        .as_user(
            &me,
            Method::PUT,
            ME,
            Some(json!({"metadata": metadata(63)})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

/// The median of `n` timed calls of `f`.
async fn median<F, Fut>(n: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let status = f().await;
        assert!((200..300).contains(&status), "{status}");
        t.push(started.elapsed());
    }
    t.sort();
    t[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_accounts_data_does_not_slow_another_accounts_requests() {
    let w = World::new().await;
    let a = w.tenant("A").await;
    w.user(&a, "me@a.test", &[]).await;
    let me = w.token_for("me@a.test").await;
    let get_me = || {
        let (w, me) = (&w, me.clone());
        async move { w.as_user(&me, Method::GET, ME, None).await.status.as_u16() }
    };
    let reset = || {
        let body = json!({"identifier": "+1 555 010 0199", "identifierType": "phoneNumber"});
        let w = &w;
        async move {
            w.cp.call(Method::POST, SMS_RESET, None, Some(&body))
                .await
                .status
                .as_u16()
        }
    };
    get_me().await;
    reset().await;
    let (me_before, reset_before) = (median(41, get_me).await, median(41, reset).await);
    // Account B fills up with as much as it may: 40 groups and 40 users carrying 60 KiB of
    // metadata each.
    let b = w.tenant("B").await;
    for i in 0..40 {
        let g = w
            .env(
                Method::POST,
                GROUPS,
                Some(&b),
                Some(json!({"name": format!("g{i}"), "metadata": metadata(60)})),
            )
            .await;
        assert_eq!(g.status, 201, "{}", g.text);
        let u = w
            .env(
                Method::POST,
                USERS_V1,
                Some(&b),
                Some(json!({"email": format!("u{i}@b.test"), "phoneNumber": format!("+1 555 020 {i:04}"), "metadata": metadata(60)})),
            )
            .await;
        assert_eq!(u.status, 201, "{}", u.text);
    }
    let (me_after, reset_after) = (median(41, get_me).await, median(41, reset).await);
    let me_ratio = me_after.as_secs_f64() / me_before.as_secs_f64();
    let reset_ratio = reset_after.as_secs_f64() / reset_before.as_secs_f64();
    println!(
        "another account's 2.4 MB of groups and 2.4 MB of users: users/v2/me {} → {} µs ({me_ratio:.2}×), public SMS reset {} → {} µs ({reset_ratio:.2}×)",
        me_before.as_micros(),
        me_after.as_micros(),
        reset_before.as_micros(),
        reset_after.as_micros()
    );
    assert!(me_ratio < 3.0, "users/v2/me: {me_before:?} → {me_after:?}");
    assert!(
        reset_ratio < 3.0,
        "SMS reset: {reset_before:?} → {reset_after:?}"
    );
}
