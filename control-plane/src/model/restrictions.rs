//! IP and email-domain restrictions, per scope (the environment, or one account): their
//! configurations and entries as stored, and the active policy derived from them — the wire
//! form pushed to sidecars and compiled with the one `shared::net::ScopePolicy`.

use serde::{Deserialize, Serialize};
use shared::wire::{self, ListType, ScopeRestrictions};

use std::net::IpAddr;

use crate::model::clock::Clock;
use crate::model::event::Event;
use crate::model::version::{Version, write_consistent};
use crate::store::{Db, Record, StoreError, Tree, Tx};

/// Most entries of one kind in one scope.
pub const MAX_ENTRIES: usize = 10_000;

/// The store key of a scope: `-` for the environment, else the account id.
pub fn scope_key(scope: Option<&str>) -> &str {
    scope.unwrap_or("-")
}

/// IP configuration of a scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpConfig {
    /// The scope (`None`: environment).
    #[serde(default)]
    pub scope: Option<String>,
    /// ALLOW or BLOCK.
    pub strategy: ListType,
    /// Whether enforced.
    pub is_active: bool,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for IpConfig {
    const TREE: Tree = Tree::RestrictionConfigs;
    fn key(&self) -> Vec<u8> {
        format!("ip/{}", scope_key(self.scope.as_deref())).into_bytes()
    }
}

/// One IP entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpRule {
    /// UUID.
    pub id: String,
    /// The scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// Canonical address or CIDR text.
    pub ip: String,
    /// The list it belongs to.
    pub strategy: ListType,
    /// Whether it counts.
    pub is_active: bool,
    /// Free text.
    pub description: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for IpRule {
    const TREE: Tree = Tree::IpRules;
    fn key(&self) -> Vec<u8> {
        format!("{}/{}", scope_key(self.scope.as_deref()), self.id).into_bytes()
    }
}

/// Email-domain configuration of a scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainConfig {
    /// The scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// Whether enforced.
    pub active: bool,
    /// ALLOW or BLOCK.
    pub list_type: ListType,
    /// Refuse public email providers too.
    pub block_public_domains: bool,
}

impl Record for DomainConfig {
    const TREE: Tree = Tree::RestrictionConfigs;
    fn key(&self) -> Vec<u8> {
        format!("domain/{}", scope_key(self.scope.as_deref())).into_bytes()
    }
}

/// One email-domain entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainRule {
    /// UUID.
    pub id: String,
    /// The scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// Normalised rule (`example.com` or `*.example.com`).
    pub domain: String,
    /// The list it belongs to.
    #[serde(rename = "type")]
    pub kind: ListType,
    /// RFC 3339.
    pub created_at: String,
}

impl Record for DomainRule {
    const TREE: Tree = Tree::DomainRules;
    fn key(&self) -> Vec<u8> {
        format!("{}/{}", scope_key(self.scope.as_deref()), self.id).into_bytes()
    }
}

fn prefix(scope: Option<&str>) -> Vec<u8> {
    format!("{}/", scope_key(scope)).into_bytes()
}

/// The counter of the scope's changes: bumped by every transaction that changes its
/// restrictions (the cached compiled policy and consistent writes key on it).
pub fn version(scope: Option<&str>) -> Version {
    Version::new(
        Tree::RestrictionConfigs,
        format!("gen/{}", scope_key(scope)).into_bytes(),
    )
}

/// How many times the scope's restrictions have changed (0: never).
pub fn generation(db: &Db, scope: Option<&str>) -> Result<u64, StoreError> {
    version(scope).read(db)
}

/// The IP configuration (default: BLOCK, inactive).
pub fn ip_config(db: &Db, scope: Option<&str>) -> Result<IpConfig, StoreError> {
    Ok(db
        .get::<IpConfig>(format!("ip/{}", scope_key(scope)).as_bytes())?
        .unwrap_or(IpConfig {
            scope: scope.map(str::to_owned),
            strategy: ListType::Block,
            is_active: false,
            updated_at: String::new(),
        }))
}

/// The domain configuration (default: BLOCK, inactive, public domains allowed).
pub fn domain_config(db: &Db, scope: Option<&str>) -> Result<DomainConfig, StoreError> {
    Ok(db
        .get::<DomainConfig>(format!("domain/{}", scope_key(scope)).as_bytes())?
        .unwrap_or(DomainConfig {
            scope: scope.map(str::to_owned),
            active: false,
            list_type: ListType::Block,
            block_public_domains: false,
        }))
}

