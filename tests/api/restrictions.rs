//! IP and email-domain restrictions over HTTP: every operation at the environment and the
//! account level with both caller classes, strict input, enforcement at login, refresh,
//! signup and user creation (clients bound to different loopback addresses), trusted
//! proxies, self-lockout protection, and propagation to sidecars.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::enforcement::distribution::{applied, check, sidecar_for};
use crate::support::world::{PASSWORD, World};
use crate::support::{Cp, Reply, reply};

const IP: &str = "/identity/resources/configurations/v1/restrictions/ip";
const DOMAINS: &str = "/identity/resources/configurations/restrictions/v1/email-domain";
const LOGIN: &str = "/identity/resources/auth/v1/user";

/// A client whose connections leave from `source` (any 127/8 address works on loopback).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(source.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn login_from(cp: &Cp, source: &str, email: &str) -> Reply {
    reply(
        client_from(source)
            .post(cp.url(LOGIN))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn ip_rules_at_both_levels_and_login_from_different_addresses() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    w.user(&t, "ip@acme.test", &["Admin"]).await;
    // Environment level: config defaults, then BLOCK 127.0.0.3.
    let cfg = w
        .env(Method::GET, &format!("{IP}/config"), None, None)
        .await;
    assert_eq!(cfg.status, 200, "{}", cfg.text); // the spec documents no body
    assert_eq!(
        (
            cfg.body["strategy"].as_str(),
            cfg.body["isActive"].as_bool()
        ),
        (Some("BLOCK"), Some(false))
    );
    let r = w
        .env(
            Method::POST,
            IP,
            None,
            Some(json!({"ip": "127.0.0.3", "strategy": "BLOCK", "description": "lab"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text); // the spec documents no body
    assert_eq!(r.body["ip"], "127.0.0.3/32");
    let blocked_id = r.body["id"].as_str().unwrap().to_owned();
    // Inactive configuration: nothing enforced yet.
    assert_eq!(
        login_from(&w.cp, "127.0.0.3", "ip@acme.test").await.status,
        200
    );
    let on = w
        .env(
            Method::POST,
            &format!("{IP}/config"),
            None,
            Some(json!({"strategy": "BLOCK", "isActive": true})),
        )
        .await;
    assert_eq!(on.status, 201, "{}", on.text); // the spec documents no body
    let refused = login_from(&w.cp, "127.0.0.3", "ip@acme.test").await;
    refused.assert_error(403, "ER-FORBIDDEN");
    assert!(
        !refused.text.contains("127.0.0.3"),
        "the reply reveals no rule"
    );
    // An unknown user from there gets the same answer: no account oracle.
    let unknown = login_from(&w.cp, "127.0.0.3", "nobody@acme.test").await;
    assert_eq!(
        (unknown.status, &unknown.body),
        (refused.status, &refused.body)
    );
    assert_eq!(
        login_from(&w.cp, "127.0.0.2", "ip@acme.test").await.status,
        200
    );
    // verify: the caller's own address against the active configuration.
    let verify = |source: &'static str, path: &'static str, tenant: Option<String>| {
        let (w, token) = (&w, w.token.clone());
        async move {
            let mut req = client_from(source)
                .post(w.cp.url(&format!("{IP}/{path}")))
                .bearer_auth(token);
            if let Some(t) = tenant {
                req = req.header("frontegg-tenant-id", t);
            }
            reply(req.send().await.unwrap()).await
        }
    };
    let v = verify("127.0.0.3", "verify", None).await;
    assert_eq!(v.status, 201, "{}", v.text); // the spec documents no body
    assert_eq!(v.body, json!({"valid": false}));
    assert_eq!(
        verify("127.0.0.2", "verify", None).await.body,
        json!({"valid": true})
    );
    let allow = verify("127.0.0.2", "verify/allow", None).await;
    assert_eq!(allow.status, 201, "{}", allow.text); // the spec documents no body
    assert_eq!(allow.body, json!({"valid": false}), "no ALLOW entries");

    // Account level (environment token with the header): ALLOW only 127.0.0.4/32.
    let acct = Some(t.as_str());
    w.env(
        Method::POST,
        IP,
        acct,
        Some(json!({"ip": "127.0.0.4", "strategy": "ALLOW"})),
    )
    .await;
    w.env(
        Method::POST,
        &format!("{IP}/config"),
        acct,
        Some(json!({"strategy": "ALLOW", "isActive": true})),
    )
    .await;
    assert_eq!(
        login_from(&w.cp, "127.0.0.4", "ip@acme.test").await.status,
        200
    );
    login_from(&w.cp, "127.0.0.2", "ip@acme.test")
        .await
        .assert_error(403, "ER-FORBIDDEN");
    assert_eq!(
        verify("127.0.0.4", "verify/allow", Some(t.clone()))
            .await
            .body,
        json!({"valid": true})
    );
    // The environment's list is not the account's.
    let env_list = w.env(Method::GET, IP, None, None).await;
    env_list.assert_spec("IPRestrictionsControllerV1_getAllIpRestrictions", 200);
    assert_eq!(env_list.body["items"].as_array().unwrap().len(), 1);
    let acct_list = w
        .env(Method::GET, &format!("{IP}?_limit=1&_offset=0"), acct, None)
        .await;
    assert_eq!(acct_list.body["items"][0]["ip"], "127.0.0.4/32");
    assert_eq!(acct_list.body["_metadata"]["totalItems"], 1);

    // Refresh is checked too: a session opened from an allowed address cannot be
    // refreshed from a refused one.
    let ok = login_from(&w.cp, "127.0.0.4", "ip@acme.test").await;
    let cookie = ok.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let refresh = |source: &'static str| {
        let (w, cookie) = (&w, cookie.clone());
        async move {
            reply(
                client_from(source)
                    .post(w.cp.url("/identity/resources/auth/v1/user/token/refresh"))
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    refresh("127.0.0.2").await.assert_error(403, "ER-FORBIDDEN");
    assert_eq!(refresh("127.0.0.4").await.status, 201);

    // Delete: the environment block goes away.
    let d = w
        .env(Method::DELETE, &format!("{IP}/{blocked_id}"), None, None)
        .await;
    assert_eq!(d.status, 200, "{}", d.text); // the spec documents no body
    w.env(Method::DELETE, &format!("{IP}/{blocked_id}"), None, None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    assert_eq!(
        verify("127.0.0.3", "verify", None).await.body,
        json!({"valid": true})
    );
    let m = reply(w.cp.client.get(w.cp.url("/metrics")).send().await.unwrap()).await;
    assert!(
        m.text
            .contains("control_plane_restriction_denials_total{kind=\"ip\",level=\"account\"}"),
        "{}",
        m.text
    );
    w.cp.assert_served(&[
        "IPRestrictionsControllerV1_getAllIpRestrictions",
        "IPRestrictionsControllerV1_createIpRestriction",
        "IPRestrictionsControllerV1_getIpRestrictionConfig",
        "IPRestrictionsControllerV1_createDomainRestriction",
        "IPRestrictionsControllerV1_testCurrentIp",
        "testCurrentIpInAllowList",
        "IPRestrictionsControllerV1_deleteIpRestrictionById",
    ]);
}

#[tokio::test]
async fn ip_input_is_parsed_strictly_and_bulk_names_the_bad_entry() {
    let w = World::new().await;
    for bad in [
        "10.0.0.1/8",
        "10.0.0.0/33",
        "010.0.0.1",
        "0x7f.1",
        "127.1",
        "2130706433",
        " 10.0.0.1",
        "fe80::1%eth0",
        "::/129",
        "10.0.0.0/08",
        "",
    ] {
        let r = w
            .env(
                Method::POST,
                IP,
                None,
                Some(json!({"ip": bad, "strategy": "BLOCK"})),
            )
            .await;
        r.assert_error(400, "ER-INVALID-INPUT");
    }
    w.env(
        Method::POST,
        IP,
        None,
        Some(json!({"ip": "10.0.0.0/8", "strategy": "MAYBE"})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let bulk = format!("{IP}/bulk");
    let r = w
        .env(
            Method::POST,
            &bulk,
            None,
            Some(json!({"ips": ["10.0.0.0/8", "192.168.1.1/24"], "strategy": "BLOCK"})),
        )
        .await;
    r.assert_error(400, "ER-INVALID-INPUT");
    assert!(r.text.contains("ips[1]"), "{}", r.text);
    assert_eq!(
        w.env(Method::GET, IP, None, None).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "nothing stored"
    );
    let ok = w
        .env(
            Method::POST,
            &bulk,
            None,
            Some(json!({"ips": ["10.0.0.0/8", {"ip": "2001:db8::/32", "strategy": "BLOCK", "description": "v6"}], "strategy": "BLOCK"})),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    assert_eq!(ok.body.as_array().unwrap().len(), 2);
    let too_many: Vec<String> = (0..1001)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect();
    w.env(Method::POST, &bulk, None, Some(json!({"ips": too_many})))
        .await
        .assert_error(400, "ER-INVALID-INPUT");
}

#[tokio::test]
async fn user_tokens_need_permissions_and_cannot_lock_themselves_out() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    w.user(&t, "admin@acme.test", &["Admin"]).await;
    w.user(&t, "reader@acme.test", &["ReadOnly"]).await;
    let admin = w.token_for("admin@acme.test").await;
    let reader = w.token_for("reader@acme.test").await;
    // The reader may read, not write.
    assert_eq!(w.as_user(&reader, Method::GET, IP, None).await.status, 200);
    w.as_user(
        &reader,
        Method::POST,
        IP,
        Some(json!({"ip": "10.0.0.0/8", "strategy": "ALLOW"})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    // The admin's change lands in its own account (a header cannot widen it).
    let r = w
        .call(
            &admin,
            Method::POST,
            IP,
            Some("00000000-0000-0000-0000-000000000000"),
            Some(json!({"ip": "10.0.0.0/8", "strategy": "ALLOW"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        w.env(Method::GET, IP, Some(&t), None).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        w.env(Method::GET, IP, None, None).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Turning the ALLOW list on would shut the admin (calling from 127.0.0.1) out: 409.
    let lock = w
        .as_user(
            &admin,
            Method::POST,
            &format!("{IP}/config"),
            Some(json!({"strategy": "ALLOW", "isActive": true})),
        )
        .await;
    lock.assert_error(409, "ER-CONFLICT");
    assert!(
        lock.text.contains("127.0.0.1") && lock.text.contains("force"),
        "{}",
        lock.text
    );
    let cfg = w
        .env(Method::GET, &format!("{IP}/config"), Some(&t), None)
        .await;
    assert_eq!(cfg.body["isActive"], false, "nothing changed");
    // Adding its own address first makes it safe.
    w.as_user(
        &admin,
        Method::POST,
        IP,
        Some(json!({"ip": "127.0.0.1", "strategy": "ALLOW"})),
    )
    .await;
    let on = w
        .as_user(
            &admin,
            Method::POST,
            &format!("{IP}/config"),
            Some(json!({"strategy": "ALLOW", "isActive": true})),
        )
        .await;
    assert_eq!(on.status, 201, "{}", on.text);
    // Deleting that entry again would lock it out, unless forced.
    let list = w.as_user(&admin, Method::GET, IP, None).await;
    let own = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ip"] == "127.0.0.1/32")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.as_user(&admin, Method::DELETE, &format!("{IP}/{own}"), None)
        .await
        .assert_error(409, "ER-CONFLICT");
    assert_eq!(
        w.as_user(
            &admin,
            Method::DELETE,
            &format!("{IP}/{own}?force=true"),
            None
        )
        .await
        .status,
        200
    );
    // Forced: from now on the admin's own calls are refused, as its login would be (M5);
    // the environment token is the way back.
    w.as_user(&admin, Method::GET, IP, None)
        .await
        .assert_error(403, "ER-FORBIDDEN");
    let off = w
        .env(
            Method::POST,
            &format!("{IP}/config"),
            Some(&t),
            Some(json!({"strategy": "ALLOW", "isActive": false})),
        )
        .await;
    assert!(off.status.is_success(), "{}", off.text);
    // Email-domain rules with user tokens: the same permission model, the token's account.
    let d = w
        .as_user(
            &admin,
            Method::POST,
            DOMAINS,
            Some(json!({"domain": "rival.test", "type": "BLOCK"})),
        )
        .await;
    assert_eq!(d.status, 201, "{}", d.text);
    w.as_user(
        &reader,
        Method::POST,
        DOMAINS,
        Some(json!({"domain": "x.test", "type": "BLOCK"})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    let mine = w.as_user(&reader, Method::GET, DOMAINS, None).await;
    assert_eq!(mine.body["items"][0]["domain"], "rival.test");
    assert_eq!(
        w.env(Method::GET, DOMAINS, None, None).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let cfg = w
        .as_user(
            &admin,
            Method::POST,
            &format!("{DOMAINS}/config"),
            Some(json!({"active": true})),
        )
        .await;
    assert_eq!(cfg.status, 201, "{}", cfg.text);
    assert_eq!(
        w.as_user(&reader, Method::GET, &format!("{DOMAINS}/config"), None)
            .await
            .body["active"],
        true
    );
}

#[tokio::test]
async fn email_domain_rules_govern_signup_creation_and_login() {
    let w = World::new().await;
    let cfg = w
        .env(Method::GET, &format!("{DOMAINS}/config"), None, None)
        .await;
    cfg.assert_spec(
        "DomainRestrictionsController_getDomainRestrictionsConfig",
        200,
    );
    assert_eq!(
        cfg.body,
        json!({"active": false, "listType": "BLOCK", "blockPublicDomains": false})
    );
    let r = w
        .env(
            Method::POST,
            DOMAINS,
            None,
            Some(json!({"domain": "Evil.Example.", "type": "BLOCK"})),
        )
        .await;
    r.assert_spec("DomainRestrictionsController_createDomainRestriction", 201);
    assert_eq!(r.body["domain"], "evil.example");
    w.env(
        Method::POST,
        DOMAINS,
        None,
        Some(json!({"domain": "evil.example", "type": "BLOCK"})),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    for bad in [
        "exa mple.com",
        "^.*$",
        "a@b.com",
        &"a".repeat(300),
        "localhost",
    ] {
        w.env(
            Method::POST,
            DOMAINS,
            None,
            Some(json!({"domain": bad, "type": "BLOCK"})),
        )
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    }
    let on = w
        .env(
            Method::POST,
            &format!("{DOMAINS}/config"),
            None,
            Some(json!({"active": true, "type": "BLOCK", "blockPublicDomains": true})),
        )
        .await;
    on.assert_spec(
        "DomainRestrictionsController_updateDomainRestrictionsConfig",
        201,
    );
    assert_eq!(on.body["listType"], "BLOCK");
    let signup = |email: &'static str| {
        let w = &w;
        async move {
            w.cp.call(
                Method::POST,
                "/identity/resources/users/v1/signUp",
                None,
                Some(&json!({"email": email, "password": "Found-er-1", "companyName": "C", "provider": "local"})),
            )
            .await
        }
    };
    signup("mallory@EVIL.example")
        .await
        .assert_error(403, "ER-FORBIDDEN");
    signup("someone@gmail.com")
        .await
        .assert_error(403, "ER-FORBIDDEN");
    assert_eq!(
        signup("ok@sub.evil.example").await.status,
        201,
        "subdomains need a *. rule"
    );
    assert_eq!(
        signup("ok@evilexample.com").await.status,
        201,
        "label boundaries"
    );
    // User creation in an account, and the account's own ALLOW list.
    let t = w.tenant("Acme").await;
    let create = |email: &'static str| {
        let (w, t) = (&w, t.clone());
        async move {
            w.env(
                Method::POST,
                "/identity/resources/users/v1",
                Some(&t),
                Some(json!({"email": email, "name": "N", "password": PASSWORD})),
            )
            .await
        }
    };
    create("x@evil.example")
        .await
        .assert_error(403, "ER-FORBIDDEN");
    assert_eq!(create("early@acme.test").await.status, 201);
    w.user(&t, "member@acme.test", &[]).await;
    w.env(
        Method::POST,
        DOMAINS,
        Some(&t),
        Some(json!({"domain": "*.corp.test", "type": "ALLOW"})),
    )
    .await;
    w.env(
        Method::POST,
        &format!("{DOMAINS}/config"),
        Some(&t),
        Some(json!({"active": true, "type": "ALLOW"})),
    )
    .await;
    create("y@acme.test")
        .await
        .assert_error(403, "ER-FORBIDDEN");
    assert_eq!(create("y@eu.corp.test").await.status, 201);
    // Existing members outside the list can no longer log in to the account.
    w.login("member@acme.test")
        .await
        .assert_error(403, "ER-FORBIDDEN");
    // replace-bulk swaps the whole ALLOW list; bounded input.
    let rb = w
        .env(
            Method::POST,
            &format!("{DOMAINS}/replace-bulk"),
            Some(&t),
            Some(json!({"type": "ALLOW", "domains": ["acme.test", "Acme.Test.", "*.corp.test"]})),
        )
        .await;
    rb.assert_spec(
        "DomainRestrictionsController_createBulkDomainsRestriction",
        201,
    );
    assert_eq!(
        rb.body.as_array().unwrap().len(),
        2,
        "deduplicated after normalising"
    );
    assert_eq!(w.login("member@acme.test").await.status, 200);
    let many: Vec<String> = (0..1001).map(|i| format!("d{i}.test")).collect();
    w.env(
        Method::POST,
        &format!("{DOMAINS}/replace-bulk"),
        Some(&t),
        Some(json!({"type": "ALLOW", "domains": many})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let list = w.env(Method::GET, DOMAINS, Some(&t), None).await;
    list.assert_spec("DomainRestrictionsController_getDomainRestrictions", 200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    let id = list.body["items"][0]["id"].as_str().unwrap().to_owned();
    let d = w
        .env(Method::DELETE, &format!("{DOMAINS}/{id}"), Some(&t), None)
        .await;
    assert_eq!(d.status, 200, "{}", d.text); // the spec documents no body
    w.cp.assert_served(&[
        "DomainRestrictionsController_getDomainRestrictions",
        "DomainRestrictionsController_createDomainRestriction",
        "DomainRestrictionsController_getDomainRestrictionsConfig",
        "DomainRestrictionsController_updateDomainRestrictionsConfig",
        "DomainRestrictionsController_createBulkDomainsRestriction",
        "DomainRestrictionsController_deleteDomainRestriction",
    ]);
}

#[tokio::test]
async fn forwarding_headers_count_only_from_trusted_proxies() {
    let mut config = control_plane::config::Config::for_test();
    config.trusted_proxies = vec![shared::net::parse_cidr("127.0.0.5/32").unwrap()];
    let cp = Cp::start_with(config).await;
    let token = cp.vendor_token().await;
    let verify = |source: &'static str, xff: &'static str| {
        let (cp, token) = (&cp, token.clone());
        async move {
            reply(
                client_from(source)
                    .post(cp.url(&format!("{IP}/verify")))
                    .bearer_auth(token)
                    .header("x-forwarded-for", xff)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
            .body
        }
    };
    cp.call(
        Method::POST,
        IP,
        Some(&token),
        Some(&json!({"ip": "203.0.113.7", "strategy": "BLOCK"})),
    )
    .await;
    cp.call(
        Method::POST,
        &format!("{IP}/config"),
        Some(&token),
        Some(&json!({"strategy": "BLOCK", "isActive": true})),
    )
    .await;
    // From the trusted proxy, the forwarded client counts.
    assert_eq!(
        verify("127.0.0.5", "203.0.113.7").await,
        json!({"valid": false})
    );
    assert_eq!(
        verify("127.0.0.5", "6.6.6.6, 203.0.113.7").await,
        json!({"valid": false}),
        "right-most untrusted hop"
    );
    assert_eq!(
        verify("127.0.0.5", "203.0.113.7, 198.51.100.1").await,
        json!({"valid": true})
    );
    // From anyone else, the header is ignored (spoofing an allowed or blocked address does
    // nothing).
    assert_eq!(
        verify("127.0.0.6", "203.0.113.7").await,
        json!({"valid": true})
    );
}

#[tokio::test]
async fn a_new_block_rule_cuts_off_tokens_at_every_sidecar() {
    let w = World::new().await;
    let token = w.cp.running.credentials.sidecar_token.clone().unwrap();
    let mut scs = Vec::new();
    for _ in 0..3 {
        scs.push(sidecar_for(&w.cp, &token, None, None).await);
    }
    let t = w.tenant("Acme").await;
    w.user(&t, "cut@acme.test", &["Admin"]).await;
    let access = w.token_for("cut@acme.test").await;
    let version = || w.cp.running.state.hub.version();
    for sc in &scs {
        applied(sc, version()).await;
        assert_eq!(check(sc, &access).await.0, 200);
    }
    // The account blocks the address the sidecars see (loopback).
    w.env(
        Method::POST,
        IP,
        Some(&t),
        Some(json!({"ip": "127.0.0.0/8", "strategy": "BLOCK"})),
    )
    .await;
    let started = Instant::now();
    w.env(
        Method::POST,
        &format!("{IP}/config"),
        Some(&t),
        Some(json!({"strategy": "BLOCK", "isActive": true})),
    )
    .await;
    for sc in &scs {
        loop {
            let (status, body, _) = check(sc, &access).await;
            if status == 403 && body["reason"] == "ip_restricted" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let took = started.elapsed();
    println!(
        "account IP block enforced by 3 sidecars {} ms after the change",
        took.as_millis()
    );
    assert!(took < Duration::from_secs(1));
    // An environment email-domain BLOCK for the token's domain: also immediate.
    w.env(
        Method::POST,
        &format!("{IP}/config"),
        Some(&t),
        Some(json!({"isActive": false})),
    )
    .await;
    w.env(
        Method::POST,
        DOMAINS,
        None,
        Some(json!({"domain": "acme.test", "type": "BLOCK"})),
    )
    .await;
    w.env(
        Method::POST,
        &format!("{DOMAINS}/config"),
        None,
        Some(json!({"active": true, "type": "BLOCK"})),
    )
    .await;
    for sc in &scs {
        applied(sc, version()).await;
        let (status, body, _) = check(sc, &access).await;
        assert_eq!(
            (status, body["reason"].as_str()),
            (403, Some("email_domain_restricted"))
        );
    }
    // The snapshot a new sidecar receives carries the rules too.
    let late = sidecar_for(&w.cp, &token, None, None).await;
    applied(&late, version()).await;
    assert_eq!(
        check(&late, &access).await.1["reason"],
        "email_domain_restricted"
    );
    let _: Vec<Value> = Vec::new();
}

#[tokio::test]
async fn the_sidecar_believes_forwarding_headers_only_from_trusted_proxies() {
    let w = World::new().await;
    let token = w.cp.running.credentials.sidecar_token.clone().unwrap();
    let sc = sidecar::start(crate::enforcement::distribution::sidecar_config(
        sidecar::config::Args {
            control_plane: Some(w.cp.running.url()),
            sidecar_token: Some(token),
            trusted_proxies: vec!["127.0.0.5/32".into()],
            ..Default::default()
        },
    ))
    .await
    .unwrap();
    let t = w.tenant("Acme").await;
    w.user(&t, "fwd@acme.test", &["Admin"]).await;
    let access = w.token_for("fwd@acme.test").await;
    // The environment blocks 203.0.113.7.
    w.env(
        Method::POST,
        IP,
        None,
        Some(json!({"ip": "203.0.113.7", "strategy": "BLOCK"})),
    )
    .await;
    w.env(
        Method::POST,
        &format!("{IP}/config"),
        None,
        Some(json!({"strategy": "BLOCK", "isActive": true})),
    )
    .await;
    applied(&sc, w.cp.running.state.hub.version()).await;
    let at = |source: &'static str, xff: &'static str| {
        let (sc, access) = (&sc, access.clone());
        async move {
            let r = reply(
                client_from(source)
                    .get(format!("http://{}/v1/check", sc.addr))
                    .bearer_auth(access)
                    .header("x-forwarded-for", xff)
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            (
                r.status.as_u16(),
                r.body["reason"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    // From the trusted proxy: the forwarded client is the one checked.
    assert_eq!(
        at("127.0.0.5", "203.0.113.7").await,
        (403, "ip_restricted".into())
    );
    assert_eq!(at("127.0.0.5", "198.51.100.1").await.0, 200);
    // From an untrusted peer: a spoofed header is ignored either way.
    assert_eq!(at("127.0.0.6", "203.0.113.7").await.0, 200);
    sc.shutdown().await;
}

/// M5 / finding 16: an account's IP rules hold for its users' control-plane calls as for
/// their logins. Before, an admin's existing token, from an address the account blocks,
/// listed and created users and API tokens and deleted the very rule.
#[tokio::test]
async fn a_user_token_from_a_blocked_address_can_do_nothing() {
    let w = World::new().await;
    let t = w.tenant("Acme").await;
    w.user(&t, "admin@acme.test", &["Admin"]).await;
    let admin = w.token_for("admin@acme.test").await;
    let users = "/identity/resources/users/v3";
    assert_eq!(
        w.as_user(&admin, Method::GET, users, None).await.status,
        200
    );
    // The environment blocks the admin's address (the test's 127.0.0.1) for the account.
    let rule = w
        .env(
            Method::POST,
            IP,
            Some(&t),
            Some(json!({"ip": "127.0.0.1", "strategy": "BLOCK"})),
        )
        .await;
    assert_eq!(rule.status, 201, "{}", rule.text);
    let rule_id = rule.body["id"].as_str().unwrap().to_owned();
    let on = w
        .env(
            Method::POST,
            &format!("{IP}/config"),
            Some(&t),
            Some(json!({"strategy": "BLOCK", "isActive": true})),
        )
        .await;
    assert!(on.status.is_success(), "{}", on.text);
    for (method, path, body) in [
        (Method::GET, users.to_owned(), None),
        (
            Method::POST,
            "/identity/resources/users/v1".to_owned(),
            Some(json!({"email": "new@acme.test"})),
        ),
        (
            Method::POST,
            "/identity/resources/tenants/api-tokens/v1".to_owned(),
            Some(json!({})),
        ),
        (Method::DELETE, format!("{IP}/{rule_id}"), None),
        (
            Method::GET,
            "/identity/resources/users/v2/me".to_owned(),
            None,
        ),
    ] {
        w.as_user(&admin, method, &path, body)
            .await
            .assert_error(403, "ER-FORBIDDEN");
    }
    // Nothing happened; the environment token is the way back (never IP-restricted).
    let listed = w.env(Method::GET, users, Some(&t), None).await;
    assert_eq!(listed.body["_metadata"]["totalItems"], 1, "{}", listed.text);
    let del = w
        .env(Method::DELETE, &format!("{IP}/{rule_id}"), Some(&t), None)
        .await;
    assert!(del.status.is_success(), "{}", del.text);
    assert_eq!(
        w.as_user(&admin, Method::GET, users, None).await.status,
        200
    );
}

/// M5 / finding 14: the email-domain rules hold for a user's personal access tokens as for
/// its logins. Before, the records carried no address: after the user's domain was blocked
/// its access token still passed the sidecar, and its old JWT minted a new one.
#[tokio::test]
async fn a_blocked_email_domain_stops_personal_access_tokens() {
    let w = World::new().await;
    let c = w
        .env(
            Method::POST,
            "/identity/resources/configurations/v1",
            None,
            Some(json!({"machineToMachineAuthStrategy": "AccessToken"})),
        )
        .await;
    assert!(c.status.is_success(), "{}", c.text);
    let token = crate::enforcement::distribution::sidecar_token(&w);
    let sc = sidecar_for(&w.cp, &token, None, None).await;
    let t = w.tenant("Acme").await;
    w.user(&t, "pat@rival.test", &["Admin"]).await;
    let user = w.token_for("pat@rival.test").await;
    let pat = "/identity/resources/users/access-tokens/v1";
    let made = w
        .as_user(&user, Method::POST, pat, Some(json!({"description": "ci"})))
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let (id, key) = (
        made.body["id"].as_str().unwrap().to_owned(),
        made.body["secret"].as_str().unwrap().to_owned(),
    );
    let with_key = || {
        let req = crate::support::http_client()
            .get(format!("http://{}/v1/check/orders", sc.addr))
            .header("x-api-key", &key);
        async move { reply(req.send().await.unwrap()).await }
    };
    applied(&sc, w.cp.running.state.hub.version()).await;
    assert_eq!(with_key().await.status, 200);
    // The environment blocks the user's domain.
    let block = w
        .env(
            Method::POST,
            DOMAINS,
            None,
            Some(json!({"domain": "rival.test", "type": "BLOCK"})),
        )
        .await;
    assert_eq!(block.status, 201, "{}", block.text);
    let on = w
        .env(
            Method::POST,
            &format!("{DOMAINS}/config"),
            None,
            Some(json!({"active": true, "type": "BLOCK", "blockPublicDomains": false})),
        )
        .await;
    assert!(on.status.is_success(), "{}", on.text);
    let started = Instant::now();
    loop {
        let r = with_key().await;
        if r.status.as_u16() == 403 || r.status.as_u16() == 401 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the sidecar still lets the blocked user's access token through: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Its old JWT mints nothing, and the SDKs' lookup says the token is gone.
    w.as_user(
        &user,
        Method::POST,
        pat,
        Some(json!({"description": "again"})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    w.env(
        Method::GET,
        &format!("/identity/resources/vendor-only/users/access-tokens/v1/{id}"),
        None,
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    sc.shutdown().await;
}

/// L4 / finding 13 at the control plane: with a trusted proxy that writes `Forwarded`
/// (`--client-ip-header forwarded`), a client's own `X-Forwarded-For` counts for nothing —
/// at the IP check and at login.
#[tokio::test]
async fn one_forwarding_header_names_the_client_at_login() {
    let mut config = control_plane::config::Config::for_test();
    config.trusted_proxies = vec![shared::net::parse_cidr("127.0.0.5/32").unwrap()];
    config.client_ip_header = shared::net::ForwardedHeader::Forwarded;
    let cp = Cp::start_with(config).await;
    let token = cp.vendor_token().await;
    for (path, body) in [
        (
            IP.to_owned(),
            json!({"ip": "203.0.113.5", "strategy": "ALLOW"}),
        ),
        (
            format!("{IP}/config"),
            json!({"strategy": "ALLOW", "isActive": true}),
        ),
    ] {
        let r = cp
            .call(Method::POST, &path, Some(&token), Some(&body))
            .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    let login = |forwarded: &'static str, xff: &'static str| {
        let cp = &cp;
        async move {
            reply(
                client_from("127.0.0.5")
                    .post(cp.url(LOGIN))
                    .header("forwarded", forwarded)
                    .header("x-forwarded-for", xff)
                    .json(&json!({"email": "nobody@acme.test", "password": "x"}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
            .status
            .as_u16()
        }
    };
    // The allowed address in the client's header, another in the proxy's: refused by IP.
    assert_eq!(login("for=198.51.100.9", "203.0.113.5").await, 403);
    // The allowed address in the proxy's header: past the IP check (then a wrong login).
    assert_eq!(login("for=203.0.113.5", "198.51.100.9").await, 401);
}
