//! Identities from elsewhere: the custom social OAuth providers (tag Custom Social OAuth
//! Provider, `compat-wave2.md` §17) and the one way a person proven by another system — a
//! social provider, a user pool — becomes, or is found as, a Tessera user ([`resolve`]).
//!
//! Invariants:
//! - A provider's secret is stored sealed (`mfa::seal`, the provider id as owner) and never
//!   answered: the public list (`GET sso/custom/v1`, read on every login-box load) and the
//!   management replies carry no secret.
//! - Its endpoints are `https`, or `http` on a loopback host (development), without
//!   credentials or fragments: a token or a code is never sent in clear across a network.
//! - A person is found by the link of their subject at that origin first; else by address,
//!   and then **only a verified address** links: an address the other system does not vouch
//!   for never takes over an existing user (`security.md`: account takeover by an unverified
//!   social email). A first login creates the user (when sign-up is open, or the origin
//!   places users in an account) and links it, in one transaction.

use serde::{Deserialize, Serialize};

use super::clock::{Clock, rfc3339};
use super::mfa::seal;
use super::tenant::Tenant;
use super::user::{self, User};
use crate::store::{Db, Record, StoreError, Tree};

/// Why a provider change or a sign-in from elsewhere did not go through.
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    /// Input that breaks a rule (400).
    #[error("{0}")]
    Invalid(String),
    /// No such provider (404).
    #[error("Provider not found")]
    NotFound,
    /// The address belongs to a user and the other system does not vouch for it (409).
    #[error("An account with this email already exists; sign in with it first")]
    Unverified,
    /// No address to find or create the user by (400).
    #[error("The provider did not share an email address")]
    NoEmail,
    /// Sign-up is closed and the person has no user (403).
    #[error("Sign-up is not allowed")]
    Closed,
    /// The user is locked (403).
    #[error("User is locked")]
    Locked,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A user field out of bounds.
    #[error(transparent)]
    User(#[from] user::UserError),
    /// Hashing a kept password refused or failed.
    #[error(transparent)]
    Password(#[from] crate::hashing::PasswordError),
}

/// A custom OAuth 2.0 provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider {
    /// UUID.
    pub id: String,
    /// The provider's kind as configured (`custom`, or a name the environment chose).
    pub kind: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret, sealed.
    pub sealed_secret: String,
    /// Where the provider sends the browser back.
    pub redirect_url: String,
    /// The provider's authorization endpoint.
    pub authorization_url: String,
    /// Its token endpoint.
    pub token_url: String,
    /// Its userinfo endpoint.
    pub user_info_url: String,
    /// Scopes, space-separated.
    pub scopes: String,
    /// The button's logo.
    pub sso_logo_url: String,
    /// The button's label.
    pub display_name: String,
    /// Offered on the sign-in pages.
    pub active: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for Provider {
    const TREE: Tree = Tree::Social;
    fn key(&self) -> Vec<u8> {
        provider_key(&self.id)
    }
}

fn provider_key(id: &str) -> Vec<u8> {
    format!("provider/{id}").into_bytes()
}

/// `CreateCustomSsoRequestDto` / `UpdateCustomSsoRequestDto` (every field optional on
/// update).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderChange {
    /// Kind.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Client id.
    pub client_id: Option<String>,
    /// Client secret.
    pub secret: Option<String>,
    /// Redirect URL.
    pub redirect_url: Option<String>,
    /// Authorization endpoint.
    pub authorization_url: Option<String>,
    /// Token endpoint.
    pub token_url: Option<String>,
    /// Userinfo endpoint.
    pub user_info_url: Option<String>,
    /// Scopes.
    pub scopes: Option<String>,
    /// Logo.
    pub sso_logo_url: Option<String>,
    /// Label.
    pub display_name: Option<String>,
    /// Offered.
    pub active: Option<bool>,
}

fn invalid(s: impl Into<String>) -> SocialError {
    SocialError::Invalid(s.into())
}

/// An endpoint of another system: absolute, `https` (or `http` on loopback), no credentials,
/// no fragment.
pub fn check_endpoint(field: &str, url: &str) -> Result<(), SocialError> {
    super::oauth::check_uri(field, url).map_err(|e| invalid(e.to_string()))
}