/// Every IP entry of a scope.
pub fn ip_rules(db: &Db, scope: Option<&str>) -> Result<Vec<IpRule>, StoreError> {
    db.scan::<IpRule>(&prefix(scope))
}

/// Every domain entry of a scope.
pub fn domain_rules(db: &Db, scope: Option<&str>) -> Result<Vec<DomainRule>, StoreError> {
    db.scan::<DomainRule>(&prefix(scope))
}

/// The active policy of a scope, from its configuration and entries.
pub fn policy_of(
    scope: Option<&str>,
    ip: &IpConfig,
    ip_entries: &[IpRule],
    dom: &DomainConfig,
    dom_entries: &[DomainRule],
) -> ScopeRestrictions {
    ScopeRestrictions {
        tenant_id: scope.map(str::to_owned),
        ip: ip.is_active.then(|| wire::IpPolicy {
            strategy: ip.strategy,
            cidrs: ip_entries
                .iter()
                .filter(|e| e.is_active && e.strategy == ip.strategy)
                .map(|e| e.ip.clone())
                .collect(),
        }),
        domains: dom.active.then(|| wire::DomainPolicy {
            list_type: dom.list_type,
            block_public: dom.block_public_domains,
            domains: dom_entries
                .iter()
                .filter(|e| e.kind == dom.list_type)
                .map(|e| e.domain.clone())
                .collect(),
        }),
    }
}

/// The active policy of a scope, read from the store.
pub fn load_policy(db: &Db, scope: Option<&str>) -> Result<ScopeRestrictions, StoreError> {
    Ok(policy_of(
        scope,
        &ip_config(db, scope)?,
        &ip_rules(db, scope)?,
        &domain_config(db, scope)?,
        &domain_rules(db, scope)?,
    ))
}

/// Every scope with an active configuration (snapshot).
pub fn all_policies(db: &Db) -> Result<Vec<ScopeRestrictions>, StoreError> {
    let mut scopes: Vec<Option<String>> = Vec::new();
    for c in db.scan::<IpConfig>(b"ip/")? {
        if c.is_active {
            scopes.push(c.scope);
        }
    }
    for c in db.scan::<DomainConfig>(b"domain/")? {
        if c.active && !scopes.contains(&c.scope) {
            scopes.push(c.scope);
        }
    }
    scopes
        .iter()
        .map(|s| load_policy(db, s.as_deref()))
        .collect()
}

/// The store keys of an account's restrictions, read before the deleting transaction (a
/// transaction cannot scan).
pub struct ScopeKeys {
    ip: Vec<Vec<u8>>,
    domains: Vec<Vec<u8>>,
    tenant: String,
    configured: bool,
}

impl ScopeKeys {
    /// Read them.
    pub fn read(db: &Db, tenant: &str) -> Result<Self, StoreError> {
        Ok(ScopeKeys {
            ip: ip_rules(db, Some(tenant))?
                .iter()
                .map(Record::key)
                .collect(),
            domains: domain_rules(db, Some(tenant))?
                .iter()
                .map(Record::key)
                .collect(),
            tenant: tenant.to_owned(),
            configured: db
                .get_raw_exists(Tree::RestrictionConfigs, format!("ip/{tenant}").as_bytes())?
                || db.get_raw_exists(
                    Tree::RestrictionConfigs,
                    format!("domain/{tenant}").as_bytes(),
                )?,
        })
    }

    /// Whether the account has any restriction to delete.
    pub fn is_empty(&self) -> bool {
        self.ip.is_empty() && self.domains.is_empty() && !self.configured
    }
}

/// Delete every restriction of an account (account deletion), inside its transaction.
pub fn delete_scope(tx: &mut Tx<'_>, keys: &ScopeKeys) -> Result<(), StoreError> {
    for k in &keys.ip {
        tx.delete::<IpRule>(k)?;
    }
    for k in &keys.domains {
        tx.delete::<DomainRule>(k)?;
    }
    let t = &keys.tenant;
    tx.delete_raw(Tree::RestrictionConfigs, format!("ip/{t}").as_bytes())?;
    tx.delete_raw(Tree::RestrictionConfigs, format!("domain/{t}").as_bytes())?;
    version(Some(t)).bump(tx)
}

/// Most entries one bulk change may carry.
pub const MAX_BULK: usize = 1_000;

