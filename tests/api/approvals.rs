//! Approval flows end to end (`compat-wave2.md` §15): definitions (the refusals, CRUD), an
//! execution from request to approver decisions to its outcome posted to the webhook — the
//! approvers chosen by role (never the requester) and by address, mailed with the
//! `ApprovalFlowApprove` template, the three ids of the mail as the only capability (one
//! decision each, nothing after completion), a refusal ending it, time ending it — and the
//! step-up execution that needs a freshly stepped-up user token.

use reqwest::Method;
use serde_json::{Value, json};

use crate::api::auth::mfa::stepped_up;
use crate::support::provider::StandIn;
use crate::support::world::World;
use crate::support::{Cp, mail, sent_count};

const F: &str = "/identity/resources/approval-flows/v1";

fn flow(webhook: &str) -> Value {
    json!({
        "name": "Large refund",
        "description": "Refunds over 100",
        "channels": {"email": true, "sms": false},
        "configuration": {"timeoutMinutes": 60, "webhookUrl": webhook, "notifyOnDecisions": true},
        "steps": [
            {"stepOrder": 1, "approverSelectors": {"roleKeys": ["Admin"]}, "configuration": {"minApprovals": 1}},
            {"stepOrder": 2, "approverSelectors": {"emails": ["Boss@appr.test"]}, "configuration": {"minApprovals": 1}},
        ],
    })
}