fn short(field: &str, v: &str, max: usize) -> Result<String, SocialError> {
    let v = v.trim();
    if v.chars().count() > max {
        return Err(invalid(format!("{field} must be at most {max} characters")));
    }
    Ok(v.to_owned())
}

impl ProviderChange {
    /// Apply to `p` (every field checked; the secret returned to be sealed).
    fn apply(&self, p: &mut Provider) -> Result<Option<String>, SocialError> {
        if let Some(v) = &self.kind {
            p.kind = short("type", v, 64)?;
        }
        if let Some(v) = &self.client_id {
            p.client_id = short("clientId", v, 512)?;
        }
        for (field, value, slot) in [
            ("redirectUrl", &self.redirect_url, &mut p.redirect_url),
            (
                "authorizationUrl",
                &self.authorization_url,
                &mut p.authorization_url,
            ),
            ("tokenUrl", &self.token_url, &mut p.token_url),
            ("userInfoUrl", &self.user_info_url, &mut p.user_info_url),
        ] {
            if let Some(v) = value {
                check_endpoint(field, v.trim())?;
                *slot = v.trim().to_owned();
            }
        }
        if let Some(v) = &self.scopes {
            p.scopes = short("scopes", v, 1024)?;
        }
        if let Some(v) = &self.sso_logo_url {
            p.sso_logo_url = short("ssoLogoUrl", v, 2048)?;
        }
        if let Some(v) = &self.display_name {
            p.display_name = short("displayName", v, 255)?;
        }
        if let Some(v) = self.active {
            p.active = v;
        }
        if p.client_id.is_empty() {
            return Err(invalid("clientId is required"));
        }
        match &self.secret {
            Some(s) if s.trim().is_empty() || s.len() > 4096 => {
                Err(invalid("secret must be 1 to 4096 characters"))
            }
            Some(s) => Ok(Some(s.trim().to_owned())),
            None => Ok(None),
        }
    }
}

/// Register a provider (every field required, as the spec has it).
pub async fn create(db: &Db, clock: &Clock, c: &ProviderChange) -> Result<Provider, SocialError> {
    for (field, v) in [
        ("type", c.kind.is_some()),
        ("clientId", c.client_id.is_some()),
        ("secret", c.secret.is_some()),
        ("redirectUrl", c.redirect_url.is_some()),
        ("authorizationUrl", c.authorization_url.is_some()),
        ("tokenUrl", c.token_url.is_some()),
        ("userInfoUrl", c.user_info_url.is_some()),
    ] {
        if !v {
            return Err(invalid(format!("{field} is required")));
        }
    }
    let at = rfc3339(clock.now());
    let mut p = Provider {
        id: crate::crypto::new_uuid().to_string(),
        kind: String::new(),
        client_id: String::new(),
        sealed_secret: String::new(),
        redirect_url: String::new(),
        authorization_url: String::new(),
        token_url: String::new(),
        user_info_url: String::new(),
        scopes: "openid email profile".into(),
        sso_logo_url: String::new(),
        display_name: String::new(),
        active: true,
        created_at: at.clone(),
        updated_at: at,
    };
    let secret = c.apply(&mut p)?.unwrap_or_default();
    if p.display_name.is_empty() {
        p.display_name = p.kind.clone();
    }
    let fresh = seal::Fresh::new();
    db.write(|tx| {
        let mut p = p.clone();
        p.sealed_secret = seal::seal(tx, &p.id, secret.as_bytes(), &fresh)?;
        tx.put(&p)?;
        Ok::<_, SocialError>(p)
    })
    .await
}

/// Change a provider (absent fields stay).
pub async fn update(
    db: &Db,
    clock: &Clock,
    id: &str,
    c: &ProviderChange,
) -> Result<Provider, SocialError> {
    let at = rfc3339(clock.now());
    let fresh = seal::Fresh::new();
    db.write(|tx| {
        let mut p = tx
            .get::<Provider>(&provider_key(id))?
            .ok_or(SocialError::NotFound)?;
        if let Some(secret) = c.apply(&mut p)? {
            p.sealed_secret = seal::seal(tx, &p.id, secret.as_bytes(), &fresh)?;
        }
        p.updated_at = at.clone();
        tx.put(&p)?;
        Ok(p)
    })
    .await
}

