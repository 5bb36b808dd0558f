//! Data migration end to end (`compat-wave2.md` §16): users imported with the password
//! hashes of the systems they come from log in with their original passwords, once, after
//! which they hold Tessera's argon2id hash; bulk imports are accepted at once (202) and
//! worked through in the background with a status; an imported authenticator secret
//! enrols MFA. The hashes below were made by other tools (Python's `bcrypt`, `argon2-cffi`,
//! `hashlib`, `cryptography` for Firebase's AES-CTR step), with cheap parameters.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::world::World;

const LOCAL: &str = "/identity/resources/migrations/v1/local";
const BULK_V1: &str = "/identity/resources/migrations/v1/local/bulk";
const BULK_V2: &str = "/identity/resources/migrations/v2/local/bulk";
const STATUS: &str = "/identity/resources/migrations/v1/local/bulk/status";
const LOGIN: &str = "/identity/resources/auth/v1/user";

/// `(passwordHashType, passwordHash, passwordHashConfig, password)`, one per type.
const HASHES: &[(&str, &str, Option<&str>, &str)] = &[
    (
        "bcrypt",
        "$2b$04$Ijn3c4wn8vncoppUsbsbXePiMfHk7sG3PiJAQlrCiemgU5LWpvCQS",
        None,
        "legacy-bcrypt-pw",
    ),
    (
        "argon2",
        "$argon2id$v=19$m=64,t=1,p=1$bWlncmF0aW9uc2FsdA$QY4V5JZ5fe/0Fab6momDpwPN1OE06S8Xz2c4EOQeYQ4",
        None,
        "legacy-argon2-pw",
    ),
    (
        "scrypt",
        "pepper$OvpNILCBdbSrtDSbhqbhKMzXXT9RBWY2eLLSM8Qhe9w=",
        Some(r#"{"saltSeparator":"$","N":16,"r":1,"p":1,"keyLen":32}"#),
        "legacy-scrypt-pw",
    ),
    (
        "firebase-scrypt",
        "MDEyMzQ1Njc4OWFiY2RlZg==:CliaI1u7UBt0KWILE/IW9TPgoeDqvqumYVP67lGEuf2S254i",
        Some(
            r#"{"memCost":1,"rounds":1,"saltSeparator":"Bw==","signerKey":"c2lnbmVyLWtleS1vZi10aGUtcHJvamVjdC0wMTIzNDU2Nzg5"}"#,
        ),
        "legacy-firebase-scrypt-pw",
    ),
    (
        "pbkdf2",
        "pbkdf2_sha256$1000$migr$jV7LUsTqz+Sx58pMoc9OT54dlRjKLaRZPLAcU959Y4Y=",
        None,
        "legacy-pbkdf2-pw",
    ),
    (
        "sha256",
        "eb92cb534e978071c5395e370f0cafbc67c9ecb5bcdcac16b918127eb852342e",
        None,
        "legacy-sha256-pw",
    ),
    (
        "sha1",
        "s4lt:7a31c8fe2702265944ebedd74cf60759d9d4ff8a",
        None,
        "legacy-sha1-pw",
    ),
];

fn imported(tenant: &str, email: &str, k: usize) -> Value {
    let (kind, hash, config, _) = HASHES[k % HASHES.len()];
    let mut u = json!({
        "tenantId": tenant, "email": email, "name": format!("Imported {k}"),
        "passwordHash": hash, "passwordHashType": kind, "verifyUser": true,
        "metadata": "{\"plan\":\"legacy\"}", "externalId": format!("legacy-{k}"),
    });
    if let Some(c) = config {
        u["passwordHashConfig"] = json!(c);
    }
    u
}

async fn login(w: &World, email: &str, password: &str) -> u16 {
    w.cp.call(
        Method::POST,
        LOGIN,
        None,
        Some(&json!({"email": email, "password": password})),
    )
    .await
    .status
    .as_u16()
}

fn stored_hash(w: &World, email: &str) -> String {
    let db = &w.cp.running.state.db;
    control_plane::model::user::by_email(db, email)
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap()
}

pub async fn wait_done(w: &World, id: &str) -> Value {
    for _ in 0..600 {
        let s = w
            .env(Method::GET, &format!("{STATUS}/{id}"), None, None)
            .await;
        assert_eq!(s.status, 200, "{}", s.text);
        if s.body["state"] == "completed" {
            return s.body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("migration {id} did not complete");
}

#[tokio::test]
async fn each_imported_hash_type_logs_in_once_with_its_password_then_holds_argon2id() {
    let w = World::new().await;
    let t = w.tenant("Legacy").await;
    for (k, (kind, _, _, password)) in HASHES.iter().enumerate() {
        let email = format!("{kind}@legacy.test");
        let r = w
            .env(Method::POST, LOCAL, None, Some(imported(&t, &email, k)))
            .await;
        assert_eq!(r.status, 201, "{kind}: {}", r.text);
        assert_eq!(r.body["email"], email);
        assert_eq!(r.body["name"], format!("Imported {k}"));
        assert!(r.body.get("passwordHash").is_none(), "{}", r.text);
        assert!(stored_hash(&w, &email).starts_with("$tessera-imported$"));
        // A wrong password is wrong, and changes nothing.
        assert_eq!(login(&w, &email, "not-the-password").await, 401, "{kind}");
        assert!(stored_hash(&w, &email).starts_with("$tessera-imported$"));
        assert_eq!(login(&w, &email, password).await, 200, "{kind}");
        let now = stored_hash(&w, &email);
        assert!(now.starts_with("$argon2id$"), "{kind}: {now}");
        // The new hash holds the same password.
        assert_eq!(login(&w, &email, password).await, 200, "{kind}");
        assert_eq!(login(&w, &email, "not-the-password").await, 401, "{kind}");
    }
    w.cp.assert_served(&["UsersControllerV1_migrateUserForVendor"]);
}

#[tokio::test]
async fn a_bad_import_is_refused_and_creates_nobody() {
    let w = World::new().await;
    let t = w.tenant("Legacy").await;
    let _ = w.user(&t, "taken@legacy.test", &[]).await;
    let base = imported(&t, "new@legacy.test", 0);
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = [
        with("passwordHashType", json!("md5")),
        with("passwordHash", json!("$2b$04$tooshort")),
        with("passwordHashType", json!("scrypt")),
        with("tenantId", json!("no-such-tenant")),
        with("email", json!("not an address")),
        with("email", json!("taken@legacy.test")),
        with("roleIds", json!(["no-such-role"])),
        with("authenticatorAppMfaSecret", json!("not base32!")),
        with("phoneNumberType", json!("fax")),
        with("metadata", json!("[not json")),
        json!({"email": "x@legacy.test"}),
    ];
    for body in cases {
        let r = w.env(Method::POST, LOCAL, None, Some(body.clone())).await;
        assert!(
            r.status == 400 || r.status == 404 || r.status == 409,
            "{body}: {} {}",
            r.status,
            r.text
        );
        let db = &w.cp.running.state.db;
        assert!(
            control_plane::model::user::by_email(db, "new@legacy.test")
                .unwrap()
                .is_none(),
            "{body} created a user"
        );
    }
    // A user token may not import.
    let token = w.token_for("taken@legacy.test").await;
    let r = w.as_user(&token, Method::POST, LOCAL, Some(base)).await;
    assert!(r.status == 401 || r.status == 403, "{}", r.text);
    // Bulk bounds: empty, more than 1,000, not objects.
    for users in [json!([]), json!(vec![json!({}); 1001]), json!([1, 2])] {
        let r = w
            .env(Method::POST, BULK_V1, None, Some(json!({"users": users})))
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    let r = w
        .env(Method::GET, &format!("{STATUS}/nope"), None, None)
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn an_imported_authenticator_secret_and_mfa_phone_enrol_mfa() {
    let w = World::new().await;
    let t = w.tenant("Legacy").await;
    let mut u = imported(&t, "otp@legacy.test", 0);
    u["authenticatorAppMfaSecret"] = json!("JBSWY3DPEHPK3PXP");
    let r = w.env(Method::POST, LOCAL, None, Some(u)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r =
        w.cp.call(
            Method::POST,
            LOGIN,
            None,
            Some(&json!({"email": "otp@legacy.test", "password": HASHES[0].3})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["mfaRequired"], true, "{}", r.text);
    assert!(
        r.body["mfaDevices"]["authenticators"]
            .as_array()
            .is_some_and(|a| a.len() == 1),
        "{}",
        r.text
    );
    let db = &w.cp.running.state.db;
    let id = control_plane::model::user::by_email(db, "otp@legacy.test")
        .unwrap()
        .unwrap()
        .id;
    // JBSWY3DPEHPK3PXP in base32.
    let seed = b"Hello!\xde\xad\xbe\xef".to_vec();
    let code = control_plane::model::mfa::totp::code(
        &seed,
        control_plane::model::mfa::totp::step_of(w.cp.running.state.clock.unix()),
    );
    let r =
        w.cp.call(
            Method::POST,
            "/identity/resources/auth/v1/user/mfa/verify",
            None,
            Some(&json!({"mfaToken": r.body["mfaToken"], "value": code})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert!(r.body["accessToken"].is_string(), "{}", r.text);
    let mfa = control_plane::model::mfa::of(db, &id).unwrap();
    assert_eq!(mfa.authenticators.len(), 1);

    // An MFA phone enrols a phone; an auth phone is a login phone.
    let mut u = imported(&t, "phone@legacy.test", 1);
    u["phoneNumber"] = json!("+16037184056");
    u["phoneNumberType"] = json!("mfa");
    assert_eq!(w.env(Method::POST, LOCAL, None, Some(u)).await.status, 201);
    let p = control_plane::model::user::by_email(db, "phone@legacy.test")
        .unwrap()
        .unwrap();
    assert_eq!(
        control_plane::model::mfa::of(db, &p.id)
            .unwrap()
            .phones
            .len(),
        1
    );
    assert!(p.login_phones.is_empty());
}

#[tokio::test]
async fn a_thousand_user_bulk_import_of_mixed_hashes_completes_and_everyone_logs_in() {
    let w = World::new().await;
    let t = w.tenant("Legacy").await;
    let _ = w.user(&t, "already@legacy.test", &[]).await;
    // v1: 998 users of every hash type, one bad hash, one address someone already has.
    let mut users: Vec<Value> = (0..998)
        .map(|k| imported(&t, &format!("user{k}@legacy.test"), k))
        .collect();
    let mut bad = imported(&t, "badhash@legacy.test", 0);
    bad["passwordHashType"] = json!("md5");
    users.insert(500, bad);
    users.push(imported(&t, "already@legacy.test", 0));
    assert_eq!(users.len(), 1000);
    let accepted = std::time::Instant::now();
    let r = w
        .env(Method::POST, BULK_V1, None, Some(json!({"users": users})))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["migrationId"].as_str().unwrap().to_owned();
    let s = wait_done(&w, &id).await;
    eprintln!(
        "1,000-user bulk import accepted and completed in {:?}",
        accepted.elapsed()
    );
    assert_eq!(s["total"], 1000, "{s}");
    assert_eq!(s["processed"], 1000, "{s}");
    assert_eq!(s["migrated"], 998, "{s}");
    let errors = s["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{s}");
    assert_eq!(errors[0]["index"], 500);
    assert_eq!(errors[0]["email"], "badhash@legacy.test");
    assert_eq!(errors[1]["index"], 999);

    // v2: several addresses, the primary one first.
    let mut v2 = imported(&t, "", 3);
    v2.as_object_mut().unwrap().remove("email");
    v2["emails"] = json!([
        {"email": "second@legacy.test", "primary": false, "verified": true},
        {"email": "primary@legacy.test", "primary": true, "verified": true},
    ]);
    let r = w
        .env(Method::POST, BULK_V2, None, Some(json!({"users": [v2]})))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let s = wait_done(&w, r.body["migrationId"].as_str().unwrap()).await;
    assert_eq!(s["migrated"], 1, "{s}");

    // Everyone logs in with the original password, then holds argon2id.
    let started = std::time::Instant::now();
    for k in 0..998 {
        let email = format!("user{k}@legacy.test");
        let password = HASHES[k % HASHES.len()].3;
        assert_eq!(login(&w, &email, password).await, 200, "{email}");
        assert!(stored_hash(&w, &email).starts_with("$argon2id$"), "{email}");
    }
    eprintln!(
        "998 first logins with imported hashes: {:?}",
        started.elapsed()
    );
    assert_eq!(login(&w, "primary@legacy.test", HASHES[3].3).await, 200);
    assert_eq!(login(&w, "second@legacy.test", HASHES[3].3).await, 200);
    w.cp.assert_served(&[
        "UsersControllerV1_bulkMigrateUserForVendor",
        "UsersControllerV2_bulkMigrateUserForVendor",
        "UsersControllerV1_checkBulkMigrationStatus",
    ]);
}
