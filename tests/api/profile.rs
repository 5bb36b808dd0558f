//! A user's identity beyond the primary email, end to end (`compat-wave2.md` §9.1, §11.1):
//! login phone numbers added and removed with texted codes (budgets, single use, a number
//! one user's), the portal's lookups by user ids (with rest-api's `undefined` query
//! literals), the environment's verified adds, SMS passwordless login through a verified
//! number, and usernames (unique regardless of case, the spec's alphabet, own only).

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::world::World;
use crate::support::{Reply, claims, mail};

const P: &str = "/identity/resources";

async fn me(w: &World, token: &str, m: Method, path: &str, body: Option<Value>) -> Reply {
    w.as_user(token, m, &format!("{P}{path}"), body).await
}

fn code_of(body: &str) -> String {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|s| s.len() == 6)
        .expect("a six-digit code")
        .to_owned()
}

#[tokio::test]
async fn login_phone_numbers_are_proven_by_texted_codes() {
    let w = World::new().await;
    let t = w.tenant("Ph").await;
    let uid = w.user(&t, "phone@prof.test", &["Admin"]).await;
    let other = w.user(&t, "other@prof.test", &[]).await;
    let token = w.token_for("phone@prof.test").await;
    let r = me(&w, &token, Method::GET, "/users/phone-numbers/v1/me", None).await;
    r.assert_spec("UserPhoneNumbersControllerV1_getUserOwnPhoneNumbers", 200);
    assert_eq!(r.body, json!([]));
    // Not E.164: 400, nothing stored or sent.
    me(
        &w,
        &token,
        Method::POST,
        "/users/phone-numbers/v1",
        Some(json!({"phoneNumber": "call me"})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let r = me(
        &w,
        &token,
        Method::POST,
        "/users/phone-numbers/v1",
        Some(json!({"phoneNumber": "+1 555 010 0100"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let otc = r.body["otcToken"].as_str().unwrap().to_owned();
    let sms = mail(&w.cp, "phone-code", 1).await;
    assert_eq!(sms.to, "+15550100100");
    let code = code_of(&sms.body);
    // Unverified until proven; a wrong code counts; the right one verifies once.
    let list = me(
        &w,
        &token,
        Method::GET,
        "/users/phone-numbers/v1?_limit=10&_offset=0",
        None,
    )
    .await;
    list.assert_spec("UserPhoneNumbersControllerV1_getAllPhoneNumbers", 200);
    assert_eq!(list.body["items"][0]["verified"], false);
    let wrong = if code == "123456" { "654321" } else { "123456" };
    me(
        &w,
        &token,
        Method::POST,
        "/users/phone-numbers/v1/verify",
        Some(json!({"otcToken": otc, "code": wrong})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let r = me(
        &w,
        &token,
        Method::POST,
        "/users/phone-numbers/v1/verify",
        Some(json!({"otcToken": otc, "code": code})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    me(
        &w,
        &token,
        Method::POST,
        "/users/phone-numbers/v1/verify",
        Some(json!({"otcToken": otc, "code": code})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let mine = me(&w, &token, Method::GET, "/users/phone-numbers/v1/me", None).await;
    assert_eq!(mine.body[0]["verified"], true);
    let phone_id = mine.body[0]["id"].as_str().unwrap().to_owned();
    // The portal's users table: `userIds` comma-joined, `undefined` literals ignored.
    let r = me(
        &w,
        &token,
        Method::GET,
        &format!(
            "/users/phone-numbers/v2?userIds={uid},{other}&_offset=undefined&_limit=undefined"
        ),
        None,
    )
    .await;
    r.assert_spec("UserPhoneNumbersControllerV2_getAllPhoneNumbers", 200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["userId"], uid.as_str());
    // A number one user verified is not another's: the environment cannot give it away.
    w.env(
        Method::POST,
        &format!("{P}/users/phone-numbers/v1/vendor/{other}"),
        None,
        Some(json!({"phoneNumber": "+15550100100"})),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    // Removal is proven by a code texted to that number; nothing goes before.
    let r = me(
        &w,
        &token,
        Method::DELETE,
        &format!("/users/phone-numbers/v1/{phone_id}"),
        None,
    )
    .await;
    r.assert_spec("UserPhoneNumbersControllerV1_deleteUserPhoneNumber", 200);
    let otc = r.body["otcToken"].as_str().unwrap().to_owned();
    assert_eq!(
        me(&w, &token, Method::GET, "/users/phone-numbers/v1/me", None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let code = code_of(&mail(&w.cp, "phone-code", 2).await.body);
    let r = me(
        &w,
        &token,
        Method::POST,
        &format!("/users/phone-numbers/v1/{phone_id}/delete/verify"),
        Some(json!({"otcToken": otc, "code": code})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        me(&w, &token, Method::GET, "/users/phone-numbers/v1/me", None)
            .await
            .body,
        json!([])
    );
    // Budgets: at most five texts to one number an hour.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = me(
            &w,
            &token,
            Method::POST,
            "/users/phone-numbers/v1/preverify",
            Some(json!({"phoneNumber": "+15550100199"})),
        )
        .await;
        statuses.push(r.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429], "{statuses:?}");
    w.cp.assert_served(&[
        "UserPhoneNumbersControllerV1_createUserPhoneNumber",
        "UserPhoneNumbersControllerV1_verifyCreateUserPhoneNumber",
        "UserPhoneNumbersControllerV1_verifyDeleteUserPhoneNumber",
        "UserPhoneNumbersControllerV1_preVerifyUserPhoneNumber",
    ]);
}

#[tokio::test]
async fn sms_login_through_a_verified_number() {
    let w = World::new().await;
    let t = w.tenant("S").await;
    let uid = w.user(&t, "sms@prof.test", &[]).await;
    w.env(
        Method::POST,
        &format!("{P}/configurations/v1"),
        None,
        Some(json!({"authStrategy": "SmsCode"})),
    )
    .await;
    // No verified number yet: the same reply as for anyone, nothing texted.
    let r =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/passwordless/smscode/prelogin"),
            None,
            Some(&json!({"email": "sms@prof.test"})),
        )
        .await;
    r.assert_spec(
        "AuthenticationPasswordlessControllerV1_smsCodePreLogin",
        201,
    );
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/phone-numbers/v1/vendor/{uid}"),
            None,
            Some(json!({"phoneNumber": "+447700900123"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["verified"], true);
    let pre =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/passwordless/smscode/prelogin"),
            None,
            Some(&json!({"phoneNumber": "+44 7700 900123"})),
        )
        .await;
    assert_eq!(pre.status, 201, "{}", pre.text);
    assert_eq!(pre.body["phoneNumber"], "+44 7700 900123");
    let sms = mail(&w.cp, "sms-login-code", 1).await;
    assert_eq!(sms.to, "+447700900123");
    let cookie = pre.cookie();
    let r =
        w.cp.send(
            Method::POST,
            &format!("{P}/auth/v1/passwordless/smscode/postlogin"),
            None,
            &[("cookie", &cookie)],
            Some(&json!({"token": code_of(&sms.body)})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let access = r.body["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(claims(&access)["sub"], uid);
    w.cp.assert_served(&["AuthenticationPasswordlessControllerV1_smsCodePostLogin"]);
    // The environment removes the number: the user's sessions end, SMS login stops.
    let phones = w
        .env(
            Method::GET,
            &format!("{P}/users/phone-numbers/v2?userIds={uid}"),
            None,
            None,
        )
        .await;
    let pid = phones.body["items"][0]["id"].as_str().unwrap().to_owned();
    let r = w
        .env(
            Method::DELETE,
            &format!("{P}/users/phone-numbers/v1/vendor/{uid}/{pid}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let me_now = w
        .as_user(&access, Method::GET, &format!("{P}/users/v2/me"), None)
        .await;
    assert_eq!(me_now.status, 401, "{}", me_now.text);
    w.cp.assert_served(&[
        "UserPhoneNumbersControllerV1_createUserPhoneNumberVendor",
        "UserPhoneNumbersControllerV1_deleteUserPhoneNumberVendor",
    ]);
}

#[tokio::test]
async fn usernames_unique_own_and_listed_for_the_portal() {
    let w = World::new().await;
    let t = w.tenant("U").await;
    let a = w.user(&t, "a@prof.test", &["Admin"]).await;
    let b = w.user(&t, "b@prof.test", &[]).await;
    let ta = w.token_for("a@prof.test").await;
    let tb = w.token_for("b@prof.test").await;
    me(&w, &ta, Method::GET, "/usernames/v1/me", None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    for bad in ["", "has space", "sl/ash", &"x".repeat(129)] {
        me(
            &w,
            &ta,
            Method::POST,
            "/usernames/v1",
            Some(json!({"username": bad})),
        )
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    }
    let r = me(
        &w,
        &ta,
        Method::POST,
        "/usernames/v1",
        Some(json!({"username": "Alice.A"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["username"], "alice.a");
    // Unique regardless of case.
    me(
        &w,
        &tb,
        Method::POST,
        "/usernames/v1",
        Some(json!({"username": "ALICE.a"})),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    me(
        &w,
        &tb,
        Method::POST,
        "/usernames/v1",
        Some(json!({"username": "bob"})),
    )
    .await;
    let r = me(&w, &ta, Method::GET, "/usernames/v1/me", None).await;
    r.assert_spec("UsernamesControllerV1_getMeUsernames", 200);
    assert_eq!(r.body["userId"], a.as_str());
    // Username login works with the new handle.
    let login =
        w.cp.call(
            Method::POST,
            &format!("{P}/auth/v1/user"),
            None,
            Some(&json!({"username": "ALICE.A", "password": crate::support::world::PASSWORD})),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    // The users table reads `{items}` by ids; search by prefix (`undefined` is absent).
    let r = me(
        &w,
        &ta,
        Method::GET,
        &format!("/usernames/v1?userIds={a},{b}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let r = me(
        &w,
        &ta,
        Method::GET,
        "/usernames/v1?_usernamePrefix=undefined&_offset=0&_limit=20",
        None,
    )
    .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{}", r.text);
    let r = me(
        &w,
        &ta,
        Method::GET,
        "/usernames/v1?_usernamePrefix=bo&_offset=0&_limit=20",
        None,
    )
    .await;
    assert_eq!(r.body["items"][0]["username"], "bob");
    // Another account's user sees none of them.
    let t2 = w.tenant("Other").await;
    w.user(&t2, "c@prof.test", &["Admin"]).await;
    let tc = w.token_for("c@prof.test").await;
    let r = me(
        &w,
        &tc,
        Method::GET,
        &format!("/usernames/v1?userIds={a}"),
        None,
    )
    .await;
    assert_eq!(r.body["items"], json!([]));
    // Only one's own username can be removed (another's looks absent).
    me(&w, &tb, Method::DELETE, "/usernames/v1/alice.a", None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    let r = me(&w, &ta, Method::DELETE, "/usernames/v1/alice.a", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    me(&w, &ta, Method::GET, "/usernames/v1/me", None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    w.cp.assert_served(&[
        "UsernamesControllerV1_getUsersUsernames",
        "UsernamesControllerV1_createUsername",
        "UsernamesControllerV1_deleteUsername",
    ]);
}
