//! The OAuth 2.0 / OpenID Connect authorization server's state (hosted login): the
//! environment's applications as clients, and authorization codes (RFC 6749 §4.1 with PKCE,
//! RFC 7636). Invariants:
//!
//! - A client's redirect URIs are absolute, without fragment, `https` or `http` on a loopback
//!   host; a code is handed out only to a redirect URI registered, exactly, for its client
//!   (deciding that is [`Client::redirects_to`], the one comparison).
//! - The default application (the environment's client id) always exists; any other client
//!   exists once registered.
//! - A code is stored only as SHA-256, lives [`CODE_TTL`] seconds, and is redeemed at most once,
//!   inside a transaction, only by its client, with its redirect URI and the verifier whose
//!   S256 is its challenge. Any mismatch burns it. A second redemption ends the session the
//!   first one opened (RFC 6749 §4.1.2), which every sidecar then refuses.

use serde::{Deserialize, Serialize};

use crate::crypto::{b64url, ct_eq, hex, random_bytes, sha256};
use crate::model::clock::{Clock, UnixSecs, rfc3339};
use crate::model::session::{self, Session};
use crate::store::{Db, Record, StoreError, Tree};

/// How long a code can be redeemed, seconds.
pub const CODE_TTL: i64 = 60;
const MAX_URIS: usize = 20;
const MAX_URI_LEN: usize = 2000;
const SWEEP: usize = 16;

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// No such client.
    #[error("no such application")]
    NotFound,
    /// The code is unknown, expired, already used, or bound to something else.
    #[error("the authorization code is invalid, expired or already used")]
    BadCode,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An application as an OAuth client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    /// The client id.
    pub id: String,
    /// A display name.
    pub name: String,
    /// Where codes may be sent (exact match).
    pub redirect_uris: Vec<String>,
    /// Where a logout may send the browser (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// The browser origins the application's pages call from (CORS and the session cookie,
    /// beside the environment's own list), normalised.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl Record for Client {
    const TREE: Tree = Tree::OAuth;
    fn key(&self) -> Vec<u8> {
        client_key(&self.id)
    }
}

fn client_key(id: &str) -> Vec<u8> {
    format!("client/{id}").into_bytes()
}

impl Client {
    /// Whether `uri` is one of the registered redirect URIs, to the character.
    pub fn redirects_to(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|u| u == uri)
    }

    /// Whether `uri` is one of the registered post-logout URIs, to the character.
    pub fn logs_out_to(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }
}

/// A registered URI's rules: absolute, no fragment, no credentials, `https`, or `http` on a
/// loopback host (RFC 8252 §7.3; RFC 6749 §3.1.2).
pub fn check_uri(field: &str, uri: &str) -> Result<(), OAuthError> {
    let bad = |why: &str| OAuthError::Invalid(format!("{field}: {why}"));
    if uri.is_empty() || uri.len() > MAX_URI_LEN {
        return Err(bad("a URI of 1 to 2000 characters"));
    }
    let u = url::Url::parse(uri).map_err(|_| bad("not an absolute URI"))?;
    if u.fragment().is_some() {
        return Err(bad("a redirect URI has no fragment"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("a redirect URI carries no credentials"));
    }
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad("a redirect URI names a host")),
    };
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad("https, or http on a loopback host")),
    }
}

/// The client `id`: the registered record, or the default application (the environment's
/// client id) with nothing registered yet.
pub fn client(db: &Db, default_id: &str, id: &str) -> Result<Option<Client>, StoreError> {
    if let Some(c) = db.get::<Client>(&client_key(id))? {
        return Ok(Some(c));
    }
    Ok((id == default_id).then(|| Client {
        id: id.to_owned(),
        name: "Default application".into(),
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        allowed_origins: Vec::new(),
    }))
}

/// Every client: the default application first.
pub fn clients(db: &Db, default_id: &str) -> Result<Vec<Client>, StoreError> {
    let mut all = db.scan::<Client>(b"client/")?;
    if !all.iter().any(|c| c.id == default_id)
        && let Some(d) = client(db, default_id, default_id)?
    {
        all.push(d);
    }
    all.sort_by_key(|c| (c.id != default_id, c.id.clone()));
    Ok(all)
}

