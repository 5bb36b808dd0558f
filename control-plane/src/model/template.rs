//! Message templates (`compat-wave2.md` §9.3, §10.2–§10.3): the environment's email
//! templates (the spec's 29 types) and SMS templates, their built-in defaults, and the one
//! renderer every message goes through. Invariants:
//!
//! - Rendering is Handlebars with HTML escaping on for the HTML body (off for the subject,
//!   the text part and SMS), unknown variables render empty, and nothing but the template
//!   text is read: no partials, no file or script helpers (the crate's features are off).
//! - Every HTML mail has a plain-text part derived from it (links kept as URLs).
//! - A link is the template's `redirectURL` (else the control plane's own account page) with
//!   the flow's query appended; it is offered to the template as `{{redirectURL}}` and
//!   `{{link}}`.
//! - An inactive template is not sent; a stored template never exceeds 1,000,000
//!   characters and always compiles (checked when it is saved).

use handlebars::Handlebars;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::clock::{Clock, rfc3339};
use crate::model::message::{Message, MessageLink, Rendered, Template};
use crate::store::{Db, Record, StoreError, Tree};

/// The largest template body (the spec's bound).
pub const MAX_TEMPLATE_CHARS: usize = 1_000_000;

macro_rules! email_types {
    ($($name:ident),* $(,)?) => {
        /// The spec's email template types.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum EmailType { $($name,)* }

        impl EmailType {
            /// Every type, in the spec's order.
            pub const ALL: &'static [EmailType] = &[$(EmailType::$name,)*];

            /// The spec's name.
            pub fn name(self) -> &'static str {
                match self { $(EmailType::$name => stringify!($name),)* }
            }

            /// From the spec's name.
            pub fn parse(s: &str) -> Option<EmailType> {
                match s { $(stringify!($name) => Some(EmailType::$name),)* _ => None }
            }
        }
    };
}

email_types!(
    ResetPassword,
    ActivateUser,
    InviteToTenant,
    PwnedPassword,
    MagicLink,
    OTC,
    ConnectNewDevice,
    UserUsedInvitation,
    ResetPhoneNumber,
    BulkInvitesToTenant,
    MFAEnroll,
    MFAUnenroll,
    NewMFAMethod,
    MFARecoveryCode,
    RemoveMFAMethod,
    EmailVerification,
    BruteForceProtection,
    SuspiciousIP,
    MFAOTC,
    ImpossibleTravel,
    BotDetection,
    SmsAuthenticationEnabled,
    UnlockUser,
    UnlockUserSuccess,
    ActivateUserWithCode,
    InviteToTenantWithCode,
    VerifyNewEmail,
    EmailAddressChanged,
    ApprovalFlowApprove,
);

/// The SMS Tessera sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SmsType {
    /// An MFA code (login, step-up, enrolment).
    MfaCode,
    /// A passwordless SMS login code.
    LoginCode,
    /// A code proving a login phone (added or removed).
    PhoneVerification,
    /// A password-reset code.
    ResetPassword,
}

impl SmsType {
    /// Every type.
    pub const ALL: &'static [SmsType] = &[
        SmsType::MfaCode,
        SmsType::LoginCode,
        SmsType::PhoneVerification,
        SmsType::ResetPassword,
    ];

    /// Its name in the API.
    pub fn name(self) -> &'static str {
        match self {
            SmsType::MfaCode => "MfaCode",
            SmsType::LoginCode => "LoginCode",
            SmsType::PhoneVerification => "PhoneVerification",
            SmsType::ResetPassword => "ResetPassword",
        }
    }

    /// From its name.
    pub fn parse(s: &str) -> Option<SmsType> {
        SmsType::ALL.iter().copied().find(|t| t.name() == s)
    }
}

