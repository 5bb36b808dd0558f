//! Approval flows (`compat-wave2.md` §15): definitions (steps of approvers chosen by role key
//! or address, a minimum of approvals per step, a timeout, an auto-approval), executions
//! requested by a user, and the approvers' decisions from the page their mail links to.
//! Invariants:
//!
//! - An approver's capability is the three ids of their mail (execution, approver, step: UUID
//!   v4, drawn fresh per approver and step); only the exact triple of a pending execution's
//!   current step opens anything, and every other triple gets the same 404.
//! - One decision per approver and step, recorded inside the transaction that reads the
//!   execution: two parallel decisions cannot both count, a decided approver cannot decide
//!   again, and nothing is decided once the execution is complete or past its time.
//! - The requester never approves their own request (they are left out of the approvers).
//! - A step passes with `minApprovals` approvals and fails once too few undecided approvers
//!   remain to reach it; the next step's approvers are mailed in the same transaction
//!   (`outbox::queue`).
//! - Time decides alike for everyone who looks: past `autoApproveInMinutes` without a
//!   refusal the execution is approved, past `timeoutMinutes` it has timed out — read as
//!   such at once, and recorded by [`sweep`] (the delivery task runs it) through a due index.
//! - No outcome is lost: completing an execution and recording its webhook delivery
//!   ([`Outcome`]) happen in one transaction; the delivery task posts it and removes it once
//!   accepted (at least once; retried with backoff for a day).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::clock::{Clock, rfc3339};
use crate::model::message::{self, Links};
use crate::model::outbox;
use crate::model::user::User;
use crate::store::{Db, Record, StoreError, Tree, Tx};

const MAX_STEPS: usize = 10;
const MAX_SELECTORS: usize = 100;
const MAX_APPROVERS: usize = 100;
const MAX_DATA: usize = 16 * 1024;
/// The timeout when a flow names none, minutes.
pub const DEFAULT_TIMEOUT_MINUTES: u32 = 1440;

/// `{email, sms}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    /// Approvers are mailed.
    #[serde(default)]
    pub email: bool,
    /// Approvers are texted (not supported: refused when set).
    #[serde(default)]
    pub sms: bool,
}

/// A flow's timing and outcome delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowConfig {
    /// Approve by itself after this long without a refusal, minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_approve_in_minutes: Option<u32>,
    /// Remind undecided approvers this often, minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminder_interval_minutes: Option<u32>,
    /// Mail the requester each decision.
    #[serde(default)]
    pub notify_on_decisions: bool,
    /// An execution's time, minutes (5 – 10,080).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<u32>,
    /// Where the outcome is posted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

/// Who approves a step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selectors {
    /// Members of the requester's account with one of these roles.
    #[serde(default)]
    pub role_keys: Vec<String>,
    /// These addresses.
    #[serde(default)]
    pub emails: Vec<String>,
    /// These numbers (not supported: refused when set).
    #[serde(default)]
    pub phone_numbers: Vec<String>,
}

/// `{minApprovals}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepConfig {
    /// Approvals the step needs.
    pub min_approvals: u32,
}

/// A step as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// UUID.
    pub id: String,
    /// Order (1-based, unique in the flow).
    pub step_order: u32,
    /// Who approves.
    pub approver_selectors: Selectors,
    /// How many.
    pub configuration: StepConfig,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    /// UUID.
    pub id: String,
    /// The account it belongs to (none: the environment's, for every account).
    pub tenant_id: Option<String>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Executable.
    pub is_active: bool,
    /// How approvers are reached.
    pub channels: Channels,
    /// Timing and outcome delivery.
    pub configuration: FlowConfig,
    /// In `step_order`.
    pub steps: Vec<Step>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for Flow {
    const TREE: Tree = Tree::Approvals;
    fn key(&self) -> Vec<u8> {
        flow_key(&self.id)
    }
}

fn flow_key(id: &str) -> Vec<u8> {
    format!("flow/{id}").into_bytes()
}

/// Where an execution stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    /// Waiting for the current step.
    Pending,
    /// Every step passed (or auto-approved).
    Approved,
    /// A step failed.
    Rejected,
    /// Its time ran out.
    TimedOut,
}

