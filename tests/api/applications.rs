//! Users and applications end to end (`compat-wave2.md` §14 and Appendix A): assignments by
//! application and by user (the portal's non-spec routes, DELETE with a JSON body), the
//! active account per application, and issuance: a login or refresh asking for an
//! application (`frontegg-requested-application-id`) gets a token whose `applicationId` is
//! that application only when the user is assigned to it in the account — refused before
//! any session opens otherwise — and opens the account the user is active in there.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::world::{PASSWORD, World};
use crate::support::{Reply, claims, reply};

const A: &str = "/identity/resources/applications/v1";

async fn login_for(w: &World, email: &str, app: Option<&str>) -> Reply {
    let mut r =
        w.cp.client
            .post(w.cp.url("/identity/resources/auth/v1/user"))
            .json(&json!({"email": email, "password": PASSWORD}));
    if let Some(a) = app {
        r = r.header("frontegg-requested-application-id", a);
    }
    reply(r.send().await.unwrap()).await
}

fn sessions(w: &World, uid: &str) -> usize {
    let now = w.cp.running.state.clock.unix();
    control_plane::model::session::live_of(&w.cp.running.state.db, uid, now)
        .unwrap()
        .len()
}

#[tokio::test]
async fn assignments_decide_which_application_a_token_is_for() {
    let w = World::new().await;
    let t = w.tenant("Apps").await;
    let other = w.tenant("Other").await;
    let ada = w.user(&t, "ada@apps.test", &["Admin"]).await;
    let bob = w.user(&t, "bob@apps.test", &["Admin"]).await;
    let carol = w.user(&t, "carol@apps.test", &["Admin"]).await;
    let stranger = w.user(&other, "stranger@apps.test", &[]).await;

    // Refusals: a non-member, an id that is not an id, an empty list.
    for body in [
        json!({"appId": "crm", "tenantId": t, "userIds": [stranger]}),
        json!({"appId": "a/b", "tenantId": t, "userIds": [ada]}),
        json!({"appId": "crm", "tenantId": t, "userIds": []}),
    ] {
        let r = w.env(Method::POST, A, None, Some(body.clone())).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    assert_eq!(
        w.env(Method::GET, &format!("{A}/{ada}/apps"), None, None)
            .await
            .body,
        json!([])
    );
    let r = w
        .env(
            Method::POST,
            A,
            None,
            Some(json!({"appId": "crm", "tenantId": t, "userIds": [ada]})),
        )
        .await;
    r.assert_spec("ApplicationsControllerV1_assignUsersToApplication", 201);
    assert_eq!(r.body[0]["appId"], "crm");
    // The portal's routes, by user.
    let r = w
        .env(
            Method::POST,
            &format!("{A}/apps-user"),
            None,
            Some(json!({"userId": bob, "tenantId": t, "appIds": ["crm", "billing"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = w
        .env(Method::GET, &format!("{A}/{bob}/apps"), None, None)
        .await;
    r.assert_spec("ApplicationsControllerV1_getApplicationsForUser", 200);
    assert_eq!(r.body, json!(["billing", "crm"]));
    let r = w
        .env(Method::GET, &format!("{A}/crm/users"), None, None)
        .await;
    r.assert_spec("ApplicationsControllerV1_getUsersForApplication", 200);
    let mut want = vec![ada.clone(), bob.clone()];
    want.sort();
    assert_eq!(r.body, json!(want));
    let r = w
        .env(
            Method::GET,
            &format!("{A}/users-apps?userIds={ada},{bob}"),
            None,
            None,
        )
        .await;
    assert_eq!(
        r.body,
        json!([{"userId": ada, "appIds": ["crm"]}, {"userId": bob, "appIds": ["billing", "crm"]}])
    );
    let r = w
        .env(
            Method::GET,
            &format!("{A}/apps-users?appIds=billing"),
            None,
            None,
        )
        .await;
    assert_eq!(r.body, json!([{"appId": "billing", "userIds": [bob]}]));
    let r = w
        .env(
            Method::DELETE,
            &format!("{A}/user-apps"),
            None,
            Some(json!({"userId": bob, "tenantId": t, "appIds": ["billing"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        w.env(Method::GET, &format!("{A}/{bob}/apps"), None, None)
            .await
            .body,
        json!(["crm"])
    );

    // Issuance: assigned users get the application; others are refused before a session
    // opens; no header (or the environment's own client id) is the default application.
    let r = login_for(&w, "ada@apps.test", Some("crm")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = claims(r.body["accessToken"].as_str().unwrap());
    assert_eq!(c["applicationId"], "crm");
    assert_eq!(c["aud"], w.cp.client_id.as_str());
    let cookie = r.cookie();
    let before = sessions(&w, &carol);
    for app in ["crm", "billing", "no-such-app", "../crm"] {
        let r = login_for(&w, "carol@apps.test", Some(app)).await;
        assert_eq!(r.status, 403, "{app}: {}", r.text);
    }
    assert_eq!(sessions(&w, &carol), before, "no session opened");
    assert!(
        login_for(&w, "carol@apps.test", None).await.status == 200
            && sessions(&w, &carol) == before + 1
    );
    let r = login_for(&w, "carol@apps.test", None).await;
    assert_eq!(
        claims(r.body["accessToken"].as_str().unwrap())["applicationId"],
        w.cp.client_id.as_str()
    );
    let r = login_for(&w, "carol@apps.test", Some(&w.cp.client_id)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A refresh asks again.
    let refresh = |app: &'static str| {
        let w = &w;
        let cookie = cookie.clone();
        async move {
            reply(
                w.cp.client
                    .post(w.cp.url("/identity/resources/auth/v1/user/token/refresh"))
                    .header("cookie", cookie)
                    .header("frontegg-requested-application-id", app)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let r = refresh("billing").await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = refresh("crm").await;
    assert_eq!(
        r.status, 201,
        "the refused refresh changed nothing: {}",
        r.text
    );
    assert_eq!(
        claims(r.body["accessToken"].as_str().unwrap())["applicationId"],
        "crm"
    );

    // Unassigned: no more tokens for it.
    let r = w
        .env(
            Method::DELETE,
            A,
            None,
            Some(json!({"appId": "crm", "tenantId": t, "userIds": [ada]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        login_for(&w, "ada@apps.test", Some("crm")).await.status,
        403
    );
    w.cp.assert_served(&["ApplicationsControllerV1_unassignUsersFromApplication"]);

    // A user token acts in its own account only, and needs the permission.
    let admin = w.token_for("bob@apps.test").await;
    let r = w
        .as_user(
            &admin,
            Method::POST,
            A,
            Some(json!({"appId": "crm", "tenantId": other, "userIds": [stranger]})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = w
        .as_user(
            &admin,
            Method::POST,
            A,
            Some(json!({"appId": "crm", "tenantId": t, "userIds": [carol]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn a_login_for_an_application_opens_its_active_account() {
    let w = World::new().await;
    let home = w.tenant("Home").await;
    let work = w.tenant("Work").await;
    let ada = w.user(&home, "ada@active.test", &["Admin"]).await;
    let r = w
        .env(
            Method::POST,
            &format!("/identity/resources/users/v1/{ada}/tenant"),
            None,
            Some(json!({"tenantId": work})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for tenant in [&home, &work] {
        let r = w
            .env(
                Method::POST,
                A,
                None,
                Some(json!({"appId": "crm", "tenantId": tenant, "userIds": [ada]})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let token = w.token_for("ada@active.test").await;
    let path = "/identity/resources/applications/user-tenants/active/v1";
    let r = w.as_user(&token, Method::GET, path, None).await;
    r.assert_spec(
        "ApplicationsActiveUserTenantsControllerV1_getUserApplicationActiveTenants",
        200,
    );
    assert_eq!(r.body["applicationActiveTenants"], json!([]));
    // Only an account where the user is assigned.
    let r = w
        .as_user(
            &token,
            Method::PUT,
            path,
            Some(json!({"activeApplicationTenants": [{"applicationId": "billing", "tenantId": work}]})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = w
        .as_user(
            &token,
            Method::PUT,
            path,
            Some(json!({"activeApplicationTenants": [{"applicationId": "crm", "tenantId": work}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.cp.assert_served(&[
        "ApplicationsActiveUserTenantsControllerV1_switchUserApplicationActiveTenant",
    ]);
    let r = w.as_user(&token, Method::GET, path, None).await;
    assert_eq!(
        r.body["applicationActiveTenants"],
        json!([{"tenantId": work, "applicationId": "crm"}])
    );
    let c = |r: &Reply| -> Value { claims(r.body["accessToken"].as_str().unwrap()) };
    let r = login_for(&w, "ada@active.test", Some("crm")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (c(&r)["tenantId"].as_str(), c(&r)["applicationId"].as_str()),
        (Some(work.as_str()), Some("crm"))
    );
    // Unassigned there: the login's own account again (and the active entry is gone).
    w.env(
        Method::DELETE,
        A,
        None,
        Some(json!({"appId": "crm", "tenantId": work, "userIds": [ada]})),
    )
    .await;
    let r = login_for(&w, "ada@active.test", Some("crm")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(c(&r)["tenantId"].as_str(), Some(home.as_str()));
}
