//! JWT templates and their targeting (`compat-wave2.md` §12.2, §12.3): a template adds
//! claims to the tokens it is chosen for and sets their lifetime; the targeting's first
//! matching rule chooses it at issuance. Both claims builders (`login::user_claims`,
//! `api_token::claims`) go through [`targeted`] and [`Chosen::apply`]. Invariants:
//!
//! - No template changes a claim Tessera sets: a template's claims are added only under
//!   names the issued claims do not carry, and the names that decide rights or identity
//!   (`sub`, `type`, `tenantId`, `roles`, `permissions`, `sid`, …) are refused when a template
//!   is saved. A template cannot widen a token past what the granting rule gave.
//! - RS256 only: every Frontegg SDK verifies RS256, so an HS256 template is refused (400).
//! - No rule names a template that does not exist: a rule's template must exist when the
//!   targeting is saved, and a template a rule names cannot be deleted or re-keyed (409).
//! - A template's lifetime extends the revocation horizon before any token carries it: saving
//!   it records the lifetime as the longest token lifetime (`vendor_config::note_token_ttl`)
//!   in the same transaction, so revocations outlive the tokens they revoke.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared::claims::{AccessClaims, TokenType};

use crate::model::clock::{Clock, rfc3339};
use crate::store::{Db, Record, StoreError, Tree, Tx};

/// The longest lifetime a template may give, seconds (180 days).
pub const MAX_EXPIRATION: u32 = 15_552_000;
/// The shortest, seconds.
pub const MIN_EXPIRATION: u32 = 10;
const MAX_CLAIMS: usize = 100;
const MAX_CLAIMS_BYTES: usize = 16 * 1024;
const MAX_DEPTH: usize = 5;
const MAX_RULES: usize = 100;
const MAX_CONDITIONS: usize = 20;
const MAX_LIST: usize = 1000;

/// Claims a template may not name: what decides identity and rights, and the protocol's own.
pub const RESERVED: &[&str] = &[
    "sub",
    "type",
    "tenantId",
    "tenantIds",
    "roles",
    "permissions",
    "sid",
    "userId",
    "applicationId",
    "superUser",
    "acr",
    "amr",
    "auth_time",
    "act",
    "jti",
    "nbf",
    "nonce",
    "azp",
    "scope",
];

/// A stored template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JwtTemplate {
    /// UUID.
    pub id: String,
    /// Unique key (what targeting rules name).
    pub key: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Lifetime of the tokens it shapes, seconds.
    pub expiration: u32,
    /// The claims: values with `{{placeholder}}`s.
    pub claims: Map<String, Value>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for JwtTemplate {
    const TREE: Tree = Tree::TokenShaping;
    fn key(&self) -> Vec<u8> {
        template_key(&self.id)
    }
}

fn template_key(id: &str) -> Vec<u8> {
    format!("template/{id}").into_bytes()
}

fn by_key(key: &str) -> Vec<u8> {
    format!("key/{key}").into_bytes()
}

/// What a condition tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Attribute {
    /// The user's id.
    UserId,
    /// The application the token is for.
    ApplicationId,
    /// The account.
    TenantId,
    /// The user's (or API token's) role ids in the account: any of them.
    RoleIds,
    /// `userToken`, `tenantApiToken`, …
    TokenType,
    /// The user's email.
    UserEmail,
}

/// How it tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal to one of the list.
    InList,
    /// Contains one of the list.
    Contains,
    /// Ends with one of the list.
    EndsWith,
}

/// `{list: [...]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionValue {
    /// The values.
    pub list: Vec<String>,
}

/// One condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// What.
    pub attribute: Attribute,
    /// How.
    pub op: Op,
    /// Against what.
    pub value: ConditionValue,
    /// Inverted.
    #[serde(default)]
    pub negate: bool,
}

/// Only `and`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Logic {
    /// Every condition holds.
    And,
}

/// One rule: its conditions, and the template key they choose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// How conditions combine.
    pub condition_logic: Logic,
    /// The conditions (none: always).
    pub conditions: Vec<Condition>,
    /// The template key.
    pub treatment: String,
}