/// One approver of one step of an execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approver {
    /// UUID (part of the capability).
    pub id: String,
    /// Address.
    pub email: String,
    /// `Some(approved)` once decided.
    pub decision: Option<bool>,
}

/// One step of an execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRun {
    /// UUID of this step's run (part of the capability).
    pub id: String,
    /// The approvers (resolved when the step begins).
    pub approvers: Vec<Approver>,
    /// Approvals needed.
    pub min_approvals: u32,
}

/// An execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// UUID (part of the capability).
    pub id: String,
    /// The flow (as it was when executed: its steps are copied).
    pub flow_id: String,
    /// Flow name and description, for the approver page.
    pub flow_name: String,
    /// Description.
    pub flow_description: Option<String>,
    /// The requester's account.
    pub tenant_id: String,
    /// The requester.
    pub requester_id: String,
    /// The requester's address.
    pub requester_email: String,
    /// RFC 3339.
    pub requested_at: String,
    /// Unix seconds.
    pub requested_unix: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds, if the flow auto-approves.
    pub auto_approve_at: Option<i64>,
    /// What the requester attached.
    pub data: Option<Map<String, Value>>,
    /// Where the outcome is posted.
    pub webhook_url: Option<String>,
    /// Where it stands.
    pub status: Status,
    /// Index of the current step.
    pub current: usize,
    /// Every step's run, in order (approvers resolved when the flow was executed).
    pub runs: Vec<StepRun>,
    /// When the current step's undecided approvers are reminded next (Unix seconds).
    #[serde(default)]
    pub next_reminder_at: Option<i64>,
    /// The reminder interval, seconds.
    #[serde(default)]
    pub remind_every: Option<i64>,
    /// Whether the requester is told of each decision.
    #[serde(default)]
    pub notify: bool,
}

impl Record for Execution {
    const TREE: Tree = Tree::Approvals;
    fn key(&self) -> Vec<u8> {
        execution_key(&self.id)
    }
}

fn execution_key(id: &str) -> Vec<u8> {
    format!("execution/{id}").into_bytes()
}

fn due_key(at: i64, id: &str) -> Vec<u8> {
    format!("due/{:016x}/{id}", at.max(0)).into_bytes()
}

impl Execution {
    /// When time alone decides it, or reminds its approvers.
    fn due_at(&self) -> i64 {
        [self.auto_approve_at, self.next_reminder_at]
            .into_iter()
            .flatten()
            .fold(self.expires_at, i64::min)
    }
}

/// An execution's outcome waiting to be posted to its webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The execution.
    pub execution_id: String,
    /// Where.
    pub url: String,
    /// The JSON posted.
    pub body: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Unix seconds of the next attempt.
    pub next_at: i64,
    /// Unix seconds after which it is dropped.
    pub until: i64,
}

impl Record for Outcome {
    const TREE: Tree = Tree::Approvals;
    fn key(&self) -> Vec<u8> {
        outcome_key(&self.execution_id)
    }
}

fn outcome_key(id: &str) -> Vec<u8> {
    format!("outcome/{id}").into_bytes()
}

/// How long an outcome is retried, seconds.
const OUTCOME_LIFETIME: i64 = 24 * 3600;

/// Record that `e` left `Pending`: its due entry goes, and its outcome is queued for the
/// webhook (in the same transaction as the change).
fn complete(tx: &mut Tx<'_>, e: &Execution, now: i64) -> Result<(), StoreError> {
    tx.delete_raw(Tree::Approvals, &due_key(e.due_at(), &e.id))?;
    if let Some(url) = &e.webhook_url {
        let body = serde_json::json!({
            "approvalFlowExecutionId": e.id,
            "approvalFlowId": e.flow_id,
            "status": e.status,
            "tenantId": e.tenant_id,
            "requesterId": e.requester_id,
            "executionData": e.data,
        });
        tx.put(&Outcome {
            execution_id: e.id.clone(),
            url: url.clone(),
            body: body.to_string(),
            attempts: 0,
            next_at: now,
            until: now + OUTCOME_LIFETIME,
        })?;
    }
    Ok(())
}

