//! The pages of the mailed links and their forms: sign-up, activation, forgot and reset
//! password, unlock, an invitation to another account, an approval request.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::*;

pub(super) fn signup_form<'a>(email: &'a str, name: &'a str, company: &'a str) -> Form<'a> {
    Form {
        title: "Create an account",
        intro: "",
        action: "/oauth/account/sign-up",
        hidden: Vec::new(),
        fields: vec![
            email_field(email),
            Field {
                name: "name",
                label: "Your name",
                kind: "text",
                autocomplete: "name",
                value: name,
            },
            Field {
                name: "companyName",
                label: "Company",
                kind: "text",
                autocomplete: "organization",
                value: company,
            },
            new_password_field(),
        ],
        submit: "Create account",
        links: vec![(LOGIN, "Already have an account? Sign in")],
        image: None,
        secret: None,
        alternatives: Vec::new(),
        remember: None,
    }
}

pub(super) async fn signup_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    signup_form("", "", "").show(&state, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SignupForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    company_name: String,
    #[serde(default)]
    password: String,
}

/// Public (form, CSRF): sign up; the activation mail goes out as for the login box's sign-up
/// (the same reply whether or not the address was taken).
pub(super) async fn signup_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: SignupForm = match submitted(&state, &headers, &body, "Create an account") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let again = signup_form(&form.email, &form.name, &form.company_name);
    let email = form.email.trim();
    let done = async {
        crate::http::guard::check_captcha(&state, None, Some(email), ip).await?;
        let s = crate::model::signup::SignUp {
            email: Some(email.to_owned()),
            username: None,
            password: Some(form.password.clone()),
            name: Some(form.name.trim().to_owned()).filter(|n| !n.is_empty()),
            company_name: Some(form.company_name.trim().to_owned()).filter(|n| !n.is_empty()),
            metadata: None,
        };
        super::super::signup::register(&state, s, None).await
    };
    match done.await {
        Ok(s) if s.should_activate => message(
            &state,
            StatusCode::OK,
            "Check your email",
            "We sent you a link to activate your account. Open it to finish.",
        ),
        Ok(_) => say(
            &state,
            StatusCode::OK,
            "Account created",
            "Your account is ready.",
            Some((LOGIN, "Sign in")),
        ),
        Err(e) if e.status().is_server_error() => error_page(&state, &e),
        Err(e) => again.show(&state, &headers, e.status(), Some(e.message())),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LinkForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

pub(super) fn activate_form<'a>(user_id: &'a str, token: &'a str, with_password: bool) -> Form<'a> {
    Form {
        title: "Activate your account",
        intro: if with_password {
            "Choose a password to activate your account."
        } else {
            "Activate your account to sign in."
        },
        action: "/oauth/account/activate",
        hidden: vec![("userId", user_id), ("token", token)],
        fields: if with_password {
            vec![new_password_field()]
        } else {
            Vec::new()
        },
        submit: "Activate",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: Vec::new(),
        remember: None,
    }
}

/// Public: the mailed activation link's page (`?userId=&token=`); the token is consumed only
/// when the form is submitted.
pub(super) async fn activate_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (user_id, token) = (
        query_value(raw.as_deref(), "userId"),
        query_value(raw.as_deref(), "token"),
    );
    match crate::model::signup::needs_password(&state.db, &state.clock, &user_id, &token) {
        Ok(with_password) => activate_form(&user_id, &token, with_password).show(
            &state,
            &headers,
            StatusCode::OK,
            None,
        ),
        Err(e) => refusal(&state, e, |_| {
            bad_link(
                &state,
                "Activate your account",
                "This activation link is invalid or has expired. Sign in to have a new one sent.",
            )
        }),
    }
}

/// Public (form, CSRF): activate (setting the password if the user has none) and sign in.
pub(super) async fn activate_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LinkForm = match submitted(&state, &headers, &body, "Activate your account") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    use crate::model::signup::SignupError;
    let password = Some(form.password.clone()).filter(|p| !p.is_empty());
    if let Err(e) = crate::http::guard::check_captcha(&state, None, None, ip).await {
        return error_page(&state, &e);
    }
    let activated = crate::model::signup::activate(
        &state.db,
        &state.clock,
        &state.hasher,
        &form.user_id,
        &form.token,
        password,
    )
    .await;
    let user = match activated {
        Ok(u) => u,
        // The link is spent or wrong: nothing on this page can help.
        Err(e @ (SignupError::BadToken | SignupError::NotFound | SignupError::AlreadyActive)) => {
            return bad_link(&state, "Activate your account", &e.to_string());
        }
        Err(e) => {
            return refusal(&state, e, |e| {
                // A password the policy refuses, or none given: the link still works.
                activate_form(&form.user_id, &form.token, true).show(
                    &state,
                    &headers,
                    e.status(),
                    Some(e.message()),
                )
            });
        }
    };
    let config = match crate::model::vendor_config::current(&state.db) {
        Ok(c) => c,
        Err(e) => return error_page(&state, &e.into()),
    };
    let Some(tenant) = user.login_tenant().map(str::to_owned) else {
        return bad_link(
            &state,
            "Activate your account",
            "Your account is active, but it belongs to no account you can sign in to.",
        );
    };
    match super::super::mfa::after_first_factor(&state, &config, &headers, user, tenant, ip).await {
        Ok(issued) => signed_in(
            &state,
            &issued,
            &config,
            "",
            "Your account is active and you are signed in.",
        ),
        Err(super::super::mfa::Stop::Challenge(c)) => {
            super::sign_in::second_factor(&state, &headers, &c, "").await
        }
        Err(super::super::mfa::Stop::Refused(e)) if e.status().is_server_error() => {
            error_page(&state, &e)
        }
        Err(super::super::mfa::Stop::Refused(e)) => {
            bad_link(&state, "Activate your account", e.message())
        }
    }
}