/// A stored email template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailTemplate {
    /// UUID (stable across updates of the type's template).
    pub id: String,
    /// The type.
    #[serde(rename = "type")]
    pub kind: EmailType,
    /// The sender address (else the environment's `--mail-from`).
    pub sender_email: Option<String>,
    /// The sender's display name.
    pub from_name: Option<String>,
    /// Subject (a template).
    pub subject: String,
    /// HTML body (a template).
    pub html_template: String,
    /// The page the link opens (the flow's query is appended).
    #[serde(rename = "redirectURL")]
    pub redirect_url: Option<String>,
    /// A pattern form of `redirectURL` (Terraform prefers it when present).
    #[serde(rename = "redirectURLPattern")]
    pub redirect_url_pattern: Option<String>,
    /// Where the page goes after success.
    pub success_redirect_url: Option<String>,
    /// A pattern form of `successRedirectUrl`.
    pub success_redirect_url_pattern: Option<String>,
    /// Sent at all.
    pub active: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for EmailTemplate {
    const TREE: Tree = Tree::Templates;
    fn key(&self) -> Vec<u8> {
        format!("email/{}", self.kind.name()).into_bytes()
    }
}

/// A stored SMS template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsTemplate {
    /// UUID.
    pub id: String,
    /// The type.
    #[serde(rename = "type")]
    pub kind: SmsType,
    /// The text (a template).
    pub message: String,
    /// Alphanumeric sender, where the recipient's country allows it.
    pub sender_name: Option<String>,
    /// Sent at all.
    pub active: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for SmsTemplate {
    const TREE: Tree = Tree::Templates;
    fn key(&self) -> Vec<u8> {
        format!("sms/{}", self.kind.name()).into_bytes()
    }
}

/// Why a template was refused.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No such type.
    #[error("unknown template type {0}")]
    UnknownType(String),
    /// Nothing stored (and no default).
    #[error("template not found")]
    NotFound,
    /// Breaks a rule (size, syntax, URL).
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The built-in default of an email type: (subject, HTML), for the types Tessera sends.
pub fn email_default(t: EmailType) -> Option<(&'static str, &'static str)> {
    use EmailType::*;
    Some(match t {
        ActivateUser => (
            "{{#if invited}}You were invited to {{tenantName}}{{else}}Activate your account{{/if}}",
            "<p>{{#if invited}}You were invited to join {{tenantName}}.{{else}}Welcome!{{/if}}</p>\
             <p>{{#if invited}}Accept the invitation{{else}}Activate your account{{/if}} by opening this link within 24 hours:<br>\
             <a href=\"{{redirectURL}}\">{{redirectURL}}</a></p>\
             {{#if code}}<p>Or enter this activation code: {{code}}</p>{{/if}}",
        ),
        ResetPassword => (
            "Reset your password",
            "<p>Reset your password by opening this link within an hour:<br>\
             <a href=\"{{redirectURL}}\">{{redirectURL}}</a></p>",
        ),
        UnlockUser => (
            "Your account was locked",
            "<p>Your account was locked after repeated failed sign-in attempts.</p>\
             <p>If these were you, unlock it with this link within 24 hours:<br>\
             <a href=\"{{redirectURL}}\">{{redirectURL}}</a></p>",
        ),
        MFAOTC => (
            "Your verification code",
            "<p>Your verification code is {{code}}. It expires in {{ttlMinutes}} minutes.</p>\
             <p>If you did not try to sign in, change your password.</p>",
        ),
        RemoveMFAMethod => (
            "Multi-factor authentication was turned off",
            "<p>Your recovery code was used and multi-factor authentication was turned off for \
             your account. If this was not you, reset your password and enrol again at once.</p>",
        ),
        MagicLink => (
            "Your sign-in link",
            "<p>Sign in by opening this link within {{ttlMinutes}} minutes (it works once):<br>\
             <a href=\"{{redirectURL}}\">{{redirectURL}}</a></p>\
             <p>If you did not ask to sign in, ignore this message.</p>",
        ),
        OTC => (
            "Your sign-in code",
            "<p>Your sign-in code is {{code}}. It expires in {{ttlMinutes}} minutes.</p>\
             <p>If you did not ask to sign in, ignore this message.</p>",
        ),
        VerifyNewEmail => (
            "Verify your email address",
            "<p>Your email verification code is {{code}}. It expires in {{ttlMinutes}} minutes.</p>\
             <p>If you did not ask for this, ignore this message.</p>",
        ),
        EmailAddressChanged => (
            "Your email address was changed",
            "<p>The email address of your account was changed to {{newEmail}}. If this was not \
             you, contact your administrator at once.</p>",
        ),
        InviteToTenant | InviteToTenantWithCode => (
            "You were invited to {{tenantName}}",
            "<p>You were invited to join {{tenantName}}.</p>\
             <p>Accept the invitation by opening this link:<br>\
             <a href=\"{{redirectURL}}\">{{redirectURL}}</a></p>\
             {{#if code}}<p>Or enter this invitation code: {{code}}</p>{{/if}}",
        ),
        UserUsedInvitation => (
            "{{who}} joined {{tenantName}}",
            "<p>{{who}} joined {{tenantName}} through your invitation link.</p>",
        ),
        ApprovalFlowApprove => (
            "Approval requested: {{approvalFlowName}}",
            "<p>{{requester}} asks for your approval: {{approvalFlowName}}.</p>\
             {{#if approvalFlowDescription}}<p>{{approvalFlowDescription}}</p>{{/if}}\
             <p>Review the request and decide within {{ttlMinutes}} minutes:<br>\
             <a href=\"{{redirectURL}}\">{{redirectURL}}</a></p>",
        ),
        _ => return None,
    })
}

