//! User pools (`user-sources/v1*`, `compat-wave2.md` §13): other systems whose users may
//! sign in to Tessera's applications — Auth0, Amazon Cognito and Firebase (their passwords,
//! checked at login by those systems), and any OAuth 2.0 / OpenID Connect provider
//! (`federation`: the hosted sign-in page's buttons and the login box's social routes).
//!
//! Invariants:
//! - A pool applies to the applications in its `appIds` only; at a password login the pools
//!   of the login's application are consulted in `index` order (ties by id), only when the
//!   address has no local password, and the first that accepts decides.
//! - The configuration is stored sealed whole (it carries secrets: `secret`,
//!   `secretAccessKey`, `clientSecret`, `apiKey`, the service account's key); replies show it
//!   without them.
//! - A user a pool accepted is found or created through `social::resolve` (origin
//!   `source:{id}`), placed by the pool's tenant resolver. With `isMigrated` its password,
//!   once the pool accepted it, becomes the user's own (argon2id): the pool is not asked
//!   again. With `syncOnLogin` its name and avatar follow the pool's at each login.
//! - `custom-code` pools are refused (400): Tessera runs no uploaded code — no embeddable
//!   sandbox with file, network, time and memory bounds is among the workspace's crates
//!   (`docs/decisions.md`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::clock::{Clock, rfc3339};
use super::mfa::seal;
use super::social::{Placement, SocialError};
use crate::store::{Db, Record, StoreError, Tree};

/// A pool's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Auth0.
    Auth0,
    /// Amazon Cognito.
    Cognito,
    /// Firebase Authentication.
    Firebase,
    /// Uploaded code (refused).
    CustomCode,
    /// An OAuth 2.0 / OIDC provider.
    Federation,
}

impl Kind {
    /// The path segment and reply `type`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Auth0 => "auth0",
            Kind::Cognito => "cognito",
            Kind::Firebase => "firebase",
            Kind::CustomCode => "custom-code",
            Kind::Federation => "federation",
        }
    }

    /// The configuration fields that are secrets (kept sealed, never answered).
    fn secrets(self) -> &'static [&'static str] {
        match self {
            Kind::Auth0 | Kind::Federation => &["secret"],
            Kind::Cognito => &["secretAccessKey", "clientSecret"],
            Kind::Firebase => &["apiKey", "serviceAccount"],
            Kind::CustomCode => &[],
        }
    }
}

/// How a pool places a new user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tenantResolverType", rename_all = "kebab-case")]
pub enum TenantConfig {
    /// The account id is a field of the pool's profile.
    #[serde(rename_all = "camelCase")]
    Dynamic {
        /// The field.
        tenant_id_field_name: String,
    },
    /// Every user joins one account.
    #[serde(rename_all = "camelCase")]
    Static {
        /// The account.
        tenant_id: String,
    },
    /// Each user gets an account of their own.
    New,
    /// The pool's own notion of account: its profile's `tenantId` field.
    FromSource,
}

/// The settings every pool has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    /// Refresh name and avatar at each login.
    pub sync_on_login: bool,
    /// Import the user (and its password) at the first login.
    pub is_migrated: bool,
    /// Placement of new users.
    pub tenant_config: TenantConfig,
}

/// A pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Kind.
    pub kind: Kind,
    /// Consultation order.
    pub index: f64,
    /// Applications it serves.
    pub app_ids: Vec<String>,
    /// The settings every pool has.
    pub configuration: Common,
    /// The configuration without its secrets (what replies show).
    pub public: Map<String, Value>,
    /// The whole configuration, sealed.
    pub sealed: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Record for Source {
    const TREE: Tree = Tree::UserSources;
    fn key(&self) -> Vec<u8> {
        key(&self.id)
    }
}

fn key(id: &str) -> Vec<u8> {
    format!("source/{id}").into_bytes()
}

impl Source {
    /// Where a first login through this pool puts the person (`claims`: what the pool said).
    pub fn placement_for(&self, claims: &Value) -> Result<Placement, SocialError> {
        let field = match &self.configuration.tenant_config {
            TenantConfig::Static { tenant_id } => return Ok(Placement::Account(tenant_id.clone())),
            TenantConfig::New => return Ok(Placement::NewAccount),
            TenantConfig::Dynamic {
                tenant_id_field_name,
            } => tenant_id_field_name.as_str(),
            TenantConfig::FromSource => "tenantId",
        };
        [
            claims.get(field),
            claims.pointer(&format!("/app_metadata/{field}")),
            claims.pointer(&format!("/user_metadata/{field}")),
        ]
        .into_iter()
        .flatten()
        .find_map(|v| v.as_str())
        .map(|t| Placement::Account(t.to_owned()))
        .ok_or_else(|| {
            SocialError::Invalid(format!(
                "the user pool's profile has no {field} to place the user by"
            ))
        })
    }
}