/// Record what time decided for every execution due by now; how many completed.
pub async fn sweep(db: &Db, clock: &Clock, links: Links<'_>) -> Result<usize, StoreError> {
    let now = clock.unix();
    let mut done = 0;
    for (k, _) in db.scan_raw(Tree::Approvals, b"due/")? {
        let Some((at, id)) = std::str::from_utf8(&k)
            .ok()
            .and_then(|k| k.strip_prefix("due/"))
            .and_then(|k| k.split_once('/'))
            .map(|(at, id)| (i64::from_str_radix(at, 16).unwrap_or(0), id.to_owned()))
        else {
            continue;
        };
        if at > now {
            break; // keys are in time order
        }
        let completed = db
            .write(|tx| {
                let Some(mut e) = tx.get::<Execution>(&execution_key(&id))? else {
                    tx.delete_raw(Tree::Approvals, &k)?;
                    return Ok::<_, StoreError>(false);
                };
                if settle(&mut e, now) {
                    tx.put(&e)?;
                    complete(tx, &e, now)?;
                    return Ok(true);
                }
                tx.delete_raw(Tree::Approvals, &k)?;
                if e.status != Status::Pending {
                    return Ok(false);
                }
                if e.next_reminder_at.is_some_and(|r| r <= now) {
                    remind(tx, links, &e, now)?;
                    e.next_reminder_at = e.remind_every.map(|every| now + every);
                    tx.put(&e)?;
                }
                tx.put_raw(Tree::Approvals, &due_key(e.due_at(), &e.id), b"")?;
                Ok(false)
            })
            .await?;
        done += usize::from(completed);
    }
    Ok(done)
}

/// The outcomes whose next attempt is due by `now`.
pub fn outcomes_due(db: &Db, now: i64) -> Result<Vec<Outcome>, StoreError> {
    Ok(db
        .scan::<Outcome>(b"outcome/")?
        .into_iter()
        .filter(|o| o.next_at <= now)
        .collect())
}

/// How long a control plane holds an outcome it is posting.
pub const OUTCOME_CLAIM_SECS: i64 = 30;

/// Take outcome `id` for posting now: its next attempt moves past the post, so no other
/// replica sharing the store posts it meanwhile; `false` if it is gone or not due (another
/// holds it).
pub async fn claim_outcome(db: &Db, id: &str, now: i64) -> Result<bool, StoreError> {
    db.write(|tx| {
        let Some(mut o) = tx.get::<Outcome>(&outcome_key(id))? else {
            return Ok(false);
        };
        if o.next_at > now {
            return Ok(false);
        }
        o.next_at = now + OUTCOME_CLAIM_SECS;
        tx.put(&o)?;
        Ok(true)
    })
    .await
}

/// The webhook accepted outcome `id` (or it is past its lifetime): it goes.
pub async fn outcome_done(db: &Db, id: &str) -> Result<(), StoreError> {
    db.write(|tx| tx.delete::<Outcome>(&outcome_key(id))).await
}

/// An attempt at outcome `id` failed at `now`: the next waits longer (2^n s, at most 10
/// min); past its lifetime it is dropped. Whether it will be tried again.
pub async fn outcome_failed(db: &Db, id: &str, now: i64) -> Result<bool, StoreError> {
    db.write(|tx| {
        let Some(mut o) = tx.get::<Outcome>(&outcome_key(id))? else {
            return Ok(false);
        };
        o.attempts += 1;
        o.next_at = now + (1i64 << o.attempts.min(10)).min(600);
        if o.next_at > o.until {
            tx.delete::<Outcome>(&outcome_key(id))?;
            return Ok(false);
        }
        tx.put(&o)?;
        Ok(true)
    })
    .await
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// No such flow; or a capability that opens nothing (the same for every reason).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Not executable now (inactive flow, no approvers, several step-up flows).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(m: impl Into<String>) -> ApprovalError {
    ApprovalError::Invalid(m.into())
}

