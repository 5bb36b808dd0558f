//! Delegation end to end (RFC 8693 token exchange at `POST /oauth/token`, `compat-wave2.md`
//! §17): the switch, client authentication, the refusals (delegation off, a grant type
//! other than token exchange, a missing or foreign actor, an altered subject token), and the
//! delegated token: the user's current claims with the actor in `act` (nested on a second
//! exchange), the subject's session, never outliving the subject token — and revoked at the
//! sidecar when the user is locked.

use reqwest::Method;
use serde_json::{Value, json};

use crate::enforcement::distribution::{applied, check, sidecar_for, sidecar_token, until_denied};
use crate::support::world::World;
use crate::support::{Reply, claims, reply};

const P: &str = "/identity/resources";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

/// An account API token's JWT for `tenant`: (client id, access token).
async fn account_token(w: &World, tenant: &str) -> (String, String) {
    let created = w
        .env(
            Method::POST,
            &format!("{P}/tenants/api-tokens/v1"),
            Some(tenant),
            Some(json!({"description": "agent"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let cid = created.body["clientId"].as_str().unwrap().to_owned();
    let r =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/api-token"),
            None,
            Some(&json!({"clientId": cid, "secret": created.body["secret"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    (cid, r.body["accessToken"].as_str().unwrap().to_owned())
}

async fn exchange(w: &World, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> Reply {
    let mut r = w.cp.client.post(w.cp.url("/oauth/token")).form(form);
    if let Some((id, secret)) = auth {
        r = r.basic_auth(id, Some(secret));
    }
    reply(r.send().await.unwrap()).await
}

fn grant<'a>(subject: &'a str, actor: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("grant_type", GRANT),
        ("subject_token", subject),
        ("subject_token_type", AT),
        ("actor_token", actor),
        ("actor_token_type", AT),
    ]
}

fn error_of(r: &Reply) -> (u16, String) {
    (
        r.status.as_u16(),
        r.body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_trusted_service_acts_for_a_user_within_the_rules() {
    let w = World::new().await;
    let sc = sidecar_for(&w.cp, &sidecar_token(&w), None, None).await;
    let path = format!("{P}/configurations/v1/delegation");
    let t = w.tenant("Delegating").await;
    let other = w.tenant("Elsewhere").await;
    let uid = w.user(&t, "ada@deleg.test", &["Admin"]).await;
    let subject = w.token_for("ada@deleg.test").await;
    let (actor_id, actor) = account_token(&w, &t).await;
    let (_, foreign) = account_token(&w, &other).await;
    let env = (w.cp.client_id.clone(), w.cp.api_key.clone());
    let creds = Some((env.0.as_str(), env.1.as_str()));

    // Off by default: nothing is exchanged.
    let r = w.env(Method::GET, &path, None, None).await;
    r.assert_spec(
        "DelegationConfigurationControllerV1_getDelegationConfiguration",
        200,
    );
    assert_eq!(r.body, json!({"enabled": false}));
    let r = exchange(&w, creds, &grant(&subject, &actor)).await;
    assert_eq!(
        error_of(&r),
        (400, "unauthorized_client".into()),
        "{}",
        r.text
    );
    let r = w
        .env(Method::POST, &path, None, Some(json!({"enabled": true})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        w.env(Method::GET, &path, None, None).await.body["enabled"],
        true
    );
    let user = w.token_for("ada@deleg.test").await;
    assert_eq!(w.as_user(&user, Method::GET, &path, None).await.status, 401);

    // Refusals.
    let r = exchange(&w, None, &grant(&subject, &actor)).await;
    assert_eq!(error_of(&r), (401, "invalid_client".into()));
    let r = exchange(&w, Some((&env.0, "wrong")), &grant(&subject, &actor)).await;
    assert_eq!(error_of(&r), (401, "invalid_client".into()));
    let r = exchange(&w, creds, &[("grant_type", "client_credentials")]).await;
    assert_eq!(error_of(&r), (400, "unsupported_grant_type".into()));
    let r = exchange(
        &w,
        creds,
        &[
            ("grant_type", GRANT),
            ("subject_token", &subject),
            ("subject_token_type", AT),
        ],
    )
    .await;
    assert_eq!(error_of(&r), (400, "invalid_request".into()));
    let mut wrong_type = grant(&subject, &actor);
    wrong_type[2].1 = "urn:ietf:params:oauth:token-type:saml2";
    assert_eq!(
        error_of(&exchange(&w, creds, &wrong_type).await).1,
        "invalid_request"
    );
    for (name, s, a) in [
        ("a user token as actor", subject.as_str(), user.as_str()),
        (
            "an actor of another account",
            subject.as_str(),
            foreign.as_str(),
        ),
        ("an actor token as subject", actor.as_str(), actor.as_str()),
        ("garbage", "a.b.c", actor.as_str()),
    ] {
        let r = exchange(&w, creds, &grant(s, a)).await;
        assert_eq!(
            error_of(&r),
            (400, "invalid_grant".into()),
            "{name}: {}",
            r.text
        );
    }

    // The delegated token.
    let r = exchange(&w, creds, &grant(&subject, &actor)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["issued_token_type"], AT);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.headers["cache-control"], "no-store");
    let delegated = r.body["access_token"].as_str().unwrap().to_owned();
    let (d, s) = (claims(&delegated), claims(&subject));
    assert_eq!(d["sub"], uid.as_str());
    assert_eq!(d["act"], json!({"sub": actor_id, "type": "tenantApiToken"}));
    assert_eq!(
        (&d["sid"], &d["tenantId"], &d["roles"]),
        (&s["sid"], &s["tenantId"], &s["roles"])
    );
    assert!(d["exp"].as_i64() <= s["exp"].as_i64());
    // The subject still verifies as itself; the delegated token as the user (at the sidecar).
    applied(&sc, w.cp.running.state.hub.version()).await;
    assert_eq!(check(&sc, &delegated).await.0, 200);
    // Exchanged again by a second actor: the first one nests.
    let (second_id, second) = account_token(&w, &t).await;
    let r = exchange(&w, creds, &grant(&delegated, &second)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let again: Value = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(again["act"]["sub"], second_id.as_str());
    assert_eq!(again["act"]["act"]["sub"], actor_id.as_str());
    // A deleted actor token acts no more.
    let r = w
        .env(
            Method::DELETE,
            &format!("{P}/tenants/api-tokens/v1/{second_id}"),
            Some(&t),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = exchange(&w, creds, &grant(&subject, &second)).await;
    assert_eq!(error_of(&r), (400, "invalid_grant".into()), "{}", r.text);
    // Locking the user revokes the delegated token at the sidecar, and stops exchanges.
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/v1/{uid}/lock"),
            Some(&t),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    // (Panics if the sidecar still allows it after 5 s.)
    until_denied(std::slice::from_ref(&sc), &delegated, "token_revoked").await;
    let r = exchange(&w, creds, &grant(&subject, &actor)).await;
    assert_eq!(error_of(&r), (400, "invalid_grant".into()));
    w.cp.assert_served(&[
        "DelegationConfigurationControllerV1_createOrUpdateDelegationConfiguration",
    ]);
}

#[tokio::test]
async fn a_delegated_token_keeps_its_application_only_while_assigned() {
    let w = World::new().await;
    let t = w.tenant("Apps").await;
    let uid = w.user(&t, "ada@deleg-app.test", &["Admin"]).await;
    let r = w
        .env(
            Method::POST,
            &format!("{P}/configurations/v1/delegation"),
            None,
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let assign = json!({"appId": "crm", "tenantId": t, "userIds": [uid]});
    let r = w
        .env(
            Method::POST,
            &format!("{P}/applications/v1"),
            None,
            Some(assign.clone()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let login = reply(
        w.cp.client
            .post(w.cp.url(&format!("{P}/auth/v1/user")))
            .header("frontegg-requested-application-id", "crm")
            .json(&json!({"email": "ada@deleg-app.test", "password": crate::support::world::PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let subject = login.body["accessToken"].as_str().unwrap().to_owned();
    let (_, actor) = account_token(&w, &t).await;
    let env = (w.cp.client_id.clone(), w.cp.api_key.clone());
    let creds = Some((env.0.as_str(), env.1.as_str()));
    let r = exchange(&w, creds, &grant(&subject, &actor)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        claims(r.body["access_token"].as_str().unwrap())["applicationId"],
        "crm"
    );
    // Unassigned: the subject token still verifies, but no delegated token names the app.
    let r = w
        .env(
            Method::DELETE,
            &format!("{P}/applications/v1"),
            None,
            Some(assign),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = exchange(&w, creds, &grant(&subject, &actor)).await;
    assert_eq!(error_of(&r), (400, "invalid_grant".into()), "{}", r.text);
}