/// A create or update request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Order.
    pub index: Option<f64>,
    /// Applications (create only; assign/unassign later).
    pub app_ids: Option<Vec<String>>,
    /// The configuration, whole.
    pub configuration: Option<Value>,
}

fn invalid(s: impl Into<String>) -> SocialError {
    SocialError::Invalid(s.into())
}

fn required<'a>(c: &'a Map<String, Value>, field: &str) -> Result<&'a str, SocialError> {
    c.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 4096)
        .ok_or_else(|| invalid(format!("configuration.{field} is required")))
}

/// Check a configuration of `kind`: its common part, and its secrets split off.
fn check(kind: Kind, raw: &Value) -> Result<(Common, Map<String, Value>), SocialError> {
    if kind == Kind::CustomCode {
        return Err(invalid(
            "custom-code user sources are not supported: Tessera runs no uploaded code; use a federation source, or migrate the users (migrations/v1/local/bulk)",
        ));
    }
    let c = raw
        .as_object()
        .ok_or_else(|| invalid("configuration must be an object"))?;
    if raw.to_string().len() > 16 * 1024 {
        return Err(invalid("configuration is larger than 16 KiB"));
    }
    let flag = |f: &str| c.get(f).and_then(Value::as_bool).unwrap_or(false);
    let tenant_config: TenantConfig = match c.get("tenantConfig") {
        Some(t) => serde_json::from_value(t.clone())
            .map_err(|e| invalid(format!("configuration.tenantConfig: {e}")))?,
        None => return Err(invalid("configuration.tenantConfig is required")),
    };
    let allowed: &[&str] = match kind {
        Kind::Firebase => &["static", "new"],
        _ => &["dynamic", "static", "new", "from-source"],
    };
    let name = match &tenant_config {
        TenantConfig::Dynamic {
            tenant_id_field_name,
        } => {
            if tenant_id_field_name.trim().is_empty() || tenant_id_field_name.len() > 128 {
                return Err(invalid("tenantIdFieldName is required"));
            }
            "dynamic"
        }
        TenantConfig::Static { tenant_id } => {
            if tenant_id.trim().is_empty() {
                return Err(invalid("tenantId is required"));
            }
            "static"
        }
        TenantConfig::New => "new",
        TenantConfig::FromSource => "from-source",
    };
    if !allowed.contains(&name) {
        return Err(invalid(format!(
            "a {} source resolves tenants by {}",
            kind.name(),
            allowed.join(" or ")
        )));
    }
    match kind {
        Kind::Auth0 => {
            for f in ["domain", "clientId", "secret"] {
                required(c, f)?;
            }
            let domain = required(c, "domain")?;
            if !domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':')
            {
                return Err(invalid(
                    "configuration.domain is a host name, like tenant.auth0.com",
                ));
            }
        }
        Kind::Cognito => {
            for f in [
                "region",
                "clientId",
                "userPoolId",
                "accessKeyId",
                "secretAccessKey",
            ] {
                required(c, f)?;
            }
            let region = required(c, "region")?;
            if !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(invalid(
                    "configuration.region is an AWS region, like eu-west-1",
                ));
            }
        }
        Kind::Firebase => {
            required(c, "apiKey")?;
            if !c.get("serviceAccount").is_some_and(Value::is_object) {
                return Err(invalid("configuration.serviceAccount is required"));
            }
        }
        Kind::Federation => {
            required(c, "clientId")?;
            required(c, "secret")?;
            match (
                c.get("wellknownUrl").and_then(Value::as_str),
                c.get("oauth2Config"),
            ) {
                (Some(w), _) if !w.trim().is_empty() => {
                    super::social::check_endpoint("wellknownUrl", w.trim())?
                }
                (_, Some(Value::Object(o))) => {
                    for f in ["authorizationUrl", "tokenUrl", "userInfoUrl"] {
                        super::social::check_endpoint(f, required(o, f)?)?;
                    }
                }
                _ => return Err(invalid("configuration needs wellknownUrl or oauth2Config")),
            }
        }
        Kind::CustomCode => {}
    }
    let mut public = c.clone();
    for s in kind.secrets() {
        public.remove(*s);
    }
    Ok((
        Common {
            sync_on_login: flag("syncOnLogin"),
            // A federated person is always a Tessera user once signed in.
            is_migrated: kind == Kind::Federation || flag("isMigrated"),
            tenant_config,
        },
        public,
    ))
}

