//! Permissions, categories and roles with an environment token: seeded built-ins, CRUD,
//! uniqueness, cascades, pagination, and the response shapes of the spec.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Cp, Reply};

const PERMS: &str = "/identity/resources/permissions/v1";
const CATS: &str = "/identity/resources/permissions/v1/categories";
const ROLES: &str = "/identity/resources/roles/v1";
const ROLES_V2: &str = "/identity/resources/roles/v2";
const TENANTS: &str = "/tenants/resources/tenants/v1";

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
    async fn call(&self, m: Method, path: &str, body: Option<Value>) -> Reply {
        self.cp
            .call(m, path, Some(&self.token), body.as_ref())
            .await
    }
    async fn call_tenant(&self, m: Method, path: &str, tenant: &str, body: Option<Value>) -> Reply {
        self.cp
            .call_in(m, path, &self.token, Some(tenant), body.as_ref())
            .await
    }
    async fn tenant(&self) -> String {
        let r = self
            .call(Method::POST, TENANTS, Some(json!({"name": "Acme"})))
            .await;
        r.body["tenantId"].as_str().unwrap().to_owned()
    }
    async fn permission_id(&self, key: &str) -> String {
        let all = self.call(Method::GET, PERMS, None).await.body;
        all.as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"] == key)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    async fn role(&self, key: &str) -> Value {
        let all = self.call(Method::GET, ROLES, None).await.body;
        all.as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .cloned()
            .unwrap()
    }
}

