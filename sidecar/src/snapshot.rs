//! The sidecar's state: one immutable [`Snapshot`] (keys, policy) swapped whole through an
//! `ArcSwap`, and the [`Revocations`] sets, updated in place by deltas. Everything expensive
//! (decoding keys into verifier inputs, validating) happens here, when a message arrives —
//! never on the request path.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::DashMap;
use shared::wire::{self, KeyState, Policy, PublicKey, Revocation, RevocationKind};

/// A verification key, decoded and parsed once (its Montgomery constants computed here, not
/// per token).
pub struct VerifyKey {
    /// The RS256 (PKCS#1 v1.5, SHA-256, 2048–8192 bits) verifier of this key.
    pub key: ParsedPublicKey,
    /// Its state (a `next` key verifies too: it is published before it signs).
    pub state: KeyState,
    /// The wire form (persistence).
    pub wire: PublicKey,
}

/// Keys and policy at one version.
pub struct Snapshot {
    /// State version.
    pub version: u64,
    /// The control plane's epoch the version belongs to.
    pub epoch: String,
    /// Keys by `kid` (shared between snapshots that do not change them).
    pub keys: Arc<HashMap<String, VerifyKey>>,
    /// Policy flags.
    pub policy: Policy,
    /// Compiled restrictions.
    pub restrictions: Arc<Restrictions>,
}

/// One scope's restrictions: compiled for lookups, and as received (persistence).
pub struct CompiledScope {
    /// For lookups.
    pub policy: shared::net::ScopePolicy,
    /// As received.
    pub wire: shared::wire::ScopeRestrictions,
}

/// Compiled restrictions: the environment's, and each account's by id (looked up with the
/// token's borrowed `tenantId`, no allocation).
#[derive(Clone, Default)]
pub struct Restrictions {
    /// The environment's.
    pub environment: Option<Arc<CompiledScope>>,
    /// Each account's.
    pub accounts: HashMap<String, Arc<CompiledScope>>,
}

impl Restrictions {
    /// Whether no scope has any.
    pub fn is_empty(&self) -> bool {
        self.environment.is_none() && self.accounts.is_empty()
    }

    /// The account's, if any.
    pub fn account(&self, tenant: &str) -> Option<&CompiledScope> {
        self.accounts.get(tenant).map(|c| &**c)
    }

    /// Every scope in wire form (persistence).
    pub fn to_wire(&self) -> Vec<shared::wire::ScopeRestrictions> {
        self.environment
            .iter()
            .chain(self.accounts.values())
            .map(|c| c.wire.clone())
            .collect()
    }
}

fn compile_scopes(
    base: &Restrictions,
    scopes: &[shared::wire::ScopeRestrictions],
) -> Result<Restrictions, BuildError> {
    let mut out = base.clone();
    for s in scopes {
        let p = shared::net::ScopePolicy::compile(s)
            .map_err(|e| BuildError::Invalid(format!("restrictions: {e}")))?;
        let compiled = (!p.is_empty()).then(|| {
            Arc::new(CompiledScope {
                policy: p,
                wire: s.clone(),
            })
        });
        match (&s.tenant_id, compiled) {
            (None, c) => out.environment = c,
            (Some(t), Some(c)) => {
                out.accounts.insert(t.clone(), c);
            }
            (Some(t), None) => {
                out.accounts.remove(t);
            }
        }
    }
    Ok(out)
}

/// Why a message was refused.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A key is unusable.
    #[error("key {kid}: {reason}")]
    Key {
        /// The key id.
        kid: String,
        /// Why.
        reason: &'static str,
    },
    /// Something else is invalid.
    #[error("{0}")]
    Invalid(String),
}

fn decode_key(k: &PublicKey) -> Result<VerifyKey, BuildError> {
    let bad = |reason| BuildError::Key {
        kid: k.kid.clone(),
        reason,
    };
    if k.alg != "RS256" {
        return Err(bad("only RS256 keys are accepted"));
    }
    if k.kid.is_empty() || k.kid.len() > 256 {
        return Err(bad("kid must be 1-256 characters"));
    }
    let n = URL_SAFE_NO_PAD
        .decode(&k.n)
        .map_err(|_| bad("modulus is not base64url"))?;
    let e = URL_SAFE_NO_PAD
        .decode(&k.e)
        .map_err(|_| bad("exponent is not base64url"))?;
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    if !(2048..=8192).contains(&bits) {
        return Err(bad("modulus must be 2048-8192 bits"));
    }
    if e.is_empty() || e.len() > 8 {
        return Err(bad("exponent out of range"));
    }
    let key = RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .map_err(|_| bad("not a valid RSA public key"))?;
    Ok(VerifyKey {
        key,
        state: k.state,
        wire: k.clone(),
    })
}

