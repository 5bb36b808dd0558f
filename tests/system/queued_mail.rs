//! The durable message queue under `kill -9`, against the real binary and a real SMTP
//! conversation: sign-ups are acknowledged while the mail server refuses for now (451), the
//! control plane is killed, the server comes back, and after the restart every
//! acknowledged activation mail arrives exactly once — and a second crash, after the
//! deliveries, sends none of them again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::http_client;
use crate::support::process::{Proc, spawn_control_plane_with};
use crate::support::smtp::Received;
use serde_json::json;

fn start(dir: &std::path::Path, smtp_port: u16) -> Proc {
    spawn_control_plane_with(
        dir,
        "queue-client",
        "queue-key-0123456789abcdef",
        &[
            "--argon2-memory-kib",
            "64",
            "--argon2-iterations",
            "1",
            "--smtp-url",
            &format!("smtp://127.0.0.1:{smtp_port}"),
        ],
    )
}

fn count(inbox: &Mutex<Vec<Received>>, to: &str) -> usize {
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.rcpt == to)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_mail_survives_kill_9_and_arrives_exactly_once() {
    const USERS: usize = 8;
    let down = Arc::new(AtomicBool::new(true));
    let (port, inbox) = crate::support::smtp::sink(down.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cp = start(dir.path(), port);
    let http = http_client();
    let mut acked = Vec::new();
    for i in 0..USERS {
        let email = format!("queued{i}@example.com");
        let r = http
            .post(format!("{}/identity/resources/users/v1/signUp", cp.url))
            .json(&json!({"email": email, "password": "Queued-Pass-99", "companyName": "Q", "provider": "local"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "sign-up {i} acknowledged");
        acked.push(email);
    }
    // The server refused every attempt so far; nothing arrived.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        inbox.lock().unwrap().is_empty(),
        "nothing delivered while the server refuses"
    );
    cp.kill9();

    down.store(false, Ordering::SeqCst);
    let mut cp = start(dir.path(), port);
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.iter().any(|e| count(&inbox, e) == 0) {
        assert!(
            Instant::now() < deadline,
            "after the restart only {:?} of {acked:?} arrived",
            inbox
                .lock()
                .unwrap()
                .iter()
                .map(|r| r.rcpt.clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Removals reach the disk with the next flush (within a second); then a second crash
    // and restart sends nothing again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    cp.kill9();
    let cp = start(dir.path(), port);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for e in &acked {
        assert_eq!(count(&inbox, e), 1, "{e}: exactly one activation mail");
    }
    assert_eq!(inbox.lock().unwrap().len(), USERS, "nothing else was sent");
    println!(
        "queued mail: {USERS} acknowledged during an SMTP outage, kill -9, delivered once each after the restart; none repeated after a second kill -9"
    );
    drop(cp);
}

/// Replicas on one PostgreSQL database share one queue: sign-ups through three replicas,
/// each delivering with its own task, and every activation mail arrives exactly once (the
/// replica that claims a message sends it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_sharing_a_database_send_each_queued_mail_once() {
    let (port, inbox) = crate::support::smtp::sink(Arc::new(AtomicBool::new(false))).await;
    let config = || {
        let mut c = control_plane::config::Config::for_test();
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        c
    };
    let Some((first, url)) = crate::support::Cp::start_postgres_with(config()).await else {
        return;
    };
    let mut cps = vec![first];
    for _ in 0..2 {
        let r = cps[0].replica_with(&url, config()).await;
        cps.push(r);
    }
    let http = http_client();
    let mut acked = Vec::new();
    for i in 0..24 {
        let email = format!("replicated{i}@example.com");
        let r = http
            .post(cps[i % 3].url("/identity/resources/users/v1/signUp"))
            .json(&json!({"email": email, "password": "Queued-Pass-99", "companyName": "Q", "provider": "local"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        acked.push(email);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.iter().any(|e| count(&inbox, e) == 0) {
        assert!(Instant::now() < deadline, "not every mail arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Time for a duplicate to show, then none may have.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for e in &acked {
        assert_eq!(count(&inbox, e), 1, "{e}");
    }
}
