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

#[tokio::test]
async fn several_addresses_per_user_verified_primary_and_removed() {
    let w = World::new().await;
    let t = w.tenant("E").await;
    let uid = w.user(&t, "main@prof.test", &["Admin"]).await;
    let other = w.user(&t, "taken@prof.test", &[]).await;
    let token = w.token_for("main@prof.test").await;
    let r = me(&w, &token, Method::GET, "/users/emails/v1/me", None).await;
    r.assert_spec("UserEmailsControllerV1_getUserOwnEmails", 200);
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    assert_eq!(r.body[0]["isPrimary"], true);
    let r = me(
        &w,
        &token,
        Method::POST,
        "/users/emails/v1",
        Some(json!({"email": "Second@prof.test"})),
    )
    .await;
    r.assert_spec("UserEmailsControllerV1_createUserEmail", 200);
    assert_eq!(r.body["verified"], false);
    let second_id = r.body["id"].as_str().unwrap().to_owned();
    let code = code_of(&mail(&w.cp, "email-code", 1).await.body);
    // Asking for another user's address: the same reply, nothing mailed, no code works.
    let r2 = me(
        &w,
        &token,
        Method::POST,
        "/users/emails/v1",
        Some(json!({"email": "taken@prof.test"})),
    )
    .await;
    assert_eq!(r2.status, 200, "{}", r2.text);
    assert_eq!(r2.body["verified"], false);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        w.cp.running
            .state
            .mailer
            .sent()
            .iter()
            .filter(|m| m.to == "taken@prof.test" && m.kind == "email-code")
            .count(),
        0
    );
    // The latest code counts (the taken address's request superseded the first code).
    me(
        &w,
        &token,
        Method::POST,
        "/users/emails/v1/verify",
        Some(json!({"email": "second@prof.test", "code": code})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    me(
        &w,
        &token,
        Method::POST,
        "/users/emails/v1",
        Some(json!({"email": "second@prof.test"})),
    )
    .await;
    let code = code_of(&mail(&w.cp, "email-code", 2).await.body);
    let r = me(
        &w,
        &token,
        Method::POST,
        "/users/emails/v1/verify",
        Some(json!({"email": "second@prof.test", "code": code})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The portal reads `{items}` by user ids and uses isPrimary.
    let r = me(
        &w,
        &token,
        Method::GET,
        &format!("/users/emails/v1?userIds={uid},{other}"),
        None,
    )
    .await;
    r.assert_spec("UserEmailsControllerV1_getAllEmails", 200);
    // Both of the user's verified addresses, the taken one it asked for (unverified, never
    // verifiable), and the other user's.
    assert_eq!(r.body["items"].as_array().unwrap().len(), 4, "{}", r.text);
    // A verified further address is unique: nobody else can add it as theirs.
    w.env(
        Method::POST,
        &format!("{P}/users/emails/v1/vendor/{other}"),
        None,
        Some(json!({"email": "second@prof.test", "isVerified": true})),
    )
    .await
    .assert_error(409, "ER-CONFLICT");
    // Make it primary: login by it; the old one stays as a further address; other
    // sessions end, the caller's stays.
    let elsewhere = w.token_for("main@prof.test").await;
    let r = me(
        &w,
        &token,
        Method::POST,
        "/users/emails/v1/me/primary",
        Some(json!({"email": "second@prof.test"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        me(&w, &elsewhere, Method::GET, "/users/emails/v1/me", None)
            .await
            .status,
        401
    );
    let mine = me(&w, &token, Method::GET, "/users/emails/v1/me", None).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    assert_eq!(mine.body[0]["email"], "Second@prof.test");
    assert_eq!(mine.body[0]["id"], second_id.as_str(), "ids are stable");
    assert_eq!(w.login("second@prof.test").await.status, 200);
    // The primary cannot be removed; a further one can.
    me(
        &w,
        &token,
        Method::DELETE,
        &format!("/users/emails/v1/{second_id}"),
        None,
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let old_id = mine.body[1]["id"].as_str().unwrap().to_owned();
    let r = me(
        &w,
        &token,
        Method::DELETE,
        &format!("/users/emails/v1/{old_id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The environment's side.
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/emails/v1/vendor/{other}"),
            None,
            Some(json!({"email": "alias@prof.test", "isVerified": true})),
        )
        .await;
    r.assert_spec("UserEmailsControllerV1_createUserEmailForVendor", 200);
    let alias = r.body["id"].as_str().unwrap().to_owned();
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/emails/v1/vendor/{other}/primary"),
            None,
            Some(json!({"email": "alias@prof.test"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = w
        .env(
            Method::DELETE,
            &format!("{P}/users/emails/v1/vendor/{other}/{alias}"),
            None,
            None,
        )
        .await;
    r.assert_error(400, "ER-INVALID-INPUT");
    w.cp.assert_served(&[
        "UserEmailsControllerV1_verifyUserEmail",
        "UserEmailsControllerV1_markEmailAsPrimaryMe",
        "UserEmailsControllerV1_deleteUserEmail",
        "UserEmailsControllerV1_markEmailAsPrimary",
        "UserEmailsControllerV1_deleteUserEmailForVendor",
    ]);
}

#[tokio::test]
async fn own_email_change_with_a_code_and_the_policy() {
    let w = World::new().await;
    let t = w.tenant("C").await;
    w.user(&t, "before@prof.test", &[]).await;
    w.user(&t, "holder@prof.test", &[]).await;
    let login = w.login("before@prof.test").await;
    let token = login.body["accessToken"].as_str().unwrap().to_owned();
    let refresh = login.cookie();
    let r = me(
        &w,
        &token,
        Method::GET,
        "/configurations/v1/user-emails-policy",
        None,
    )
    .await;
    r.assert_spec("UserEmailsPolicyControllerV1_getUserEmailsPolicy", 200);
    assert_eq!(r.body["allowEmailChange"], true);
    // Another user's address: the same reply, nothing mailed.
    let taken = me(
        &w,
        &token,
        Method::POST,
        "/users/v1/email/me",
        Some(json!({"email": "holder@prof.test"})),
    )
    .await;
    let r = me(
        &w,
        &token,
        Method::POST,
        "/users/v1/email/me",
        Some(json!({"email": "after@prof.test"})),
    )
    .await;
    assert_eq!(
        (taken.status, taken.text.clone()),
        (r.status, r.text.clone())
    );
    let m = mail(&w.cp, "email-code", 1).await;
    assert_eq!(m.to, "after@prof.test");
    let code = code_of(&m.body);
    // The code is bound to the address it was sent to.
    me(
        &w,
        &token,
        Method::POST,
        "/users/v1/email/me/verify",
        Some(json!({"email": "other@prof.test", "code": code})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    me(
        &w,
        &token,
        Method::POST,
        "/users/v1/email/me",
        Some(json!({"email": "after@prof.test"})),
    )
    .await;
    let code = code_of(&mail(&w.cp, "email-code", 2).await.body);
    let r = me(
        &w,
        &token,
        Method::POST,
        "/users/v1/email/me/verify",
        Some(json!({"email": "after@prof.test", "code": code})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let notice = mail(&w.cp, "email-changed", 1).await;
    assert_eq!(notice.to, "before@prof.test");
    // The portal refreshes and expects the new address in the token.
    let r =
        w.cp.send(
            Method::POST,
            &format!("{P}/auth/v1/user/token/refresh"),
            None,
            &[("cookie", &refresh)],
            Some(&json!({})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(
        claims(r.body["accessToken"].as_str().unwrap())["email"],
        "after@prof.test"
    );
    assert_eq!(w.login("before@prof.test").await.status, 401);
    assert_eq!(w.login("after@prof.test").await.status, 200);
    // The environment turns email change off: 403.
    let r = w
        .env(
            Method::POST,
            &format!("{P}/configurations/v1/user-emails-policy"),
            None,
            Some(json!({"allowEmailChange": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = w.token_for("after@prof.test").await;
    me(
        &w,
        &token,
        Method::POST,
        "/users/v1/email/me",
        Some(json!({"email": "again@prof.test"})),
    )
    .await
    .assert_error(403, "ER-FORBIDDEN");
    w.cp.assert_served(&[
        "SelfEmailUpdateControllerV1_updateEmailMe",
        "SelfEmailUpdateControllerV1_verifyEmailMe",
        "UserEmailsPolicyControllerV1_createOrUpdateUserEmailsPolicy",
    ]);
}

#[tokio::test]
async fn temporary_users_end_and_their_tokens_with_them() {
    let w = World::new().await;
    let t = w.tenant("T").await;
    let uid = w.user(&t, "temp@prof.test", &[]).await;
    w.user(&t, "boss@prof.test", &["Admin"]).await;
    let boss = w.token_for("boss@prof.test").await;
    let r = me(
        &w,
        &boss,
        Method::GET,
        "/users/temporary/v1/configuration",
        None,
    )
    .await;
    r.assert_spec("TemporaryUsersV1Controller_getConfiguration", 200);
    assert_eq!(r.body["enabled"], false);
    me(
        &w,
        &boss,
        Method::PUT,
        &format!("/users/temporary/v1/{uid}"),
        Some(json!({"expirationInSeconds": 3600})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let r = w
        .env(
            Method::PUT,
            &format!("{P}/users/temporary/v1/configuration"),
            None,
            Some(json!({"enabled": true})),
        )
        .await;
    r.assert_spec("TemporaryUsersV1Controller_updateConfiguration", 200);
    let before = w.token_for("temp@prof.test").await;
    for bad in [json!(299), json!(300.5), json!("soon")] {
        me(
            &w,
            &boss,
            Method::PUT,
            &format!("/users/temporary/v1/{uid}"),
            Some(json!({"expirationInSeconds": bad})),
        )
        .await
        .assert_error(400, "ER-INVALID-INPUT");
    }
    let r = me(
        &w,
        &boss,
        Method::PUT,
        &format!("/users/temporary/v1/{uid}"),
        Some(json!({"expirationInSeconds": 600})),
    )
    .await;
    r.assert_spec("TemporaryUsersV1Controller_editTimeLimit", 201);
    assert!(r.body["temporaryExpirationDate"].is_string());
    // Tokens from before the end was known outlive it: an event voids them at the sidecars
    // (the control plane itself refuses the user once the end passes); new ones end with
    // the user.
    let events =
        w.cp.call(Method::GET, "/tessera/v1/events", Some(&w.token), None)
            .await;
    assert!(
        events
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "userPrivilegesReduced" && e["userId"] == uid.as_str()),
        "{}",
        events.text
    );
    let now = w.cp.running.state.clock.unix();
    let r = w.login("temp@prof.test").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let exp = claims(r.body["accessToken"].as_str().unwrap())["exp"]
        .as_i64()
        .unwrap();
    assert!(exp <= now + 600, "exp {exp} past the end {}", now + 600);
    let token = r.body["accessToken"].as_str().unwrap().to_owned();
    let user = me(&w, &boss, Method::GET, &format!("/users/v1/{uid}"), None).await;
    assert!(
        user.body["temporaryExpirationDate"].is_string(),
        "{}",
        user.text
    );
    // Past the end: no login, no calls.
    w.cp.running.state.clock.advance(601);
    assert_eq!(w.login("temp@prof.test").await.status, 401);
    for t in [&token, &before] {
        assert_eq!(
            me(&w, t, Method::GET, "/users/v2/me", None).await.status,
            401
        );
    }
    // Made permanent: back in.
    let r = me(
        &w,
        &boss,
        Method::DELETE,
        &format!("/users/temporary/v1/{uid}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(w.login("temp@prof.test").await.status, 200);
    w.cp.assert_served(&["TemporaryUsersV1Controller_setUserPermanent"]);
}

#[tokio::test]
async fn bulk_invitations_report_each_user() {
    let w = World::new().await;
    let t = w.tenant("B").await;
    w.user(&t, "already@prof.test", &[]).await;
    let r = w
        .env(
            Method::POST,
            &format!("{P}/users/bulk/v1/invite"),
            Some(&t),
            Some(json!({"users": [
                {"email": "one@prof.test", "name": "One"},
                {"email": "two@prof.test"},
                {"email": "not an address"},
                {"email": "already@prof.test"}
            ]})),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let s = w
        .env(
            Method::GET,
            &format!("{P}/users/bulk/v1/status/{id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.body["status"], "Completed");
    assert_eq!(
        (s.body["succeeded"].as_u64(), s.body["failed"].as_u64()),
        (Some(2), Some(2))
    );
    mail(&w.cp, "invitation", 2).await;
    // Without an account header: 400; another account cannot read it.
    w.env(
        Method::POST,
        &format!("{P}/users/bulk/v1/invite"),
        None,
        Some(json!({"users": [{"email": "x@prof.test"}]})),
    )
    .await
    .assert_error(400, "ER-INVALID-INPUT");
    let other = w.tenant("Other").await;
    w.env(
        Method::GET,
        &format!("{P}/users/bulk/v1/status/{id}"),
        Some(&other),
        None,
    )
    .await
    .assert_error(404, "ER-NOT-FOUND");
    w.cp.assert_served(&[
        "UsersBulkControllerV1_bulkInviteUsers",
        "UsersBulkControllerV1_getBulkInviteStatus",
    ]);
}