fn check_apps(db: &Db, default_app: &str, ids: &[String]) -> Result<(), SocialError> {
    if ids.len() > 100 {
        return Err(invalid("at most 100 appIds"));
    }
    for id in ids {
        if super::oauth::client(db, default_app, id)?.is_none() {
            return Err(invalid(format!("application {id} does not exist")));
        }
    }
    Ok(())
}

fn index_of(v: Option<f64>) -> Result<f64, SocialError> {
    match v {
        Some(i) if i.is_finite() && i.abs() < 1e9 => Ok(i),
        Some(_) => Err(invalid("index must be a number")),
        None => Err(invalid("index is required")),
    }
}

/// Create a pool of `kind`.
pub async fn create(
    db: &Db,
    clock: &Clock,
    default_app: &str,
    kind: Kind,
    c: &Change,
) -> Result<Source, SocialError> {
    let raw = c
        .configuration
        .as_ref()
        .ok_or_else(|| invalid("configuration is required"))?;
    let (common, public) = check(kind, raw)?;
    let name = c
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.chars().count() <= 255)
        .ok_or_else(|| invalid("name is required (at most 255 characters)"))?;
    let index = index_of(c.index)?;
    let app_ids = c.app_ids.clone().unwrap_or_default();
    check_apps(db, default_app, &app_ids)?;
    let at = rfc3339(clock.now());
    let source = Source {
        id: crate::crypto::new_uuid().to_string(),
        name: name.to_owned(),
        description: c.description.clone().unwrap_or_default(),
        kind,
        index,
        app_ids,
        configuration: common,
        public,
        sealed: String::new(),
        created_at: at.clone(),
        updated_at: at,
    };
    let fresh = seal::Fresh::new();
    let whole = raw.to_string();
    db.write(|tx| {
        let mut s = source.clone();
        s.sealed = seal::seal(tx, &s.id, whole.as_bytes(), &fresh)?;
        tx.put(&s)?;
        Ok::<_, SocialError>(s)
    })
    .await
}

/// Change pool `id` of `kind` (absent fields stay; a configuration replaces the old one).
pub async fn update(
    db: &Db,
    clock: &Clock,
    kind: Kind,
    id: &str,
    c: &Change,
) -> Result<Source, SocialError> {
    let checked = match &c.configuration {
        Some(raw) => Some((check(kind, raw)?, raw.to_string())),
        None => None,
    };
    if let Some(n) = &c.name
        && (n.trim().is_empty() || n.chars().count() > 255)
    {
        return Err(invalid("name must be 1 to 255 characters"));
    }
    let index = c.index.map(|i| index_of(Some(i))).transpose()?;
    let at = rfc3339(clock.now());
    let fresh = seal::Fresh::new();
    db.write(|tx| {
        let mut s = tx
            .get::<Source>(&key(id))?
            .filter(|s| s.kind == kind)
            .ok_or(SocialError::NotFound)?;
        if let Some(n) = &c.name {
            s.name = n.trim().to_owned();
        }
        if let Some(d) = &c.description {
            s.description = d.clone();
        }
        if let Some(i) = index {
            s.index = i;
        }
        if let Some(((common, public), whole)) = &checked {
            s.configuration = common.clone();
            s.public = public.clone();
            s.sealed = seal::seal(tx, &s.id, whole.as_bytes(), &fresh)?;
        }
        s.updated_at = at.clone();
        tx.put(&s)?;
        Ok(s)
    })
    .await
}

/// One pool.
pub fn get(db: &Db, id: &str) -> Result<Source, SocialError> {
    db.get::<Source>(&key(id))?.ok_or(SocialError::NotFound)
}

/// Every pool, in consultation order.
pub fn all(db: &Db) -> Result<Vec<Source>, StoreError> {
    let mut all = db.scan::<Source>(b"source/")?;
    all.sort_by(|a, b| a.index.total_cmp(&b.index).then(a.id.cmp(&b.id)));
    Ok(all)
}