/// A step as requested.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRequest {
    /// Who approves.
    pub approver_selectors: Selectors,
    /// How many.
    pub configuration: StepConfig,
    /// Order.
    pub step_order: f64,
}

/// A flow as requested (create: name, channels, configuration and steps required).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowRequest {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Executable.
    pub is_active: Option<bool>,
    /// Channels.
    pub channels: Option<Channels>,
    /// Timing.
    pub configuration: Option<FlowConfig>,
    /// Steps.
    pub steps: Option<Vec<StepRequest>>,
}

fn check_config(c: &FlowConfig) -> Result<(), ApprovalError> {
    if c.auto_approve_in_minutes.is_some_and(|m| m < 1) {
        return Err(invalid("autoApproveInMinutes must be at least 1"));
    }
    if c.reminder_interval_minutes.is_some_and(|m| m < 60) {
        return Err(invalid("reminderIntervalMinutes must be at least 60"));
    }
    if c.timeout_minutes
        .is_some_and(|m| !(5..=10_080).contains(&m))
    {
        return Err(invalid("timeoutMinutes must be from 5 to 10080"));
    }
    if let Some(u) = &c.webhook_url
        && !(u.len() <= 2048 && (u.starts_with("https://") || u.starts_with("http://")))
    {
        return Err(invalid("webhookUrl must be an http(s) URL"));
    }
    Ok(())
}

fn check_channels(c: &Channels) -> Result<(), ApprovalError> {
    if c.sms {
        return Err(invalid(
            "the sms channel is not supported: approvers are reached by email",
        ));
    }
    if !c.email {
        return Err(invalid("channels.email must be true"));
    }
    Ok(())
}

fn steps_of(req: Vec<StepRequest>, at: &str) -> Result<Vec<Step>, ApprovalError> {
    if req.is_empty() || req.len() > MAX_STEPS {
        return Err(invalid(format!("a flow has 1-{MAX_STEPS} steps")));
    }
    let mut steps = Vec::with_capacity(req.len());
    for s in req {
        if s.step_order.fract() != 0.0 || s.step_order < 1.0 || s.step_order > 1000.0 {
            return Err(invalid("stepOrder is a whole number from 1"));
        }
        let sel = &s.approver_selectors;
        if !sel.phone_numbers.is_empty() {
            return Err(invalid(
                "phoneNumbers are not supported: approvers are reached by email",
            ));
        }
        if sel.role_keys.is_empty() && sel.emails.is_empty() {
            return Err(invalid("a step needs roleKeys or emails"));
        }
        if sel.role_keys.len() + sel.emails.len() > MAX_SELECTORS {
            return Err(invalid(format!(
                "a step has at most {MAX_SELECTORS} selectors"
            )));
        }
        let mut emails = Vec::new();
        for e in &sel.emails {
            emails.push(
                crate::model::email::normalize(e)
                    .map_err(|_| invalid(format!("'{e}' is not an email address")))?,
            );
        }
        if s.configuration.min_approvals < 1 {
            return Err(invalid("minApprovals must be at least 1"));
        }
        steps.push(Step {
            id: crate::crypto::new_uuid().to_string(),
            step_order: s.step_order as u32,
            approver_selectors: Selectors {
                role_keys: sel.role_keys.clone(),
                emails,
                phone_numbers: Vec::new(),
            },
            configuration: s.configuration,
            created_at: at.to_owned(),
            updated_at: at.to_owned(),
        });
    }
    steps.sort_by_key(|s| s.step_order);
    if steps.windows(2).any(|w| w[0].step_order == w[1].step_order) {
        return Err(invalid("stepOrder values must differ"));
    }
    Ok(steps)
}

/// Create a flow in `tenant` (none: the environment's).
pub async fn create(
    db: &Db,
    clock: &Clock,
    tenant: Option<&str>,
    req: FlowRequest,
) -> Result<Flow, ApprovalError> {
    let at = rfc3339(clock.now());
    let name = req.name.ok_or_else(|| invalid("name is required"))?;
    let channels = req
        .channels
        .ok_or_else(|| invalid("channels is required"))?;
    let configuration = req
        .configuration
        .ok_or_else(|| invalid("configuration is required"))?;
    let steps = steps_of(req.steps.ok_or_else(|| invalid("steps is required"))?, &at)?;
    let f = Flow {
        id: crate::crypto::new_uuid().to_string(),
        tenant_id: tenant.map(str::to_owned),
        name,
        description: req.description,
        is_active: req.is_active.unwrap_or(true),
        channels,
        configuration,
        steps,
        created_at: at.clone(),
        updated_at: at,
    };
    check_flow(&f)?;
    db.write(|tx| {
        tx.put(&f)?;
        Ok(f.clone())
    })
    .await
}