pub(super) fn forgot_form(email: &str) -> Form<'_> {
    Form {
        title: "Reset your password",
        intro: "Enter your email address and we will send you a link to choose a new password.",
        action: "/oauth/account/forgot-password",
        hidden: Vec::new(),
        fields: vec![email_field(email)],
        submit: "Send the link",
        links: vec![(LOGIN, "Back to sign in")],
        image: None,
        secret: None,
        alternatives: Vec::new(),
        remember: None,
    }
}

pub(super) async fn forgot_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    forgot_form("").show(&state, &headers, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    email: String,
}

/// Public (form, CSRF): mail a reset link; the same page for every address.
pub(super) async fn forgot_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: EmailForm = match submitted(&state, &headers, &body, "Reset your password") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    if form.email.trim().is_empty() {
        return forgot_form(&form.email).show(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some("Enter your email address."),
        );
    }
    match crate::model::credentials::request_reset(
        &state.db,
        &state.clock,
        state.links(),
        form.email.trim(),
    )
    .await
    {
        Ok(()) => message(
            &state,
            StatusCode::OK,
            "Check your email",
            "If the address belongs to an account, we sent it a link to choose a new password.",
        ),
        Err(e) => refusal(&state, e, |e| {
            forgot_form(&form.email).show(&state, &headers, e.status(), Some(e.message()))
        }),
    }
}

pub(super) fn reset_form<'a>(user_id: &'a str, token: &'a str) -> Form<'a> {
    Form {
        title: "Choose a new password",
        intro: "",
        action: "/oauth/account/reset-password",
        hidden: vec![("userId", user_id), ("token", token)],
        fields: vec![new_password_field()],
        submit: "Save the password",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: Vec::new(),
        remember: None,
    }
}

/// Public: the mailed reset link's page (`?userId=&token=`).
pub(super) async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (user_id, token) = (
        query_value(raw.as_deref(), "userId"),
        query_value(raw.as_deref(), "token"),
    );
    if user_id.is_empty() || token.is_empty() {
        return bad_link(
            &state,
            "Choose a new password",
            "This reset link is incomplete. Ask for a new one.",
        );
    }
    reset_form(&user_id, &token).show(&state, &headers, StatusCode::OK, None)
}

/// Public (form, CSRF): set the new password with the mailed token; every session ends.
pub(super) async fn reset_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LinkForm = match submitted(&state, &headers, &body, "Choose a new password") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    use crate::model::credentials::CredentialError;
    let done = crate::model::credentials::reset(
        &state.db,
        &state.clock,
        &state.hasher,
        &form.user_id,
        &form.token,
        &form.password,
    )
    .await;
    match done {
        Ok(()) => say(
            &state,
            StatusCode::OK,
            "Password changed",
            "Your password was changed. Sign in with the new one.",
            Some((LOGIN, "Sign in")),
        ),
        Err(e @ (CredentialError::BadLink(_) | CredentialError::NotFound)) => bad_link(
            &state,
            "Choose a new password",
            &format!("{e} Ask for a new link."),
        ),
        Err(e) => refusal(&state, e, |e| {
            reset_form(&form.user_id, &form.token).show(
                &state,
                &headers,
                e.status(),
                Some(e.message()),
            )
        }),
    }
}

pub(super) fn unlock_form(token: &str) -> Form<'_> {
    Form {
        title: "Unlock your account",
        intro: "Your account was locked after too many failed sign-ins.",
        action: "/oauth/account/unlock",
        hidden: vec![("token", token)],
        fields: Vec::new(),
        submit: "Unlock my account",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: Vec::new(),
        remember: None,
    }
}

/// Public: the mailed unlock link's page (`?token=`).
pub(super) async fn unlock_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let token = query_value(raw.as_deref(), "token");
    unlock_form(&token).show(&state, &headers, StatusCode::OK, None)
}

/// Public (form, CSRF): unlock with the mailed token.
pub(super) async fn unlock_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: TokenForm = match submitted(&state, &headers, &body, "Unlock your account") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    match crate::model::login::unlock(&state.db, &state.clock, &form.token)
        .await
        .map_err(ApiError::from)
    {
        Ok(()) => say(
            &state,
            StatusCode::OK,
            "Account unlocked",
            "Your account is unlocked.",
            Some((LOGIN, "Sign in")),
        ),
        Err(e) if e.status().is_server_error() => error_page(&state, &e),
        Err(e) => bad_link(&state, "Unlock your account", e.message()),
    }
}

