//! Step-up at the sidecar with tokens the control plane really issued: a route that asks
//! for step-up (and a maximum age) refuses a password-only token, takes the token a
//! completed step-up (`auth/v1/user/step-up/generate`, then an MFA code) issues, and
//! refuses it again once its `auth_time` is older than the route's `max_age`.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::distribution::{applied, sidecar_config, sidecar_token};
use crate::api::auth::mfa::stepped_up;
use crate::support::world::World;
use crate::support::{http_client, reply};

const P: &str = "/identity/resources";

#[tokio::test]
async fn the_sidecar_enforces_step_up_and_max_age_on_mfa_tokens() {
    let w = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("routes.toml");
    std::fs::write(
        &rules,
        "[[route]]\npath = \"/payouts/**\"\nstep_up = true\nmax_age = 300\n",
    )
    .unwrap();
    let sc = sidecar::start(sidecar_config(sidecar::config::Args {
        control_plane: Some(w.cp.running.url()),
        sidecar_token: Some(sidecar_token(&w)),
        routes: Some(rules),
        ..Default::default()
    }))
    .await
    .unwrap();
    let t = w.tenant("Acme").await;
    w.user(&t, "stepper@acme.test", &[]).await;
    let access = w.token_for("stepper@acme.test").await;
    applied(&sc, w.cp.running.state.hub.version()).await;
    let at = |token: String| {
        let addr = sc.addr;
        async move {
            let r = reply(
                http_client()
                    .get(format!("http://{addr}/v1/check"))
                    .header("x-original-uri", "/payouts/42")
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            (
                r.status.as_u16(),
                r.body["reason"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    assert_eq!(
        at(access.clone()).await,
        (401, "step_up_required".into()),
        "a password-only token"
    );
    let done = stepped_up(&w, &access).await;
    let stepped = done.body["accessToken"].as_str().unwrap().to_owned();
    applied(&sc, w.cp.running.state.hub.version()).await;
    assert_eq!(at(stepped.clone()).await.0, 200, "a stepped-up token");
    // A refreshed token carries no step-up claims.
    let refreshed =
        w.cp.send(
            Method::POST,
            &format!("{P}/auth/v1/user/token/refresh"),
            None,
            &[("cookie", &done.cookie())],
            Some(&json!({})),
        )
        .await;
    let plain = refreshed.body["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(at(plain).await, (401, "step_up_required".into()));
    // max_age: the sidecar's clock is the system's; wait out a short rule instead.
    let dir2 = tempfile::tempdir().unwrap();
    let short = dir2.path().join("routes.toml");
    std::fs::write(
        &short,
        "[[route]]\npath = \"/payouts/**\"\nstep_up = true\nmax_age = 1\n",
    )
    .unwrap();
    let sc2 = sidecar::start(sidecar_config(sidecar::config::Args {
        control_plane: Some(w.cp.running.url()),
        sidecar_token: Some(sidecar_token(&w)),
        routes: Some(short),
        ..Default::default()
    }))
    .await
    .unwrap();
    applied(&sc2, w.cp.running.state.hub.version()).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = reply(
        http_client()
            .get(format!("http://{}/v1/check", sc2.addr))
            .header("x-original-uri", "/payouts/42")
            .bearer_auth(&stepped)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.body["reason"], "step_up_required");
    sc.shutdown().await;
    sc2.shutdown().await;
}