fn check_flow(f: &Flow) -> Result<(), ApprovalError> {
    if f.name.trim().is_empty() || f.name.len() > 255 {
        return Err(invalid("name must be 1-255 characters"));
    }
    if f.description.as_ref().is_some_and(|d| d.len() > 1000) {
        return Err(invalid("description must be at most 1000 characters"));
    }
    check_channels(&f.channels)?;
    check_config(&f.configuration)
}

/// The flows `tenant` sees (its own and the environment's; all for `None`).
pub fn list(db: &Db, tenant: Option<&str>) -> Result<Vec<Flow>, StoreError> {
    let mut all: Vec<Flow> = db
        .scan::<Flow>(b"flow/")?
        .into_iter()
        .filter(|f| tenant.is_none() || f.tenant_id.is_none() || f.tenant_id.as_deref() == tenant)
        .collect();
    all.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
    Ok(all)
}

/// Flow `id`, as `tenant` sees it.
pub fn get(db: &Db, tenant: Option<&str>, id: &str) -> Result<Flow, ApprovalError> {
    db.get::<Flow>(&flow_key(id))?
        .filter(|f| tenant.is_none() || f.tenant_id.as_deref() == tenant || f.tenant_id.is_none())
        .ok_or(ApprovalError::NotFound("approval flow"))
}

/// Change flow `id` (only the caller's account's, or the environment's for `None`).
pub async fn update(
    db: &Db,
    clock: &Clock,
    tenant: Option<&str>,
    id: &str,
    req: FlowRequest,
) -> Result<Flow, ApprovalError> {
    let at = rfc3339(clock.now());
    let steps = req.steps.map(|s| steps_of(s, &at)).transpose()?;
    db.write(|tx| {
        let mut f = owned(tx, tenant, id)?;
        if let Some(n) = &req.name {
            f.name = n.clone();
        }
        if let Some(d) = &req.description {
            f.description = Some(d.clone());
        }
        if let Some(a) = req.is_active {
            f.is_active = a;
        }
        if let Some(c) = req.channels {
            f.channels = c;
        }
        if let Some(c) = &req.configuration {
            f.configuration = c.clone();
        }
        if let Some(s) = &steps {
            f.steps = s.clone();
        }
        check_flow(&f)?;
        f.updated_at = at.clone();
        tx.put(&f)?;
        Ok(f)
    })
    .await
}

fn owned(tx: &mut Tx<'_>, tenant: Option<&str>, id: &str) -> Result<Flow, ApprovalError> {
    tx.get::<Flow>(&flow_key(id))?
        .filter(|f| tenant.is_none() || f.tenant_id.as_deref() == tenant)
        .ok_or(ApprovalError::NotFound("approval flow"))
}

/// Delete flow `id` (executions already running finish on their copy of the steps).
pub async fn delete(db: &Db, tenant: Option<&str>, id: &str) -> Result<(), ApprovalError> {
    db.write(|tx| {
        owned(tx, tenant, id)?;
        tx.delete::<Flow>(&flow_key(id))?;
        Ok(())
    })
    .await
}

