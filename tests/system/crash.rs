//! Crash durability under mixed security writes (`security.md` §4.1, R6), against the real
//! control-plane binary: writers create users, guess passwords (lockout counting), rotate
//! refresh tokens, log out and add IP rules, recording every acknowledged outcome; the
//! process is `kill -9`ed at a random moment, restarted on the same data directory, and
//! every acknowledged write and invariant is checked:
//! - every acknowledged user is there, by id and by email (no orphaned index entry);
//! - lockout counts never go backwards: after a restart, exactly the guesses still missing
//!   from the acknowledged count lock the account;
//! - at most one live refresh token per session: the last acknowledged token still works
//!   unless a rotation was in flight at the crash, and an acknowledged rotation's
//!   predecessor never does;
//! - every acknowledged logout stays logged out;
//! - every acknowledged IP rule is listed.
//!
//! CI runs 20 trials; `TESSERA_CRASH_TRIALS=200 cargo test -p tessera-tests --test e2e --
//! crash --nocapture` runs the §4.1 count.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::http_client;
use crate::support::process::{Proc, spawn_control_plane_with};

const CLIENT_ID: &str = "crash-client";
const API_KEY: &str = "crash-key-0123456789abcdef";
const PASSWORD: &str = "Crash-Passw0rd!-long-enough";
const MAX_ATTEMPTS: usize = 4;
const USERS: &str = "/identity/resources/users/v1";
const LOGIN: &str = "/identity/resources/auth/v1/user";
const REFRESH: &str = "/frontegg/identity/resources/auth/v1/user/token/refresh";
const LOGOUT: &str = "/identity/resources/auth/v1/logout";
const IP: &str = "/identity/resources/configurations/v1/restrictions/ip";

fn start(dir: &std::path::Path) -> Proc {
    spawn_control_plane_with(
        dir,
        CLIENT_ID,
        API_KEY,
        &["--argon2-memory-kib", "64", "--argon2-iterations", "1"],
    )
}

/// A small deterministic generator (xorshift), seeded from the clock and printed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

struct Api {
    client: reqwest::Client,
    base: String,
    env: String,
}

impl Api {
    async fn connect(base: &str) -> Api {
        let client = http_client();
        let r = client
            .post(format!("{base}/auth/vendor"))
            .json(&json!({"clientId": CLIENT_ID, "secret": API_KEY}))
            .send()
            .await
            .expect("vendor auth answered");
        assert_eq!(r.status(), 200);
        let env = r.json::<Value>().await.expect("json")["token"]
            .as_str()
            .expect("token")
            .to_owned();
        Api {
            client,
            base: base.to_owned(),
            env,
        }
    }

    /// Send; `None` when the process did not answer (crashed mid-request).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        tenant: Option<&str>,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .timeout(Duration::from_secs(10));
        if ![LOGIN, REFRESH, LOGOUT].contains(&path) {
            req = req.header("x-access-token", &self.env);
        }
        if let Some(t) = tenant {
            req = req.header("frontegg-tenant-id", t);
        }
        if let Some(c) = cookie {
            req = req.header(
                "cookie",
                format!("fe_refresh_{}={c}", CLIENT_ID.replace('-', "")),
            );
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.ok()?;
        let status = r.status().as_u16();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        Some((status, body))
    }

