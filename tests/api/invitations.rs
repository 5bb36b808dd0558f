//! Invitations end to end (`compat-wave2.md` §8): an account's invitation link as the portal
//! drives it (configuration, create, read, update, delete), its public verification, joining
//! through `invitationToken` on login, sign-up and passwordless; the environment's invite
//! tokens and strategies; email invitations of existing users (accept, with a code, resend)
//! — single use, expiry, roles bounded by the inviter's, and cascades that void them.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::world::{PASSWORD, World};
use crate::support::{Reply, claims, link_parts, mail};

const P: &str = "/identity/resources";

async fn as_user(w: &World, token: &str, m: Method, path: &str, body: Option<Value>) -> Reply {
    w.as_user(token, m, &format!("{P}{path}"), body).await
}

async fn public(w: &World, path: &str, body: Value) -> Reply {
    w.cp.call(Method::POST, &format!("{P}{path}"), None, Some(&body))
        .await
}

/// A level-1 `Manager` role holding `fe.secure.*` (below the level-0 `Admin`).
async fn manager_role(w: &World) {
    let m = w
        .env(
            Method::POST,
            &format!("{P}/roles/v1"),
            None,
            Some(json!([{"key": "Manager", "name": "Manager", "level": 1}])),
        )
        .await;
    let id = m.body[0]["id"].as_str().unwrap().to_owned();
    let perms = w
        .env(Method::GET, &format!("{P}/permissions/v1"), None, None)
        .await
        .body;
    let all = perms
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "fe.secure.*")
        .unwrap()["id"]
        .clone();
    w.env(
        Method::PUT,
        &format!("{P}/roles/v1/{id}/permissions"),
        None,
        Some(json!({"permissionIds": [all]})),
    )
    .await;
}

fn code_in(body: &str) -> String {
    let at = body.find("code: ").expect("a code") + 6;
    body[at..at + 6].to_owned()
}

fn memberships(w: &World, uid: &str) -> Vec<(String, bool)> {
    w.cp.running
        .state
        .db
        .get::<control_plane::model::user::User>(uid.as_bytes())
        .unwrap()
        .unwrap()
        .memberships
        .into_iter()
        .map(|m| (m.tenant_id, m.disabled))
        .collect()
}