/// Register or replace a client (every URI checked first; nothing changes on a bad one).
pub async fn put_client(db: &Db, c: Client) -> Result<Client, OAuthError> {
    let id_ok = !c.id.is_empty()
        && c.id.len() <= 128
        && c.id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
    if !id_ok {
        return Err(OAuthError::Invalid(
            "id: 1 to 128 letters, digits, '-', '_' or '.'".into(),
        ));
    }
    if c.name.chars().count() > 200 {
        return Err(OAuthError::Invalid("name: at most 200 characters".into()));
    }
    for (field, list) in [
        ("redirectUris", &c.redirect_uris),
        ("postLogoutRedirectUris", &c.post_logout_redirect_uris),
    ] {
        if list.len() > MAX_URIS {
            return Err(OAuthError::Invalid(format!(
                "{field}: at most {MAX_URIS} URIs"
            )));
        }
        for u in list {
            check_uri(field, u)?;
        }
    }
    if c.allowed_origins.len() > MAX_URIS {
        return Err(OAuthError::Invalid(format!(
            "allowedOrigins: at most {MAX_URIS} origins"
        )));
    }
    let mut c = c;
    let mut origins = Vec::with_capacity(c.allowed_origins.len());
    for o in &c.allowed_origins {
        let n = crate::config::normalize_origin(o).ok_or_else(|| {
            OAuthError::Invalid(format!(
                "allowedOrigins: {o:?} is not an origin (scheme://host[:port])"
            ))
        })?;
        if !origins.contains(&n) {
            origins.push(n);
        }
    }
    c.allowed_origins = origins;
    db.write(|tx| {
        tx.put(&c)?;
        let mut all = tx.get::<Origins>(ORIGINS)?.unwrap_or_default();
        all.by_client
            .insert(c.id.clone(), c.allowed_origins.clone());
        tx.put(&all)?;
        Ok::<_, OAuthError>(c.clone())
    })
    .await
}

const ORIGINS: &[u8] = b"origins";

/// Every application's allowed origins in one record, kept in the transaction that registers
/// or removes the application (so no concurrent change is lost and one read answers CORS).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Origins {
    by_client: std::collections::BTreeMap<String, Vec<String>>,
}

impl Record for Origins {
    const TREE: Tree = Tree::OAuth;
    fn key(&self) -> Vec<u8> {
        ORIGINS.to_vec()
    }
}

/// Whether `origin` (normalised) is one a registered application's pages call from.
pub fn application_origin(db: &Db, origin: &str) -> Result<bool, StoreError> {
    Ok(db
        .get::<Origins>(ORIGINS)?
        .is_some_and(|o| o.by_client.values().flatten().any(|x| x == origin)))
}

/// Remove a registered client (its codes stop being redeemable: the client is looked up).
pub async fn delete_client(db: &Db, id: &str) -> Result<(), OAuthError> {
    db.write(|tx| {
        if tx.get::<Client>(&client_key(id))?.is_none() {
            return Err(OAuthError::NotFound);
        }
        tx.delete::<Client>(&client_key(id))?;
        if let Some(mut all) = tx.get::<Origins>(ORIGINS)? {
            all.by_client.remove(id);
            tx.put(&all)?;
        }
        Ok(())
    })
    .await
}

/// How the hosted pages look and where they may be framed: the environment's branding.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Branding {
    /// The name the pages show (title and heading); empty: none.
    #[serde(default)]
    pub name: String,
    /// A logo, `https` (or loopback `http`) only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// The accent colour, `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<String>,
    /// Origins that may frame the pages (CSP `frame-ancestors`); empty: none may.
    #[serde(default)]
    pub frame_ancestors: Vec<String>,
}

impl Record for Branding {
    const TREE: Tree = Tree::OAuth;
    fn key(&self) -> Vec<u8> {
        b"branding".to_vec()
    }
}

/// The branding in force (none by default).
pub fn branding(db: &Db) -> Result<Branding, StoreError> {
    Ok(db.get::<Branding>(b"branding")?.unwrap_or_default())
}