/// The environment's targeting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targeting {
    /// UUID.
    pub id: String,
    /// In order; the first match wins.
    pub rules: Vec<Rule>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

const TARGETING_KEY: &[u8] = b"targeting";

impl Record for Targeting {
    const TREE: Tree = Tree::TokenShaping;
    fn key(&self) -> Vec<u8> {
        TARGETING_KEY.to_vec()
    }
}

/// Why a template or targeting change was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwtTemplateError {
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// No such template or targeting.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Taken key, an existing targeting, a template a rule names.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(m: impl Into<String>) -> JwtTemplateError {
    JwtTemplateError::Invalid(m.into())
}

/// A template as requested (create: every field but `description`; update: any).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateChange {
    /// Unique key.
    pub key: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Seconds, 10 – 15,552,000.
    pub expiration: Option<f64>,
    /// `RS256` (`HS256` is refused).
    pub algorithm: Option<String>,
    /// `{claims: {...}}`.
    pub template_schema: Option<Schema>,
}

/// `JwtTemplatePayloadDto`.
#[derive(Clone, Debug, Deserialize)]
pub struct Schema {
    /// The claims.
    pub claims: Map<String, Value>,
}

fn check_key(k: &str) -> Result<(), JwtTemplateError> {
    if k.is_empty()
        || k.len() > 100
        || !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(invalid(
            "key must be 1-100 letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_claims(claims: &Map<String, Value>) -> Result<(), JwtTemplateError> {
    if claims.len() > MAX_CLAIMS {
        return Err(invalid(format!(
            "a template has at most {MAX_CLAIMS} claims"
        )));
    }
    let size = serde_json::to_vec(claims).map_or(usize::MAX, |b| b.len());
    if size > MAX_CLAIMS_BYTES {
        return Err(invalid("the template's claims exceed 16 KiB"));
    }
    for (name, v) in claims {
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(invalid("claim names are 1-100 characters"));
        }
        if RESERVED.contains(&name.as_str()) {
            return Err(invalid(format!(
                "claim '{name}' is set by Tessera and cannot be templated"
            )));
        }
        if depth(v) > MAX_DEPTH {
            return Err(invalid(format!("claim '{name}' nests too deep")));
        }
        let mut bad = None;
        visit_strings(v, &mut |s| {
            if placeholders(s).is_none() {
                bad = Some(s.to_owned());
            }
        });
        if let Some(s) = bad {
            return Err(invalid(format!("unclosed placeholder in '{s}'")));
        }
    }
    Ok(())
}

fn visit_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| visit_strings(x, f)),
        Value::Object(o) => o.values().for_each(|x| visit_strings(x, f)),
        _ => {}
    }
}

/// The pieces of a templated string: literal text and placeholder paths; `None` when a
/// `{{` is not closed.
fn placeholders(s: &str) -> Option<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}")?;
        out.push(Piece::Path(after[..close].trim()));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Some(out)
}

#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Path(&'a str),
}

fn expiration_of(e: f64) -> Result<u32, JwtTemplateError> {
    if e.fract() != 0.0 || !(f64::from(MIN_EXPIRATION)..=f64::from(MAX_EXPIRATION)).contains(&e) {
        return Err(invalid(format!(
            "expiration must be a whole number of seconds from {MIN_EXPIRATION} to {MAX_EXPIRATION}"
        )));
    }
    Ok(e as u32)
}

fn check_algorithm(a: &str) -> Result<(), JwtTemplateError> {
    match a {
        "RS256" => Ok(()),
        "HS256" => Err(invalid(
            "algorithm HS256 is not supported: Tessera signs RS256 only, the one algorithm every Frontegg SDK verifies",
        )),
        _ => Err(invalid("algorithm must be RS256")),
    }
}

/// Every template, oldest first.
pub fn list(db: &Db) -> Result<Vec<JwtTemplate>, StoreError> {
    let mut all = db.scan::<JwtTemplate>(b"template/")?;
    all.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
    Ok(all)
}

/// The template `id`.
pub fn get(db: &Db, id: &str) -> Result<JwtTemplate, JwtTemplateError> {
    db.get::<JwtTemplate>(&template_key(id))?
        .ok_or(JwtTemplateError::NotFound("JWT template"))
}