/// The pools serving application `app`, in consultation order.
pub fn for_app(db: &Db, app: &str) -> Result<Vec<Source>, StoreError> {
    Ok(all(db)?
        .into_iter()
        .filter(|s| s.app_ids.iter().any(|a| a == app))
        .collect())
}

/// Remove a pool (its users stay, signing in otherwise).
pub async fn delete(db: &Db, id: &str) -> Result<(), SocialError> {
    db.write(|tx| {
        if tx.get::<Source>(&key(id))?.is_none() {
            return Err(SocialError::NotFound);
        }
        tx.delete::<Source>(&key(id))?;
        Ok(())
    })
    .await
}

/// Add (`assign`) or take away applications of pool `id`.
pub async fn assign(
    db: &Db,
    default_app: &str,
    id: &str,
    apps: &[String],
    assign: bool,
) -> Result<Source, SocialError> {
    if apps.is_empty() {
        return Err(invalid("appIds must name at least one application"));
    }
    if assign {
        check_apps(db, default_app, apps)?;
    }
    db.write(|tx| {
        let mut s = tx.get::<Source>(&key(id))?.ok_or(SocialError::NotFound)?;
        if assign {
            super::add_unique(&mut s.app_ids, apps);
        } else {
            s.app_ids.retain(|a| !apps.contains(a));
        }
        tx.put(&s)?;
        Ok(s)
    })
    .await
}

/// The whole stored configuration, opened (secrets included) for calling the pool.
pub fn configuration(db: &Db, s: &Source) -> Result<Map<String, Value>, StoreError> {
    let bytes = seal::open(db, &s.id, &s.sealed)?
        .ok_or_else(|| StoreError::Backend("a user source configuration does not open".into()))?;
    match shared::json::from_bytes::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(StoreError::Backend(
            "a user source configuration is not an object".into(),
        )),
    }
}

/// A federation pool as an OAuth flow needs it.
///
/// With `isMigrated` and a password accepted by a pool, the password becomes the user's own:
/// see [`adopt_password`].
pub struct Federation {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub secret: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// PKCE.
    pub use_pkce: bool,
    /// The discovery document (OpenID Connect), if given.
    pub wellknown_url: Option<String>,
    /// Else the endpoints: authorization, token, userinfo.
    pub endpoints: (String, String, String),
}

/// Pool `s` as a federation, if it is one.
pub fn federation(db: &Db, s: &Source) -> Result<Option<Federation>, StoreError> {
    if s.kind != Kind::Federation {
        return Ok(None);
    }
    let c = configuration(db, s)?;
    let text = |m: &Map<String, Value>, f: &str| {
        m.get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let oauth2 = c.get("oauth2Config").and_then(Value::as_object);
    let wellknown_url = c
        .get("wellknownUrl")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(str::to_owned);
    let o = oauth2.cloned().unwrap_or_default();
    let endpoints = (
        text(&o, "authorizationUrl"),
        text(&o, "tokenUrl"),
        text(&o, "userInfoUrl"),
    );
    let scopes: Vec<String> = oauth2
        .and_then(|o| o.get("scopes"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .filter(|v: &Vec<String>| !v.is_empty())
        .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
    Ok(Some(Federation {
        client_id: text(&c, "clientId"),
        secret: text(&c, "secret"),
        scopes,
        use_pkce: c.get("usePkce").and_then(Value::as_bool).unwrap_or(true),
        wellknown_url,
        endpoints,
    }))
}

/// Whether a password is one a pool may be asked about (not empty, not longer than any
/// password Tessera hashes).
pub fn may_ask(password: &str) -> bool {
    !password.is_empty() && password.len() <= crate::hashing::MAX_PASSWORD_BYTES
}

/// Keep `password`, which a migrating pool just accepted, as `user_id`'s own (argon2id) —
/// unless the user has a password by now.
pub async fn adopt_password(
    db: &Db,
    clock: &Clock,
    hasher: &crate::hashing::Hasher,
    user_id: &str,
    password: &str,
) -> Result<super::user::User, SocialError> {
    let hash = crate::hashing::hash(hasher, password.to_owned()).await?;
    let now = clock.unix();
    Ok(super::user::change::update(db, clock, user_id, None, |u| {
        if u.password_hash.is_none() {
            u.set_password(hash.clone(), now);
        }
        Ok(None)
    })
    .await?)
}
