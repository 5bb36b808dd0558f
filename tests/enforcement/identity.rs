//! Changes to a user's identity that end its access reach the sidecars like the existing
//! revocations (issue: passwordless, invitations, phones, emails, temporary users): an end
//! given to a temporary user voids the tokens issued before it, and new tokens end with
//! the user (`exp` capped); removing a further email or a login phone ends the user's other
//! sessions, whose tokens every sidecar then denies.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::distribution::{applied, check, sidecar_for, sidecar_token};
use crate::support::claims;
use crate::support::world::World;

const P: &str = "/identity/resources";

async fn until_denied(sc: &sidecar::Running, token: &str) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body, _) = check(sc, token).await;
        if status == 401 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still {status} {body} after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn allowed(w: &World, sc: &sidecar::Running, token: &str) {
    applied(sc, w.cp.running.state.hub.version()).await;
    let (status, body, _) = check(sc, token).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn identity_losses_reach_the_sidecars() {
    let w = World::new().await;
    let sc = sidecar_for(&w.cp, &sidecar_token(&w), None, None).await;
    let t = w.tenant("Acme").await;
    let uid = w.user(&t, "ada@id.test", &["Admin"]).await;

    // A temporary user: the tokens from before its end was set are void at the sidecar.
    w.env(
        Method::PUT,
        &format!("{P}/users/temporary/v1/configuration"),
        None,
        Some(json!({"enabled": true})),
    )
    .await;
    let before = w.token_for("ada@id.test").await;
    allowed(&w, &sc, &before).await;
    let r = w
        .env(
            Method::PUT,
            &format!("{P}/users/temporary/v1/{uid}"),
            Some(&t),
            Some(json!({"expirationInSeconds": 900})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let took = until_denied(&sc, &before).await;
    println!(
        "temporary end denied at the sidecar in {} ms",
        took.as_millis()
    );
    // A new token is allowed, and ends with the user.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now = w.cp.running.state.clock.unix();
    let after = w.token_for("ada@id.test").await;
    assert!(claims(&after)["exp"].as_i64().unwrap() <= now + 900);
    allowed(&w, &sc, &after).await;
    w.env(
        Method::DELETE,
        &format!("{P}/users/temporary/v1/{uid}"),
        Some(&t),
        None,
    )
    .await;

    // A further email removed by the environment: every session of the user ends.
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/emails/v1/vendor/{uid}"),
            None,
            Some(json!({"email": "ada.alias@id.test", "isVerified": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let alias = r.body["id"].as_str().unwrap().to_owned();
    let token = w.token_for("ada@id.test").await;
    allowed(&w, &sc, &token).await;
    let r = w
        .env(
            Method::DELETE,
            &format!("{P}/users/emails/v1/vendor/{uid}/{alias}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    until_denied(&sc, &token).await;

    // A login phone removed by the environment: the same.
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/phone-numbers/v1/vendor/{uid}"),
            None,
            Some(json!({"phoneNumber": "+15550109999"})),
        )
        .await;
    let phone = r.body["id"].as_str().unwrap().to_owned();
    let token = w.token_for("ada@id.test").await;
    allowed(&w, &sc, &token).await;
    let r = w
        .env(
            Method::DELETE,
            &format!("{P}/users/phone-numbers/v1/vendor/{uid}/{phone}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    until_denied(&sc, &token).await;
}