/// Remove a provider; the users it linked keep their accounts (and sign in otherwise).
pub async fn delete(db: &Db, id: &str) -> Result<(), SocialError> {
    db.write(|tx| {
        if tx.get::<Provider>(&provider_key(id))?.is_none() {
            return Err(SocialError::NotFound);
        }
        tx.delete::<Provider>(&provider_key(id))?;
        Ok(())
    })
    .await
}

/// Every provider, oldest first.
pub fn all(db: &Db) -> Result<Vec<Provider>, StoreError> {
    let mut all = db.scan::<Provider>(b"provider/")?;
    all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(all)
}

/// One provider.
pub fn get(db: &Db, id: &str) -> Result<Provider, SocialError> {
    db.get::<Provider>(&provider_key(id))?
        .ok_or(SocialError::NotFound)
}

/// A provider's client secret, opened to call its token endpoint.
pub fn secret(db: &Db, p: &Provider) -> Result<String, SocialError> {
    let bytes = seal::open(db, &p.id, &p.sealed_secret)?
        .ok_or_else(|| StoreError::Backend("a provider secret does not open".into()))?;
    String::from_utf8(bytes)
        .map_err(|_| StoreError::Backend("a provider secret is not text".into()).into())
}

/// Who another system says signed in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// Its stable id there (`sub`).
    pub subject: String,
    /// The address it gives.
    pub email: Option<String>,
    /// Whether it vouches for the address (`email_verified: true`, nothing less).
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Avatar.
    pub picture: Option<String>,
    /// Everything the other system said (a user pool's `dynamic` tenant resolver reads a
    /// field of it).
    pub claims: serde_json::Value,
}

impl Profile {
    /// From an OIDC userinfo reply or ID token's claims (`sub`, `email`,
    /// `email_verified` — a boolean or the string `"true"` —, `name`, `picture`); other
    /// systems' replies are mapped onto these names by their callers.
    pub fn from_claims(v: &serde_json::Value) -> Option<Profile> {
        let s = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
        };
        let subject = s("sub").or_else(|| {
            v.get("sub")
                .or_else(|| v.get("id"))
                .and_then(|x| x.as_i64())
                .map(|n| n.to_string())
        })?;
        let verified = match v.get("email_verified") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        };
        Some(Profile {
            subject,
            email: s("email"),
            email_verified: verified,
            name: s("name"),
            picture: s("picture"),
            claims: v.clone(),
        })
    }
}

/// Where a first login puts a new user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A new account of its own, as a sign-up (refused when sign-up is closed).
    SignUp,
    /// A new account of its own (a user pool's `new` resolver: the pool decides).
    NewAccount,
    /// The existing account `tenant_id`, with its default roles.
    Account(String),
}

fn link_key(origin: &str, subject: &str) -> Vec<u8> {
    let digest = crate::crypto::hex(&crate::crypto::sha256(subject.as_bytes()));
    format!("link/{origin}/{digest}").into_bytes()
}

