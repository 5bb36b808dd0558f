//! Spawning the real binaries and reading the address they print.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A child process that is killed when dropped.
pub struct Proc {
    pub child: Child,
    /// The first `http://…` URL the process printed.
    pub url: String,
    /// Every line it has printed to stdout so far.
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proc {
    /// SIGTERM first (so a control plane stops the dev sidecar it started), SIGKILL after 5 s.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Send SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait works") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The stdout lines printed so far, after waiting `settle` for more to arrive.
    pub fn stdout(&self, settle: Duration) -> Vec<String> {
        std::thread::sleep(settle);
        self.stdout.lock().expect("not poisoned").clone()
    }

    /// Send a signal by name (`STOP`, `CONT`, `TERM`…).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "SIG{name} is delivered");
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("reaped");
    }
}

/// Spawn the control plane with a data directory and fixed credentials on a free port.
pub fn spawn_control_plane(data_dir: &Path, client_id: &str, api_key: &str) -> Proc {
    spawn_control_plane_with(data_dir, client_id, api_key, &[])
}

/// [`spawn_control_plane`] with more flags.
pub fn spawn_control_plane_with(
    data_dir: &Path,
    client_id: &str,
    api_key: &str,
    flags: &[&str],
) -> Proc {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().expect("utf-8 path"),
        "--client-id",
        client_id,
        "--api-key",
        api_key,
    ];
    args.extend_from_slice(flags);
    spawn(env!("CARGO_BIN_EXE_e2e-control-plane"), &args)
}

/// Spawn `bin` with `args`, wait until it prints its URL (at most 30 s).
pub fn spawn(bin: &str, args: &[&str]) -> Proc {
    // Never a dev sidecar on fixed ports from a test.
    spawn_with_env(bin, args, &[("TESSERA_DEV_SIDECAR", "off")])
}

/// A free loopback port (bound, then released).
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("bound").to_string()
}

/// [`spawn`] with extra environment variables.
pub fn spawn_with_env(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
    let mut child = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = lines.clone();
    std::thread::spawn(move || {
        // Reads until the child exits, so it never blocks on a full pipe.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(i) = line.find("http://") {
                let url: String = line[i..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send(url);
            }
            sink.lock().expect("not poisoned").push(line);
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the process printed its listening URL");
    Proc {
        child,
        url,
        stdout: lines,
    }
}

/// An environment token from a control plane at `base` with these credentials.
pub async fn vendor_token(base: &str, client_id: &str, api_key: &str) -> String {
    let r: serde_json::Value = super::http_client()
        .post(format!("{base}/auth/vendor"))
        .json(&serde_json::json!({"clientId": client_id, "secret": api_key}))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    r["token"].as_str().expect("a token").to_owned()
}

/// The ids of every account the control plane at `base` lists (the tenants API).
pub async fn tenant_ids(
    client: &reqwest::Client,
    base: &str,
    token: &str,
) -> std::collections::BTreeSet<String> {
    let list: serde_json::Value = client
        .get(format!("{base}/tenants/resources/tenants/v1"))
        .header("x-access-token", token)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    list.as_array()
        .expect("a list")
        .iter()
        .map(|t| t["tenantId"].as_str().expect("an id").to_owned())
        .collect()
}