fn claim_key(tx: &mut Tx<'_>, key: &str, id: &str) -> Result<(), JwtTemplateError> {
    match tx.get_raw(Tree::TokenShaping, &by_key(key))? {
        Some(owner) if owner != id.as_bytes() => Err(JwtTemplateError::Conflict(format!(
            "a JWT template with key '{key}' exists"
        ))),
        _ => {
            tx.put_raw(Tree::TokenShaping, &by_key(key), id.as_bytes())?;
            Ok(())
        }
    }
}

fn named_by_rule(tx: &mut Tx<'_>, key: &str) -> Result<bool, StoreError> {
    Ok(tx
        .get::<Targeting>(TARGETING_KEY)?
        .is_some_and(|t| t.rules.iter().any(|r| r.treatment == key)))
}

/// Create a template (every field but `description` required).
pub async fn create(
    db: &Db,
    clock: &Clock,
    req: TemplateChange,
) -> Result<JwtTemplate, JwtTemplateError> {
    let need = |what: &str| invalid(format!("{what} is required"));
    let key = req.key.ok_or_else(|| need("key"))?;
    check_key(&key)?;
    let name = req.name.ok_or_else(|| need("name"))?;
    let expiration = expiration_of(req.expiration.ok_or_else(|| need("expiration"))?)?;
    check_algorithm(req.algorithm.as_deref().ok_or_else(|| need("algorithm"))?)?;
    let claims = req
        .template_schema
        .ok_or_else(|| need("templateSchema"))?
        .claims;
    let t = JwtTemplate {
        id: crate::crypto::new_uuid().to_string(),
        key,
        name,
        description: req.description,
        expiration,
        claims,
        created_at: rfc3339(clock.now()),
        updated_at: rfc3339(clock.now()),
    };
    check_text(&t)?;
    db.write(|tx| {
        claim_key(tx, &t.key, &t.id)?;
        crate::model::vendor_config::note_token_ttl(tx, i64::from(t.expiration))?;
        tx.put(&t)?;
        Ok(t.clone())
    })
    .await
}

fn check_text(t: &JwtTemplate) -> Result<(), JwtTemplateError> {
    if t.name.trim().is_empty() || t.name.len() > 255 {
        return Err(invalid("name must be 1-255 characters"));
    }
    if t.description.as_ref().is_some_and(|d| d.len() > 1000) {
        return Err(invalid("description must be at most 1000 characters"));
    }
    check_claims(&t.claims)
}

/// Update template `id` with the fields given.
pub async fn update(
    db: &Db,
    clock: &Clock,
    id: &str,
    req: TemplateChange,
) -> Result<JwtTemplate, JwtTemplateError> {
    if let Some(k) = &req.key {
        check_key(k)?;
    }
    if let Some(a) = &req.algorithm {
        check_algorithm(a)?;
    }
    let expiration = req.expiration.map(expiration_of).transpose()?;
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let mut t = tx
            .get::<JwtTemplate>(&template_key(id))?
            .ok_or(JwtTemplateError::NotFound("JWT template"))?;
        if let Some(k) = &req.key
            && *k != t.key
        {
            if named_by_rule(tx, &t.key)? {
                return Err(JwtTemplateError::Conflict(format!(
                    "the targeting names template '{}'; change the rule first",
                    t.key
                )));
            }
            claim_key(tx, k, &t.id)?;
            tx.delete_raw(Tree::TokenShaping, &by_key(&t.key))?;
            t.key = k.clone();
        }
        if let Some(n) = &req.name {
            t.name = n.clone();
        }
        if let Some(d) = &req.description {
            t.description = Some(d.clone());
        }
        if let Some(e) = expiration {
            t.expiration = e;
        }
        if let Some(s) = &req.template_schema {
            t.claims = s.claims.clone();
        }
        check_text(&t)?;
        t.updated_at = at.clone();
        crate::model::vendor_config::note_token_ttl(tx, i64::from(t.expiration))?;
        tx.put(&t)?;
        Ok(t)
    })
    .await
}