/// The approvers of a step for a request by `requester` in `tenant`: the addresses named,
/// and the members holding one of the role keys — never the requester.
fn approvers_of(
    db: &Db,
    tenant: &str,
    requester: &User,
    sel: &Selectors,
) -> Result<Vec<Approver>, StoreError> {
    let mut emails: Vec<String> = sel.emails.clone();
    if !sel.role_keys.is_empty() {
        for m in crate::model::user::members(db, tenant)? {
            let groups = crate::model::group::granting_for(db, &m.id, tenant)?;
            let eff = crate::model::authz::effective(&m, tenant, &groups, db)?;
            let keys = eff.role_keys();
            if m.verified
                && !m.is_locked
                && !m.email_norm.is_empty()
                && sel.role_keys.iter().any(|k| keys.contains(k))
            {
                emails.push(m.email_norm.clone());
            }
        }
    }
    emails.retain(|e| *e != requester.email_norm);
    emails.sort();
    emails.dedup();
    emails.truncate(MAX_APPROVERS);
    Ok(emails
        .into_iter()
        .map(|email| Approver {
            id: crate::crypto::new_uuid().to_string(),
            email,
            decision: None,
        })
        .collect())
}

/// Mail the approvers of `e`'s current step their links (in `tx`).
fn begin_step(
    tx: &mut Tx<'_>,
    links: Links<'_>,
    e: &Execution,
    now: i64,
) -> Result<(), StoreError> {
    for a in &e.runs[e.current].approvers {
        outbox::queue(tx, &request_mail(links, e, a, now))?;
    }
    Ok(())
}

/// The mail that asks approver `a` of `e`'s current step.
fn request_mail(links: Links<'_>, e: &Execution, a: &Approver, now: i64) -> message::Message {
    let run = &e.runs[e.current];
    let ttl = u32::try_from((e.expires_at - now).max(1)).unwrap_or(u32::MAX);
    message::approval_request(
        links,
        &a.email,
        (&e.flow_name, e.flow_description.as_deref()),
        &e.requester_email,
        (&e.id, &a.id, &run.id),
        ttl,
    )
    .issued_by(&e.requester_id)
}

/// Remind the current step's undecided approvers (the same link again).
fn remind(tx: &mut Tx<'_>, links: Links<'_>, e: &Execution, now: i64) -> Result<(), StoreError> {
    for a in e.runs[e.current]
        .approvers
        .iter()
        .filter(|a| a.decision.is_none())
    {
        outbox::queue(
            tx,
            &message::approval_reminder(request_mail(links, e, a, now)),
        )?;
    }
    Ok(())
}

/// What a requester attaches to an execution.
#[derive(Clone, Debug, Default)]
pub struct Attached {
    /// Shown to the approvers, posted with the outcome.
    pub data: Option<Map<String, Value>>,
    /// Where the outcome is posted (else the flow's).
    pub webhook_url: Option<String>,
}

/// Execute flow `flow` for `requester` in `tenant`: every step's approvers are resolved now
/// (a step with too few is a 409), and the first step's are mailed.
pub async fn execute(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    flow: &Flow,
    tenant: &str,
    requester: &User,
    attached: Attached,
) -> Result<Execution, ApprovalError> {
    let Attached { data, webhook_url } = attached;
    if !flow.is_active {
        return Err(ApprovalError::Conflict(
            "the approval flow is not active".into(),
        ));
    }
    if data
        .as_ref()
        .is_some_and(|d| serde_json::to_vec(d).map_or(usize::MAX, |b| b.len()) > MAX_DATA)
    {
        return Err(invalid("executionData exceeds 16 KiB"));
    }
    let webhook_url = webhook_url.or_else(|| flow.configuration.webhook_url.clone());
    check_config(&FlowConfig {
        webhook_url: webhook_url.clone(),
        ..FlowConfig::default()
    })?;
    let now = clock.unix();
    let mut runs = Vec::with_capacity(flow.steps.len());
    for (i, s) in flow.steps.iter().enumerate() {
        let approvers = approvers_of(db, tenant, requester, &s.approver_selectors)?;
        let min = s.configuration.min_approvals;
        if (approvers.len() as u64) < u64::from(min) {
            return Err(ApprovalError::Conflict(format!(
                "step {} has {} approvers for {} approvals",
                i + 1,
                approvers.len(),
                min
            )));
        }
        runs.push(StepRun {
            id: crate::crypto::new_uuid().to_string(),
            approvers,
            min_approvals: min,
        });
    }
    let timeout = i64::from(
        flow.configuration
            .timeout_minutes
            .unwrap_or(DEFAULT_TIMEOUT_MINUTES),
    ) * 60;
    let e = Execution {
        id: crate::crypto::new_uuid().to_string(),
        flow_id: flow.id.clone(),
        flow_name: flow.name.clone(),
        flow_description: flow.description.clone(),
        tenant_id: tenant.to_owned(),
        requester_id: requester.id.clone(),
        requester_email: requester.email.clone(),
        requested_at: rfc3339(clock.now()),
        requested_unix: now,
        expires_at: now + timeout,
        auto_approve_at: flow
            .configuration
            .auto_approve_in_minutes
            .map(|m| now + i64::from(m) * 60),
        data,
        webhook_url,
        status: Status::Pending,
        current: 0,
        runs,
        remind_every: flow
            .configuration
            .reminder_interval_minutes
            .map(|m| i64::from(m) * 60),
        next_reminder_at: flow
            .configuration
            .reminder_interval_minutes
            .map(|m| now + i64::from(m) * 60),
        notify: flow.configuration.notify_on_decisions,
    };
    db.write(|tx| {
        begin_step(tx, links, &e, now)?;
        tx.put(&e)?;
        tx.put_raw(Tree::Approvals, &due_key(e.due_at(), &e.id), b"")?;
        Ok(e.clone())
    })
    .await
}