/// The built-in default of an SMS type.
pub fn sms_default(t: SmsType) -> &'static str {
    match t {
        SmsType::MfaCode => {
            "Your verification code is {{code}}. It expires in {{ttlMinutes}} minutes."
        }
        SmsType::LoginCode => {
            "Your sign-in code is {{code}}. It expires in {{ttlMinutes}} minutes."
        }
        SmsType::PhoneVerification => {
            "Your phone verification code is {{code}}. It expires in {{ttlMinutes}} minutes."
        }
        SmsType::ResetPassword => {
            "Your password reset code is {{code}}. It expires in {{ttlMinutes}} minutes."
        }
    }
}

/// The stored template of `t`, if the environment saved one.
pub fn email(db: &Db, t: EmailType) -> Result<Option<EmailTemplate>, StoreError> {
    db.get::<EmailTemplate>(format!("email/{}", t.name()).as_bytes())
}

/// Every stored email template.
pub fn emails(db: &Db) -> Result<Vec<EmailTemplate>, StoreError> {
    db.scan::<EmailTemplate>(b"email/")
}

/// The stored SMS template of `t`, if any.
pub fn sms(db: &Db, t: SmsType) -> Result<Option<SmsTemplate>, StoreError> {
    db.get::<SmsTemplate>(format!("sms/{}", t.name()).as_bytes())
}

/// Every stored SMS template.
pub fn smses(db: &Db) -> Result<Vec<SmsTemplate>, StoreError> {
    db.scan::<SmsTemplate>(b"sms/")
}