/// Delete template `id` (409 while a rule names it).
pub async fn delete(db: &Db, id: &str) -> Result<(), JwtTemplateError> {
    db.write(|tx| {
        let t = tx
            .get::<JwtTemplate>(&template_key(id))?
            .ok_or(JwtTemplateError::NotFound("JWT template"))?;
        if named_by_rule(tx, &t.key)? {
            return Err(JwtTemplateError::Conflict(format!(
                "the targeting names template '{}'; remove the rule first",
                t.key
            )));
        }
        tx.delete_raw(Tree::TokenShaping, &by_key(&t.key))?;
        tx.delete::<JwtTemplate>(&template_key(id))?;
        Ok(())
    })
    .await
}

/// The targeting, if any.
pub fn targeting(db: &Db) -> Result<Option<Targeting>, StoreError> {
    db.get::<Targeting>(TARGETING_KEY)
}

fn check_rules(tx: &mut Tx<'_>, rules: &[Rule]) -> Result<(), JwtTemplateError> {
    if rules.len() > MAX_RULES {
        return Err(invalid(format!("at most {MAX_RULES} rules")));
    }
    for r in rules {
        if r.conditions.len() > MAX_CONDITIONS {
            return Err(invalid(format!(
                "a rule has at most {MAX_CONDITIONS} conditions"
            )));
        }
        for c in &r.conditions {
            if c.value.list.is_empty()
                || c.value.list.len() > MAX_LIST
                || c.value.list.iter().any(|v| v.is_empty() || v.len() > 256)
            {
                return Err(invalid(format!(
                    "a condition's value.list holds 1-{MAX_LIST} values of 1-256 characters"
                )));
            }
        }
        if tx
            .get_raw(Tree::TokenShaping, &by_key(&r.treatment))?
            .is_none()
        {
            return Err(invalid(format!(
                "rule treatment '{}' names no JWT template",
                r.treatment
            )));
        }
    }
    Ok(())
}

/// How a targeting write treats an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Create: 409 when one exists.
    Create,
    /// Create or replace.
    Upsert,
    /// Replace the one with this id: 404 otherwise.
    Replace,
}

/// Store the targeting's rules.
pub async fn set_targeting(
    db: &Db,
    clock: &Clock,
    how: Write,
    id: Option<&str>,
    rules: Vec<Rule>,
) -> Result<Targeting, JwtTemplateError> {
    let at = rfc3339(clock.now());
    db.write(|tx| {
        check_rules(tx, &rules)?;
        let old = tx.get::<Targeting>(TARGETING_KEY)?;
        let (tid, created) = match (how, old) {
            (Write::Create, Some(_)) => {
                return Err(JwtTemplateError::Conflict(
                    "a JWT template targeting exists; update it with PUT".into(),
                ));
            }
            (Write::Replace, Some(o)) if Some(o.id.as_str()) == id => (o.id, o.created_at),
            (Write::Replace, _) => {
                return Err(JwtTemplateError::NotFound("JWT template targeting"));
            }
            (_, Some(o)) => (o.id, o.created_at),
            (_, None) => (crate::crypto::new_uuid().to_string(), at.clone()),
        };
        let t = Targeting {
            id: tid,
            rules: rules.clone(),
            created_at: created,
            updated_at: at.clone(),
        };
        tx.put(&t)?;
        Ok(t)
    })
    .await
}

/// Remove the targeting `id`.
pub async fn delete_targeting(db: &Db, id: &str) -> Result<(), JwtTemplateError> {
    db.write(|tx| {
        match tx.get::<Targeting>(TARGETING_KEY)? {
            Some(t) if t.id == id => tx.delete::<Targeting>(TARGETING_KEY)?,
            _ => return Err(JwtTemplateError::NotFound("JWT template targeting")),
        }
        Ok(())
    })
    .await
}

/// What targeting rules test, for a token about to be issued.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// The user (user tokens and user API tokens).
    pub user_id: Option<&'a str>,
    /// The user's email.
    pub email: Option<&'a str>,
    /// The account.
    pub tenant_id: &'a str,
    /// The application.
    pub application_id: &'a str,
    /// What token.
    pub token_type: TokenType,
    /// Role ids in the account.
    pub role_ids: &'a [String],
}

