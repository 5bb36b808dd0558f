//! The signing key as clients fetch it: the SPKI PEM in the environment configuration and
//! the JWKS, both describing the key that signs the environment's tokens.

use reqwest::Method;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::json;

use crate::support::Cp;

const CONFIG: &str = "/identity/resources/configurations/v1";

/// DER prefix of an SPKI `rsaEncryption` 2048-bit public key, before the PKCS#1 key.
const SPKI_RSA2048_PREFIX: [u8; 24] = [
    0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01,
    0x01, 0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00,
];

fn b64url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[tokio::test]
async fn pem_and_jwks_verify_the_tokens_the_issuer_signs() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let signed = cp
        .running
        .state
        .issuer
        .sign(&json!({"sub": "u", "exp": 1}))
        .unwrap();
    let (input, sig) = signed.rsplit_once('.').unwrap();
    let sig = b64url(sig);

    // PEM from the configuration (both prefixes, trailing slash as Python sends it).
    for path in [CONFIG, "/frontegg/identity/resources/configurations/v1/"] {
        let r = cp.call(Method::GET, path, Some(&token), None).await;
        r.assert_spec("VendorConfigController_getVendorConfig", 200);
        let pem = r.body["publicKey"].as_str().unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            der[..24],
            SPKI_RSA2048_PREFIX,
            "SPKI rsaEncryption, 2048-bit"
        );
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &der[24..])
            .verify(input.as_bytes(), &sig)
            .expect("the PEM key verifies the issuer's signature");
    }
    cp.assert_served(&["VendorConfigController_getVendorConfig"]);

    // JWKS: public, active key first, with alg/use/kid.
    let r = cp
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(r.status, 200);
    let k = &r.body["keys"][0];
    assert_eq!(
        (k["kty"].as_str(), k["alg"].as_str(), k["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    let header: serde_json::Value =
        serde_json::from_slice(&b64url(signed.split('.').next().unwrap())).unwrap();
    assert_eq!(header["kid"], k["kid"]);
    assert_eq!(header["alg"], "RS256");
    let key = RsaPublicKeyComponents {
        n: b64url(k["n"].as_str().unwrap()),
        e: b64url(k["e"].as_str().unwrap()),
    };
    key.verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
        .expect("the JWKS key verifies");
    // The configuration requires the environment token.
    cp.call(Method::GET, CONFIG, None, None)
        .await
        .assert_error(401, "ER-UNAUTHORIZED");
}

#[tokio::test]
async fn the_signing_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = control_plane::config::Config::for_test();
    config.data_dir = Some(dir.path().to_owned());
    config.api_key = Some("restart-key-0123456789".into());
    let cp = Cp::start_with(config.clone()).await;
    let before = cp
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .body;
    cp.running.shutdown().await;
    let cp = Cp::start_with(config).await;
    let after = cp
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .body;
    assert_eq!(before, after);
    assert_eq!(after["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn configuration_updates_apply_and_bad_values_change_nothing() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let original = cp.call(Method::GET, CONFIG, Some(&token), None).await.body;
    assert_eq!(original["jwtAlgorithm"], "RS256");
    assert_eq!(original["allowSignups"], true);
    let r = cp
        .call(
            Method::POST,
            CONFIG,
            Some(&token),
            Some(&json!({"allowSignups": false, "defaultTokenExpiration": 600, "cookieSameSite": "STRICT"})),
        )
        .await;
    r.assert_spec("VendorConfigController_addOrUpdateConfig", 201);
    assert_eq!(
        (
            r.body["allowSignups"].as_bool(),
            r.body["defaultTokenExpiration"].as_u64()
        ),
        (Some(false), Some(600))
    );
    assert_eq!(r.body["id"], original["id"]);
    for bad in [
        json!({"jwtAlgorithm": "HS256"}),
        json!({"cookieSameSite": "SOMETIMES"}),
        json!({"defaultRefreshTokenExpiration": 15_552_001}),
        json!({"defaultTokenExpiration": 0}),
        json!({"allowSignups": "yes"}),
        json!({"allowSignups": true, "authStrategy": "Carrier pigeon"}),
    ] {
        cp.call(Method::POST, CONFIG, Some(&token), Some(&bad))
            .await
            .assert_error(400, "ER-INVALID-INPUT");
    }
    let now = cp
        .call(Method::GET, &format!("{CONFIG}/"), Some(&token), None)
        .await
        .body;
    assert_eq!(now["allowSignups"], false);
    assert_eq!(now["defaultTokenExpiration"], 600);
    assert_eq!(now["cookieSameSite"], "STRICT");
    let basic = cp
        .call(Method::GET, &format!("{CONFIG}/basic"), Some(&token), None)
        .await;
    basic.assert_spec("VendorConfigController_getVendorConfigBasic", 200);
    assert_eq!(
        basic.body["machineToMachineAuthStrategy"],
        "ClientCredentials"
    );
    cp.assert_served(&[
        "VendorConfigController_addOrUpdateConfig",
        "VendorConfigController_getVendorConfigBasic",
    ]);
}

fn kid_of(jwt: &str) -> String {
    let header: serde_json::Value =
        serde_json::from_slice(&b64url(jwt.split('.').next().unwrap())).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rotation_publishes_the_new_key_first_and_keeps_old_tokens_valid() {
    let cp = Cp::start().await;
    let token = cp.vendor_token().await;
    let t = cp
        .call(
            Method::POST,
            "/tenants/resources/tenants/v1",
            Some(&token),
            Some(&json!({"name": "T"})),
        )
        .await
        .body["tenantId"]
        .as_str()
        .unwrap()
        .to_owned();
    let u = cp
        .client
        .post(cp.url("/identity/resources/users/v1"))
        .header("x-access-token", &token)
        .header("frontegg-tenant-id", &t)
        .json(&json!({"email": "k@example.com", "password": "Key-Pass-1"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let uid = u["id"].as_str().unwrap();
    cp.call(
        Method::POST,
        &format!("/identity/resources/users/v1/{uid}/verify"),
        Some(&token),
        None,
    )
    .await;
    let login = || async {
        let r = cp
            .call(
                Method::POST,
                "/identity/resources/auth/v1/user",
                None,
                Some(&json!({"email": "k@example.com", "password": "Key-Pass-1"})),
            )
            .await;
        r.body["accessToken"].as_str().unwrap().to_owned()
    };
    let cp_ref = &cp;
    let me = |t: String| async move {
        cp_ref
            .client
            .get(cp_ref.url("/identity/resources/users/v2/me"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let old_token = login().await;
    let k1 = kid_of(&old_token);
    let pem_before =
        cp.call(Method::GET, CONFIG, Some(&token), None).await.body["publicKey"].clone();

    let rotated = cp
        .call(Method::POST, "/tessera/v1/keys/rotate", Some(&token), None)
        .await;
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let k2 = rotated.body["kid"].as_str().unwrap().to_owned();
    assert_ne!(k1, k2);
    let jwks = cp
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .body;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(
        kids,
        [k2.as_str(), k1.as_str()],
        "the active key first, the retired one still published"
    );
    assert_ne!(
        cp.call(Method::GET, CONFIG, Some(&token), None).await.body["publicKey"],
        pem_before
    );
    let new_token = login().await;
    assert_eq!(kid_of(&new_token), k2);
    assert_eq!(
        me(old_token.clone()).await,
        200,
        "tokens signed before the rotation stay valid"
    );
    assert_eq!(me(new_token.clone()).await, 200);

    let keys = cp
        .call(Method::GET, "/tessera/v1/keys", Some(&token), None)
        .await;
    assert_eq!(keys.body[0]["state"], "active");
    assert_eq!(keys.body[1]["state"], "retired");
    assert!(keys.body[1]["publishedUntil"].is_string());
    // The active key cannot be retired; the retired one only once its tokens have expired.
    cp.call(
        Method::POST,
        &format!("/tessera/v1/keys/{k2}/retire"),
        Some(&token),
        None,
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    cp.call(
        Method::POST,
        &format!("/tessera/v1/keys/{k1}/retire"),
        Some(&token),
        None,
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    cp.running.state.clock.advance(3600 + 61);
    let jwks = cp
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await
        .body;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        1,
        "the retired key is unpublished once its tokens expired"
    );
    let token = cp.vendor_token().await;
    assert_eq!(
        cp.call(
            Method::POST,
            &format!("/tessera/v1/keys/{k1}/retire"),
            Some(&token),
            None
        )
        .await
        .status,
        200
    );
    cp.call(
        Method::POST,
        &format!("/tessera/v1/keys/{k1}/retire"),
        Some(&token),
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");

    // A compromised key: rotate, then retire the old one by force; its tokens stop at once.
    let fresh = login().await;
    assert_eq!(kid_of(&fresh), k2);
    assert_eq!(
        cp.call(Method::POST, "/tessera/v1/keys/rotate", Some(&token), None)
            .await
            .status,
        201
    );
    let r = cp
        .call(
            Method::POST,
            &format!("/tessera/v1/keys/{k2}/retire"),
            Some(&token),
            Some(&json!({"force": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(me(fresh).await, 401);
    assert_eq!(me(login().await).await, 200);
}