/// Apply what time decided (auto-approval, timeout) to `e` as of `now`; whether it changed.
fn settle(e: &mut Execution, now: i64) -> bool {
    if e.status != Status::Pending {
        return false;
    }
    if e.auto_approve_at.is_some_and(|t| now >= t) {
        e.status = Status::Approved;
        return true;
    }
    if now >= e.expires_at {
        e.status = Status::TimedOut;
        return true;
    }
    false
}

/// The three ids of a capability.
#[derive(Clone, Copy, Debug)]
pub struct Capability<'a> {
    /// Execution id.
    pub execution: &'a str,
    /// Approver id.
    pub approver: &'a str,
    /// Step-run id.
    pub step: &'a str,
}

const NOTHING: ApprovalError = ApprovalError::NotFound("approval request");

/// The pending execution and approver a capability opens (the same 404 for any failure).
fn open<'e>(e: &'e Execution, c: Capability<'_>) -> Result<&'e Approver, ApprovalError> {
    let run = e.runs.get(e.current).ok_or(NOTHING)?;
    if e.status != Status::Pending || run.id != c.step {
        return Err(NOTHING);
    }
    run.approvers
        .iter()
        .find(|a| a.id == c.approver)
        .ok_or(NOTHING)
}

/// What the approver page shows.
pub fn view(db: &Db, clock: &Clock, c: Capability<'_>) -> Result<Execution, ApprovalError> {
    let mut e = db
        .get::<Execution>(&execution_key(c.execution))?
        .ok_or(NOTHING)?;
    settle(&mut e, clock.unix());
    open(&e, c)?;
    Ok(e)
}

/// Record the approver's decision (inside one transaction with the read).
pub async fn decide(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    c: Capability<'_>,
    approved: bool,
) -> Result<Execution, ApprovalError> {
    let now = clock.unix();
    db.write(|tx| {
        let mut e = tx
            .get::<Execution>(&execution_key(c.execution))?
            .ok_or(NOTHING)?;
        if settle(&mut e, now) {
            tx.put(&e)?;
            complete(tx, &e, now)?;
            return Ok::<_, ApprovalError>(Err(NOTHING));
        }
        let approver = open(&e, c)?;
        if approver.decision.is_some() {
            return Ok(Err(NOTHING));
        }
        let approver_email = approver.email.clone();
        tx.delete_raw(Tree::Approvals, &due_key(e.due_at(), &e.id))?;
        let run = &mut e.runs[e.current];
        if let Some(a) = run.approvers.iter_mut().find(|a| a.id == c.approver) {
            a.decision = Some(approved);
        }
        let yes = run
            .approvers
            .iter()
            .filter(|a| a.decision == Some(true))
            .count() as u64;
        let open_votes = run
            .approvers
            .iter()
            .filter(|a| a.decision.is_none())
            .count() as u64;
        let min = u64::from(run.min_approvals);
        let mut completed = false;
        if yes >= min {
            if e.current + 1 < e.runs.len() {
                e.current += 1;
                e.next_reminder_at = e.remind_every.map(|every| now + every);
                begin_step(tx, links, &e, now)?;
            } else {
                e.status = Status::Approved;
                completed = true;
            }
        } else if yes + open_votes < min {
            e.status = Status::Rejected;
            completed = true;
        }
        tx.put(&e)?;
        if completed {
            complete(tx, &e, now)?;
        } else {
            tx.put_raw(Tree::Approvals, &due_key(e.due_at(), &e.id), b"")?;
        }
        if e.notify {
            let status = match e.status {
                Status::Pending => "waiting for further approvals",
                Status::Approved => "approved",
                Status::Rejected => "rejected",
                Status::TimedOut => "timed out",
            };
            outbox::queue(
                tx,
                &message::approval_decision(
                    &e.requester_email,
                    &e.flow_name,
                    &approver_email,
                    approved,
                    status,
                )
                .about(&e.requester_id),
            )?;
        }
        Ok(Ok(e))
    })
    .await?
}