impl Condition {
    fn holds(&self, f: &Facts<'_>) -> bool {
        let test = |v: &str| {
            self.value.list.iter().any(|x| match self.op {
                Op::InList => v == x,
                Op::Contains => v.contains(x.as_str()),
                Op::EndsWith => v.ends_with(x.as_str()),
            })
        };
        let one = |v: Option<&str>| v.is_some_and(test);
        let hit = match self.attribute {
            Attribute::UserId => one(f.user_id),
            Attribute::ApplicationId => one(Some(f.application_id)),
            Attribute::TenantId => one(Some(f.tenant_id)),
            Attribute::TokenType => one(Some(f.token_type.as_str())),
            Attribute::UserEmail => one(f.email),
            Attribute::RoleIds => f.role_ids.iter().any(|r| test(r)),
        };
        hit != self.negate
    }
}

/// The template the targeting chooses for `f` (none: the default token).
pub fn targeted(db: &Db, f: &Facts<'_>) -> Result<Option<Chosen>, StoreError> {
    let Some(t) = targeting(db)? else {
        return Ok(None);
    };
    let Some(rule) = t
        .rules
        .iter()
        .find(|r| r.conditions.iter().all(|c| c.holds(f)))
    else {
        return Ok(None);
    };
    let Some(id) = db.get_raw(Tree::TokenShaping, &by_key(&rule.treatment))? else {
        return Ok(None);
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    Ok(db.get::<JwtTemplate>(&template_key(&id))?.map(Chosen))
}

/// Build a token's claims the way targeting shapes them: the chosen template (if any) sets
/// the lifetime `build` is given (else `ttl`) and adds its claims, rendered against the
/// claims, the user (`user.*`), the account (`tenant.*`) and `clientId`. The one path of
/// both claims builders.
pub fn shape<E: From<StoreError>>(
    db: &Db,
    facts: &Facts<'_>,
    ttl: i64,
    build: impl FnOnce(i64) -> Result<AccessClaims, E>,
) -> Result<Shaped, E> {
    let Some(chosen) = targeted(db, facts)? else {
        return Ok(build(ttl)?.into());
    };
    let claims = build(chosen.ttl())?;
    let mut context = Map::new();
    if let Some(u) = facts
        .user_id
        .map(|id| db.get::<crate::model::user::User>(id.as_bytes()))
        .transpose()?
        .flatten()
    {
        let metadata = serde_json::from_str::<Value>(&u.metadata).unwrap_or(Value::Null);
        context.insert(
            "user".into(),
            serde_json::json!({
                "id": u.id, "email": u.email, "name": u.name,
                "profilePictureUrl": u.profile_picture_url, "phoneNumber": u.phone_number,
                "externalId": u.external_id, "verified": u.verified, "metadata": metadata,
            }),
        );
    }
    if let Some(t) = db.get::<crate::model::tenant::Tenant>(facts.tenant_id.as_bytes())? {
        let account = serde_json::json!({"id": t.tenant_id, "name": t.name});
        context.insert("tenant".into(), account.clone());
        context.insert("account".into(), account);
    }
    context.insert(
        "clientId".into(),
        Value::String(facts.application_id.to_owned()),
    );
    Ok(chosen.apply(claims, context))
}

/// A template chosen for a token.
#[derive(Clone, Debug)]
pub struct Chosen(pub JwtTemplate);

/// Issued claims with a template's additions (what is signed).
#[derive(Clone, Debug, Serialize)]
pub struct Shaped {
    /// What Tessera sets.
    #[serde(flatten)]
    pub claims: AccessClaims,
    /// The template's claims under names the claims above do not carry.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl From<AccessClaims> for Shaped {
    fn from(claims: AccessClaims) -> Self {
        Shaped {
            claims,
            extra: Map::new(),
        }
    }
}

impl Chosen {
    /// The lifetime it gives, seconds.
    pub fn ttl(&self) -> i64 {
        i64::from(self.0.expiration)
    }

    /// `claims` with this template's claims added, rendered against `context` (the claims
    /// themselves, plus `user`, `tenant`, `clientId` objects the builder supplies).
    pub fn apply(&self, claims: AccessClaims, mut context: Map<String, Value>) -> Shaped {
        if let Ok(Value::Object(base)) = serde_json::to_value(&claims) {
            for (k, v) in base {
                context.entry(k).or_insert(v);
            }
        }
        let context = Value::Object(context);
        let mut extra = Map::new();
        for (name, v) in &self.0.claims {
            // Never a name the issued claims have or may have (one set absent here is
            // still one the verifiers read).
            if AccessClaims::NAMES.contains(&name.as_str()) || RESERVED.contains(&name.as_str()) {
                continue;
            }
            if let Some(v) = render(v, &context) {
                extra.insert(name.clone(), v);
            }
        }
        Shaped { claims, extra }
    }
}

fn lookup<'a>(context: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(context, |v, part| v.get(part))
        .filter(|v| !v.is_null())
}