/// The user `p` is at `origin` (`custom:{id}`, `source:{id}`): the linked one, else the one
/// with that verified address (then linked), else a new one placed by `placement` (created
/// verified only if the origin vouches for the address). With `sync`, an existing user's
/// name and avatar follow the origin's.
pub async fn resolve(
    db: &Db,
    clock: &Clock,
    origin: &str,
    p: &Profile,
    placement: &Placement,
    sync: bool,
) -> Result<(User, bool), SocialError> {
    let link = link_key(origin, &p.subject);
    let email_norm =
        match &p.email {
            Some(e) => Some(super::email::normalize(e).map_err(|_| {
                SocialError::Invalid("the provider's email is not an address".into())
            })?),
            None => None,
        };
    if let Placement::Account(t) = placement
        && super::tenant::require(db, t).is_err()
    {
        return Err(SocialError::Invalid(format!("account {t} does not exist")));
    }
    let config = super::vendor_config::current(db)?;
    let roles = super::rbac::all_roles(db)?;
    let at = rfc3339(clock.now());
    let new_tenant_id = crate::crypto::new_uuid().to_string();
    let new_tenant_record = crate::crypto::new_uuid().to_string();
    let new_user_id = crate::crypto::new_uuid().to_string();
    db.write(|tx| {
        // 1. The link.
        if let Some(raw) = tx.get_raw(Tree::Social, &link)? {
            let id = String::from_utf8_lossy(&raw).into_owned();
            if let Some(mut u) = tx.get::<User>(id.as_bytes())? {
                if u.is_locked {
                    return Err(SocialError::Locked);
                }
                if sync {
                    follow(&mut u, p);
                    tx.put(&u)?;
                }
                return Ok((u, false));
            }
            // Its user is gone: the link goes too, and the person is new again.
            tx.delete_raw(Tree::Social, &link)?;
        }
        let norm = email_norm.clone().ok_or(SocialError::NoEmail)?;
        // 2. The address, only when vouched for.
        if let Some(owner) = user::email_owner(tx, &norm)? {
            if !p.email_verified {
                return Err(SocialError::Unverified);
            }
            let mut u = tx
                .get::<User>(owner.as_bytes())?
                .ok_or(StoreError::Backend("an address index names no user".into()))?;
            if u.is_locked {
                return Err(SocialError::Locked);
            }
            if sync {
                follow(&mut u, p);
            }
            // The origin proved the address: it is verified from now on.
            u.verified = true;
            tx.put(&u)?;
            tx.put_raw(Tree::Social, &link, u.id.as_bytes())?;
            return Ok((u, false));
        }
        // 3. A new user.
        let display = p.email.clone().unwrap_or_default();
        let (tenant_id, role_ids) = match placement {
            Placement::SignUp | Placement::NewAccount => {
                if *placement == Placement::SignUp && !config.allow_signups {
                    return Err(SocialError::Closed);
                }
                let first: Vec<String> = roles
                    .iter()
                    .filter(|r| r.first_user_role && r.tenant_id.is_none())
                    .map(|r| r.id.clone())
                    .collect();
                let tenant = Tenant {
                    id: new_tenant_record.clone(),
                    tenant_id: new_tenant_id.clone(),
                    name: display.clone(),
                    metadata: serde_json::Map::new(),
                    profile: Default::default(),
                    created_at: at.clone(),
                    updated_at: at.clone(),
                };
                tx.put(&tenant)?;
                (new_tenant_id.clone(), first)
            }
            Placement::Account(t) => (t.clone(), super::grant::default_role_ids(&roles, t)),
        };
        let mut u = User::new_member(&display, norm.clone(), &tenant_id, role_ids, &at);
        u.id = new_user_id.clone();
        u.verified = p.email_verified;
        follow(&mut u, p);
        tx.put(&u)?;
        tx.put_raw(Tree::Social, &link, u.id.as_bytes())?;
        Ok((u, true))
    })
    .await
}

fn follow(u: &mut User, p: &Profile) {
    if let Some(n) = p.name.as_deref().filter(|n| n.chars().count() <= 255) {
        u.name = n.to_owned();
    }
    if let Some(pic) = p.picture.as_deref().filter(|x| x.len() <= 2048) {
        u.profile_picture_url = Some(pic.to_owned());
    }
}

/// The users first placed, or linked, through `origin` (`source:{id}`): their ids.
pub fn linked_users(db: &Db, origin: &str) -> Result<Vec<String>, StoreError> {
    let prefix = format!("link/{origin}/");
    let mut ids: Vec<String> = db
        .scan_raw(Tree::Social, prefix.as_bytes())?
        .into_iter()
        .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Whether the `state` a provider sent back is the one kept for this browser (constant
/// time; an empty one never is).
pub fn same_state(kept: &str, returned: &str) -> bool {
    !returned.is_empty() && crate::crypto::ct_eq(kept.as_bytes(), returned.as_bytes())
}
