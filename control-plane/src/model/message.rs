//! What the domain tells people — activation, password reset, unlock, codes, notices — and
//! to whom. The domain decides what to send (a [`Message`]: a template type, its variables,
//! its link) and queues it in its own transaction (`model::outbox`); the delivery task
//! renders it with the environment's template (`model::template`) and carries the
//! [`Rendered`] result, after the reply (a send never blocks or fails a request, which
//! would tell whether an address exists).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::model::template::{EmailType, SmsType, vars};

/// How a message travels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Channel {
    /// Email (`to` is an address).
    #[default]
    Email,
    /// SMS (`to` is a phone number; `subject` is unused).
    Sms,
}

/// Which template renders a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Template {
    /// One of the environment's email templates.
    Email(EmailType),
    /// One of the environment's SMS templates.
    Sms(SmsType),
    /// A notice no template type covers: fixed wording.
    Notice(Notice),
}

/// The notices with fixed wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notice {
    /// To the owner of an address someone tried to sign up with again.
    SignupExisting,
    /// To the requester of an approval, on each decision (`notifyOnDecisions`).
    ApprovalDecision,
}

impl Notice {
    /// Subject and text (templates).
    pub fn wording(self) -> (&'static str, &'static str) {
        match self {
            Notice::SignupExisting => (
                "Sign-up attempt",
                "Someone tried to sign up with this address, which already has an account. \
                 If it was you, log in or reset your password.\n",
            ),
            Notice::ApprovalDecision => (
                "Your request: {{approvalFlowName}}",
                "{{approver}} {{decision}} your request \"{{approvalFlowName}}\". \
                 The request is now {{status}}.\n",
            ),
        }
    }
}

/// The link of a message: the flow's own page and the query the flow appends to whichever
/// page the template names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageLink {
    /// The control plane's page (when the template names none).
    pub default_page: String,
    /// `userId=…&token=…`, `token=…`.
    pub query: String,
}

/// One message to send, before rendering: what the durable queue (`model::outbox`) keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Email or SMS.
    pub channel: Channel,
    /// Recipient address or phone number (as stored for the user).
    pub to: String,
    /// What flow sent it (`activation`, `password-reset`, …), for logs and tests.
    pub kind: Cow<'static, str>,
    /// The template.
    pub template: Template,
    /// The template's variables (`code`, `tenantName`, `ttlMinutes`, …).
    pub vars: Map<String, Value>,
    /// The link, if the message carries one.
    pub link: Option<MessageLink>,
    /// How long the message is worth sending, seconds (its code's or link's lifetime): a
    /// message still undelivered after it is dropped, not sent late.
    pub lifetime: u32,
    /// The user the message is about (its recipient, or the user a notice concerns): their
    /// profile fills `name`, `profilePictureUrl`, `phoneNumber`, `metadata` and `tenantName`
    /// when it is rendered.
    #[serde(default)]
    pub about: Option<String>,
    /// The user who caused it (the inviter): `issuerName`, `issuerEmail`, `issuerMetadata`,
    /// `issuerProfilePictureUrl`.
    #[serde(default)]
    pub issuer: Option<String>,
}

/// What a message that carries no expiring secret is worth: a day of retries.
pub const NOTICE_LIFETIME: u32 = 24 * 3600;

/// A rendered message, as delivery carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// Email or SMS.
    pub channel: Channel,
    /// Recipient.
    pub to: String,
    /// Subject line (email).
    pub subject: String,
    /// Plain-text body (derived from the HTML for email).
    pub body: String,
    /// HTML body (email).
    pub html: Option<String>,
    /// What flow sent it.
    pub kind: Cow<'static, str>,
    /// Sender address from the template (else the environment's).
    pub sender: Option<String>,
    /// Sender display name (email) or alphanumeric sender (SMS).
    pub from_name: Option<String>,
}

/// Where the links in messages point by default: the hosted pages under the public URL.
#[derive(Clone, Copy, Debug)]
pub struct Links<'a>(pub &'a str);

impl Links<'_> {
    fn page(&self, path: &str) -> String {
        format!("{}/oauth/account/{path}", self.0)
    }

    fn link(&self, path: &str, query: String) -> MessageLink {
        MessageLink {
            default_page: self.page(path),
            query,
        }
    }

    /// The link that activates `user_id` with `token` (`template::link` resolves its page).
    pub fn activation(&self, user_id: &str, token: &str) -> MessageLink {
        self.link("activate", user_query(user_id, token))
    }

    /// The link that resets `user_id`'s password with `token`.
    pub fn reset(&self, user_id: &str, token: &str) -> MessageLink {
        self.link("reset-password", user_query(user_id, token))
    }
}

