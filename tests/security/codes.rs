//! Six-digit codes as a class (`security.md` C5, E6): every flow that proves something with
//! a mailed or texted code — a login phone added or removed, an address added, the own email
//! changed, an invitation accepted with a code, a passwordless login — burns the code at the
//! fifth wrong try (the right code is refused after it), accepts the right code once, and
//! lets two parallel submissions of the right code succeed at most once. One table, one
//! driver: a new code flow is a new row.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::world::World;
use crate::support::{Reply, link_parts, mail};

const P: &str = "/identity/resources";

#[derive(Clone, Copy, Debug)]
enum Flow {
    PhoneAdd,
    PhoneRemove,
    EmailAdd,
    EmailChange,
    InvitationCode,
    PasswordlessCode,
}

const FLOWS: [Flow; 6] = [
    Flow::PhoneAdd,
    Flow::PhoneRemove,
    Flow::EmailAdd,
    Flow::EmailChange,
    Flow::InvitationCode,
    Flow::PasswordlessCode,
];

/// What a started flow needs to submit a code.
struct Pending {
    path: String,
    body: Value,
    bearer: Option<String>,
    cookie: Option<String>,
    code: String,
}

fn six(body: &str) -> String {
    match body.find("code: ").or_else(|| body.find("code is ")) {
        Some(at) => {
            let rest = &body[at..];
            let start = rest.find(|c: char| c.is_ascii_digit()).unwrap();
            rest[start..start + 6].to_owned()
        }
        None => panic!("no code in {body}"),
    }
}

async fn count(w: &World, kind: &str) -> usize {
    crate::support::sent_count(&w.cp, kind)
}