/// A template record of `t` with this wording and nothing else set (active, not stored).
fn email_record(t: EmailType, subject: &str, html: &str) -> EmailTemplate {
    EmailTemplate {
        id: String::new(),
        kind: t,
        sender_email: None,
        from_name: None,
        subject: subject.to_owned(),
        html_template: html.to_owned(),
        redirect_url: None,
        redirect_url_pattern: None,
        success_redirect_url: None,
        success_redirect_url_pattern: None,
        active: true,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

/// The default of `t` as a template record (not stored): the built-in wording, active.
pub fn email_as_default(t: EmailType) -> Option<EmailTemplate> {
    email_default(t).map(|(subject, html)| email_record(t, subject, html))
}

/// The default SMS template record of `t` (not stored).
pub fn sms_as_default(t: SmsType) -> SmsTemplate {
    SmsTemplate {
        id: String::new(),
        kind: t,
        message: sms_default(t).to_owned(),
        sender_name: None,
        active: true,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

fn check_template(what: &str, text: &str) -> Result<(), TemplateError> {
    if text.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(TemplateError::Invalid(format!(
            "{what} must be at most {MAX_TEMPLATE_CHARS} characters"
        )));
    }
    let mut h = Handlebars::new();
    h.register_template_string("t", text)
        .map_err(|e| TemplateError::Invalid(format!("{what} is not a valid template: {e}")))
}

fn check_url(what: &str, url: &Option<String>) -> Result<(), TemplateError> {
    match url {
        Some(u) if !u.is_empty() => {
            let ok = (u.starts_with("https://") || u.starts_with("http://"))
                && u.len() <= 2048
                && !u.chars().any(char::is_whitespace);
            if ok {
                Ok(())
            } else {
                Err(TemplateError::Invalid(format!(
                    "{what} must be an http(s) URL of at most 2048 characters"
                )))
            }
        }
        _ => Ok(()),
    }
}

/// A change to an email template (absent fields keep the stored value, else the default's).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailChange {
    /// Sender address.
    pub sender_email: Option<String>,
    /// Sender name.
    pub from_name: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// HTML body.
    pub html_template: Option<String>,
    /// Link page.
    #[serde(rename = "redirectURL")]
    pub redirect_url: Option<String>,
    /// Link page pattern.
    #[serde(rename = "redirectURLPattern")]
    pub redirect_url_pattern: Option<String>,
    /// After-success page.
    pub success_redirect_url: Option<String>,
    /// After-success pattern.
    pub success_redirect_url_pattern: Option<String>,
    /// Sent at all.
    pub active: Option<bool>,
}

/// Upsert the template of `t`.
pub async fn save_email(
    db: &Db,
    clock: &Clock,
    t: EmailType,
    c: EmailChange,
) -> Result<EmailTemplate, TemplateError> {
    for (what, v) in [("subject", &c.subject), ("htmlTemplate", &c.html_template)] {
        if let Some(text) = v {
            check_template(what, text)?;
        }
    }
    check_url("redirectURL", &c.redirect_url)?;
    check_url("successRedirectUrl", &c.success_redirect_url)?;
    if let Some(s) = &c.sender_email
        && !s.is_empty()
    {
        crate::model::email::normalize(s)
            .map_err(|e| TemplateError::Invalid(format!("senderEmail: {e}")))?;
    }
    let at = rfc3339(clock.now());
    let id = crate::crypto::new_uuid().to_string();
    db.write(|tx| {
        let stored = tx.get::<EmailTemplate>(format!("email/{}", t.name()).as_bytes())?;
        let mut r = match stored {
            Some(r) => r,
            None => {
                let mut d = email_as_default(t).unwrap_or_else(|| email_record(t, "", ""));
                d.id = id.clone();
                d.created_at = at.clone();
                d
            }
        };
        let set = |dst: &mut Option<String>, v: &Option<String>| {
            if let Some(v) = v {
                *dst = Some(v.clone()).filter(|s| !s.is_empty());
            }
        };
        set(&mut r.sender_email, &c.sender_email);
        set(&mut r.from_name, &c.from_name);
        set(&mut r.redirect_url, &c.redirect_url);
        set(&mut r.redirect_url_pattern, &c.redirect_url_pattern);
        set(&mut r.success_redirect_url, &c.success_redirect_url);
        set(
            &mut r.success_redirect_url_pattern,
            &c.success_redirect_url_pattern,
        );
        if let Some(s) = &c.subject {
            r.subject = s.clone();
        }
        if let Some(h) = &c.html_template {
            r.html_template = h.clone();
        }
        if let Some(a) = c.active {
            r.active = a;
        }
        r.updated_at = at.clone();
        tx.put(&r)?;
        Ok(r)
    })
    .await
}

/// Delete the stored template with `id` (its type falls back to the default).
pub async fn delete_email(db: &Db, id: &str) -> Result<(), TemplateError> {
    let found = emails(db)?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(TemplateError::NotFound)?;
    db.write(|tx| tx.delete::<EmailTemplate>(&found.key()))
        .await?;
    Ok(())
}

/// A change to an SMS template.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsChange {
    /// The text.
    pub message: Option<String>,
    /// Alphanumeric sender.
    pub sender_name: Option<String>,
    /// Sent at all.
    pub active: Option<bool>,
}

/// Upsert the SMS template of `t`.
pub async fn save_sms(
    db: &Db,
    clock: &Clock,
    t: SmsType,
    c: SmsChange,
) -> Result<SmsTemplate, TemplateError> {
    if let Some(m) = &c.message {
        if m.chars().count() > 1600 {
            return Err(TemplateError::Invalid(
                "message must be at most 1600 characters".into(),
            ));
        }
        check_template("message", m)?;
    }
    if let Some(s) = &c.sender_name
        && !(s.is_empty()
            || (s.len() <= 11 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')))
    {
        return Err(TemplateError::Invalid(
            "senderName must be at most 11 letters, digits or spaces".into(),
        ));
    }
    let at = rfc3339(clock.now());
    let id = crate::crypto::new_uuid().to_string();
    db.write(|tx| {
        let mut r = tx
            .get::<SmsTemplate>(format!("sms/{}", t.name()).as_bytes())?
            .unwrap_or_else(|| SmsTemplate {
                id: id.clone(),
                created_at: at.clone(),
                ..sms_as_default(t)
            });
        if let Some(m) = &c.message {
            r.message = m.clone();
        }
        if let Some(s) = &c.sender_name {
            r.sender_name = Some(s.clone()).filter(|s| !s.is_empty());
        }
        if let Some(a) = c.active {
            r.active = a;
        }
        r.updated_at = at.clone();
        tx.put(&r)?;
        Ok(r)
    })
    .await
}

/// Delete the stored SMS template of `t` (`false`: none stored).
pub async fn delete_sms(db: &Db, t: SmsType) -> Result<bool, StoreError> {
    db.write(|tx| {
        let key = format!("sms/{}", t.name());
        let had = tx.get::<SmsTemplate>(key.as_bytes())?.is_some();
        tx.delete::<SmsTemplate>(key.as_bytes())?;
        Ok(had)
    })
    .await
}

fn registry(escape: bool) -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.set_strict_mode(false);
    if escape {
        h.register_escape_fn(escape_html);
    } else {
        h.register_escape_fn(handlebars::no_escape);
    }
    h
}

/// HTML escaping of text and quoted attribute values (`& < > " '`); links keep their `=`.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Compiled templates, by (escaping, text digest): a template is parsed once, not per
/// message (at most [`CACHED`] kept; the cache starts over past it).
static COMPILED: std::sync::LazyLock<std::sync::Mutex<[Handlebars<'static>; 2]>> =
    std::sync::LazyLock::new(|| std::sync::Mutex::new([registry(false), registry(true)]));
const CACHED: usize = 256;

fn render_one(escape: bool, text: &str, vars: &Value) -> String {
    let name = crate::crypto::hex(&crate::crypto::sha256(text.as_bytes()));
    let Ok(mut regs) = COMPILED.lock() else {
        return String::new();
    };
    let h = &mut regs[usize::from(escape)];
    if !h.has_template(&name) {
        if h.get_templates().len() >= CACHED {
            h.clear_templates();
        }
        if let Err(e) = h.register_template_string(&name, text) {
            tracing::error!(error = %e, "a message template does not compile");
            return String::new();
        }
    }
    match h.render(&name, vars) {
        Ok(s) => s,
        Err(e) => {
            // Stored templates compiled when saved; a failure here is a variable's value.
            tracing::error!(error = %e, "a message template failed to render");
            String::new()
        }
    }
}

/// A link at `page` (the template's, else the flow's default) with the flow's query
/// appended: the one way every link is made, mailed or handed to the environment.
fn link_at(page: Option<&str>, l: &MessageLink) -> String {
    let base = page.unwrap_or(&l.default_page);
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{}", l.query)
}

/// The link `l` as the environment's template of type `t` routes it (its `redirectURL`),
/// for the routes that hand a link to the environment instead of mailing it.
pub fn link(db: &Db, t: EmailType, l: &MessageLink) -> Result<String, StoreError> {
    let page = email(db, t)?.and_then(|t| t.redirect_url);
    Ok(link_at(page.as_deref(), l))
}

/// A message with the template it renders with, looked up.
#[derive(Clone, Debug)]
struct Prepared {
    message: Message,
    /// Subject, body, whether the body is HTML, sender, sender name; `None` for nothing to
    /// send (an inactive template or a type without a default).
    parts: Parts,
}

#[derive(Clone, Debug)]
struct Parts {
    subject: String,
    body: String,
    html: bool,
    sender: Option<String>,
    from_name: Option<String>,
    page: Option<String>,
}

/// Render `m` with the environment's template for it (the delivery task does, off the
/// request path): `None` when the template is inactive (nothing is sent).
pub fn render(db: &Db, m: Message) -> Result<Option<Rendered>, StoreError> {
    Ok(prepare(db, m)?.map(Prepared::render))
}

/// The variables a message's users give it (§10.3), read when it renders: the profile of
/// the user it is about and of its issuer. A flow's own variable of the same name wins; a
/// user since deleted gives nothing.
fn profile_vars(db: &Db, m: &mut Message) -> Result<(), StoreError> {
    use crate::model::user::User;
    fn put(v: &mut Map<String, Value>, k: &str, x: Option<String>) {
        if let Some(x) = x.filter(|x| !x.is_empty()) {
            v.entry(k).or_insert(Value::String(x));
        }
    }
    let user = |id: &Option<String>| match id {
        Some(id) => db.get::<User>(id.as_bytes()),
        None => Ok(None),
    };
    if let Some(u) = user(&m.about)? {
        put(&mut m.vars, "name", Some(u.name.clone()));
        put(
            &mut m.vars,
            "profilePictureUrl",
            u.profile_picture_url.clone(),
        );
        put(&mut m.vars, "phoneNumber", u.phone_number.clone());
        put(&mut m.vars, "metadata", Some(u.metadata.clone()));
        if !m.vars.contains_key("tenantName")
            && let Some(t) = u
                .active_tenant_id
                .as_ref()
                .or(u.memberships.first().map(|m| &m.tenant_id))
            && let Some(t) = db.get::<crate::model::tenant::Tenant>(t.as_bytes())?
        {
            put(&mut m.vars, "tenantName", Some(t.name));
        }
    }
    if let Some(u) = user(&m.issuer)? {
        put(&mut m.vars, "issuerName", Some(u.name));
        put(&mut m.vars, "issuerEmail", Some(u.email));
        put(&mut m.vars, "issuerMetadata", Some(u.metadata));
        put(
            &mut m.vars,
            "issuerProfilePictureUrl",
            u.profile_picture_url,
        );
    }
    Ok(())
}

/// Look up the template `m` renders with: `None` when it is inactive.
fn prepare(db: &Db, mut m: Message) -> Result<Option<Prepared>, StoreError> {
    profile_vars(db, &mut m)?;
    let parts = match m.template {
        Template::Email(t) => {
            let tpl = match email(db, t)? {
                Some(s) => s,
                None => match email_as_default(t) {
                    Some(d) => d,
                    None => return Ok(None),
                },
            };
            if !tpl.active {
                return Ok(None);
            }
            Parts {
                subject: tpl.subject,
                body: tpl.html_template,
                html: true,
                sender: tpl.sender_email,
                from_name: tpl.from_name,
                page: tpl.redirect_url,
            }
        }
        Template::Sms(t) => {
            let tpl = sms(db, t)?.unwrap_or_else(|| sms_as_default(t));
            if !tpl.active {
                return Ok(None);
            }
            Parts {
                subject: String::new(),
                body: tpl.message,
                html: false,
                sender: None,
                from_name: tpl.sender_name,
                page: None,
            }
        }
        Template::Notice(n) => Parts {
            subject: n.wording().0.to_owned(),
            body: n.wording().1.to_owned(),
            html: false,
            sender: None,
            from_name: None,
            page: None,
        },
    };
    Ok(Some(Prepared { message: m, parts }))
}

impl Prepared {
    /// Render it: the variables, the link at the template's page (else the flow's), the HTML
    /// escaped and its text part derived.
    fn render(self) -> Rendered {
        let m = self.message;
        let p = self.parts;
        let mut vars = m.vars.clone();
        vars.entry("email")
            .or_insert_with(|| Value::String(m.to.clone()));
        if let Some(url) = m.link.as_ref().map(|l| link_at(p.page.as_deref(), l)) {
            vars.insert("redirectURL".into(), Value::String(url.clone()));
            vars.insert("link".into(), Value::String(url));
        }
        let v = Value::Object(vars);
        let subject = render_one(false, &p.subject, &v);
        let (body, html) = if p.html {
            let html = render_one(true, &p.body, &v);
            (html_to_text(&html), Some(html))
        } else {
            (render_one(false, &p.body, &v), None)
        };
        Rendered {
            channel: m.channel,
            to: m.to,
            subject,
            body,
            html,
            kind: m.kind,
            sender: p.sender,
            from_name: p.from_name,
        }
    }
}

/// The plain-text part of an HTML mail: tags dropped, block ends and `<br>` as line
/// breaks, a link as its URL (or "text (URL)" when the text differs), entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut href: Option<String> = None;
    let mut anchor = String::new();
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        if href.is_some() {
            anchor.push_str(text);
        } else {
            out.push_str(text);
        }
        let Some(gt) = rest[lt..].find('>') else {
            rest = &rest[lt..];
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        let lower = tag.to_ascii_lowercase();
        let name = lower
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        let closing = lower.starts_with('/');
        match (name, closing) {
            ("a", false) => {
                href = attr(tag, "href");
                anchor.clear();
            }
            ("a", true) => {
                let t = decode(anchor.trim());
                match href.take() {
                    Some(h) if decode(&h) != t && !t.is_empty() => {
                        out.push_str(&format!("{t} ({})", decode(&h)));
                    }
                    Some(h) => out.push_str(&decode(&h)),
                    None => out.push_str(&t),
                }
            }
            ("br", _) => out.push('\n'),
            (
                "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "li" | "tr" | "table",
                true,
            ) => out.push('\n'),
            _ => {}
        }
        rest = &rest[lt + gt + 1..];
    }
    out.push_str(rest);
    let decoded = decode(&out);
    let mut lines: Vec<&str> = decoded.lines().map(str::trim_end).collect();
    // Collapse runs of blank lines to one.
    lines.dedup_by(|a, b| a.is_empty() && b.is_empty());
    let mut text = lines.join("\n").trim().to_owned();
    text.push('\n');
    text
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find(&format!("{name}="))? + name.len() + 1;
    let v = &tag[at..];
    let (q, v) = match v.chars().next()? {
        c @ ('"' | '\'') => (c, &v[1..]),
        _ => (' ', v),
    };
    Some(v.split(q).next().unwrap_or("").to_owned())
}

fn decode(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x3D;", "=")
        .replace("&#x60;", "`")
        .replace("&amp;", "&")
}

/// Variables of a message, from pairs.
pub fn vars<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_text_with_links_kept() {
        let t = html_to_text(
            "<p>Hi &amp; welcome</p><p>Open:<br><a href=\"https://x.test/a?b=1&amp;c=2\">https://x.test/a?b=1&amp;c=2</a></p><p><a href='https://y.test'>here</a></p>",
        );
        assert_eq!(
            t,
            "Hi & welcome\nOpen:\nhttps://x.test/a?b=1&c=2\nhere (https://y.test)\n"
        );
    }

    #[test]
    fn rendering_escapes_html_and_leaves_unknowns_empty() {
        let v = serde_json::json!({"name": "<script>x</script>"});
        assert_eq!(
            render_one(true, "<p>{{name}}{{missing}}</p>", &v),
            "<p>&lt;script&gt;x&lt;/script&gt;</p>"
        );
        assert_eq!(render_one(false, "{{name}}", &v), "<script>x</script>");
        // No partials: a partial reference names nothing and fails to render (empty).
        assert_eq!(render_one(true, "{{> /etc/passwd}}", &v), "");
    }

    #[test]
    fn every_sent_type_has_a_default_that_compiles() {
        for t in EmailType::ALL {
            if let Some((s, h)) = email_default(*t) {
                check_template("subject", s).unwrap();
                check_template("html", h).unwrap();
            }
        }
        for t in SmsType::ALL {
            check_template("message", sms_default(*t)).unwrap();
        }
    }
}