/// The three ids in the last approval mail to `to` (from its link).
async fn capability(cp: &Cp, to: &str, n: usize) -> (String, String, String) {
    for _ in 0..200 {
        let mails: Vec<_> = cp
            .running
            .state
            .mailer
            .sent()
            .into_iter()
            .filter(|m| m.kind == "approval-request" && m.to == to)
            .collect();
        if mails.len() >= n {
            let body = &mails[n - 1].body;
            let q = |k: &str| {
                body.split(&format!("{k}="))
                    .nth(1)
                    .unwrap()
                    .split(['&', ')', ' ', '\n'])
                    .next()
                    .unwrap()
                    .to_owned()
            };
            return (
                q("approvalFlowExecutionId"),
                q("approverId"),
                q("approvalFlowStepId"),
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no approval mail #{n} to {to}");
}

async fn data(w: &World, ids: &(String, String, String)) -> crate::support::Reply {
    w.cp.call(
        Method::GET,
        &format!(
            "{F}/execution-data?approvalFlowExecutionId={}&approverId={}&approvalFlowStepId={}",
            ids.0, ids.1, ids.2
        ),
        None,
        None,
    )
    .await
}

async fn decide(
    w: &World,
    ids: &(String, String, String),
    approved: bool,
) -> crate::support::Reply {
    w.cp.call(
        Method::POST,
        &format!("{F}/approver-action"),
        None,
        Some(
            &json!({"approvalFlowExecutionId": ids.0, "approverId": ids.1,
            "approvalFlowStepId": ids.2, "approved": approved}),
        ),
    )
    .await
}

#[tokio::test]
async fn a_request_runs_from_approvers_to_its_outcome() {
    let hook = StandIn::start(&[200]).await;
    let mut w = World::new().await;
    let t = w.tenant("Refunds").await;
    w.user(&t, "ada@appr.test", &["Admin"]).await;
    w.user(&t, "bob@appr.test", &["Admin"]).await;
    w.user(&t, "boss@appr.test", &[]).await;
    let url = format!("{}/outcome", hook.base);

    // Refusals.
    for (path, value) in [
        ("/channels/sms", json!(true)),
        ("/steps", json!([])),
        ("/steps/0/configuration/minApprovals", json!(0)),
        ("/steps/0/approverSelectors", json!({})),
        (
            "/steps/1/approverSelectors/emails",
            json!(["not-an-address"]),
        ),
        ("/steps/1/stepOrder", json!(1)),
        ("/configuration/timeoutMinutes", json!(4)),
        ("/configuration/webhookUrl", json!("ftp://x")),
    ] {
        let mut f = flow(&url);
        *f.pointer_mut(path).unwrap() = value;
        let r = w.env(Method::POST, F, Some(&t), Some(f.clone())).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
    }
    let r = w.env(Method::POST, F, Some(&t), Some(flow(&url))).await;
    r.assert_spec("ApprovalFlowsController_createApprovalFlow", 200);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["steps"].as_array().unwrap().len(), 2);
    let r = w.env(Method::GET, F, Some(&t), None).await;
    r.assert_spec("ApprovalFlowsController_getApprovalFlows", 200);
    assert_eq!(r.body["total"], 1);
    let r = w
        .env(
            Method::PATCH,
            &format!("{F}/{id}"),
            Some(&t),
            Some(json!({"name": "Big refund"})),
        )
        .await;
    r.assert_spec("ApprovalFlowsController_updateApprovalFlow", 200);
    let r = w
        .env(Method::GET, &format!("{F}/{id}"), Some(&t), None)
        .await;
    r.assert_spec("ApprovalFlowsController_getApprovalFlowById", 200);
    assert_eq!(r.body["name"], "Big refund");

    // Ada (an Admin) asks: the first step goes to the other Admin, never to her.
    let ada = w.token_for("ada@appr.test").await;
    let r = w
        .as_user(
            &ada,
            Method::POST,
            &format!("{F}/{id}/execute"),
            Some(json!({"executionData": {"refund": 500, "order": "A-7"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "pending");
    let bob = capability(&w.cp, "bob@appr.test", 1).await;
    let m = mail(&w.cp, "approval-request", 1).await;
    assert_eq!(m.subject, "Approval requested: Big refund");
    assert!(
        m.body
            .contains("/oauth/account/approval-flow?approvalFlowExecutionId="),
        "{}",
        m.body
    );
    assert!(
        w.cp.running
            .state
            .mailer
            .sent()
            .iter()
            .all(|m| m.kind != "approval-request" || m.to != "ada@appr.test"),
        "the requester approves nothing"
    );
    let r = data(&w, &bob).await;
    r.assert_spec("ApprovalFlowsController_getExecutionData", 200);
    assert_eq!(
        (
            r.body["approvalFlowName"].as_str(),
            r.body["requester"].as_str()
        ),
        (Some("Big refund"), Some("ada@appr.test"))
    );
    assert_eq!(r.body["executionData"]["refund"], 500);
    // Only the exact triple opens it; every other one gets the same 404.
    let nothing = data(&w, &(bob.0.clone(), bob.1.clone(), bob.0.clone())).await;
    for bad in [
        (bob.0.clone(), bob.2.clone(), bob.1.clone()),
        (bob.1.clone(), bob.1.clone(), bob.2.clone()),
        (bob.0.clone(), uuid_like(), bob.2.clone()),
    ] {
        let r = data(&w, &bad).await;
        assert_eq!((r.status, &r.body), (nothing.status, &nothing.body));
        assert_eq!(r.status, 404);
    }
    // Bob approves (once); the second step goes to the boss.
    let r = decide(&w, &bob, true).await;
    assert_eq!(
        (r.status.as_u16(), &r.body),
        (200, &json!({"success": true})),
        "{}",
        r.text
    );
    assert_eq!(
        decide(&w, &bob, false).await.status,
        404,
        "one decision per approver"
    );
    // notifyOnDecisions: the requester hears of it.
    let m = mail(&w.cp, "approval-decision", 1).await;
    assert_eq!(m.to, "ada@appr.test");
    assert!(
        m.body
            .contains("bob@appr.test approved your request \"Big refund\""),
        "{}",
        m.body
    );
    assert_eq!(data(&w, &bob).await.status, 404, "the first step is over");
    let boss = capability(&w.cp, "boss@appr.test", 1).await;
    assert_eq!(boss.0, bob.0);
    assert_ne!(boss.2, bob.2);
    assert!(hook.requests().is_empty());
    let r = decide(&w, &boss, true).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = hook.wait_for(1, 5).await;
    let outcome: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(
        (
            outcome["status"].as_str(),
            outcome["approvalFlowExecutionId"].as_str()
        ),
        (Some("approved"), Some(bob.0.as_str()))
    );
    assert_eq!(outcome["executionData"]["order"], "A-7");
    assert_eq!(
        data(&w, &boss).await.status,
        404,
        "nothing after completion"
    );

    // A refusal ends the request: the boss is never asked.
    let r = w
        .as_user(
            &ada,
            Method::POST,
            &format!("{F}/{id}/execute"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let bob2 = capability(&w.cp, "bob@appr.test", 2).await;
    assert_eq!(decide(&w, &bob2, false).await.status, 200);
    let got = hook.wait_for(2, 5).await;
    let outcome: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(outcome["status"], "rejected");
    assert_eq!(
        sent_count(&w.cp, "approval-request"),
        3,
        "bob twice, the boss once"
    );

    // Time runs out: nothing is decided after it.
    let r = w
        .as_user(
            &ada,
            Method::POST,
            &format!("{F}/{id}/execute"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let bob3 = capability(&w.cp, "bob@appr.test", 3).await;
    w.cp.running.state.clock.advance(3601);
    assert_eq!(decide(&w, &bob3, true).await.status, 404);
    // (The hour also ended the tokens of the test's callers.)
    w.token = w.cp.vendor_token().await;
    let ada = w.token_for("ada@appr.test").await;
    // An inactive flow is not executed; a deleted one is gone.
    let r = w
        .env(
            Method::PATCH,
            &format!("{F}/{id}"),
            Some(&t),
            Some(json!({"isActive": false})),
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["isActive"].as_bool()),
        (200, Some(false)),
        "{}",
        r.text
    );
    let r = w
        .as_user(
            &ada,
            Method::POST,
            &format!("{F}/{id}/execute"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = w
        .env(Method::DELETE, &format!("{F}/{id}"), Some(&t), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.env(Method::GET, &format!("{F}/{id}"), Some(&t), None)
        .await
        .assert_error(404, "ER-NOT-FOUND");
    w.cp.assert_served(&[
        "ApprovalFlowsController_executeApprovalFlow",
        "ApprovalFlowsController_approverAction",
        "ApprovalFlowsController_deleteApprovalFlow",
    ]);
}

fn uuid_like() -> String {
    "4d3c1b6e-0000-4000-8000-000000000000".into()
}

#[tokio::test]
async fn a_step_up_execution_needs_a_fresh_second_factor() {
    let w = World::new().await;
    let t = w.tenant("Stepped").await;
    w.user(&t, "ada@step.test", &["Admin"]).await;
    w.user(&t, "bob@step.test", &["Admin"]).await;
    let mut f = flow("https://hooks.invalid/x");
    f["steps"] = json!([{"stepOrder": 1, "approverSelectors": {"roleKeys": ["Admin"]}, "configuration": {"minApprovals": 1}}]);
    assert_eq!(w.env(Method::POST, F, Some(&t), Some(f)).await.status, 200);
    let access = w.token_for("ada@step.test").await;
    let path = format!("{F}/step-up/execute");
    let r = w
        .as_user(&access, Method::POST, &path, Some(json!({})))
        .await;
    assert_eq!(r.status, 403, "a password-only token: {}", r.text);
    let r = w.env(Method::POST, &path, Some(&t), Some(json!({}))).await;
    assert_eq!(r.status, 403, "the environment cannot step up: {}", r.text);
    // Enrol an authenticator, step up, and ask.
    let clock = w.cp.running.state.clock.clone();
    let done = stepped_up(&w, &access).await;
    let stepped = done.body["accessToken"].as_str().unwrap().to_owned();
    let r = w
        .as_user(&stepped, Method::POST, &path, Some(json!({})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.cp.assert_served(&["ApprovalFlowsController_executeStepUpApprovalFlow"]);
    capability(&w.cp, "bob@step.test", 1).await;
    // Ten minutes later the same token is no longer fresh enough.
    clock.advance(700);
    let r = w
        .as_user(&stepped, Method::POST, &path, Some(json!({})))
        .await;
    assert!(r.status == 403 || r.status == 401, "{}", r.text);
}

#[tokio::test]
async fn time_decides_and_the_outcome_is_posted_without_anyone_looking() {
    // The webhook refuses the first attempt: the outcome waits and is posted again.
    let hook = StandIn::start(&[503, 200]).await;
    let w = World::new().await;
    let t = w.tenant("Timed").await;
    w.user(&t, "ada@time.test", &["Admin"]).await;
    w.user(&t, "bob@time.test", &["Admin"]).await;
    let url = format!("{}/outcome", hook.base);
    let one_step = |config: Value| {
        let mut f = flow(&url);
        f["configuration"] = config;
        f["steps"] = json!([{"stepOrder": 1, "approverSelectors": {"roleKeys": ["Admin"]}, "configuration": {"minApprovals": 1}}]);
        f
    };
    let auto = w
        .env(
            Method::POST,
            F,
            Some(&t),
            Some(one_step(
                json!({"autoApproveInMinutes": 1, "timeoutMinutes": 60, "webhookUrl": url}),
            )),
        )
        .await;
    assert_eq!(auto.status, 200, "{}", auto.text);
    let ada = w.token_for("ada@time.test").await;
    let id = auto.body["id"].as_str().unwrap();
    let r = w
        .as_user(
            &ada,
            Method::POST,
            &format!("{F}/{id}/execute"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let execution = r.body["approvalFlowExecutionId"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert!(hook.requests().is_empty(), "nothing is due yet");
    w.cp.running.state.clock.advance(61);
    let got = hook.wait_for(2, 10).await;
    for g in &got[..2] {
        let o: Value = serde_json::from_str(&g.body).unwrap();
        assert_eq!(
            (o["status"].as_str(), o["approvalFlowExecutionId"].as_str()),
            (Some("approved"), Some(execution.as_str()))
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(hook.requests().len(), 2, "accepted once, posted no more");
    // A timeout with nobody deciding.
    let ada = w.token_for("ada@time.test").await;
    let timed = w
        .env(
            Method::POST,
            F,
            Some(&t),
            Some(one_step(json!({"timeoutMinutes": 5, "webhookUrl": url}))),
        )
        .await;
    let id = timed.body["id"].as_str().unwrap();
    let r = w
        .as_user(
            &ada,
            Method::POST,
            &format!("{F}/{id}/execute"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.cp.running.state.clock.advance(301);
    let got = hook.wait_for(3, 10).await;
    let o: Value = serde_json::from_str(&got[2].body).unwrap();
    assert_eq!(o["status"], "timedOut");
}

#[tokio::test]
async fn undecided_approvers_are_reminded() {
    let w = World::new().await;
    let t = w.tenant("Reminded").await;
    w.user(&t, "ada@remind.test", &["Admin"]).await;
    w.user(&t, "bob@remind.test", &["Admin"]).await;
    w.user(&t, "cy@remind.test", &["Admin"]).await;
    let mut f = flow("https://hooks.invalid/x");
    f["configuration"] = json!({"timeoutMinutes": 300, "reminderIntervalMinutes": 60});
    f["steps"] = json!([{"stepOrder": 1, "approverSelectors": {"roleKeys": ["Admin"]}, "configuration": {"minApprovals": 2}}]);
    let r = w.env(Method::POST, F, Some(&t), Some(f)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["id"].as_str().unwrap();
    let ada = w.token_for("ada@remind.test").await;
    let r = w
        .as_user(
            &ada,
            Method::POST,
            &format!("{F}/{id}/execute"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let bob = capability(&w.cp, "bob@remind.test", 1).await;
    let cy = capability(&w.cp, "cy@remind.test", 1).await;
    assert_eq!(decide(&w, &bob, true).await.status, 200);
    // An hour on: only the one who has not decided is reminded, with the same link.
    w.cp.running.state.clock.advance(3601);
    let m = mail(&w.cp, "approval-reminder", 1).await;
    assert_eq!(m.to, "cy@remind.test");
    assert!(m.body.contains(&cy.1), "{}", m.body);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(sent_count(&w.cp, "approval-reminder"), 1, "once an hour");
    w.cp.running.state.clock.advance(3600);
    mail(&w.cp, "approval-reminder", 2).await;
    // The reminded approver still decides with the first link.
    assert_eq!(decide(&w, &cy, true).await.status, 200);
}
