//! The sidecar process shell: its admin listener answers, and with no snapshot it is not
//! ready and denies every request (fail closed).

use sidecar::config::{Args, Config};

use crate::support::{http_client, reply};

fn config() -> Config {
    Config::from_args(Args {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Args::default()
    })
    .unwrap()
}

#[tokio::test]
async fn admin_endpoints_and_fail_closed_data_listener() {
    let sc = sidecar::start(config()).await.unwrap();
    let c = http_client();
    let admin = format!("http://{}", sc.admin_addr);
    let r = reply(c.get(format!("{admin}/healthz")).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    let r = reply(c.get(format!("{admin}/readyz")).send().await.unwrap()).await;
    assert_eq!(r.status, 503);
    let data = format!("http://{}", sc.addr);
    let r = reply(
        c.get(format!("{data}/v1/check"))
            .header("authorization", "Bearer x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["reason"], "snapshot_unavailable");
    let m = reply(c.get(format!("{admin}/metrics")).send().await.unwrap()).await;
    assert!(
        m.text
            .contains(r#"sidecar_decisions_total{reason="snapshot_unavailable",result="deny"} 1"#),
        "{}",
        m.text
    );
    sc.shutdown().await;
}

#[test]
fn the_binary_parses_its_flags_and_rejects_bad_ones() {
    let bin = env!("CARGO_BIN_EXE_e2e-sidecar");
    let out = std::process::Command::new(bin)
        .args(["--trusted-proxy", "10.0.0.1/8"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("host bits"));
    let mut p = crate::support::process::spawn(
        bin,
        &[
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--trusted-proxy",
            "10.0.0.0/8,::1",
        ],
    );
    assert!(p.url.starts_with("http://127.0.0.1:"));
    assert!(p.terminate().success());
}