/// Build the key table, refusing the whole set if any key is unusable or duplicated.
pub fn build_keys(keys: &[PublicKey]) -> Result<HashMap<String, VerifyKey>, BuildError> {
    let mut out = HashMap::with_capacity(keys.len());
    for k in keys {
        if out.insert(k.kid.clone(), decode_key(k)?).is_some() {
            return Err(BuildError::Invalid(format!("duplicate key id {}", k.kid)));
        }
    }
    if keys.len() > 64 {
        return Err(BuildError::Invalid("more than 64 keys".into()));
    }
    Ok(out)
}

/// Check a policy.
pub fn check_policy(p: &Policy) -> Result<(), BuildError> {
    if p.issuer.is_empty() || p.audience.is_empty() {
        return Err(BuildError::Invalid(
            "policy needs an issuer and an audience".into(),
        ));
    }
    if !(1..=10 * 365 * 86_400).contains(&p.access_token_ttl) {
        return Err(BuildError::Invalid("access token ttl out of range".into()));
    }
    Ok(())
}

/// Check a revocation entry.
pub fn check_revocation(r: &Revocation) -> Result<(), BuildError> {
    let tenant_ok = match (r.kind, &r.tenant_id) {
        (RevocationKind::UserInTenant, None) => false,
        (RevocationKind::UserInTenant | RevocationKind::Role, Some(t)) => {
            !t.is_empty() && t.len() <= 512
        }
        (_, Some(_)) => false,
        (_, None) => true,
    };
    let ok = tenant_ok && !r.id.is_empty() && r.id.len() <= 512 && r.expires_at >= r.not_before;
    if ok {
        Ok(())
    } else {
        Err(BuildError::Invalid(format!(
            "invalid revocation entry {:?}",
            r.kind
        )))
    }
}

/// `(not_before, expires_at)`.
type Window = (i64, i64);

/// Key -> entries scoped to an account (or to every account).
type Scoped = DashMap<Box<str>, Vec<(Option<Box<str>>, Window)>>;

fn merge(a: Window, b: Window) -> Window {
    (a.0.max(b.0), a.1.max(b.1))
}

/// Live revocations, each kind in its own concurrent map so a request looks up by borrowed
/// `&str` without building keys.
#[derive(Default)]
pub struct Revocations {
    sessions: DashMap<Box<str>, Window>,
    tokens: DashMap<Box<str>, Window>,
    users: DashMap<Box<str>, Window>,
    tenants: DashMap<Box<str>, Window>,
    /// user id -> (tenant id, window)
    user_tenants: DashMap<Box<str>, Vec<(Box<str>, Window)>>,
    /// role key -> (tenant or every tenant, window)
    roles: Scoped,
    permissions: DashMap<Box<str>, Window>,
}

fn put(map: &DashMap<Box<str>, Window>, id: &str, w: Window) {
    map.entry(id.into())
        .and_modify(|cur| *cur = merge(*cur, w))
        .or_insert(w);
}

fn put_scoped(map: &Scoped, id: &str, scope: Option<&str>, w: Window) {
    let mut e = map.entry(id.into()).or_default();
    match e.iter_mut().find(|(s, _)| s.as_deref() == scope) {
        Some((_, cur)) => *cur = merge(*cur, w),
        None => e.push((scope.map(Into::into), w)),
    }
}

/// What a token carries that revocations can match.
pub struct TokenFacts<'a> {
    /// `sid`.
    pub session: Option<&'a str>,
    /// `jti` or access-token id.
    pub token_id: Option<&'a str>,
    /// The user.
    pub user: Option<&'a str>,
    /// The account.
    pub tenant: &'a str,
    /// Role keys.
    pub roles: &'a [String],
    /// Permission keys.
    pub permissions: &'a [String],
    /// `iat`.
    pub issued_at: i64,
}