#[tokio::test]
async fn an_accounts_invitation_link_as_the_portal_and_login_box_use_it() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    w.user(&t, "admin@inv.test", &["Admin"]).await;
    let admin = w.token_for("admin@inv.test").await;
    let r = as_user(
        &w,
        &admin,
        Method::GET,
        "/tenants/invites/v1/configuration",
        None,
    )
    .await;
    r.assert_spec("getInvitationConfiguration", 200);
    assert_eq!(r.body["tenantInvitationsAllowed"], true);
    // No link yet.
    as_user(&w, &admin, Method::GET, "/tenants/invites/v1/user", None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    let viewer = w.role_id("ReadOnly").await;
    let r = as_user(
        &w,
        &admin,
        Method::POST,
        "/tenants/invites/v2/user",
        Some(json!({"expiresInMinutes": 60, "shouldSendEmail": true, "roleIds": [viewer]})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(r.body["tenantId"], t.as_str());
    // The portal reads it back to copy the link; the v1 create replaces it.
    let again = as_user(&w, &admin, Method::GET, "/tenants/invites/v1/user", None).await;
    again.assert_spec("TenantInvitesController_getTenantInviteForUser", 200);
    assert_eq!(again.body["token"], token.as_str());
    let r = as_user(
        &w,
        &admin,
        Method::PATCH,
        "/tenants/invites/v1/user",
        Some(json!({"expiresInMinutes": 120, "shouldSendEmail": true})),
    )
    .await;
    r.assert_spec("TenantInvitesController_updateTenantInviteForUser", 200);
    // Stored sealed and hashed: the token is nowhere in the store in clear.
    let dump = format!(
        "{:?}",
        w.cp.running
            .state
            .db
            .scan::<control_plane::model::invitation::InviteLink>(b"link/")
            .unwrap()
    );
    assert!(!dump.contains(&token));
    // The login box verifies it anonymously and shows the account's name.
    let v = public(&w, "/tenants/invites/v1/verify", json!({"token": token})).await;
    v.assert_spec("TenantInvitesController_verifyTenantInvite", 200);
    assert_eq!(v.body["name"], "Acme");
    assert!(v.body.get("roleIds").is_none());
    public(&w, "/tenants/invites/v1/verify", json!({"token": "nope"}))
        .await
        .assert_error(404, "ER-NOT-FOUND");
    // Someone from another account logs in through it: joins with the link's roles, and the
    // token is for the invitation's account; the link's owner is told.
    let other = w.tenant("Elsewhere").await;
    let joiner = w.user(&other, "joiner@inv.test", &[]).await;
    let r = w
        .cp
        .call(
            Method::POST,
            &format!("{P}/auth/v1/user"),
            None,
            Some(&json!({"email": "joiner@inv.test", "password": PASSWORD, "invitationToken": token})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let c = claims(r.body["accessToken"].as_str().unwrap());
    assert_eq!(c["tenantId"], t.as_str());
    assert_eq!(c["roles"], json!(["ReadOnly"]));
    assert_eq!(memberships(&w, &joiner).len(), 2);
    assert!(
        mail(&w.cp, "invitation-used", 1)
            .await
            .body
            .contains("joiner@inv.test")
    );
    // Multi-use: a sign-up through it joins too.
    let s = public(
        &w,
        "/users/v1/signUp",
        json!({"email": "new@inv.test", "password": PASSWORD, "companyName": "N", "invitationToken": token}),
    )
    .await;
    assert_eq!(s.status, 201, "{}", s.text);
    let new_id = s.body["userId"].as_str().unwrap().to_owned();
    assert!(memberships(&w, &new_id).iter().any(|(x, _)| *x == t));
    // Deleted: it stops working at once.
    let r = as_user(&w, &admin, Method::DELETE, "/tenants/invites/v1/user", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    public(&w, "/tenants/invites/v1/verify", json!({"token": token}))
        .await
        .assert_error(404, "ER-NOT-FOUND");
    w.cp.assert_served(&[
        "TenantInvitesV2Controller_createTenantInviteForUser",
        "TenantInvitesController_deleteTenantInviteForUser",
        "getInvitationConfiguration",
    ]);
}

#[tokio::test]
async fn link_rules_expiry_roles_permissions_and_the_switch() {
    let w = World::new().await;
    let t = w.tenant("R").await;
    manager_role(&w).await;
    w.user(&t, "manager@inv.test", &["Manager"]).await;
    w.user(&t, "reader@inv.test", &["ReadOnly"]).await;
    let manager = w.token_for("manager@inv.test").await;
    let reader = w.token_for("reader@inv.test").await;
    // Without fe.secure.write.tenantInvites: 403.
    as_user(
        &w,
        &reader,
        Method::POST,
        "/tenants/invites/v1/user",
        Some(json!({"expiresInMinutes": 60, "shouldSendEmail": false})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    // A role above the inviter's own cannot be handed out through a link.
    let admin_role = w.role_id("Admin").await;
    let r = as_user(
        &w,
        &manager,
        Method::POST,
        "/tenants/invites/v2/user",
        Some(json!({"expiresInMinutes": 60, "shouldSendEmail": false, "roleIds": [admin_role]})),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Bad lifetimes: 400, nothing stored.
    for bad in [json!(0), json!(1.5), json!(600_000), json!("soon")] {
        let r = as_user(
            &w,
            &manager,
            Method::POST,
            "/tenants/invites/v1/user",
            Some(json!({"expiresInMinutes": bad, "shouldSendEmail": false})),
        )
        .await;
        r.assert_error(400, "ER-INVALID-INPUT");
    }
    let r = as_user(
        &w,
        &manager,
        Method::POST,
        "/tenants/invites/v1/user",
        Some(json!({"expiresInMinutes": 1, "shouldSendEmail": false})),
    )
    .await;
    r.assert_spec("TenantInvitesController_createTenantInviteForUser", 201);
    let token = r.body["token"].as_str().unwrap().to_owned();
    w.cp.running.state.clock.advance(61);
    public(&w, "/tenants/invites/v1/verify", json!({"token": token}))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    // The environment's switch turns links off.
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1"),
        None,
        Some(json!({"allowTenantInvitations": false})),
    )
    .await;
    let r = as_user(
        &w,
        &manager,
        Method::GET,
        "/tenants/invites/v1/configuration",
        None,
    )
    .await;
    assert_eq!(r.body["tenantInvitationsAllowed"], false);
    as_user(
        &w,
        &manager,
        Method::POST,
        "/tenants/invites/v1/user",
        Some(json!({"expiresInMinutes": 60, "shouldSendEmail": false})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
}

#[tokio::test]
async fn environment_invite_tokens_and_strategies() {
    let w = World::new().await;
    let t = w.tenant("E").await;
    let r = w
        .env(
            Method::POST,
            &format!("{P}/tenants/invites/v1"),
            None,
            Some(json!({"tenantId": t, "expiresInMinutes": 30})),
        )
        .await;
    r.assert_spec("TenantInvitesController_createTenantInvite", 201);
    let id = r.body["id"].as_str().unwrap().to_owned();
    w.env(
        Method::POST,
        &format!("{P}/tenants/invites/v1"),
        None,
        Some(json!({"tenantId": t})),
    )
    .await;
    let all = w
        .env(
            Method::GET,
            &format!("{P}/tenants/invites/v1/all"),
            None,
            None,
        )
        .await;
    all.assert_spec("TenantInvitesController_getAllInvites", 200);
    assert_eq!(
        all.body.as_array().unwrap().len(),
        2,
        "environment links never replace"
    );
    let r = w
        .env(
            Method::DELETE,
            &format!("{P}/tenants/invites/v1/token/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.cp.assert_served(&["TenantInvitesController_deleteTenantInvite"]);
    let r = w
        .env(
            Method::DELETE,
            &format!("{P}/tenants/invites/v1/token/{id}"),
            None,
            None,
        )
        .await;
    r.assert_error(404, "ER-NOT-FOUND");
    w.env(
        Method::POST,
        &format!("{P}/tenants/invites/v1"),
        None,
        Some(json!({"tenantId": "6f1c9d8e-0000-4000-8000-000000000000"})),
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    // Deleting the account voids its links.
    let left = w
        .env(
            Method::GET,
            &format!("{P}/tenants/invites/v1/all"),
            None,
            None,
        )
        .await
        .body[0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    w.env(
        Method::DELETE,
        &format!("/tenants/resources/tenants/v1/{t}"),
        None,
        None,
    )
    .await;
    public(&w, "/tenants/invites/v1/verify", json!({"token": left}))
        .await
        .assert_error(404, "ER-NOT-FOUND");
    // Strategies.
    for (name, get, set, default) in [
        (
            "invitation",
            "InvitationStrategyControllerV1_getInvitationStrategy",
            "InvitationStrategyControllerV1_createOrUpdateInvitationStrategy",
            "link",
        ),
        (
            "activation",
            "ActivationStrategyControllerV1_getActivationStrategy",
            "ActivationStrategyControllerV1_createOrUpdateActivationStrategy",
            "code",
        ),
    ] {
        let path = format!("{P}/configurations/v1/{name}/strategies");
        let r = w.env(Method::GET, &path, None, None).await;
        r.assert_spec(get, 200);
        assert_eq!(r.body["strategy"], default);
        for bad in [json!({"codeExpiration": 59}), json!({"strategy": "pigeon"})] {
            w.env(Method::POST, &path, None, Some(bad))
                .await
                .assert_error(400, "ER-INVALID-INPUT");
        }
        let r = w
            .env(
                Method::POST,
                &path,
                None,
                Some(json!({"strategy": "code", "codeExpiration": 600})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        w.cp.assert_served(&[set]);
        w.env(
            Method::POST,
            &path,
            None,
            Some(json!({"strategy": "link", "codeExpiration": 600})),
        )
        .await;
        let r = w.env(Method::GET, &path, None, None).await;
        assert_eq!(
            (
                r.body["strategy"].as_str(),
                r.body["codeExpiration"].as_u64()
            ),
            (Some("link"), Some(600))
        );
    }
    // The activation strategy decides what the sign-up mail carries: `link`, no code.
    let r = public(
        &w,
        "/users/v1/signUp",
        json!({"email": "linkonly@inv.test", "password": PASSWORD, "companyName": "L"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let m = mail(&w.cp, "activation", 1).await;
    assert!(m.body.contains("activate?userId="));
    assert!(!m.body.contains("activation code"), "{}", m.body);
}

#[tokio::test]
async fn email_invitations_of_existing_users() {
    let w = World::new().await;
    let home = w.tenant("Home").await;
    let team = w.tenant("Team").await;
    let uid = w.user(&home, "member@inv.test", &[]).await;
    w.user(&team, "lead@inv.test", &["Admin"]).await;
    let lead = w.token_for("lead@inv.test").await;
    // Inviting an address that has a user: a pending, disabled membership and the accept link.
    let r = as_user(
        &w,
        &lead,
        Method::POST,
        "/users/v1",
        Some(json!({"email": "member@inv.test"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["id"], uid.as_str());
    assert!(memberships(&w, &uid).contains(&(team.clone(), true)));
    let first = mail(&w.cp, "invitation-accept", 1).await;
    assert!(
        first
            .body
            .contains("/oauth/account/invitation/accept?userId=")
    );
    let (u1, t1) = link_parts(&first.body);
    assert_eq!(u1, uid);
    // Pending: disabled in that account until accepted.
    let r = as_user(&w, &lead, Method::GET, &format!("/users/v1/{uid}"), None).await;
    assert_eq!(r.body["isDisabled"], true, "{}", r.text);
    // Resend retires the first link.
    let r = as_user(
        &w,
        &lead,
        Method::POST,
        "/users/v1/invitation/reset",
        Some(json!({"email": "member@inv.test"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (_, t2) = link_parts(&mail(&w.cp, "invitation-accept", 2).await.body);
    public(
        &w,
        "/users/v1/invitation/accept",
        json!({"userId": uid, "token": t1}),
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    // Accepted once, under a race.
    let body = json!({"userId": uid, "token": t2});
    let (a, b) = tokio::join!(
        public(&w, "/users/v1/invitation/accept", body.clone()),
        public(&w, "/users/v1/invitation/accept", body.clone()),
    );
    assert_eq!(
        [a.status.as_u16(), b.status.as_u16()]
            .iter()
            .filter(|s| **s == 200)
            .count(),
        1,
        "{} / {}",
        a.text,
        b.text
    );
    assert!(memberships(&w, &uid).contains(&(team.clone(), false)));
    // Now the user can be in the team account.
    let r = w.login("member@inv.test").await;
    assert_eq!(
        claims(r.body["accessToken"].as_str().unwrap())["tenantId"],
        team.as_str()
    );
    // No pending invitation left: resend is refused.
    as_user(
        &w,
        &lead,
        Method::POST,
        "/users/v1/invitation/reset",
        Some(json!({"email": "member@inv.test"})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    w.cp.assert_served(&[
        "UsersTenantManagementControllerV1_acceptInvitation",
        "UsersTenantManagementControllerV1_resetTenantInvitationToken",
    ]);
}

#[tokio::test]
async fn code_invitations_resend_all_and_removal_voids() {
    let w = World::new().await;
    let home = w.tenant("Home").await;
    let a = w.tenant("A").await;
    let b = w.tenant("B").await;
    let uid = w.user(&home, "code@inv.test", &[]).await;
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1/invitation/strategies"),
        None,
        Some(json!({"strategy": "code"})),
    )
    .await;
    for t in [&a, &b] {
        let r = w
            .env(
                Method::POST,
                &format!("{P}/users/v1"),
                Some(t),
                Some(json!({"email": "code@inv.test"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/v1/invitation/reset/all"),
            None,
            Some(json!({"email": "code@inv.test"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let m3 = mail(&w.cp, "invitation-accept", 3).await;
    let m4 = mail(&w.cp, "invitation-accept", 4).await;
    let for_a = if m3.subject.contains(" A") { &m3 } else { &m4 };
    let (_, token) = link_parts(&for_a.body);
    let code = code_in(&for_a.body);
    // The token alone accepts nothing under the code strategy; a wrong code counts.
    public(
        &w,
        "/users/v1/invitation/accept",
        json!({"userId": uid, "token": token}),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let wrong = if code == "123456" { "654321" } else { "123456" };
    public(
        &w,
        "/users/v1/invitation/accept/code",
        json!({"userId": uid, "token": token, "code": wrong}),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let r = public(
        &w,
        "/users/v1/invitation/accept/code",
        json!({"userId": uid, "token": token, "code": code}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(memberships(&w, &uid).contains(&(a.clone(), false)));
    // Removing the invitee from B voids B's invitation.
    let other = if std::ptr::eq(for_a, &m3) { &m4 } else { &m3 };
    let (_, tb) = link_parts(&other.body);
    let r = w
        .env(
            Method::DELETE,
            &format!("{P}/users/v1/{uid}"),
            Some(&b),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = public(
        &w,
        "/users/v1/invitation/accept",
        json!({"userId": uid, "token": tb}),
    )
    .await;
    r.assert_error(404, "ER-NOT-FOUND");
    assert!(!memberships(&w, &uid).iter().any(|(t, _)| *t == b));
    w.cp.assert_served(&[
        "UsersTenantManagementControllerV1_acceptInvitationWithCode",
        "UsersTenantManagementControllerV1_resetAllTenantsInvitationToken",
    ]);
}
