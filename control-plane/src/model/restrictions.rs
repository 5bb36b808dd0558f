//! IP and email-domain restrictions, per scope (the environment, or one account): their
//! configurations and entries as stored, and the active policy derived from them — the wire
//! form pushed to sidecars and compiled with the one `shared::net::ScopePolicy`.

use serde::{Deserialize, Serialize};
use shared::wire::{self, ListType, ScopeRestrictions};

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

fn generation_key(scope: Option<&str>) -> Vec<u8> {
    format!("gen/{}", scope_key(scope)).into_bytes()
}

/// How many times the scope's restrictions have changed (0: never).
pub fn generation(db: &Db, scope: Option<&str>) -> Result<u64, StoreError> {
    Ok(db
        .get_raw(Tree::RestrictionConfigs, &generation_key(scope))?
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes))
}

/// Count a change of the scope, inside its transaction.
pub fn bump_generation(tx: &mut Tx<'_>, scope: Option<&str>) -> Result<(), StoreError> {
    let key = generation_key(scope);
    let n = tx
        .get_raw(Tree::RestrictionConfigs, &key)?
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes);
    tx.put_raw(Tree::RestrictionConfigs, &key, &(n + 1).to_be_bytes())
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
    bump_generation(tx, Some(t))
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