fn email(
    to: &str,
    t: EmailType,
    vars: Map<String, Value>,
    link: Option<MessageLink>,
    kind: &'static str,
) -> Message {
    Message {
        channel: Channel::Email,
        to: to.to_owned(),
        kind: Cow::Borrowed(kind),
        template: Template::Email(t),
        vars,
        link,
        lifetime: NOTICE_LIFETIME,
        about: None,
        issuer: None,
    }
}

impl Message {
    /// The same message, about user `id` (their profile fills the template's variables).
    pub fn about(mut self, id: &str) -> Self {
        self.about = Some(id.to_owned());
        self
    }

    /// The same message, caused by user `id` (the `issuer…` variables).
    pub fn issued_by(mut self, id: &str) -> Self {
        self.issuer = Some(id.to_owned());
        self
    }

    /// The same message, worth sending for `secs` only (the lifetime of its code).
    fn lasting(mut self, secs: u32) -> Self {
        self.lifetime = secs.max(1);
        self
    }
}

fn sms(to: &str, t: SmsType, code: &str, ttl_secs: u32, kind: &'static str) -> Message {
    Message {
        channel: Channel::Sms,
        to: to.to_owned(),
        kind: Cow::Borrowed(kind),
        template: Template::Sms(t),
        vars: vars([
            ("code", json!(code)),
            ("ttlMinutes", json!(ttl_secs.div_ceil(60))),
        ]),
        link: None,
        lifetime: ttl_secs.max(1),
        about: None,
        issuer: None,
    }
}

fn code_vars(code: &str, ttl_secs: u32) -> Map<String, Value> {
    vars([
        ("code", json!(code)),
        ("ttlMinutes", json!(ttl_secs.div_ceil(60))),
    ])
}

fn user_query(user_id: &str, token: &str) -> String {
    format!("userId={user_id}&token={token}")
}

/// The activation mail: the link, and the code for `activate/code` when there is one.
pub fn activation(
    links: Links<'_>,
    to: &str,
    user_id: &str,
    token: &str,
    code: Option<&str>,
) -> Message {
    let mut v = Map::new();
    if let Some(c) = code {
        v.insert("code".into(), json!(c));
    }
    email(
        to,
        EmailType::ActivateUser,
        v,
        Some(links.activation(user_id, token)),
        "activation",
    )
}

/// The invitation of a new user added to an account: the activation link (the activation
/// template, naming the account), where the invited user chooses a password.
pub fn invitation(
    links: Links<'_>,
    to: &str,
    account: &str,
    user_id: &str,
    token: &str,
) -> Message {
    email(
        to,
        EmailType::ActivateUser,
        vars([("tenantName", json!(account)), ("invited", json!(true))]),
        Some(links.activation(user_id, token)),
        "invitation",
    )
}

/// To the owner of an address someone tried to sign up with again.
pub fn signup_existing(to: &str) -> Message {
    Message {
        channel: Channel::Email,
        to: to.to_owned(),
        kind: Cow::Borrowed("signup-existing"),
        template: Template::Notice(Notice::SignupExisting),
        vars: Map::new(),
        link: None,
        lifetime: NOTICE_LIFETIME,
        about: None,
        issuer: None,
    }
}

/// The password-reset mail.
pub fn password_reset(links: Links<'_>, to: &str, user_id: &str, token: &str) -> Message {
    email(
        to,
        EmailType::ResetPassword,
        Map::new(),
        Some(links.reset(user_id, token)),
        "password-reset",
    )
}

/// The texted password-reset code.
pub fn sms_reset(phone: &str, code: &str) -> Message {
    sms(
        phone,
        SmsType::ResetPassword,
        code,
        600,
        "sms-password-reset",
    )
}

/// The mail of a locked account: how to unlock it.
pub fn unlock(links: Links<'_>, to: &str, token: &str) -> Message {
    email(
        to,
        EmailType::UnlockUser,
        Map::new(),
        Some(links.link("unlock", format!("token={token}"))),
        "unlock",
    )
}

/// An MFA code by email.
pub fn mfa_email_code(to: &str, code: &str, ttl: u32) -> Message {
    email(
        to,
        EmailType::MFAOTC,
        code_vars(code, ttl),
        None,
        "mfa-email-code",
    )
    .lasting(ttl)
}

/// An MFA code by SMS.
pub fn mfa_sms_code(phone: &str, code: &str, ttl: u32) -> Message {
    sms(phone, SmsType::MfaCode, code, ttl, "mfa-sms-code")
}

/// To a user whose MFA was removed with the recovery code.
pub fn mfa_recovered(to: &str) -> Message {
    email(
        to,
        EmailType::RemoveMFAMethod,
        Map::new(),
        None,
        "mfa-recovered",
    )
}