impl Revocations {
    /// Add (or widen) an entry.
    pub fn insert(&self, r: &Revocation) {
        let w = (r.not_before, r.expires_at);
        match r.kind {
            RevocationKind::Session => put(&self.sessions, &r.id, w),
            RevocationKind::Token => put(&self.tokens, &r.id, w),
            RevocationKind::User => put(&self.users, &r.id, w),
            RevocationKind::Tenant => put(&self.tenants, &r.id, w),
            RevocationKind::Permission => put(&self.permissions, &r.id, w),
            RevocationKind::UserInTenant => {
                let tenant = r.tenant_id.as_deref().unwrap_or_default();
                let mut e = self.user_tenants.entry(r.id.as_str().into()).or_default();
                match e.iter_mut().find(|(t, _)| &**t == tenant) {
                    Some((_, cur)) => *cur = merge(*cur, w),
                    None => e.push((tenant.into(), w)),
                }
            }
            RevocationKind::Role => put_scoped(&self.roles, &r.id, r.tenant_id.as_deref(), w),
        }
    }

    /// Replace everything with `entries` (a full snapshot): new entries first, then the
    /// ones absent from it are dropped, so no live revocation is ever missing in between.
    pub fn replace(&self, entries: &[Revocation]) {
        for r in entries {
            self.insert(r);
        }
        let fresh = Revocations::default();
        for r in entries {
            fresh.insert(r);
        }
        fn keep<V>(map: &DashMap<Box<str>, V>, other: &DashMap<Box<str>, V>) {
            map.retain(|k, _| other.contains_key(k));
        }
        keep(&self.sessions, &fresh.sessions);
        keep(&self.tokens, &fresh.tokens);
        keep(&self.users, &fresh.users);
        keep(&self.tenants, &fresh.tenants);
        keep(&self.user_tenants, &fresh.user_tenants);
        keep(&self.roles, &fresh.roles);
        keep(&self.permissions, &fresh.permissions);
    }

    /// Drop entries that can no longer affect a valid token.
    pub fn sweep(&self, now: i64) {
        let live = |w: &Window| w.1 >= now;
        self.sessions.retain(|_, w| live(w));
        self.tokens.retain(|_, w| live(w));
        self.users.retain(|_, w| live(w));
        self.tenants.retain(|_, w| live(w));
        self.permissions.retain(|_, w| live(w));
        self.user_tenants.retain(|_, v| {
            v.retain(|(_, w)| live(w));
            !v.is_empty()
        });
        self.roles.retain(|_, v| {
            v.retain(|(_, w)| live(w));
            !v.is_empty()
        });
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.sessions.len()
            + self.tokens.len()
            + self.users.len()
            + self.tenants.len()
            + self.permissions.len()
            + self.user_tenants.iter().map(|e| e.len()).sum::<usize>()
            + self.roles.iter().map(|e| e.len()).sum::<usize>()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether any entry voids a token with these facts. Session entries void whatever was
    /// issued; the others void what was issued at or before their time.
    pub fn voids(&self, t: &TokenFacts<'_>) -> bool {
        let before = |w: &Window| t.issued_at <= w.0;
        // A token entry voids what was issued at or before it: every JWT of a deleted token,
        // and those of a token whose rights were reduced (its next ones are issued later).
        if t.session.is_some_and(|s| self.sessions.contains_key(s))
            || t.token_id
                .is_some_and(|s| self.tokens.get(s).is_some_and(|w| before(&w)))
            || self.tenants.get(t.tenant).is_some_and(|w| before(&w))
        {
            return true;
        }
        if let Some(u) = t.user {
            if self.users.get(u).is_some_and(|w| before(&w)) {
                return true;
            }
            if let Some(v) = self.user_tenants.get(u)
                && v.iter().any(|(tn, w)| &**tn == t.tenant && before(w))
            {
                return true;
            }
        }
        if !self.roles.is_empty()
            && t.roles.iter().any(|r| {
                self.roles.get(r.as_str()).is_some_and(|v| {
                    v.iter().any(|(scope, w)| {
                        scope.as_deref().is_none_or(|s| s == t.tenant) && before(w)
                    })
                })
            })
        {
            return true;
        }
        !self.permissions.is_empty()
            && t.permissions
                .iter()
                .any(|p| self.permissions.get(p.as_str()).is_some_and(|w| before(&w)))
    }

    /// Every entry in wire form (persistence).
    pub fn to_wire(&self) -> Vec<Revocation> {
        let mut out = Vec::with_capacity(self.len());
        let one = |kind, id: &str, tenant: Option<&str>, w: &Window| Revocation {
            kind,
            id: id.to_owned(),
            tenant_id: tenant.map(str::to_owned),
            not_before: w.0,
            expires_at: w.1,
        };
        for (kind, map) in [
            (RevocationKind::Session, &self.sessions),
            (RevocationKind::Token, &self.tokens),
            (RevocationKind::User, &self.users),
            (RevocationKind::Tenant, &self.tenants),
            (RevocationKind::Permission, &self.permissions),
        ] {
            out.extend(map.iter().map(|e| one(kind, e.key(), None, e.value())));
        }
        for e in self.user_tenants.iter() {
            out.extend(
                e.value()
                    .iter()
                    .map(|(t, w)| one(RevocationKind::UserInTenant, e.key(), Some(t), w)),
            );
        }
        for e in self.roles.iter() {
            out.extend(
                e.value()
                    .iter()
                    .map(|(t, w)| one(RevocationKind::Role, e.key(), t.as_deref(), w)),
            );
        }
        out
    }
}

/// Active access tokens by id: immutable, part of the [`crate::view::View`], replaced whole
/// when the control plane resends the set.
#[derive(Default)]
pub struct AccessTokens {
    map: HashMap<Box<str>, Arc<wire::AccessTokenRecord>>,
}

impl AccessTokens {
    /// The set of `records` (checked by [`check_access_token`] before).
    pub fn of(records: &[wire::AccessTokenRecord]) -> Self {
        AccessTokens {
            map: records
                .iter()
                .map(|r| (r.id.as_str().into(), Arc::new(r.clone())))
                .collect(),
        }
    }

