//! `World`: an in-process control plane with an environment token and the helpers most
//! end-to-end tests share (management calls, user-token calls, accounts, roles, verified
//! users, logins).

use reqwest::Method;
use serde_json::{Value, json};

use super::{Cp, Reply};

/// The password of users made by [`World::user`].
pub const PASSWORD: &str = "Correct-Horse-9";

const USERS_V1: &str = "/identity/resources/users/v1";
const LOGIN: &str = "/identity/resources/auth/v1/user";
const ROLES: &str = "/identity/resources/roles/v1";
const TENANTS: &str = "/tenants/resources/tenants/v1";

/// A control plane with helpers.
pub struct World {
    /// The control plane.
    pub cp: Cp,
    /// A fresh environment token.
    pub token: String,
}

/// A request with optional management headers.
pub struct Req<'a> {
    pub method: Method,
    pub path: String,
    pub bearer: &'a str,
    pub tenant: Option<&'a str>,
    pub user: Option<&'a str>,
    pub body: Option<Value>,
}

impl World {
    pub async fn new() -> World {
        let cp = Cp::start().await;
        let token = cp.vendor_token().await;
        World { cp, token }
    }

    pub async fn send(&self, r: Req<'_>) -> Reply {
        let bearer = format!("Bearer {}", r.bearer);
        let mut headers = vec![("authorization", bearer.as_str())];
        if let Some(t) = r.tenant {
            headers.push(("frontegg-tenant-id", t));
        }
        if let Some(u) = r.user {
            headers.push(("frontegg-user-id", u));
        }
        self.cp
            .send(r.method, &r.path, None, &headers, r.body.as_ref())
            .await
    }

    /// Environment token, optional account header.
    pub async fn env(
        &self,
        method: Method,
        path: &str,
        tenant: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.send(Req {
            method,
            path: path.to_owned(),
            bearer: &self.token,
            tenant,
            user: None,
            body,
        })
        .await
    }

    /// User token.
    pub async fn as_user(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.send(Req {
            method,
            path: path.to_owned(),
            bearer: token,
            tenant: None,
            user: None,
            body,
        })
        .await
    }

    pub async fn tenant(&self, name: &str) -> String {
        let r = self
            .env(Method::POST, TENANTS, None, Some(json!({"name": name})))
            .await;
        r.body["tenantId"].as_str().unwrap().to_owned()
    }

    pub async fn role_id(&self, key: &str) -> String {
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

    /// A verified user with a password in `tenant` holding `roles` (keys).
    pub async fn user(&self, tenant: &str, email: &str, roles: &[&str]) -> String {
        let mut ids = Vec::new();
        for k in roles {
            ids.push(self.role_id(k).await);
        }
        let r = self
            .env(Method::POST, USERS_V1, Some(tenant), Some(json!({"email": email, "name": "Test User", "password": PASSWORD, "roleIds": ids})))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            self.env(Method::POST, &format!("{USERS_V1}/{id}/verify"), None, None)
                .await
                .status,
            200
        );
        id
    }

    pub async fn login(&self, email: &str) -> Reply {
        self.cp
            .call(
                Method::POST,
                LOGIN,
                None,
                Some(&json!({"email": email, "password": PASSWORD})),
            )
            .await
    }

    pub async fn token_for(&self, email: &str) -> String {
        let r = self.login(email).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["accessToken"].as_str().unwrap().to_owned()
    }
}

impl World {
    /// Any bearer token, optional account header.
    pub async fn call(
        &self,
        bearer: &str,
        method: Method,
        path: &str,
        tenant: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.send(Req {
            method,
            path: path.to_owned(),
            bearer,
            tenant,
            user: None,
            body,
        })
        .await
    }

    /// The permission keys `access` holds now, per `me/authorization`.
    pub async fn my_permissions(&self, access: &str) -> Vec<String> {
        let r = self
            .as_user(
                access,
                Method::GET,
                "/identity/resources/users/v1/me/authorization",
                None,
            )
            .await;
        r.body["permissions"]
            .as_array()
            .expect("permissions")
            .iter()
            .map(|p| p["key"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}