/// The execution `id` (the requester's and the environment's view).
pub fn execution(db: &Db, clock: &Clock, id: &str) -> Result<Execution, ApprovalError> {
    let mut e = db
        .get::<Execution>(&execution_key(id))?
        .ok_or(ApprovalError::NotFound("approval flow execution"))?;
    settle(&mut e, clock.unix());
    Ok(e)
}

/// The flow a step-up execution runs for `tenant`: the one active flow it sees (404 for
/// none, 409 for several: execute one by id).
pub fn step_up_flow(db: &Db, tenant: &str) -> Result<Flow, ApprovalError> {
    let mut active: Vec<Flow> = list(db, Some(tenant))?
        .into_iter()
        .filter(|f| f.is_active)
        .collect();
    match active.len() {
        0 => Err(ApprovalError::NotFound("active approval flow")),
        1 => Ok(active.remove(0)),
        _ => Err(ApprovalError::Conflict(
            "several approval flows are active; execute one by id".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution(min: u32, approvers: usize) -> Execution {
        Execution {
            id: "e".into(),
            flow_id: "f".into(),
            flow_name: "n".into(),
            flow_description: None,
            tenant_id: "t".into(),
            requester_id: "r".into(),
            requester_email: "r@x.test".into(),
            requested_at: String::new(),
            requested_unix: 0,
            expires_at: 100,
            auto_approve_at: None,
            data: None,
            webhook_url: None,
            status: Status::Pending,
            current: 0,
            runs: vec![StepRun {
                id: "s".into(),
                approvers: (0..approvers)
                    .map(|i| Approver {
                        id: format!("a{i}"),
                        email: format!("a{i}@x.test"),
                        decision: None,
                    })
                    .collect(),
                min_approvals: min,
            }],
            next_reminder_at: None,
            remind_every: None,
            notify: false,
        }
    }

    #[test]
    fn only_the_exact_triple_of_the_current_step_opens() {
        let e = execution(1, 2);
        let ok = Capability {
            execution: "e",
            approver: "a1",
            step: "s",
        };
        assert!(open(&e, ok).is_ok());
        for bad in [
            Capability {
                approver: "a9",
                ..ok
            },
            Capability {
                step: "other",
                ..ok
            },
        ] {
            assert!(open(&e, bad).is_err(), "{bad:?}");
        }
        let mut done = e.clone();
        done.status = Status::Approved;
        assert!(open(&done, ok).is_err());
    }

    #[test]
    fn time_settles_alike_for_everyone() {
        let mut e = execution(1, 1);
        assert!(!settle(&mut e, 99));
        assert!(settle(&mut e, 100));
        assert_eq!(e.status, Status::TimedOut);
        let mut auto = execution(1, 1);
        auto.auto_approve_at = Some(50);
        assert!(settle(&mut auto, 60));
        assert_eq!(auto.status, Status::Approved);
        assert!(!settle(&mut auto, 200), "settled once");
    }
}