/// Replace the branding (every field checked first; nothing changes on a bad one).
pub async fn set_branding(db: &Db, b: Branding) -> Result<Branding, OAuthError> {
    let bad = |m: &str| OAuthError::Invalid(m.to_owned());
    if b.name.chars().count() > 100 || b.name.chars().any(char::is_control) {
        return Err(bad("name: at most 100 characters, no control characters"));
    }
    if let Some(u) = &b.logo_url {
        check_uri("logoUrl", u)?;
    }
    if let Some(c) = &b.primary_color {
        let hex = c.strip_prefix('#').unwrap_or_default();
        if hex.len() != 6 || !hex.bytes().all(|x| x.is_ascii_hexdigit()) {
            return Err(bad("primaryColor: #rrggbb"));
        }
    }
    if b.frame_ancestors.len() > 10 {
        return Err(bad("frameAncestors: at most 10 origins"));
    }
    for o in &b.frame_ancestors {
        check_uri("frameAncestors", o)?;
        let u = url::Url::parse(o).map_err(|_| bad("frameAncestors: an origin"))?;
        if u.path() != "/"
            || u.query().is_some()
            || !o
                .trim_end_matches('/')
                .eq(&u.origin().ascii_serialization())
        {
            return Err(bad("frameAncestors: origins only (scheme://host[:port])"));
        }
    }
    db.write(|tx| {
        tx.put(&b)?;
        Ok::<_, OAuthError>(b.clone())
    })
    .await
}

/// What a code stands for: a signed-in user, for one client and redirect URI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The client.
    pub client_id: String,
    /// The redirect URI the code was sent to.
    pub redirect_uri: String,
    /// The PKCE challenge (S256, base64url).
    pub challenge: String,
    /// The OpenID Connect nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// The scopes granted (space separated).
    pub scope: String,
    /// The user.
    pub user_id: String,
    /// The account.
    pub tenant_id: String,
    /// When the user authenticated (the hosted session's start), Unix seconds.
    pub auth_time: UnixSecs,
    /// The methods beyond the first factor that proved that login (RFC 8176), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// A stored code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Code {
    digest: String,
    grant: Grant,
    expires_at: UnixSecs,
    /// The session its redemption opened (set once redeemed).
    redeemed: Option<String>,
}

impl Record for Code {
    const TREE: Tree = Tree::OAuth;
    fn key(&self) -> Vec<u8> {
        code_key(&self.digest)
    }
}

fn code_key(digest: &str) -> Vec<u8> {
    format!("code/{digest}").into_bytes()
}

/// When a code may be swept: `<expiry, 20 digits>/<digest>` in a tree of their own, so the
/// oldest come first and a sweep reads nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Due {
    expires_at: UnixSecs,
    digest: String,
}

impl Record for Due {
    const TREE: Tree = Tree::OAuthDue;
    fn key(&self) -> Vec<u8> {
        format!("{:020}/{}", self.expires_at.max(0), self.digest).into_bytes()
    }
}

fn digest(code: &str) -> String {
    hex(&sha256(code.as_bytes()))
}

/// The S256 transformation of a PKCE verifier (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
}