pub(super) fn accept_form<'a>(user_id: &'a str, token: &'a str, with_code: bool) -> Form<'a> {
    Form {
        title: "Join the account",
        intro: if with_code {
            "Enter the code from your invitation to join the account."
        } else {
            "Accept the invitation to join the account."
        },
        action: "/oauth/account/invitation/accept",
        hidden: vec![("userId", user_id), ("token", token)],
        fields: if with_code {
            vec![Field {
                name: "code",
                label: "Code",
                kind: "text",
                autocomplete: "one-time-code",
                value: "",
            }]
        } else {
            Vec::new()
        },
        submit: "Accept the invitation",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: Vec::new(),
        remember: None,
    }
}

/// Public: the mailed invitation's page for an existing user (`?userId=&token=`).
pub(super) async fn accept_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (user_id, token) = (
        query_value(raw.as_deref(), "userId"),
        query_value(raw.as_deref(), "token"),
    );
    match crate::model::invitation::wants_code(&state.db, &state.clock, &user_id, &token) {
        Ok(Some(with_code)) => {
            accept_form(&user_id, &token, with_code).show(&state, &headers, StatusCode::OK, None)
        }
        Ok(None) => bad_link(
            &state,
            "Join the account",
            "This invitation is invalid, was replaced or has expired. Ask for a new one.",
        ),
        Err(e) => error_page(&state, &e.into()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AcceptForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    code: String,
}

/// Public (form, CSRF): accept the invitation (and its code under the code strategy).
pub(super) async fn accept_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use crate::model::invitation::InviteError;
    let form: AcceptForm = match submitted(&state, &headers, &body, "Join the account") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let code = Some(form.code.trim()).filter(|c| !c.is_empty());
    match crate::model::invitation::accept(
        &state.db,
        &state.clock,
        &form.user_id,
        &form.token,
        code,
    )
    .await
    {
        Ok(_) => say(
            &state,
            StatusCode::OK,
            "Invitation accepted",
            "You joined the account.",
            Some((LOGIN, "Sign in")),
        ),
        Err(e @ InviteError::WrongCode) => accept_form(&form.user_id, &form.token, true).show(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            Some(&e.to_string()),
        ),
        Err(e) => refusal(&state, e, |e| {
            bad_link(&state, "Join the account", e.message())
        }),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ApprovalForm {
    #[serde(default)]
    approval_flow_execution_id: String,
    #[serde(default)]
    approver_id: String,
    #[serde(default)]
    approval_flow_step_id: String,
    #[serde(default)]
    decision: String,
}

impl ApprovalForm {
    fn capability(&self) -> crate::model::approval::Capability<'_> {
        crate::model::approval::Capability {
            execution: &self.approval_flow_execution_id,
            approver: &self.approver_id,
            step: &self.approval_flow_step_id,
        }
    }
}

/// Public (the link's three ids are the capability): the approver's page — what is asked,
/// by whom, and the two decisions.
pub(super) async fn approval_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = |k: &str| query_value(raw.as_deref(), k);
    let ids = ApprovalForm {
        approval_flow_execution_id: q("approvalFlowExecutionId"),
        approver_id: q("approverId"),
        approval_flow_step_id: q("approvalFlowStepId"),
        decision: String::new(),
    };
    let e = match crate::model::approval::view(&state.db, &state.clock, ids.capability()) {
        Ok(e) => e,
        Err(e) => {
            return refusal(&state, e, |e| {
                message(
                    &state,
                    e.status(),
                    "Approval request",
                    "This request is no longer waiting for your decision.",
                )
            });
        }
    };
    let intro = format!(
        "{} asks for your approval of “{}”{}{}",
        e.requester_email,
        e.flow_name,
        e.flow_description
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default(),
        format_args!(" (requested {}).", e.requested_at),
    );
    Form {
        title: "Approval request",
        intro: &intro,
        action: "/oauth/account/approval-flow",
        hidden: vec![
            ("approvalFlowExecutionId", &ids.approval_flow_execution_id),
            ("approverId", &ids.approver_id),
            ("approvalFlowStepId", &ids.approval_flow_step_id),
        ],
        fields: Vec::new(),
        submit: "Approve",
        links: Vec::new(),
        image: None,
        secret: None,
        alternatives: vec![("decision", "reject", "Reject")],
        remember: None,
    }
    .show(&state, &headers, StatusCode::OK, None)
}

/// Public (form, CSRF; the capability): record the approver's decision, once.
pub(super) async fn approval_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: ApprovalForm = match submitted(&state, &headers, &body, "Approval request") {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let approved = form.decision != "reject";
    let decided = crate::model::approval::decide(
        &state.db,
        &state.clock,
        state.links(),
        form.capability(),
        approved,
    )
    .await;
    match decided {
        Ok(_) => message(
            &state,
            StatusCode::OK,
            "Approval request",
            if approved {
                "You approved the request. Thank you."
            } else {
                "You rejected the request. Thank you."
            },
        ),
        Err(e) => refusal(&state, e, |e| {
            message(&state, e.status(), "Approval request", e.message())
        }),
    }
}