/// Why a restriction change was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum RestrictionError {
    /// No such entry in the scope.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An entry or a change that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The domain is listed already.
    #[error("this domain is already listed")]
    Duplicate,
    /// A self-service change that would block the caller's own address.
    #[error(
        "this change would block your current IP address ({0}) from this account; send \"force\": true to apply it anyway"
    )]
    WouldLockOut(IpAddr),
    /// A text field out of bounds.
    #[error(transparent)]
    Text(#[from] crate::model::text::TextError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything a scope holds, read together.
#[derive(Clone, Debug)]
pub struct ScopeView {
    /// The IP configuration (defaults if never set).
    pub ip: IpConfig,
    /// The IP entries.
    pub ip_rules: Vec<IpRule>,
    /// The email-domain configuration (defaults if never set).
    pub domain: DomainConfig,
    /// The email-domain entries.
    pub domain_rules: Vec<DomainRule>,
}

impl ScopeView {
    /// Read the scope.
    pub fn read(db: &Db, scope: Option<&str>) -> Result<Self, StoreError> {
        Ok(ScopeView {
            ip: ip_config(db, scope)?,
            ip_rules: ip_rules(db, scope)?,
            domain: domain_config(db, scope)?,
            domain_rules: domain_rules(db, scope)?,
        })
    }

    /// The active policy this view makes.
    pub fn policy(&self, scope: Option<&str>) -> ScopeRestrictions {
        policy_of(
            scope,
            &self.ip,
            &self.ip_rules,
            &self.domain,
            &self.domain_rules,
        )
    }
}

/// Write what differs between `before` and `after` (entries by key, configurations by value).
fn store_diff<R: Record + PartialEq>(
    tx: &mut Tx<'_>,
    before: &[R],
    after: &[R],
) -> Result<(), StoreError> {
    for b in before {
        let k = b.key();
        if !after.iter().any(|a| a.key() == k) {
            tx.delete::<R>(&k)?;
        }
    }
    for a in after {
        if !before.contains(a) {
            tx.put(a)?;
        }
    }
    Ok(())
}

/// Change scope `scope`: `edit` works on the scope as read and leaves it as it is to be;
/// what differs is stored, in one transaction that commits only if nobody changed the scope
/// meanwhile ([`write_consistent`]), records the change for sidecars and refuses one that
/// would block `guard` (the caller's address, for a self-service change not forced). The
/// one way restrictions change.
async fn change<T>(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    guard: Option<IpAddr>,
    edit: impl Fn(&mut ScopeView, &str) -> Result<T, RestrictionError>,
) -> Result<T, RestrictionError> {
    let now = crate::model::clock::rfc3339(clock.now());
    write_consistent(
        db,
        &version(scope),
        |db| Ok(ScopeView::read(db, scope)?),
        |before: &ScopeView, tx| {
            let mut after = before.clone();
            let out = edit(&mut after, &now)?;
            if after.ip_rules.len() > MAX_ENTRIES || after.domain_rules.len() > MAX_ENTRIES {
                return Err(RestrictionError::Invalid(format!(
                    "at most {MAX_ENTRIES} entries of each kind per scope"
                )));
            }
            if let Some(ip) = guard {
                let compiled = shared::net::ScopePolicy::compile(&after.policy(scope))
                    .map_err(RestrictionError::Invalid)?;
                if !compiled.ip_allowed(ip) {
                    return Err(RestrictionError::WouldLockOut(ip));
                }
            }
            store_diff(
                tx,
                std::slice::from_ref(&before.ip),
                std::slice::from_ref(&after.ip),
            )?;
            store_diff(
                tx,
                std::slice::from_ref(&before.domain),
                std::slice::from_ref(&after.domain),
            )?;
            store_diff(tx, &before.ip_rules, &after.ip_rules)?;
            store_diff(tx, &before.domain_rules, &after.domain_rules)?;
            Event::RestrictionsChanged { tenant: scope }.record(tx, &now)?;
            Ok(out)
        },
    )
    .await
}

/// A new IP entry, as requested.
#[derive(Clone, Debug)]
pub struct NewIpRule {
    /// An address or CIDR block.
    pub ip: String,
    /// The list; `None`: the scope's configured strategy.
    pub strategy: Option<ListType>,
    /// Whether it counts (default: yes).
    pub is_active: Option<bool>,
    /// Free text, at most 1000 characters.
    pub description: Option<String>,
}

/// Add IP entries (`where_` prefixes each entry's error, `ips[3]: `).
pub async fn add_ip_rules(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    new: &[NewIpRule],
    guard: Option<IpAddr>,
) -> Result<Vec<IpRule>, RestrictionError> {
    if new.is_empty() || new.len() > MAX_BULK {
        return Err(RestrictionError::Invalid(format!(
            "ips must hold 1 to {MAX_BULK} entries"
        )));
    }
    let ids: Vec<String> = new
        .iter()
        .map(|_| crate::crypto::new_uuid().to_string())
        .collect();
    change(db, clock, scope, guard, |view, now| {
        let mut added = Vec::with_capacity(new.len());
        for (i, (r, id)) in new.iter().zip(&ids).enumerate() {
            let at = if new.len() > 1 {
                format!("ips[{i}]: ")
            } else {
                String::new()
            };
            let cidr = shared::net::parse_cidr(&r.ip)
                .map_err(|e| RestrictionError::Invalid(format!("{at}{e}")))?;
            let description = r
                .description
                .as_deref()
                .map(|d| crate::model::text::checked("description", d, 1000, false))
                .transpose()?;
            added.push(IpRule {
                id: id.clone(),
                scope: scope.map(str::to_owned),
                ip: cidr.to_string(),
                strategy: r.strategy.unwrap_or(view.ip.strategy),
                is_active: r.is_active.unwrap_or(true),
                description,
                created_at: now.to_owned(),
                updated_at: now.to_owned(),
            });
        }
        view.ip_rules.extend(added.iter().cloned());
        Ok(added)
    })
    .await
}

/// Delete IP entry `id`.
pub async fn delete_ip_rule(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    id: &str,
    guard: Option<IpAddr>,
) -> Result<(), RestrictionError> {
    change(db, clock, scope, guard, |view, _| {
        let before = view.ip_rules.len();
        view.ip_rules.retain(|r| r.id != id);
        if view.ip_rules.len() == before {
            return Err(RestrictionError::NotFound("IP restriction"));
        }
        Ok(())
    })
    .await
}

/// Change the IP configuration (the given fields).
pub async fn set_ip_config(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    strategy: Option<ListType>,
    is_active: Option<bool>,
    guard: Option<IpAddr>,
) -> Result<IpConfig, RestrictionError> {
    change(db, clock, scope, guard, |view, now| {
        if let Some(s) = strategy {
            view.ip.strategy = s;
        }
        if let Some(a) = is_active {
            view.ip.is_active = a;
        }
        view.ip.updated_at = now.to_owned();
        Ok(view.ip.clone())
    })
    .await
}

fn domain_rule(
    scope: Option<&str>,
    id: String,
    raw: &str,
    kind: ListType,
    now: &str,
    at: &str,
) -> Result<DomainRule, RestrictionError> {
    if raw.len() > 255 {
        return Err(RestrictionError::Invalid(format!(
            "{at}a domain is at most 253 characters"
        )));
    }
    let domain = shared::net::normalize_domain_rule(raw)
        .map_err(|e| RestrictionError::Invalid(format!("{at}{e}")))?;
    Ok(DomainRule {
        id,
        scope: scope.map(str::to_owned),
        domain,
        kind,
        created_at: now.to_owned(),
    })
}

/// Add one email-domain entry (a domain listed already in that list is refused).
pub async fn add_domain_rule(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    raw: &str,
    kind: ListType,
) -> Result<DomainRule, RestrictionError> {
    let id = crate::crypto::new_uuid().to_string();
    change(db, clock, scope, None, |view, now| {
        let rule = domain_rule(scope, id.clone(), raw, kind, now, "")?;
        if view
            .domain_rules
            .iter()
            .any(|r| r.domain == rule.domain && r.kind == rule.kind)
        {
            return Err(RestrictionError::Duplicate);
        }
        view.domain_rules.push(rule.clone());
        Ok(rule)
    })
    .await
}

/// Replace every email-domain entry of list `kind` with `raws` (duplicates dropped).
pub async fn replace_domain_rules(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    kind: ListType,
    raws: &[String],
) -> Result<Vec<DomainRule>, RestrictionError> {
    if raws.len() > MAX_BULK {
        return Err(RestrictionError::Invalid(format!(
            "domains must hold at most {MAX_BULK} entries"
        )));
    }
    let ids: Vec<String> = raws
        .iter()
        .map(|_| crate::crypto::new_uuid().to_string())
        .collect();
    change(db, clock, scope, None, |view, now| {
        let mut fresh: Vec<DomainRule> = Vec::with_capacity(raws.len());
        for (i, (d, id)) in raws.iter().zip(&ids).enumerate() {
            let r = domain_rule(scope, id.clone(), d, kind, now, &format!("domains[{i}]: "))?;
            if !fresh.iter().any(|f| f.domain == r.domain) {
                fresh.push(r);
            }
        }
        view.domain_rules.retain(|r| r.kind != kind);
        view.domain_rules.extend(fresh.iter().cloned());
        Ok(fresh)
    })
    .await
}

/// Delete email-domain entry `id`.
pub async fn delete_domain_rule(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    id: &str,
) -> Result<(), RestrictionError> {
    change(db, clock, scope, None, |view, _| {
        let before = view.domain_rules.len();
        view.domain_rules.retain(|r| r.id != id);
        if view.domain_rules.len() == before {
            return Err(RestrictionError::NotFound("Domain restriction"));
        }
        Ok(())
    })
    .await
}

/// Change the email-domain configuration.
pub async fn set_domain_config(
    db: &Db,
    clock: &Clock,
    scope: Option<&str>,
    active: bool,
    list_type: Option<ListType>,
    block_public: Option<bool>,
) -> Result<DomainConfig, RestrictionError> {
    change(db, clock, scope, None, |view, _| {
        view.domain.active = active;
        if let Some(k) = list_type {
            view.domain.list_type = k;
        }
        if let Some(b) = block_public {
            view.domain.block_public_domains = b;
        }
        Ok(view.domain.clone())
    })
    .await
}

/// Which level's rules refused something.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The environment's.
    Environment,
    /// An account's.
    Account,
}