    async fn login(&self, email: &str, password: &str) -> Option<(u16, Value)> {
        self.send(
            reqwest::Method::POST,
            LOGIN,
            None,
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    async fn create_user(&self, tenant: &str, email: &str) -> Option<String> {
        let (status, body) = self
            .send(
                reqwest::Method::POST,
                USERS,
                Some(tenant),
                None,
                Some(json!({"email": email, "name": "Crash", "password": PASSWORD})),
            )
            .await?;
        if status != 201 {
            return None;
        }
        let id = body["id"].as_str()?.to_owned();
        let (status, _) = self
            .send(
                reqwest::Method::POST,
                &format!("{USERS}/{id}/verify"),
                None,
                None,
                None,
            )
            .await?;
        (status == 200).then_some(id)
    }
}

/// A session being rotated: the last acknowledged refresh token, the one before it, and
/// whether a rotation was sent but not answered when the process died.
#[derive(Clone, Default)]
struct Session {
    latest: String,
    previous: Option<String>,
    in_flight: bool,
    rotations: usize,
}

/// What the control plane acknowledged during one trial.
#[derive(Default)]
struct Ledger {
    /// (id, email) of users whose creation and verification were acknowledged.
    users: Vec<(String, String)>,
    /// Acknowledged wrong guesses per email (each answered 401 before the crash).
    guesses: HashMap<String, usize>,
    sessions: Vec<Session>,
    /// Refresh tokens of sessions whose logout was acknowledged.
    logged_out: Vec<String>,
    /// CIDRs whose creation was acknowledged.
    ip_rules: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_security_writes_survive_kill_9() {
    let trials: usize = std::env::var("TESSERA_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    #[allow(clippy::disallowed_methods)] // a seed, printed for reproduction
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u64::from(d.subsec_nanos()) | 1);
    println!("crash harness: {trials} trials, seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("tempdir");

    // Setup: an account and the lockout policy, durable before the first crash.
    let mut cp = start(dir.path());
    let api = Api::connect(&cp.url).await;
    let (status, body) = api
        .send(
            reqwest::Method::POST,
            "/tenants/resources/tenants/v1",
            None,
            None,
            Some(json!({"name": "crash"})),
        )
        .await
        .expect("answered");
    assert_eq!(status, 201, "{body}");
    let tenant = body["tenantId"].as_str().expect("tenant").to_owned();
    let (status, body) = api
        .send(
            reqwest::Method::POST,
            "/identity/resources/configurations/v1/lockout-policy",
            None,
            None,
            Some(json!({"enabled": true, "maxAttempts": MAX_ATTEMPTS})),
        )
        .await
        .expect("answered");
    assert!(status / 100 == 2, "{status} {body}");

    // Acknowledged over all trials: users, guesses, logouts, IP rules.
    let (mut users, mut guesses, mut logouts, mut rules) = (0, 0, 0, 0);
    let (mut strict, mut total_rotations) = (0usize, 0usize);
    let mut all_users: Vec<(String, String)> = Vec::new();
    let mut all_rules: BTreeSet<String> = BTreeSet::new();
    for trial in 0..trials {
        let api = Arc::new(Api::connect(&cp.url).await);
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        // Fresh users for guessing and for sessions, acknowledged before the load starts.
        let guess_email = format!("guess-{trial}@crash.example");
        let guess_id = api
            .create_user(&tenant, &guess_email)
            .await
            .expect("guess user");
        let mut sessions = Vec::new();
        for s in 0..3 {
            let email = format!("session-{trial}-{s}@crash.example");
            let id = api.create_user(&tenant, &email).await.expect("user");
            all_users.push((id, email.clone()));
            let (status, body) = api.login(&email, PASSWORD).await.expect("login");
            assert_eq!(status, 200, "{body}");
            sessions.push(Session {
                latest: body["refreshToken"].as_str().expect("refresh").to_owned(),
                ..Session::default()
            });
        }
        all_users.push((guess_id, guess_email.clone()));
        ledger.lock().expect("lock").sessions = sessions;

        let stop = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        // Users.
        for w in 0..2 {
            let (api, ledger, stop, tenant, counter) = (
                api.clone(),
                ledger.clone(),
                stop.clone(),
                tenant.clone(),
                counter.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let email = format!("u-{trial}-{w}-{n}@crash.example");
                    match api.create_user(&tenant, &email).await {
                        Some(id) => ledger.lock().expect("lock").users.push((id, email)),
                        None => return,
                    }
                }
            }));
        }
        // Wrong guesses, one at a time, stopping one short of the lock.
        {
            let (api, ledger, stop, email) = (
                api.clone(),
                ledger.clone(),
                stop.clone(),
                guess_email.clone(),
            );
            tasks.push(tokio::spawn(async move {
                for _ in 0..MAX_ATTEMPTS - 1 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    match api.login(&email, "wrong-password").await {
                        Some((401, _)) => {
                            *ledger
                                .lock()
                                .expect("lock")
                                .guesses
                                .entry(email.clone())
                                .or_default() += 1;
                        }
                        _ => return,
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        // Refresh rotation on each session.
        for s in 0..3 {
            let (api, ledger, stop) = (api.clone(), ledger.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let token = {
                        let mut l = ledger.lock().expect("lock");
                        l.sessions[s].in_flight = true;
                        l.sessions[s].latest.clone()
                    };
                    let Some((status, body)) = api
                        .send(reqwest::Method::POST, REFRESH, None, Some(&token), None)
                        .await
                    else {
                        return; // in flight at the crash: stays marked
                    };
                    assert_eq!(status, 201, "refresh: {body}");
                    let next = body["refreshToken"].as_str().expect("refresh").to_owned();
                    {
                        let mut l = ledger.lock().expect("lock");
                        l.sessions[s].previous =
                            Some(std::mem::replace(&mut l.sessions[s].latest, next));
                        l.sessions[s].in_flight = false;
                        l.sessions[s].rotations += 1;
                    }
                    // A pause, so the crash often finds no rotation in flight and the last
                    // acknowledged token must then be live.
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
            }));
        }
        // Login then logout.
        {
            let (api, ledger, stop) = (api.clone(), ledger.clone(), stop.clone());
            let email = all_users[all_users.len() - 2].1.clone();
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Some((200, body)) = api.login(&email, PASSWORD).await else {
                        return;
                    };
                    let refresh = body["refreshToken"].as_str().expect("refresh").to_owned();
                    match api
                        .send(reqwest::Method::POST, LOGOUT, None, Some(&refresh), None)
                        .await
                    {
                        Some((s, _)) if s / 100 == 2 => {
                            ledger.lock().expect("lock").logged_out.push(refresh);
                        }
                        _ => return,
                    }
                }
            }));
        }
        // IP rules.
        {
            let (api, ledger, stop) = (api.clone(), ledger.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let cidr = format!("198.18.{}.{}/32", trial % 256, i % 256);
                    i += 1;
                    if i > 250 {
                        return;
                    }
                    match api
                        .send(
                            reqwest::Method::POST,
                            IP,
                            None,
                            None,
                            Some(json!({"ip": cidr, "strategy": "BLOCK"})),
                        )
                        .await
                    {
                        Some((s, _)) if s / 100 == 2 => {
                            ledger.lock().expect("lock").ip_rules.push(cidr);
                        }
                        _ => return,
                    }
                }
            }));
        }

        // Crash at a random moment.
        let after = Duration::from_millis(50 + rng.below(550));
        tokio::time::sleep(after).await;
        cp.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("writer task");
        }

        // Restart on the same data and check everything acknowledged.
        let restarted_at = Instant::now();
        cp = start(dir.path());
        let restart_ms = restarted_at.elapsed().as_millis();
        let api = Api::connect(&cp.url).await;
        let ledger = std::mem::take(&mut *ledger.lock().expect("lock"));
        all_users.extend(ledger.users.iter().cloned());
        all_rules.extend(ledger.ip_rules.iter().cloned());

        // Users: by id and by email.
        for (id, email) in &ledger.users {
            let (s, body) = api
                .send(
                    reqwest::Method::GET,
                    &format!("{USERS}/{id}"),
                    Some(&tenant),
                    None,
                    None,
                )
                .await
                .expect("answered");
            assert_eq!(s, 200, "trial {trial}: acknowledged user {id} lost: {body}");
            let (s, body) = api
                .send(
                    reqwest::Method::GET,
                    &format!("{USERS}/email?email={}", email.replace('@', "%40")),
                    None,
                    None,
                    None,
                )
                .await
                .expect("answered");
            assert_eq!(s, 200, "trial {trial}: {email} not found by email");
            assert_eq!(
                body["id"],
                json!(id),
                "trial {trial}: email index points elsewhere"
            );
        }
        // Lockout counts never go backwards.
        let acked = ledger.guesses.get(&guess_email).copied().unwrap_or(0);
        for _ in acked..MAX_ATTEMPTS {
            api.login(&guess_email, "wrong-password")
                .await
                .expect("answered");
        }
        let (s, _) = api.login(&guess_email, PASSWORD).await.expect("answered");
        assert_eq!(
            s,
            401,
            "trial {trial}: {acked} acknowledged failures were forgotten (not locked after {} more)",
            MAX_ATTEMPTS - acked
        );
        // Refresh families: at most one live token, none lost.
        for (i, sess) in ledger.sessions.iter().enumerate() {
            let (s, _) = api
                .send(
                    reqwest::Method::POST,
                    REFRESH,
                    None,
                    Some(&sess.latest),
                    None,
                )
                .await
                .expect("answered");
            assert!(
                s == 201 || sess.in_flight,
                "trial {trial}: session {i}: the last acknowledged refresh token was lost ({s})"
            );
            if let Some(prev) = &sess.previous {
                let (s, _) = api
                    .send(reqwest::Method::POST, REFRESH, None, Some(prev), None)
                    .await
                    .expect("answered");
                assert_ne!(
                    s, 201,
                    "trial {trial}: session {i}: a rotated-out token is live"
                );
            }
        }
        for t in &ledger.logged_out {
            let (s, _) = api
                .send(reqwest::Method::POST, REFRESH, None, Some(t), None)
                .await
                .expect("answered");
            assert_eq!(s, 401, "trial {trial}: an acknowledged logout was undone");
        }
        // IP rules (every page; `_offset` is a page number).
        let mut listed: BTreeSet<String> = BTreeSet::new();
        for page in 0.. {
            let (s, body) = api
                .send(
                    reqwest::Method::GET,
                    &format!("{IP}?_limit=1000&_offset={page}"),
                    None,
                    None,
                    None,
                )
                .await
                .expect("answered");
            assert_eq!(s, 200, "{body}");
            let items = body["items"].as_array().expect("items");
            listed.extend(
                items
                    .iter()
                    .filter_map(|r| r["ip"].as_str().map(str::to_owned)),
            );
            if items.len() < 1000 {
                break;
            }
        }
        for cidr in &ledger.ip_rules {
            assert!(listed.contains(cidr), "trial {trial}: IP rule {cidr} lost");
        }
        let in_flight = ledger.sessions.iter().filter(|s| s.in_flight).count();
        let rotations: usize = ledger.sessions.iter().map(|s| s.rotations).sum();
        println!(
            "trial {trial}: kill -9 after {} ms; acknowledged {} users, {acked} guesses, {rotations} rotations ({} of 3 sessions checked strictly), {} logouts, {} IP rules — all present; restart {restart_ms} ms",
            after.as_millis(),
            ledger.users.len(),
            3 - in_flight,
            ledger.logged_out.len(),
            ledger.ip_rules.len()
        );
        users += ledger.users.len();
        guesses += acked;
        logouts += ledger.logged_out.len();
        rules += ledger.ip_rules.len();
        strict += 3 - in_flight;
        total_rotations += rotations;
    }
    // Across all trials: nothing acknowledged earlier was lost later.
    let api = Api::connect(&cp.url).await;
    for (id, _) in &all_users {
        let (s, _) = api
            .send(
                reqwest::Method::GET,
                &format!("{USERS}/{id}"),
                Some(&tenant),
                None,
                None,
            )
            .await
            .expect("answered");
        assert_eq!(s, 200, "user {id} from an earlier trial lost");
    }
    println!(
        "crash harness: {trials} trials, 0 acknowledged writes lost ({users} users, {guesses} guesses, {total_rotations} refresh rotations with {strict} sessions checked strictly, {logouts} logouts, {rules} IP rules), {} users and {} rules present at the end",
        all_users.len(),
        all_rules.len()
    );
    assert!(
        strict > 0,
        "no trial checked a session strictly; the harness proves nothing"
    );
    cp.kill9();
}
