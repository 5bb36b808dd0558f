//! User groups: CRUD per account, members and roles, group roles in effective permissions
//! (tokens and me/authorization), the configuration switches, isolation and cascades.

use reqwest::Method;
use serde_json::json;

use crate::support::world::World as Env;

const GROUPS: &str = "/identity/resources/groups/v1";
const USERS_V1: &str = "/identity/resources/users/v1";
const ROLES: &str = "/identity/resources/roles/v1";

#[tokio::test]
async fn group_roles_reach_members_and_leave_with_them() {
    let e = Env::new().await;
    let t = e.tenant("T").await;
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

    let token = e.token_for("member@example.com").await;
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
    let fresh = e.token_for("member@example.com").await;
    let claims = crate::support::claims(&fresh);
    assert_eq!(claims["roles"], json!(["ReadOnly"]));
    // users/v3/roles lists the roles held in the account itself (the ones the team page
    // edits): none — the role comes with the group, which users/v3/groups shows.
    let roles = e
        .env(
            Method::GET,
            &format!("/identity/resources/users/v3/roles?ids={uid}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(
        roles.body,
        json!([{"userId": uid, "roleIds": []}]),
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
    assert_eq!(groups.body[0]["userId"], uid.as_str());
    assert_eq!(
        groups.body[0]["groupIds"].as_array().unwrap().len(),
        1,
        "{}",
        groups.text
    );

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
    let a = e.tenant("T").await;
    let b = e.tenant("T").await;
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
    let reader = e.token_for("reader@example.com").await;
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
    let t = e.tenant("T").await;
    let uid = e.user(&t, "m@example.com", &[]).await;
    let token = e.token_for("m@example.com").await;
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
