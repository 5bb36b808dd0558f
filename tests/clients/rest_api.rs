//! `@frontegg/rest-api` 7.119.0 (the client under Frontegg's login box and admin portal),
//! unmodified, driven from Node by `tests/js/login-box.mjs` in the order the login box and
//! portal call it, from a page on another origin (`tests/js/browser.mjs` adds the `Origin`
//! header, preflights, CORS checks and a cookie jar with a browser's rules). The packages
//! come from the committed lock file (`npm ci`, run here when `tests/js/node_modules` is
//! missing).

use std::path::{Path, PathBuf};
use std::process::Command;

use control_plane::config::Config;

use crate::support::{Cp, repo_root, system_tool};

/// The origin the login box page is served from: another site than the control plane's
/// `127.0.0.1`, so cookies need `SameSite=None; Secure` and every call needs CORS.
const APP_ORIGIN: &str = "http://localhost:5173";

/// `node`, with the suite's packages installed from the lock file; `None` (skipped) where
/// Node is missing and the system tools are not required.
pub fn node_with_packages() -> Option<(PathBuf, PathBuf)> {
    let node = system_tool(&["/usr/bin/node", "/usr/local/bin/node"], "nodejs npm")?;
    let dir = repo_root().join("tests/js");
    let installed = ["@frontegg/rest-api", "@frontegg/client", "esbuild"]
        .iter()
        .all(|p| dir.join(format!("node_modules/{p}/package.json")).exists());
    if !installed {
        let npm = node.with_file_name("npm");
        let status = Command::new(&npm)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci in tests/js failed");
    }
    Some((node, dir))
}

/// Run `script` of `dir` with the interpreter `node` (or python) and `env`: whether it
/// succeeded, and what it printed.
pub fn run(node: &Path, dir: &Path, script: &str, env: &[(&str, String)]) -> (bool, String) {
    let out = Command::new(node)
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("node runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_box_and_portal_flows_pass_with_the_real_browser_client() {
    let Some((node, dir)) = node_with_packages() else {
        return;
    };
    let outbox = tempfile::tempdir().unwrap();
    let mut config = Config::for_test();
    config.email_outbox = Some(outbox.path().to_path_buf());
    config.allowed_origins = vec![APP_ORIGIN.into()];
    let cp = Cp::start_with(config).await;
    let env = [
        ("TESSERA_URL", cp.running.url()),
        ("TESSERA_CLIENT_ID", cp.client_id.clone()),
        ("TESSERA_API_KEY", cp.api_key.clone()),
        ("TESSERA_OUTBOX", outbox.path().display().to_string()),
        ("APP_ORIGIN", APP_ORIGIN.to_owned()),
    ];
    let (ok, text) = tokio::task::spawn_blocking(move || run(&node, &dir, "login-box.mjs", &env))
        .await
        .unwrap();
    println!("{text}");
    assert!(ok, "the rest-api suite failed:\n{text}");
    // Every step ran: a suite that stopped early would not print the last one.
    assert!(text.contains("ok logout ends the session"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
}