/// Whether `s` is a PKCE verifier or S256 challenge by RFC 7636 §4.1: 43 to 128 unreserved
/// characters.
pub fn pkce_shaped(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether a browser binding (a form's CSRF token against its cookie) is the one expected,
/// compared in constant time.
pub fn same_binding(expected: &str, presented: &str) -> bool {
    ct_eq(expected.as_bytes(), presented.as_bytes())
}

/// Store a fresh code for `grant` (the caller sends it to the redirect URI: the only time it
/// exists in clear), sweeping a few expired ones.
pub async fn issue_code(db: &Db, clock: &Clock, grant: Grant) -> Result<String, StoreError> {
    let code = b64url(&random_bytes::<32>());
    let now = clock.unix();
    let stored = Code {
        digest: digest(&code),
        grant,
        expires_at: now + CODE_TTL,
        redeemed: None,
    };
    let stale: Vec<Due> = db
        .scan_from::<Due>(b"", SWEEP)?
        .into_iter()
        .filter(|d| d.expires_at < now)
        .collect();
    db.write(|tx| {
        for d in &stale {
            tx.delete::<Due>(&d.key())?;
            tx.delete::<Code>(&code_key(&d.digest))?;
        }
        tx.put(&stored)?;
        tx.put(&Due {
            expires_at: stored.expires_at,
            digest: stored.digest.clone(),
        })
    })
    .await?;
    Ok(code)
}

/// Redeem `code` for `client_id` at `redirect_uri` with the PKCE `verifier`: its grant, with
/// `sid` recorded as the session the redemption opens. A code redeemed before ends that
/// earlier session and is refused; any mismatch burns the code.
pub async fn redeem(
    db: &Db,
    clock: &Clock,
    code: &str,
    client_id: &str,
    redirect_uri: &str,
    verifier: &str,
    sid: &str,
) -> Result<Grant, OAuthError> {
    let key = code_key(&digest(code));
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let outcome = db
        .write(|tx| {
            let Some(mut c) = tx.get::<Code>(&key)? else {
                return Ok(None);
            };
            if let Some(first) = c.redeemed.clone() {
                // Replayed: whatever the first redemption opened ends now.
                if let Some(s) = tx.get::<Session>(first.as_bytes())? {
                    session::revoke(tx, &s, &at)?;
                }
                return Ok(None);
            }
            let g = &c.grant;
            let bound = c.expires_at > now
                && g.client_id == client_id
                && g.redirect_uri == redirect_uri
                && pkce_shaped(verifier)
                && ct_eq(s256(verifier).as_bytes(), g.challenge.as_bytes());
            if !bound {
                tx.delete::<Code>(&key)?;
                return Ok(None);
            }
            c.redeemed = Some(sid.to_owned());
            tx.put(&c)?;
            Ok::<_, StoreError>(Some(c.grant.clone()))
        })
        .await?;
    outcome.ok_or(OAuthError::BadCode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn registered_uris_are_https_or_loopback_http_without_fragment_or_credentials() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
        ] {
            assert!(check_uri("redirectUris", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/relative/path",
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "ftp://127.0.0.1/cb",
            "http://127.0.0.1.evil.test/cb",
        ] {
            assert!(check_uri("redirectUris", bad).is_err(), "{bad}");
        }
        assert!(
            check_uri(
                "redirectUris",
                &format!("https://a.test/{}", "x".repeat(2000))
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn branding_is_checked_before_it_is_kept() {
        let db = Db::in_memory();
        let good = Branding {
            name: "Acme".into(),
            logo_url: Some("https://cdn.acme.test/logo.svg".into()),
            primary_color: Some("#0a7f3c".into()),
            frame_ancestors: vec!["https://app.acme.test".into()],
        };
        assert_eq!(set_branding(&db, good.clone()).await.unwrap(), good);
        for bad in [
            Branding {
                name: "x".repeat(101),
                ..good.clone()
            },
            Branding {
                logo_url: Some("javascript:alert(1)".into()),
                ..good.clone()
            },
            Branding {
                logo_url: Some("http://cdn.acme.test/l.svg".into()),
                ..good.clone()
            },
            Branding {
                primary_color: Some("red; x: url(evil)".into()),
                ..good.clone()
            },
            Branding {
                primary_color: Some("#12345".into()),
                ..good.clone()
            },
            Branding {
                frame_ancestors: vec!["https://app.acme.test/path".into()],
                ..good.clone()
            },
            Branding {
                frame_ancestors: vec!["*".into()],
                ..good.clone()
            },
            Branding {
                frame_ancestors: vec!["https://a.test 'unsafe-inline'".into()],
                ..good.clone()
            },
        ] {
            assert!(set_branding(&db, bad.clone()).await.is_err(), "{bad:?}");
        }
        assert_eq!(branding(&db).unwrap(), good, "a refusal changes nothing");
    }

    #[test]
    fn only_the_exact_registered_uri_matches() {
        let c = Client {
            id: "app".into(),
            name: String::new(),
            redirect_uris: vec!["https://app.test/cb".into()],
            post_logout_redirect_uris: vec![],
            allowed_origins: vec![],
        };
        assert!(c.redirects_to("https://app.test/cb"));
        for near in [
            "https://app.test/cb/",
            "https://app.test/cb?x=1",
            "https://APP.test/cb",
            "https://app.test/c",
            "https://app.test/cb#",
            "http://app.test/cb",
        ] {
            assert!(!c.redirects_to(near), "{near}");
        }
    }

    #[test]
    fn pkce_values_are_43_to_128_unreserved_characters() {
        assert!(pkce_shaped(&"a".repeat(43)));
        assert!(pkce_shaped(&"-._~".repeat(32)));
        assert!(!pkce_shaped(&"a".repeat(42)));
        assert!(!pkce_shaped(&"a".repeat(129)));
        assert!(!pkce_shaped(&format!("{}+", "a".repeat(43))));
    }

    fn grant() -> Grant {
        Grant {
            client_id: "app".into(),
            redirect_uri: "https://app.test/cb".into(),
            challenge: s256(&"v".repeat(43)),
            nonce: Some("n".into()),
            scope: "openid".into(),
            user_id: "u".into(),
            tenant_id: "t".into(),
            auth_time: 1,
            amr: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_code_is_redeemed_once_by_its_client_uri_and_verifier_before_it_expires() {
        let db = Db::in_memory();
        let clock = Clock::system();
        let v = "v".repeat(43);
        let redeem = |code: String, client: &'static str, uri: &'static str, verifier: String| {
            let (db, clock) = (db.clone(), clock.clone());
            async move { redeem(&db, &clock, &code, client, uri, &verifier, "s1").await }
        };
        // Each binding: a mismatch is refused and burns the code.
        for (client, uri, verifier) in [
            ("other", "https://app.test/cb", v.clone()),
            ("app", "https://app.test/cb2", v.clone()),
            ("app", "https://app.test/cb", "w".repeat(43)),
            ("app", "https://app.test/cb", "short".into()),
        ] {
            let code = issue_code(&db, &clock, grant()).await.unwrap();
            assert!(matches!(
                redeem(code.clone(), client, uri, verifier).await,
                Err(OAuthError::BadCode)
            ));
            assert!(matches!(
                redeem(code, "app", "https://app.test/cb", v.clone()).await,
                Err(OAuthError::BadCode)
            ));
        }
        // The right one works once.
        let code = issue_code(&db, &clock, grant()).await.unwrap();
        let g = redeem(code.clone(), "app", "https://app.test/cb", v.clone())
            .await
            .unwrap();
        assert_eq!(g, grant());
        assert!(matches!(
            redeem(code, "app", "https://app.test/cb", v.clone()).await,
            Err(OAuthError::BadCode)
        ));
        // Expired.
        let code = issue_code(&db, &clock, grant()).await.unwrap();
        clock.advance(CODE_TTL);
        assert!(matches!(
            redeem(code, "app", "https://app.test/cb", v.clone()).await,
            Err(OAuthError::BadCode)
        ));
        // Expired codes are swept by later issues.
        clock.advance(1);
        issue_code(&db, &clock, grant()).await.unwrap();
        assert!(db.scan::<Due>(b"").unwrap().len() <= SWEEP);
    }

    #[tokio::test]
    async fn codes_are_issued_and_swept_beside_every_other_record_of_the_server() {
        let db = Db::in_memory();
        let clock = Clock::system();
        let app = Client {
            id: "app".into(),
            name: "App".into(),
            redirect_uris: vec!["https://app.test/cb".into()],
            post_logout_redirect_uris: vec![],
            allowed_origins: vec!["https://app.test".into()],
        };
        put_client(&db, app).await.unwrap();
        set_branding(&db, Branding::default()).await.unwrap();
        for _ in 0..3 {
            issue_code(&db, &clock, grant()).await.unwrap();
            clock.advance(CODE_TTL + 1);
        }
        assert!(application_origin(&db, "https://app.test").unwrap());
        assert!(
            db.scan::<Due>(b"").unwrap().len() <= 2,
            "expired codes swept"
        );
    }

    #[tokio::test]
    async fn of_parallel_redemptions_exactly_one_succeeds() {
        let db = Db::in_memory();
        let clock = Clock::system();
        let v = "v".repeat(43);
        let code = issue_code(&db, &clock, grant()).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (db, clock, code, v) = (db.clone(), clock.clone(), code.clone(), v.clone());
                tokio::spawn(async move {
                    redeem(
                        &db,
                        &clock,
                        &code,
                        "app",
                        "https://app.test/cb",
                        &v,
                        &format!("s{i}"),
                    )
                    .await
                    .is_ok()
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
    }
}
