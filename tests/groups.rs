//! User groups: CRUD per account, members and roles, group roles in effective permissions
//! (tokens and me/authorization), the configuration switches, isolation and cascades.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Cp, Reply, reply};

const GROUPS: &str = "/identity/resources/groups/v1";
const TENANTS: &str = "/tenants/resources/tenants/v1";
const USERS_V1: &str = "/identity/resources/users/v1";
const ROLES: &str = "/identity/resources/roles/v1";
const PASSWORD: &str = "Group-Pass-1";

struct Env {
    cp: Cp,
    token: String,
}

impl Env {
    async fn new() -> Env {
        let cp = Cp::start().await;
        let token = cp.vendor_token().await;
        Env { cp, token }
    }
    async fn call(
        &self,
        bearer: &str,
        m: Method,
        path: &str,
        tenant: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .cp
            .client
            .request(m, self.cp.url(path))
            .header("authorization", format!("Bearer {bearer}"));
        if let Some(t) = tenant {
            req = req.header("frontegg-tenant-id", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        reply(req.send().await.unwrap()).await
    }
    async fn env(&self, m: Method, path: &str, tenant: Option<&str>, body: Option<Value>) -> Reply {
        self.call(&self.token, m, path, tenant, body).await
    }
    async fn tenant(&self) -> String {
        self.env(Method::POST, TENANTS, None, Some(json!({"name": "T"})))
            .await
            .body["tenantId"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    async fn role_id(&self, key: &str) -> String {
        let all = self.env(Method::GET, ROLES, None, None).await.body;
        all.as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    async fn user(&self, tenant: &str, email: &str, roles: &[&str]) -> String {
        let mut ids = Vec::new();
        for k in roles {
            ids.push(self.role_id(k).await);
        }
        let r = self
            .env(
                Method::POST,
                USERS_V1,
                Some(tenant),
                Some(json!({"email": email, "password": PASSWORD, "roleIds": ids})),
            )
            .await;
        let id = r.body["id"].as_str().unwrap().to_owned();
        self.env(Method::POST, &format!("{USERS_V1}/{id}/verify"), None, None)
            .await;
        id
    }
    async fn login(&self, email: &str) -> String {
        let r = self
            .cp
            .call(
                Method::POST,
                "/identity/resources/auth/v1/user",
                None,
                Some(&json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["accessToken"].as_str().unwrap().to_owned()
    }
    async fn my_permissions(&self, token: &str) -> Vec<String> {
        let r = self
            .call(
                token,
                Method::GET,
                "/identity/resources/users/v1/me/authorization",
                None,
                None,
            )
            .await;
        r.body["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["key"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn group_roles_reach_members_and_leave_with_them() {
    let e = Env::new().await;
    let t = e.tenant().await;
    let uid = e.user(&t, "member@example.com", &[]).await;
    let created = e
        .env(
            Method::POST,
            GROUPS,
            Some(&t),
            Some(json!({"name": "Readers", "color": "#00f", "metadata": {"k": 1}})),
        )
        .await;
    created.assert_spec("GroupsControllerV1_createGroup", 201);
    let gid = created.body["id"].as_str().unwrap().to_owned();
    e.env(
        Method::POST,
        GROUPS,
        Some(&t),
        Some(json!({"name": "readers"})),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    e.env(
        Method::POST,
        GROUPS,
        Some(&t),
        Some(json!({"color": "red"})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");

    let token = e.login("member@example.com").await;
    assert!(e.my_permissions(&token).await.is_empty());
    let read_only = e.role_id("ReadOnly").await;
    assert_eq!(
        e.env(
            Method::POST,
            &format!("{GROUPS}/{gid}/users"),
            Some(&t),
            Some(json!({"userIds": [uid]}))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        e.env(
            Method::POST,
            &format!("{GROUPS}/{gid}/roles"),
            Some(&t),
            Some(json!({"roleIds": [read_only]}))
        )
        .await
        .status,
        201
    );
    // The group's role counts at once for the existing token, and goes into new tokens.
    assert_eq!(e.my_permissions(&token).await, ["fe.secure.read.*"]);
    let fresh = e.login("member@example.com").await;
    let claims = crate::support::claims(&fresh);
    assert_eq!(claims["roles"], json!(["ReadOnly"]));
    // users/v3/roles and users/v3/groups see it too.
    let roles = e
        .env(
            Method::GET,
            &format!("/identity/resources/users/v3/roles?ids={uid}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(
        roles.body[0]["roles"][0]["key"], "ReadOnly",
        "{}",
        roles.text
    );
    let groups = e
        .env(
            Method::GET,
            &format!("/identity/resources/users/v3/groups?ids={uid}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(groups.body[0]["groups"][0]["name"], "Readers");

    // Reads: v1 list, v2 page, bulkGet, by id — with relations.
    let list = e.env(Method::GET, GROUPS, Some(&t), None).await;
    list.assert_spec("GroupsControllerV1_getAllGroups", 200);
    assert_eq!(
        list.body["groups"][0]["users"][0]["email"],
        "member@example.com"
    );
    assert_eq!(list.body["groups"][0]["roles"][0]["key"], "ReadOnly");
    let only_roles = e
        .env(
            Method::GET,
            &format!("{GROUPS}?_groupsRelations=roles"),
            Some(&t),
            None,
        )
        .await;
    assert!(
        only_roles.body["groups"][0]["users"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let page = e
        .env(
            Method::GET,
            "/identity/resources/groups/v2?_limit=1&_sortBy=name",
            Some(&t),
            None,
        )
        .await;
    page.assert_spec("GroupsControllerV2_getAllGroupsPaginated", 200);
    assert_eq!(page.body["_metadata"]["totalPages"], 1);
    let bulk = e
        .env(
            Method::POST,
            &format!("{GROUPS}/bulkGet"),
            Some(&t),
            Some(json!({"groupsIds": [gid, "nope"]})),
        )
        .await;
    bulk.assert_spec("GroupsControllerV1_getGroupsByIds", 201);
    assert_eq!(bulk.body["groups"].as_array().unwrap().len(), 1);
    let one = e
        .env(Method::GET, &format!("{GROUPS}/{gid}"), Some(&t), None)
        .await;
    one.assert_spec("GroupsControllerV1_getGroupById", 200);
    let upd = e
        .env(
            Method::PATCH,
            &format!("{GROUPS}/{gid}"),
            Some(&t),
            Some(json!({"description": "All readers"})),
        )
        .await;
    upd.assert_spec("GroupsControllerV1_updateGroup", 200);
    assert_eq!(upd.body["description"], "All readers");

    // Taking the role from the group takes it from the member (event), then back for the
    // member-removal path.
    assert_eq!(
        e.env(
            Method::DELETE,
            &format!("{GROUPS}/{gid}/roles"),
            Some(&t),
            Some(json!({"roleIds": [read_only]}))
        )
        .await
        .status,
        200
    );
    assert!(e.my_permissions(&token).await.is_empty());
    e.env(
        Method::POST,
        &format!("{GROUPS}/{gid}/roles"),
        Some(&t),
        Some(json!({"roleIds": [read_only]})),
    )
    .await;
    assert_eq!(
        e.env(
            Method::DELETE,
            &format!("{GROUPS}/{gid}/users"),
            Some(&t),
            Some(json!({"userIds": [uid]}))
        )
        .await
        .status,
        200
    );
    assert!(e.my_permissions(&token).await.is_empty());
    e.env(
        Method::POST,
        &format!("{GROUPS}/{gid}/users"),
        Some(&t),
        Some(json!({"userIds": [uid]})),
    )
    .await;
    assert_eq!(
        e.env(Method::DELETE, &format!("{GROUPS}/{gid}"), Some(&t), None)
            .await
            .status,
        200
    );
    assert!(e.my_permissions(&token).await.is_empty());
    e.env(Method::GET, &format!("{GROUPS}/{gid}"), Some(&t), None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    let events = e
        .env(Method::GET, "/tessera/v1/events", None, None)
        .await
        .body;
    let removed = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "userRolesRemoved" && x["userId"] == uid.as_str())
        .count();
    assert_eq!(removed, 3, "{events}");
    e.cp.assert_served(&[
        "GroupsControllerV1_addUsersToGroup",
        "GroupsControllerV1_addRolesToGroup",
        "GroupsControllerV1_removeRolesFromGroup",
        "GroupsControllerV1_removeUsersFromGroup",
        "GroupsControllerV1_deleteGroup",
        "UsersControllerV3_getUsersRoles",
        "UsersControllerV3_getUsersGroups",
    ]);
}

#[tokio::test]
async fn groups_are_per_account_and_gated_for_user_tokens() {
    let e = Env::new().await;
    let a = e.tenant().await;
    let b = e.tenant().await;
    let outsider = e.user(&b, "b-user@example.com", &[]).await;
    e.user(&a, "reader@example.com", &["ReadOnly"]).await;
    let g = e
        .env(
            Method::POST,
            GROUPS,
            Some(&a),
            Some(json!({"name": "A team"})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gb = e
        .env(
            Method::POST,
            GROUPS,
            Some(&b),
            Some(json!({"name": "B team"})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Only members of the account join its groups; other accounts' groups are not found.
    e.env(
        Method::POST,
        &format!("{GROUPS}/{g}/users"),
        Some(&a),
        Some(json!({"userIds": [outsider]})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    e.env(Method::GET, &format!("{GROUPS}/{gb}"), Some(&a), None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    e.env(Method::GET, GROUPS, None, None)
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    let reader = e.login("reader@example.com").await;
    let listed = e.call(&reader, Method::GET, GROUPS, Some(&b), None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.body["groups"].as_array().unwrap().len(),
        1,
        "the header does not widen a user token"
    );
    assert_eq!(listed.body["groups"][0]["name"], "A team");
    e.call(
        &reader,
        Method::POST,
        GROUPS,
        None,
        Some(json!({"name": "Mine"})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    e.call(
        &reader,
        Method::DELETE,
        &format!("{GROUPS}/{g}"),
        None,
        None,
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
}

#[tokio::test]
async fn configuration_switches_and_role_cascade() {
    let e = Env::new().await;
    let t = e.tenant().await;
    let uid = e.user(&t, "m@example.com", &[]).await;
    let token = e.login("m@example.com").await;
    let custom = e
        .env(
            Method::POST,
            ROLES,
            None,
            Some(json!([{"key": "Viewer", "name": "Viewer", "level": 3}])),
        )
        .await;
    let viewer = custom.body[0]["id"].as_str().unwrap().to_owned();
    let read_only_perm = e
        .env(Method::GET, ROLES, None, None)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "ReadOnly")
        .unwrap()["permissions"]
        .clone();
    e.env(
        Method::PUT,
        &format!("{ROLES}/{viewer}/permissions"),
        None,
        Some(json!({"permissionIds": read_only_perm})),
    )
    .await;
    let g = e
        .env(Method::POST, GROUPS, Some(&t), Some(json!({"name": "G"})))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    e.env(
        Method::POST,
        &format!("{GROUPS}/{g}/users"),
        Some(&t),
        Some(json!({"userIds": [uid]})),
    )
    .await;
    e.env(
        Method::POST,
        &format!("{GROUPS}/{g}/roles"),
        Some(&t),
        Some(json!({"roleIds": [viewer]})),
    )
    .await;
    assert_eq!(e.my_permissions(&token).await, ["fe.secure.read.*"]);

    let cfg = e
        .env(Method::GET, &format!("{GROUPS}/config"), None, None)
        .await;
    cfg.assert_spec("GroupsControllerV1_getGroupsConfiguration", 200);
    assert_eq!(cfg.body, json!({"enabled": true, "rolesEnabled": true}));
    let off = e
        .env(
            Method::POST,
            &format!("{GROUPS}/config"),
            None,
            Some(json!({"rolesEnabled": false})),
        )
        .await;
    assert_eq!(off.status, 201);
    assert!(
        e.my_permissions(&token).await.is_empty(),
        "group roles do not count while disabled"
    );
    e.env(
        Method::POST,
        &format!("{GROUPS}/config"),
        None,
        Some(json!({"enabled": false, "rolesEnabled": true})),
    )
    .await;
    e.env(Method::GET, GROUPS, Some(&t), None)
        .await
        .assert_error(403, "ER-FORBIDDEN");
    e.env(
        Method::POST,
        &format!("{GROUPS}/config"),
        None,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(e.my_permissions(&token).await, ["fe.secure.read.*"]);
    // Deleting the role takes it out of the group in the same transaction.
    assert_eq!(
        e.env(Method::DELETE, &format!("{ROLES}/{viewer}"), None, None)
            .await
            .status,
        204
    );
    let group = e
        .env(Method::GET, &format!("{GROUPS}/{g}"), Some(&t), None)
        .await;
    assert!(group.body["roles"].as_array().unwrap().is_empty());
    assert!(e.my_permissions(&token).await.is_empty());
    // Removing the user from the account takes it out of the account's groups.
    assert_eq!(
        e.env(Method::DELETE, &format!("{USERS_V1}/{uid}"), Some(&t), None)
            .await
            .status,
        200
    );
    let group = e
        .env(Method::GET, &format!("{GROUPS}/{g}"), Some(&t), None)
        .await;
    assert!(group.body["users"].as_array().unwrap().is_empty());
    e.cp.assert_served(&["GroupsControllerV1_createOrUpdateGroupsConfiguration"]);
}