/// A claim value with its placeholders filled: a string that is exactly one placeholder
/// takes the value's own type (an object, a list); otherwise values are written in as text,
/// unknown ones empty. A lone unknown placeholder drops the claim.
fn render(v: &Value, context: &Value) -> Option<Value> {
    match v {
        Value::String(s) => {
            let pieces = placeholders(s)?;
            if let [Piece::Path(p)] = pieces.as_slice() {
                return lookup(context, p).cloned();
            }
            let mut out = String::new();
            for piece in pieces {
                match piece {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Path(p) => match lookup(context, p) {
                        Some(Value::String(s)) => out.push_str(s),
                        Some(other) => out.push_str(&other.to_string()),
                        None => {}
                    },
                }
            }
            Some(Value::String(out))
        }
        Value::Array(a) => Some(Value::Array(
            a.iter().filter_map(|x| render(x, context)).collect(),
        )),
        Value::Object(o) => Some(Value::Object(
            o.iter()
                .filter_map(|(k, x)| render(x, context).map(|r| (k.clone(), r)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(attribute: Attribute, op: Op, list: &[&str], negate: bool) -> Condition {
        Condition {
            attribute,
            op,
            value: ConditionValue {
                list: list.iter().map(|s| s.to_string()).collect(),
            },
            negate,
        }
    }

    #[test]
    fn conditions_test_each_attribute_and_op() {
        let roles = vec!["r-admin".to_owned(), "r-viewer".to_owned()];
        let f = Facts {
            user_id: Some("u1"),
            email: Some("ada@corp.test"),
            tenant_id: "t1",
            application_id: "app-1",
            token_type: TokenType::UserToken,
            role_ids: &roles,
        };
        let table = [
            (
                cond(Attribute::UserId, Op::InList, &["u2", "u1"], false),
                true,
            ),
            (cond(Attribute::UserId, Op::InList, &["u2"], false), false),
            (cond(Attribute::UserId, Op::InList, &["u2"], true), true),
            (
                cond(Attribute::UserEmail, Op::EndsWith, &["@corp.test"], false),
                true,
            ),
            (
                cond(Attribute::UserEmail, Op::EndsWith, &["@corp.test"], true),
                false,
            ),
            (
                cond(Attribute::UserEmail, Op::Contains, &["ada"], false),
                true,
            ),
            (cond(Attribute::TenantId, Op::InList, &["t1"], false), true),
            (
                cond(Attribute::ApplicationId, Op::Contains, &["pp-"], false),
                true,
            ),
            (
                cond(Attribute::TokenType, Op::InList, &["userToken"], false),
                true,
            ),
            (
                cond(Attribute::TokenType, Op::InList, &["tenantApiToken"], false),
                false,
            ),
            (
                cond(Attribute::RoleIds, Op::InList, &["r-viewer"], false),
                true,
            ),
            (
                cond(Attribute::RoleIds, Op::InList, &["r-owner"], false),
                false,
            ),
            (
                cond(Attribute::RoleIds, Op::EndsWith, &["admin"], false),
                true,
            ),
        ];
        for (c, want) in table {
            assert_eq!(c.holds(&f), want, "{c:?}");
        }
        // No user: a user condition is false (and true negated).
        let api = Facts {
            user_id: None,
            email: None,
            ..f.clone()
        };
        assert!(!cond(Attribute::UserId, Op::Contains, &["u"], false).holds(&api));
        assert!(cond(Attribute::UserEmail, Op::Contains, &["@"], true).holds(&api));
    }

    fn claims() -> AccessClaims {
        AccessClaims {
            sub: "u1".into(),
            token_type: TokenType::UserToken,
            tenant_id: "t1".into(),
            tenant_ids: vec!["t1".into()],
            roles: vec!["Admin".into()],
            permissions: vec!["fe.read".into()],
            application_id: "app".into(),
            iss: "https://id.test".into(),
            aud: "app".into(),
            iat: 100,
            exp: Some(200),
            sid: Some("s".into()),
            user_id: Some("u1".into()),
            email: Some("ada@corp.test".into()),
            email_verified: Some(true),
            name: Some("Ada".into()),
            profile_picture_url: None,
            metadata: Some(Map::new()),
            super_user: None,
            acr: None,
            amr: None,
            auth_time: None,
            jti: None,
            nbf: None,
            act: None,
        }
    }

    fn chosen(claims: Value) -> Chosen {
        Chosen(JwtTemplate {
            id: "i".into(),
            key: "k".into(),
            name: "n".into(),
            description: None,
            expiration: 60,
            claims: claims.as_object().unwrap().clone(),
            created_at: String::new(),
            updated_at: String::new(),
        })
    }

    #[test]
    fn placeholders_fill_and_issued_claims_win() {
        let t = chosen(json!({
            "greeting": "hi {{name}} of {{tenant.name}}{{nothing}}",
            "plan": "{{user.metadata.plan}}",
            "whole": "{{user.metadata}}",
            "gone": "{{user.metadata.missing}}",
            "nested": {"email": "{{email}}", "n": 3, "list": ["{{sub}}", true]},
            "aud": "{{applicationId}}",
            "email": "someone-else@evil.test",
            "roles": ["Owner"],
        }));
        let ctx = json!({
            "user": {"metadata": {"plan": "gold"}},
            "tenant": {"name": "Crew"},
        });
        let s = t.apply(claims(), ctx.as_object().unwrap().clone());
        let out = serde_json::to_value(&s).unwrap();
        assert_eq!(out["greeting"], "hi Ada of Crew");
        assert_eq!(out["plan"], "gold");
        assert_eq!(out["whole"], json!({"plan": "gold"}));
        assert!(out.get("gone").is_none());
        assert_eq!(
            out["nested"],
            json!({"email": "ada@corp.test", "n": 3, "list": ["u1", true]})
        );
        // What Tessera sets is never replaced, nor added where it left a claim out.
        assert_eq!(out["aud"], "app");
        assert_eq!(out["email"], "ada@corp.test");
        assert_eq!(out["roles"], json!(["Admin"]));
        let mut api = claims();
        api.email = None;
        let out = serde_json::to_value(t.apply(api, Map::new())).unwrap();
        assert!(out.get("email").is_none(), "{out}");
        // One value per name in the signed JSON: the verifiers' parser (which refuses a
        // repeated claim) reads it back as issued.
        let text = serde_json::to_string(&s).unwrap();
        let back: AccessClaims = serde_json::from_str(&text).unwrap();
        assert_eq!(back, claims());
    }

    #[test]
    fn saved_claims_are_checked() {
        for name in RESERVED {
            let mut m = Map::new();
            m.insert((*name).to_owned(), json!("x"));
            assert!(check_claims(&m).is_err(), "{name} must be refused");
        }
        let ok = json!({"iss": "{{iss}}", "aud": "{{clientId}}", "plan": "{{user.metadata.plan}}"});
        assert!(check_claims(ok.as_object().unwrap()).is_ok());
        let unclosed = json!({"x": "{{user.email"});
        assert!(check_claims(unclosed.as_object().unwrap()).is_err());
        let deep = json!({"x": [[[[[["too deep"]]]]]]});
        assert!(check_claims(deep.as_object().unwrap()).is_err());
        for e in [9.0, 15_552_001.0, 60.5, -1.0] {
            assert!(expiration_of(e).is_err(), "{e}");
        }
        assert_eq!(expiration_of(10.0).unwrap(), 10);
        assert!(check_algorithm("HS256").is_err());
        assert!(check_algorithm("none").is_err());
        assert!(check_algorithm("RS256").is_ok());
    }
}