#[tokio::test]
async fn built_ins_are_seeded_and_protected() {
    let e = Env::new().await;
    let perms = e.call(Method::GET, PERMS, None).await;
    perms.assert_spec("PermissionsControllerV1_getAllPermissions", 200);
    let list = perms.body.as_array().unwrap();
    let read_users = list
        .iter()
        .find(|p| p["key"] == "fe.secure.read.users")
        .expect("seeded");
    assert_eq!(read_users["fePermission"], true);
    assert!(list.iter().any(|p| p["key"] == "fe.secure.*"));
    let roles = e.call(Method::GET, ROLES, None).await;
    roles.assert_spec("PermissionsControllerV1_getAllRoles", 200);
    let admin = e.role("Admin").await;
    let read_only = e.role("ReadOnly").await;
    assert_eq!(
        (admin["level"].as_u64(), read_only["level"].as_u64()),
        (Some(0), Some(1))
    );
    let wildcard = e.permission_id("fe.secure.*").await;
    assert!(
        admin["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!(wildcard))
    );
    assert_eq!(admin["firstUserRole"], true);
    let cats = e.call(Method::GET, CATS, None).await;
    cats.assert_spec(
        "PermissionsCategoriesController_getAllCategoriesWithPermissions",
        200,
    );
    let builtin_cat = cats
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["feCategory"] == true)
        .unwrap()
        .clone();

    let pid = read_users["id"].as_str().unwrap();
    e.call(Method::DELETE, &format!("{PERMS}/{pid}"), None)
        .await
        .assert_error(403, "ER-FORBIDDEN");
    e.call(
        Method::PATCH,
        &format!("{PERMS}/{pid}"),
        Some(json!({"key": "x.y"})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    e.call(
        Method::PATCH,
        &format!("{PERMS}/{pid}"),
        Some(json!({"name": "Renamed"})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    let described = e
        .call(
            Method::PATCH,
            &format!("{PERMS}/{pid}"),
            Some(json!({"description": "Read users"})),
        )
        .await;
    described.assert_spec("PermissionsControllerV1_updatePermission", 200);
    assert_eq!(described.body["description"], "Read users");
    let aid = admin["id"].as_str().unwrap();
    e.call(Method::DELETE, &format!("{ROLES}/{aid}"), None)
        .await
        .assert_error(403, "ER-FORBIDDEN");
    e.call(
        Method::PATCH,
        &format!("{ROLES}/{aid}"),
        Some(json!({"key": "Boss"})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    let cid = builtin_cat["id"].as_str().unwrap();
    e.call(Method::DELETE, &format!("{CATS}/{cid}"), None)
        .await
        .assert_error(403, "ER-FORBIDDEN");
    // Nothing changed.
    assert_eq!(e.role("Admin").await["key"], "Admin");
    assert!(
        e.call(Method::GET, PERMS, None)
            .await
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == pid)
    );
}

#[tokio::test]
async fn permissions_crud_uniqueness_and_cascades() {
    let e = Env::new().await;
    let created = e
        .call(
            Method::POST,
            PERMS,
            Some(json!([{"key": "invoices.read", "name": "Read invoices"}, {"key": "invoices.write", "name": "Write invoices", "description": "w"}])),
        )
        .await;
    created.assert_spec("PermissionsControllerV1_addPermissions", 201);
    let read_id = created.body[0]["id"].as_str().unwrap().to_owned();
    let write_id = created.body[1]["id"].as_str().unwrap().to_owned();
    // All or nothing: one new key and one taken key create nothing.
    e.call(Method::POST, PERMS, Some(json!([{"key": "invoices.delete", "name": "d"}, {"key": "invoices.read", "name": "dup"}])))
        .await
        .assert_error(409, "ER-CONFLICT");
    for bad in [
        json!([{"key": "fe.secure.mine", "name": "x"}]),
        json!([{"key": "has space", "name": "x"}]),
        json!([{"key": "a.b", "name": ""}]),
        json!([{"key": "a.b", "name": "x"}, {"key": "a.b", "name": "y"}]),
        json!([]),
        json!([{"key": "a.b", "name": "x", "categoryId": "00000000-0000-4000-8000-000000000000"}]),
        json!([{"key": "a.b", "name": "x", "assignmentType": "SOMETIMES"}]),
    ] {
        e.call(Method::POST, PERMS, Some(bad.clone()))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    let keys: Vec<String> = e
        .call(Method::GET, PERMS, None)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap().to_owned())
        .collect();
    assert!(!keys.iter().any(|k| k == "invoices.delete" || k == "a.b"));

    // Rename frees the old key.
    let renamed = e
        .call(
            Method::PATCH,
            &format!("{PERMS}/{read_id}"),
            Some(json!({"key": "invoices.view"})),
        )
        .await;
    assert_eq!(renamed.body["key"], "invoices.view");
    let again = e
        .call(
            Method::POST,
            PERMS,
            Some(json!([{"key": "invoices.read", "name": "again"}])),
        )
        .await;
    assert_eq!(again.status, 201);
    e.call(
        Method::PATCH,
        &format!("{PERMS}/{read_id}"),
        Some(json!({"key": "invoices.write"})),
    )
    .await
    .assert_error(409, "ER-CONFLICT");

    // Role grants: PUT permission→roles adds, PUT role→permissions replaces.
    let role = e
        .call(
            Method::POST,
            ROLES,
            Some(json!([{"key": "Billing", "name": "Billing", "level": 5}])),
        )
        .await;
    role.assert_spec("PermissionsControllerV1_addRoles", 201);
    let rid = role.body[0]["id"].as_str().unwrap().to_owned();
    let set = e
        .call(
            Method::PUT,
            &format!("{PERMS}/{read_id}/roles"),
            Some(json!({"roleIds": [rid]})),
        )
        .await;
    set.assert_spec("PermissionsControllerV1_setRolesToPermission", 200);
    assert_eq!(set.body["roleIds"], json!([rid]));
    let replaced = e
        .call(
            Method::PUT,
            &format!("{ROLES}/{rid}/permissions"),
            Some(json!({"permissionIds": [write_id]})),
        )
        .await;
    replaced.assert_spec("PermissionsControllerV1_setPermissionsToRole", 200);
    assert_eq!(replaced.body["permissions"], json!([write_id]));
    e.call(
        Method::PUT,
        &format!("{PERMS}/{read_id}/roles"),
        Some(json!({"roleIds": [rid]})),
    )
    .await;
    assert_eq!(
        e.role("Billing").await["permissions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // NEVER takes the permission out of roles and keeps it out.
    let classified = e
        .call(
            Method::PUT,
            &format!("{PERMS}/classification"),
            Some(json!({"permissionIds": [write_id], "type": "NEVER"})),
        )
        .await;
    assert_eq!(classified.status, 200, "{}", classified.text);
    assert_eq!(classified.body[0]["assignmentType"], "NEVER");
    crate::support::schema::assert_valid(
        &crate::support::spec(),
        "PermissionsControllerV1_updatePermissionsAssignmentType",
        200,
        &classified.body[0],
    );
    assert_eq!(e.role("Billing").await["permissions"], json!([read_id]));
    e.call(
        Method::PUT,
        &format!("{ROLES}/{rid}/permissions"),
        Some(json!({"permissionIds": [write_id]})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    e.call(
        Method::PUT,
        &format!("{PERMS}/{write_id}/roles"),
        Some(json!({"roleIds": [rid]})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");

    // Deleting a permission removes it from every role in the same transaction.
    let del = e
        .call(Method::DELETE, &format!("{PERMS}/{read_id}"), None)
        .await;
    assert_eq!(del.status, 204);
    assert_eq!(e.role("Billing").await["permissions"], json!([]));
    e.call(Method::DELETE, &format!("{PERMS}/{read_id}"), None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    e.cp.assert_served(&[
        "PermissionsControllerV1_addPermissions",
        "PermissionsControllerV1_updatePermission",
        "PermissionsControllerV1_deletePermission",
        "PermissionsControllerV1_setRolesToPermission",
        "PermissionsControllerV1_updatePermissionsAssignmentType",
        "PermissionsControllerV1_getAllPermissions",
        "PermissionsControllerV1_setPermissionsToRole",
    ]);
}

#[tokio::test]
async fn categories_crud() {
    let e = Env::new().await;
    let id = "6d1f2c3b-0a9e-4f7d-8c6b-5a4e3d2c1b0a";
    let c = e
        .call(
            Method::POST,
            CATS,
            Some(json!({"id": id, "name": "Billing", "description": "Money"})),
        )
        .await;
    c.assert_spec(
        "PermissionsCategoriesController_createPermissionCategory",
        201,
    );
    assert_eq!(c.body["id"], id);
    e.call(Method::POST, CATS, Some(json!({"id": id, "name": "Again"})))
        .await
        .assert_error(409, "ER-CONFLICT");
    e.call(Method::POST, CATS, Some(json!({"name": ""})))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    let p = e
        .call(
            Method::POST,
            PERMS,
            Some(json!([{"key": "bill.pay", "name": "Pay", "categoryId": id}])),
        )
        .await;
    assert_eq!(p.status, 201);
    let pid = p.body[0]["id"].as_str().unwrap().to_owned();
    let listed = e.call(Method::GET, CATS, None).await;
    listed.assert_spec(
        "PermissionsCategoriesController_getAllCategoriesWithPermissions",
        200,
    );
    let mine = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .cloned()
        .unwrap();
    assert_eq!(
        (mine["feCategory"].as_bool(), mine["permissionIds"].clone()),
        (Some(false), json!([pid]))
    );
    let updated = e
        .call(
            Method::PATCH,
            &format!("{CATS}/{id}"),
            Some(json!({"name": "Payments"})),
        )
        .await;
    assert_eq!(
        (updated.status.as_u16(), updated.body["name"].as_str()),
        (200, Some("Payments"))
    );
    assert_eq!(updated.body["permissionIds"], json!([pid]));
    let del = e.call(Method::DELETE, &format!("{CATS}/{id}"), None).await;
    assert_eq!(del.status, 200);
    let perm = e
        .call(Method::GET, PERMS, None)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == pid.as_str())
        .cloned()
        .unwrap();
    assert!(perm["categoryId"].is_null(), "{perm}");
    e.call(Method::DELETE, &format!("{CATS}/{id}"), None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    e.cp.assert_served(&[
        "PermissionsCategoriesController_getAllCategoriesWithPermissions",
        "PermissionsCategoriesController_createPermissionCategory",
        "PermissionsCategoriesController_updateCategory",
        "PermissionsCategoriesController_deleteCategory",
    ]);
}

#[tokio::test]
async fn account_roles_scopes_and_pagination() {
    let e = Env::new().await;
    let t = e.tenant().await;
    let other = e.tenant().await;
    let missing = "00000000-0000-4000-8000-000000000000";
    // Account role with the header; the account must exist and the id be a UUID.
    let r = e
        .call_tenant(
            Method::POST,
            ROLES,
            &t,
            Some(json!([{"key": "Auditor", "name": "Auditor", "level": 3}])),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body[0]["tenantId"], t.as_str());
    let auditor = r.body[0]["id"].as_str().unwrap().to_owned();
    e.call_tenant(
        Method::POST,
        ROLES,
        missing,
        Some(json!([{"key": "X", "name": "X", "level": 3}])),
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    e.call_tenant(Method::GET, ROLES, "not-a-uuid", None)
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    // Keys: an account role cannot shadow an environment role, nor vice versa.
    e.call_tenant(
        Method::POST,
        ROLES,
        &t,
        Some(json!([{"key": "Admin", "name": "x", "level": 3}])),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    e.call(
        Method::POST,
        ROLES,
        Some(json!([{"key": "Auditor", "name": "x", "level": 3}])),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    // Another account may use the same key.
    assert_eq!(
        e.call_tenant(
            Method::POST,
            ROLES,
            &other,
            Some(json!([{"key": "Auditor", "name": "A", "level": 4}]))
        )
        .await
        .status,
        201
    );
    for bad in [
        json!([{"key": "L", "name": "L", "level": -1}]),
        json!([{"key": "L", "name": "L", "level": 40000}]),
        json!([{"key": "L", "name": "L"}]),
    ] {
        e.call(Method::POST, ROLES, Some(bad))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    // Visibility: environment roles always, account roles with their header only.
    let keys = |r: &Reply| -> Vec<String> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["key"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!keys(&e.call(Method::GET, ROLES, None).await).contains(&"Auditor".to_owned()));
    let with = e.call_tenant(Method::GET, ROLES, &t, None).await;
    assert_eq!(keys(&with).iter().filter(|k| *k == "Auditor").count(), 1);

    // v2: pagination, filters, sort.
    for i in 0..5 {
        e.call(
            Method::POST,
            ROLES,
            Some(json!([{"key": format!("R{i}"), "name": format!("Role {i}"), "level": 10 + i}])),
        )
        .await;
    }
    let p = e
        .call(
            Method::GET,
            &format!("{ROLES_V2}?_limit=3&_offset=0&_sortBy=level&_order=DESC"),
            None,
        )
        .await;
    p.assert_spec("PermissionsControllerV2_getAllRoles", 200);
    assert_eq!(p.body["_metadata"]["totalItems"], 7);
    assert_eq!(p.body["_metadata"]["totalPages"], 3);
    assert_eq!(p.body["items"][0]["key"], "R4");
    let last = e
        .call(
            Method::GET,
            &format!("{ROLES_V2}?_limit=3&_offset=2&_sortBy=level&_order=DESC"),
            None,
        )
        .await;
    assert_eq!(last.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(last.body["items"][0]["key"], "Admin");
    let lv = e
        .call(
            Method::GET,
            &format!("{ROLES_V2}?_levels=11&_levels=13&_sortBy=level"),
            None,
        )
        .await;
    assert_eq!(
        keys(&Reply {
            body: lv.body["items"].clone(),
            ..lv
        }),
        ["R1", "R3"]
    );
    let f = e
        .call(Method::GET, &format!("{ROLES_V2}?_filter=role%203"), None)
        .await;
    assert_eq!(f.body["_metadata"]["totalItems"], 1);
    let none = e
        .call(
            Method::GET,
            &format!("{ROLES_V2}?_filter=nothing-matches"),
            None,
        )
        .await;
    assert_eq!(
        (
            none.body["_metadata"]["totalPages"].as_u64(),
            none.body["items"].as_array().unwrap().len()
        ),
        (Some(0), 0)
    );
    let tids = e
        .call_tenant(Method::GET, &format!("{ROLES_V2}?_tenantIds={t}"), &t, None)
        .await;
    assert_eq!(tids.body["_metadata"]["totalItems"], 1);
    for bad in [
        "_limit=0",
        "_limit=abc",
        "_offset=-1",
        "_order=UP",
        "_sortBy=secret",
        "_levels=x",
    ] {
        e.call(Method::GET, &format!("{ROLES_V2}?{bad}"), None)
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    let levels = e
        .call_tenant(
            Method::GET,
            &format!("{ROLES_V2}/distinct-levels"),
            &t,
            None,
        )
        .await;
    assert_eq!(levels.body, json!([0, 1, 3, 10, 11, 12, 13, 14]));
    let tenants = e
        .call(Method::GET, &format!("{ROLES_V2}/distinct-tenants"), None)
        .await;
    let mut expected = vec![t.clone(), other.clone()];
    expected.sort();
    assert_eq!(tenants.body, json!(expected));

    // v2 create: an account role at the base role's level, with a subset of its permissions.
    let read_users = e.permission_id("fe.secure.read.users").await;
    let read_only = e.role("ReadOnly").await;
    let read_all = read_only["permissions"][0].as_str().unwrap().to_owned();
    let made = e
        .call_tenant(
            Method::POST,
            ROLES_V2,
            &t,
            Some(json!({"key": "Viewer", "name": "Viewer", "baseRoleId": read_only["id"], "permissionIds": [read_all]})),
        )
        .await;
    made.assert_spec("RolesControllerV2_addRole", 200);
    assert_eq!(made.body["tenantId"], t.as_str());
    e.call_tenant(
        Method::POST,
        ROLES_V2,
        &t,
        Some(json!({"key": "Sneaky", "name": "S", "baseRoleId": read_only["id"], "permissionIds": [read_users]})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    e.call(Method::POST, ROLES_V2, Some(json!({"key": "NoTenant", "name": "N", "baseRoleId": read_only["id"], "permissionIds": []})))
        .await
        .assert_error(400, "ER-INVALID-INPUT");

    // Move a role to another account, update, delete.
    let moved = e
        .call(
            Method::PUT,
            &format!("{ROLES}/{auditor}/tenant"),
            Some(json!({"tenantId": other})),
        )
        .await;
    assert_eq!(
        moved.status, 409,
        "the other account has its own Auditor: {}",
        moved.text
    );
    let r0 = e.role("R0").await["id"].as_str().unwrap().to_owned();
    let moved = e
        .call(
            Method::PUT,
            &format!("{ROLES}/{r0}/tenant"),
            Some(json!({"tenantId": t})),
        )
        .await;
    moved.assert_spec("PermissionsControllerV1_updateRoleTenant", 200);
    assert_eq!(moved.body["tenantId"], t.as_str());
    let upd = e
        .call(
            Method::PATCH,
            &format!("{ROLES}/{auditor}"),
            Some(json!({"name": "Auditors", "level": 2, "isDefault": true})),
        )
        .await;
    upd.assert_spec("PermissionsControllerV1_updateRole", 200);
    assert_eq!(
        (upd.body["level"].as_u64(), upd.body["isDefault"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(
        e.call(Method::DELETE, &format!("{ROLES}/{auditor}"), None)
            .await
            .status,
        204
    );
    e.call(Method::DELETE, &format!("{ROLES}/{auditor}"), None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    e.cp.assert_served(&[
        "PermissionsControllerV1_getAllRoles",
        "PermissionsControllerV1_addRoles",
        "PermissionsControllerV1_updateRole",
        "PermissionsControllerV1_deleteRole",
        "PermissionsControllerV1_updateRoleTenant",
        "PermissionsControllerV2_getAllRoles",
        "RolesControllerV2_addRole",
        "RolesControllerV2_getDistinctLevels",
        "RolesControllerV2_getDistinctTenants",
    ]);
}