/// A magic link (passwordless login).
pub fn magic_link(links: Links<'_>, to: &str, token: &str, ttl: u32) -> Message {
    let mut v = Map::new();
    v.insert("ttlMinutes".into(), json!(ttl.div_ceil(60)));
    email(
        to,
        EmailType::MagicLink,
        v,
        Some(links.link("login/magic-link", format!("token={token}"))),
        "magic-link",
    )
    .lasting(ttl)
}

/// A one-time sign-in code by email (passwordless login).
pub fn login_code(to: &str, code: &str, ttl: u32) -> Message {
    email(to, EmailType::OTC, code_vars(code, ttl), None, "login-code").lasting(ttl)
}

/// A one-time sign-in code by SMS (passwordless login).
pub fn sms_login_code(phone: &str, code: &str, ttl: u32) -> Message {
    sms(phone, SmsType::LoginCode, code, ttl, "sms-login-code")
}

/// A code that proves a phone number (adding or removing a login phone).
pub fn phone_code(phone: &str, code: &str, ttl: u32) -> Message {
    sms(phone, SmsType::PhoneVerification, code, ttl, "phone-code")
}

/// A code that proves an address (an added email, or the user's new email).
pub fn email_code(to: &str, code: &str, ttl: u32) -> Message {
    email(
        to,
        EmailType::VerifyNewEmail,
        code_vars(code, ttl),
        None,
        "email-code",
    )
    .lasting(ttl)
}

/// To the previous address of a user whose email changed.
pub fn email_changed(to: &str, new: &str) -> Message {
    email(
        to,
        EmailType::EmailAddressChanged,
        vars([("newEmail", json!(new))]),
        None,
        "email-changed",
    )
}

/// The invitation of an existing user to another account: the accept link (and the code,
/// with the code strategy).
pub fn invitation_accept(
    links: Links<'_>,
    to: &str,
    account: &str,
    user_id: &str,
    token: &str,
    code: Option<&str>,
) -> Message {
    let mut v = vars([("tenantName", json!(account))]);
    let t = match code {
        Some(c) => {
            v.insert("code".into(), json!(c));
            EmailType::InviteToTenantWithCode
        }
        None => EmailType::InviteToTenant,
    };
    email(
        to,
        t,
        v,
        Some(links.link("invitation/accept", user_query(user_id, token))),
        "invitation-accept",
    )
}

/// To an approver of an approval flow's step: the approver page's link, whose three ids are
/// the approver's capability.
pub fn approval_request(
    links: Links<'_>,
    to: &str,
    flow: (&str, Option<&str>),
    requester: &str,
    ids: (&str, &str, &str),
    ttl: u32,
) -> Message {
    let (execution, approver, step) = ids;
    let mut v = vars([
        ("approvalFlowName", json!(flow.0)),
        ("requester", json!(requester)),
        ("ttlMinutes", json!(ttl.div_ceil(60))),
    ]);
    if let Some(d) = flow.1 {
        v.insert("approvalFlowDescription".into(), json!(d));
    }
    email(
        to,
        EmailType::ApprovalFlowApprove,
        v,
        Some(links.link(
            "approval-flow",
            format!(
                "approvalFlowExecutionId={execution}&approverId={approver}&approvalFlowStepId={step}"
            ),
        )),
        "approval-request",
    )
    .lasting(ttl)
}

/// To the requester of an approval: `approver` decided (`approved`), and where it stands.
pub fn approval_decision(
    to: &str,
    flow: &str,
    approver: &str,
    approved: bool,
    status: &str,
) -> Message {
    Message {
        channel: Channel::Email,
        to: to.to_owned(),
        kind: Cow::Borrowed("approval-decision"),
        template: Template::Notice(Notice::ApprovalDecision),
        vars: vars([
            ("approvalFlowName", json!(flow)),
            ("approver", json!(approver)),
            (
                "decision",
                json!(if approved { "approved" } else { "rejected" }),
            ),
            ("status", json!(status)),
        ]),
        link: None,
        lifetime: NOTICE_LIFETIME,
        about: None,
        issuer: None,
    }
}

/// A reminder to an approver who has not decided: the same request mail again.
pub fn approval_reminder(m: Message) -> Message {
    Message {
        kind: Cow::Borrowed("approval-reminder"),
        ..m
    }
}

/// To the owner of an invitation link someone used.
pub fn invitation_used(to: &str, account: &str, who: &str) -> Message {
    email(
        to,
        EmailType::UserUsedInvitation,
        vars([("tenantName", json!(account)), ("who", json!(who))]),
        None,
        "invitation-used",
    )
}