impl Level {
    /// The metric label and log field.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Environment => "environment",
            Level::Account => "account",
        }
    }
}

/// The compiled policy of every scope, cached by the scope's stored generation (bumped in
/// every transaction that changes the scope) and read before the rules: an entry can be
/// labelled older than its rules, never newer, so a change is never missed.
#[derive(Default)]
pub struct Policies {
    cache: dashmap::DashMap<String, (u64, std::sync::Arc<shared::net::ScopePolicy>)>,
}

impl Policies {
    /// The compiled policy of `scope` (the environment when `None`).
    pub fn policy(
        &self,
        db: &Db,
        scope: Option<&str>,
    ) -> Result<std::sync::Arc<shared::net::ScopePolicy>, StoreError> {
        let generation = generation(db, scope)?;
        let key = scope_key(scope);
        if let Some(e) = self.cache.get(key)
            && e.0 == generation
        {
            return Ok(e.1.clone());
        }
        let wire = load_policy(db, scope)?;
        let compiled =
            std::sync::Arc::new(shared::net::ScopePolicy::compile(&wire).map_err(|reason| {
                StoreError::Decode {
                    tree: Tree::IpRules.as_str(),
                    reason,
                }
            })?);
        self.cache
            .insert(key.to_owned(), (generation, compiled.clone()));
        Ok(compiled)
    }

    /// Which level's IP rules refuse `ip`: the environment's, then `tenant`'s.
    pub fn ip_refusal(
        &self,
        db: &Db,
        tenant: Option<&str>,
        ip: std::net::IpAddr,
    ) -> Result<Option<Level>, StoreError> {
        if !self.policy(db, None)?.ip_allowed(ip) {
            return Ok(Some(Level::Environment));
        }
        if let Some(t) = tenant
            && !self.policy(db, Some(t))?.ip_allowed(ip)
        {
            return Ok(Some(Level::Account));
        }
        Ok(None)
    }

    /// Which level's email-domain rules refuse a normalised address: the environment's,
    /// then each of `tenants`'. An address-less user passes.
    pub fn email_refusal(
        &self,
        db: &Db,
        tenants: &[&str],
        email_norm: &str,
    ) -> Result<Option<Level>, StoreError> {
        let Some(domain) = shared::net::email_domain(email_norm) else {
            return Ok(None);
        };
        if !self.policy(db, None)?.domain_allowed(domain) {
            return Ok(Some(Level::Environment));
        }
        for t in tenants {
            if !self.policy(db, Some(t))?.domain_allowed(domain) {
                return Ok(Some(Level::Account));
            }
        }
        Ok(None)
    }
}
