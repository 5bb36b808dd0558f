//! The real control-plane binary as a child process, driven over HTTP: the setup the
//! process-level suites (outage, clock skew) share.

use std::path::Path;

use serde_json::{Value, json};

use super::process::{Proc, spawn_with_env};
use super::{Reply, reply};

/// The environment credentials every spawned control plane is given.
pub const CLIENT_ID: &str = "remote-client";
const API_KEY: &str = "remote-key-0123456789abcdef";
/// The sidecar token sidecars of a spawned control plane use.
pub const SIDECAR_TOKEN: &str = "remote-sidecar-token-0123456789abcdef";
/// The password of every user [`RemoteCp::verified_user`] creates.
pub const PASSWORD: &str = "Remote-Passw0rd!-long";

/// A spawned control plane with an environment token.
pub struct RemoteCp {
    pub proc: Proc,
    /// `http://127.0.0.1:port` (no trailing slash).
    pub base: String,
    /// Without pooled connections (a frozen process's idle ones are closed when it thaws).
    pub client: reqwest::Client,
    env: String,
}

impl RemoteCp {
    /// Spawn on a free port with data in `dir`, the cheapest argon2 and fixed credentials.
    pub async fn spawn(dir: &Path) -> RemoteCp {
        Self::spawn_with_env(dir, &[]).await
    }

    /// [`RemoteCp::spawn`] with extra environment variables for the process.
    pub async fn spawn_with_env(dir: &Path, extra: &[(&str, &str)]) -> RemoteCp {
        Self::spawn_with(
            dir,
            &["--argon2-memory-kib", "64", "--argon2-iterations", "1"],
            extra,
        )
        .await
    }

    /// Spawn with `flags` after the fixed ones (listen, data, credentials) — without them,
    /// the default argon2 cost — and extra environment variables.
    pub async fn spawn_with(dir: &Path, flags: &[&str], extra: &[(&str, &str)]) -> RemoteCp {
        // Never a dev sidecar on fixed ports from a test (as `process::spawn` ensures).
        let mut env = vec![("TESSERA_DEV_SIDECAR", "off")];
        env.extend_from_slice(extra);
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().expect("utf-8"),
            "--client-id",
            CLIENT_ID,
            "--api-key",
            API_KEY,
            "--sidecar-token",
            SIDECAR_TOKEN,
        ];
        args.extend_from_slice(flags);
        let proc = spawn_with_env(env!("CARGO_BIN_EXE_e2e-control-plane"), &args, &env);
        let base = proc.url.trim_end_matches('/').to_owned();
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let mut cp = RemoteCp {
            proc,
            base,
            client,
            env: String::new(),
        };
        let r = cp
            .post(
                "/auth/vendor",
                None,
                None,
                json!({"clientId": CLIENT_ID, "secret": API_KEY}),
            )
            .await;
        cp.env = r.body["token"].as_str().expect("token").to_owned();
        cp
    }

    /// POST JSON, with an `x-access-token` and a `frontegg-tenant-id` if given.
    pub async fn post(
        &self,
        path: &str,
        auth: Option<&str>,
        tenant: Option<&str>,
        body: Value,
    ) -> Reply {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(a) = auth {
            req = req.header("x-access-token", a);
        }
        if let Some(t) = tenant {
            req = req.header("frontegg-tenant-id", t);
        }
        reply(req.send().await.expect("answered")).await
    }

    /// GET with the environment token.
    pub async fn admin_get(&self, path: &str) -> Reply {
        let req = self
            .client
            .get(format!("{}{path}", self.base))
            .header("x-access-token", &self.env);
        reply(req.send().await.expect("answered")).await
    }

    /// PUT JSON with the environment token.
    pub async fn admin_put(&self, path: &str, body: Value) -> Reply {
        let req = self
            .client
            .put(format!("{}{path}", self.base))
            .header("x-access-token", &self.env)
            .json(&body);
        reply(req.send().await.expect("answered")).await
    }

    /// POST with the environment token.
    pub async fn admin(&self, path: &str, tenant: Option<&str>, body: Value) -> Reply {
        self.post(path, Some(&self.env.clone()), tenant, body).await
    }

    /// A new account's id.
    pub async fn tenant(&self, name: &str) -> String {
        let r = self
            .admin("/tenants/resources/tenants/v1", None, json!({"name": name}))
            .await;
        r.body["tenantId"].as_str().expect("tenant").to_owned()
    }

    /// A verified user of `tenant` with [`PASSWORD`]; its id.
    pub async fn verified_user(&self, tenant: &str, email: &str) -> String {
        let u = self
            .admin(
                "/identity/resources/users/v1",
                Some(tenant),
                json!({"email": email, "name": "U", "password": PASSWORD}),
            )
            .await;
        assert_eq!(u.status, 201, "{}", u.text);
        let id = u.body["id"].as_str().expect("id").to_owned();
        let v = self
            .admin(
                &format!("/identity/resources/users/v1/{id}/verify"),
                None,
                json!({}),
            )
            .await;
        assert!(v.status.is_success(), "{}", v.text);
        id
    }

    /// Log in with [`PASSWORD`].
    pub async fn login(&self, email: &str) -> Reply {
        self.post(
            "/identity/resources/auth/v1/user",
            None,
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await
    }
}