    /// The record of an active token.
    pub fn get(&self, id: &str) -> Option<Arc<wire::AccessTokenRecord>> {
        self.map.get(id).cloned()
    }

    /// Every record (persistence).
    pub fn to_wire(&self) -> Vec<wire::AccessTokenRecord> {
        self.map.values().map(|r| (**r).clone()).collect()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Check an access-token record: an address it carries must be normalised (its domain is
/// matched against the email-domain rules as sent).
pub fn check_access_token(r: &wire::AccessTokenRecord) -> Result<(), BuildError> {
    let domain_ok = match r.email.as_deref() {
        None => true,
        Some(e) => shared::net::email_domain(e)
            .is_some_and(|d| shared::net::normalize_domain(d).as_deref() == Ok(d)),
    };
    if r.id.is_empty() || !domain_ok {
        return Err(BuildError::Invalid(format!(
            "invalid access-token record {:?}",
            r.id
        )));
    }
    Ok(())
}

/// Build a snapshot from a full wire snapshot's keys and policy.
pub fn from_wire(s: &wire::Snapshot) -> Result<Snapshot, BuildError> {
    check_policy(&s.policy)?;
    for r in &s.revocations {
        check_revocation(r)?;
    }
    for r in &s.access_tokens {
        check_access_token(r)?;
    }
    Ok(Snapshot {
        version: s.version,
        epoch: s.epoch.clone(),
        keys: Arc::new(build_keys(&s.keys)?),
        policy: s.policy.clone(),
        restrictions: Arc::new(compile_scopes(&Restrictions::default(), &s.restrictions)?),
    })
}

/// Apply a delta's keys and policy on top of `cur`, giving the next snapshot (or `cur`'s
/// contents again when the delta changes neither).
pub fn next(cur: &Snapshot, d: &wire::Delta) -> Result<Snapshot, BuildError> {
    if let Some(p) = &d.policy {
        check_policy(p)?;
    }
    for r in &d.revocations {
        check_revocation(r)?;
    }
    for r in d.access_tokens.iter().flatten() {
        check_access_token(r)?;
    }
    let keys = match &d.keys {
        Some(k) => Arc::new(build_keys(k)?),
        None => cur.keys.clone(),
    };
    let restrictions = if d.restrictions.is_empty() {
        cur.restrictions.clone()
    } else {
        Arc::new(compile_scopes(&cur.restrictions, &d.restrictions)?)
    };
    Ok(Snapshot {
        version: d.version,
        epoch: cur.epoch.clone(),
        keys,
        policy: d.policy.clone().unwrap_or_else(|| cur.policy.clone()),
        restrictions,
    })
}

/// The persisted form of the whole state.
pub fn to_wire(
    s: &Snapshot,
    revocations: &Revocations,
    access_tokens: &AccessTokens,
    issued_at: i64,
) -> wire::Snapshot {
    let mut keys: Vec<PublicKey> = s.keys.values().map(|k| k.wire.clone()).collect();
    keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    wire::Snapshot {
        protocol: wire::PROTOCOL,
        version: s.version,
        epoch: s.epoch.clone(),
        issued_at,
        keys,
        policy: s.policy.clone(),
        revocations: revocations.to_wire(),
        restrictions: s.restrictions.to_wire(),
        access_tokens: access_tokens.to_wire(),
    }
}