/// Start `flow` for a fresh user (`n` keeps addresses apart); the code sent.
async fn start(w: &World, t: &str, flow: Flow, n: usize) -> Pending {
    let email = format!("u{n}-{flow:?}@codes.test").to_lowercase();
    let uid = w.user(t, &email, &["Admin"]).await;
    let token = w.token_for(&email).await;
    let phone = format!("+1555011{n:04}");
    let user_call = |m: Method, path: String, body: Value| {
        let token = token.clone();
        async move {
            w.as_user(&token, m, &format!("{P}{path}"), Some(body))
                .await
        }
    };
    match flow {
        Flow::PhoneAdd => {
            let before = count(w, "phone-code").await;
            let r = user_call(
                Method::POST,
                "/users/phone-numbers/v1".into(),
                json!({"phoneNumber": phone}),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let body = mail(&w.cp, "phone-code", before + 1).await.body;
            Pending {
                path: "/users/phone-numbers/v1/verify".into(),
                body: json!({"otcToken": r.body["otcToken"]}),
                bearer: Some(token.clone()),
                cookie: None,
                code: six(&body),
            }
        }
        Flow::PhoneRemove => {
            let r = w
                .env(
                    Method::POST,
                    &format!("{P}/users/phone-numbers/v1/vendor/{uid}"),
                    None,
                    Some(json!({"phoneNumber": phone})),
                )
                .await;
            let id = r.body["id"].as_str().unwrap().to_owned();
            let before = count(w, "phone-code").await;
            let r = w
                .as_user(
                    &token,
                    Method::DELETE,
                    &format!("{P}/users/phone-numbers/v1/{id}"),
                    None,
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let body = mail(&w.cp, "phone-code", before + 1).await.body;
            Pending {
                path: format!("/users/phone-numbers/v1/{id}/delete/verify"),
                body: json!({"otcToken": r.body["otcToken"]}),
                bearer: Some(token.clone()),
                cookie: None,
                code: six(&body),
            }
        }
        Flow::EmailAdd | Flow::EmailChange => {
            let new = format!("new-{email}");
            let (path, verify) = match flow {
                Flow::EmailAdd => ("/users/emails/v1", "/users/emails/v1/verify"),
                _ => ("/users/v1/email/me", "/users/v1/email/me/verify"),
            };
            let before = count(w, "email-code").await;
            let r = user_call(Method::POST, path.into(), json!({"email": new})).await;
            assert_eq!(r.status, 200, "{}", r.text);
            let body = mail(&w.cp, "email-code", before + 1).await.body;
            Pending {
                path: verify.into(),
                body: json!({"email": new}),
                bearer: Some(token.clone()),
                cookie: None,
                code: six(&body),
            }
        }
        Flow::InvitationCode => {
            let other = w.tenant(&format!("Other {n}")).await;
            w.env(
                Method::POST,
                &format!("{P}/configurations/v1/invitation/strategies"),
                None,
                Some(json!({"strategy": "code"})),
            )
            .await;
            let before = count(w, "invitation-accept").await;
            let r = w
                .env(
                    Method::POST,
                    &format!("{P}/users/v1"),
                    Some(&other),
                    Some(json!({"email": email})),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let body = mail(&w.cp, "invitation-accept", before + 1).await.body;
            let (user_id, token) = link_parts(&body);
            Pending {
                path: "/users/v1/invitation/accept/code".into(),
                body: json!({"userId": user_id, "token": token}),
                bearer: None,
                cookie: None,
                code: six(&body),
            }
        }
        Flow::PasswordlessCode => {
            w.env(
                Method::POST,
                &format!("{P}/configurations/v1"),
                None,
                Some(json!({"authStrategy": "Code"})),
            )
            .await;
            let before = count(w, "login-code").await;
            let r =
                w.cp.call(
                    Method::POST,
                    &format!("{P}/auth/v1/passwordless/code/prelogin"),
                    None,
                    Some(&json!({"email": email})),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let body = mail(&w.cp, "login-code", before + 1).await.body;
            Pending {
                path: "/auth/v1/passwordless/code/postlogin".into(),
                body: json!({}),
                bearer: None,
                cookie: Some(r.cookie()),
                code: six(&body),
            }
        }
    }
}

/// Submit `code` for `p` (the code goes in `code`, or in `token` for passwordless).
async fn submit(w: &World, flow: Flow, p: &Pending, code: &str) -> Reply {
    let mut body = p.body.clone();
    let field = if matches!(flow, Flow::PasswordlessCode) {
        "token"
    } else {
        "code"
    };
    body[field] = json!(code);
    let mut headers: Vec<(&str, String)> = Vec::new();
    if let Some(b) = &p.bearer {
        headers.push(("authorization", format!("Bearer {b}")));
    }
    if let Some(c) = &p.cookie {
        headers.push(("cookie", c.clone()));
    }
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    w.cp.send(
        Method::POST,
        &format!("{P}{}", p.path),
        None,
        &h,
        Some(&body),
    )
    .await
}

fn wrong(code: &str) -> &'static str {
    if code == "123456" { "654321" } else { "123456" }
}

#[tokio::test]
async fn five_wrong_codes_burn_every_kind_of_code() {
    let w = World::new().await;
    let t = w.tenant("Codes").await;
    for (n, flow) in FLOWS.into_iter().enumerate() {
        let p = start(&w, &t, flow, n).await;
        for i in 0..5 {
            let r = submit(&w, flow, &p, wrong(&p.code)).await;
            assert!(
                r.status.is_client_error(),
                "{flow:?}: wrong code #{i} answered {} {}",
                r.status,
                r.text
            );
        }
        let r = submit(&w, flow, &p, &p.code).await;
        assert!(
            r.status.is_client_error(),
            "{flow:?}: the right code after five wrong ones was accepted: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn the_right_code_works_once_under_a_race() {
    let w = World::new().await;
    let t = w.tenant("Race").await;
    for (n, flow) in FLOWS.into_iter().enumerate() {
        let p = start(&w, &t, flow, n + 100).await;
        let (a, b) = tokio::join!(submit(&w, flow, &p, &p.code), submit(&w, flow, &p, &p.code));
        let ok = [&a, &b].iter().filter(|r| r.status.is_success()).count();
        assert_eq!(
            ok, 1,
            "{flow:?}: {} {} / {} {}",
            a.status, a.text, b.status, b.text
        );
        let again = submit(&w, flow, &p, &p.code).await;
        assert!(
            again.status.is_client_error(),
            "{flow:?}: reused: {}",
            again.text
        );
    }
}
