//! Users assigned to applications, per account (`compat-wave2.md` §14), and the account a
//! user is active in per application. Tessera keeps no application registry: the
//! environment's own client id is the default application, open to every user; any other
//! application exists through its assignments, and only assigned users get tokens for it.
//! Invariants:
//!
//! - A token's `applicationId` is the default application or one its user is assigned to in
//!   the token's account ([`for_token`]); an application nobody is assigned to gets no token
//!   (an unknown id is refused, never written into a claim).
//! - Assignments name members of their account only; removing a user or a membership leaves
//!   assignments that grant nothing (the membership is checked at issuance too).
//! - The active account of an application is one where the user is assigned.

use serde::{Deserialize, Serialize};

use crate::model::clock::{Clock, rfc3339};
use crate::model::user::User;
use crate::store::{Db, Record, StoreError, Tree, Tx};

const MAX_IDS: usize = 100;

/// One user assigned to one application in one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The application.
    pub app_id: String,
    /// The account.
    pub tenant_id: String,
    /// The user.
    pub user_id: String,
    /// RFC 3339.
    pub created_at: String,
}

impl Record for Assignment {
    const TREE: Tree = Tree::Applications;
    fn key(&self) -> Vec<u8> {
        by_app(&self.app_id, &self.tenant_id, &self.user_id)
    }
}

fn by_app(app: &str, tenant: &str, user: &str) -> Vec<u8> {
    format!("app/{app}/{tenant}/{user}").into_bytes()
}

fn by_user(user: &str, app: &str, tenant: &str) -> Vec<u8> {
    format!("user/{user}/{app}/{tenant}").into_bytes()
}

fn active_key(user: &str, app: &str) -> Vec<u8> {
    format!("active/{user}/{app}").into_bytes()
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A field breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// A user who is not a member of the account.
    #[error("user {0} is not a member of the account")]
    NotMember(String),
    /// A token for an application the user is not assigned to.
    #[error("the user is not assigned to this application in this account")]
    NotAssigned,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuse an id that is not 1-128 letters, digits, `-`, `_` or `.` (ids are key parts).
pub fn id_like(what: &str, v: &str) -> Result<(), AppError> {
    if v.is_empty()
        || v.len() > 128
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(AppError::Invalid(format!(
            "{what} must be 1-128 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

fn ids(what: &str, v: &[String]) -> Result<(), AppError> {
    if v.is_empty() || v.len() > MAX_IDS {
        return Err(AppError::Invalid(format!(
            "{what} must list 1-{MAX_IDS} ids"
        )));
    }
    v.iter().try_for_each(|x| id_like(what, x))
}

fn member(tx: &mut Tx<'_>, user: &str, tenant: &str) -> Result<(), AppError> {
    match tx.get::<User>(user.as_bytes())? {
        Some(u) if u.membership(tenant).is_some() => Ok(()),
        _ => Err(AppError::NotMember(user.to_owned())),
    }
}

/// Assign every pair of `apps` × `users` in `tenant` (existing ones kept); all or nothing.
pub async fn assign(
    db: &Db,
    clock: &Clock,
    tenant: &str,
    apps: &[String],
    users: &[String],
) -> Result<Vec<Assignment>, AppError> {
    ids("appIds", apps)?;
    ids("userIds", users)?;
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let mut out = Vec::new();
        for u in users {
            member(tx, u, tenant)?;
            for a in apps {
                let existing = tx.get::<Assignment>(&by_app(a, tenant, u))?;
                let asg = existing.unwrap_or_else(|| Assignment {
                    app_id: a.clone(),
                    tenant_id: tenant.to_owned(),
                    user_id: u.clone(),
                    created_at: at.clone(),
                });
                tx.put(&asg)?;
                tx.put_raw(Tree::Applications, &by_user(u, a, tenant), b"")?;
                out.push(asg);
            }
        }
        Ok(out)
    })
    .await
}

/// Remove every pair of `apps` × `users` in `tenant` (and an active account it leaves
/// pointing at nothing).
pub async fn unassign(
    db: &Db,
    tenant: &str,
    apps: &[String],
    users: &[String],
) -> Result<(), AppError> {
    ids("appIds", apps)?;
    ids("userIds", users)?;
    db.write(|tx| {
        for u in users {
            for a in apps {
                tx.delete::<Assignment>(&by_app(a, tenant, u))?;
                tx.delete_raw(Tree::Applications, &by_user(u, a, tenant))?;
                if tx
                    .get_raw(Tree::Applications, &active_key(u, a))?
                    .as_deref()
                    == Some(tenant.as_bytes())
                {
                    tx.delete_raw(Tree::Applications, &active_key(u, a))?;
                }
            }
        }
        Ok(())
    })
    .await
}

/// The `(app, tenant)` pairs `user` is assigned to.
fn of_user(db: &Db, user: &str) -> Result<Vec<(String, String)>, StoreError> {
    let prefix = format!("user/{user}/");
    Ok(db
        .scan_raw(Tree::Applications, prefix.as_bytes())?
        .into_iter()
        .filter_map(|(k, _)| {
            let rest = std::str::from_utf8(&k).ok()?.strip_prefix(&prefix)?;
            let (app, tenant) = rest.split_once('/')?;
            Some((app.to_owned(), tenant.to_owned()))
        })
        .collect())
}

/// The applications `user` is assigned to (in any account), sorted, once each.
pub fn apps_of(db: &Db, user: &str) -> Result<Vec<String>, StoreError> {
    let mut apps: Vec<String> = of_user(db, user)?.into_iter().map(|(a, _)| a).collect();
    apps.sort();
    apps.dedup();
    Ok(apps)
}

/// The applications `user` is assigned to in `tenant`, sorted.
pub fn apps_in(db: &Db, user: &str, tenant: &str) -> Result<Vec<String>, StoreError> {
    let mut apps: Vec<String> = of_user(db, user)?
        .into_iter()
        .filter(|(_, t)| t == tenant)
        .map(|(a, _)| a)
        .collect();
    apps.sort();
    apps.dedup();
    Ok(apps)
}

/// The users assigned to `app` (in `tenant`, or in any account), sorted, once each.
pub fn users_of(db: &Db, app: &str, tenant: Option<&str>) -> Result<Vec<String>, StoreError> {
    let prefix = match tenant {
        Some(t) => format!("app/{app}/{t}/"),
        None => format!("app/{app}/"),
    };
    let mut users: Vec<String> = db
        .scan::<Assignment>(prefix.as_bytes())?
        .into_iter()
        .map(|a| a.user_id)
        .collect();
    users.sort();
    users.dedup();
    Ok(users)
}

fn assigned(db: &Db, app: &str, tenant: &str, user: &str) -> Result<bool, StoreError> {
    Ok(db.get::<Assignment>(&by_app(app, tenant, user))?.is_some())
}

/// The account `user` is active in per application.
pub fn active_of(db: &Db, user: &str) -> Result<Vec<(String, String)>, StoreError> {
    let prefix = format!("active/{user}/");
    Ok(db
        .scan_raw(Tree::Applications, prefix.as_bytes())?
        .into_iter()
        .filter_map(|(k, v)| {
            let app = std::str::from_utf8(&k)
                .ok()?
                .strip_prefix(&prefix)?
                .to_owned();
            Some((app, String::from_utf8(v).ok()?))
        })
        .collect())
}

/// Make `tenant` the account `user` is active in for `app`, for each pair; all or nothing.
pub async fn set_active(db: &Db, user: &str, pairs: &[(String, String)]) -> Result<(), AppError> {
    if pairs.is_empty() || pairs.len() > MAX_IDS {
        return Err(AppError::Invalid(format!(
            "activeApplicationTenants must list 1-{MAX_IDS} entries"
        )));
    }
    db.write(|tx| {
        for (app, tenant) in pairs {
            id_like("applicationId", app)?;
            member(tx, user, tenant)?;
            if tx.get::<Assignment>(&by_app(app, tenant, user))?.is_none() {
                return Err(AppError::NotAssigned);
            }
            tx.put_raw(
                Tree::Applications,
                &active_key(user, app),
                tenant.as_bytes(),
            )?;
        }
        Ok(())
    })
    .await
}

/// The account a login for `app` opens for `user`: the one active for the application when
/// the user is still assigned and an enabled member there; else `tenant` (the login's own
/// choice) when assigned there; else the first account where the user is assigned; else
/// `tenant` (and issuance refuses).
pub fn login_tenant(
    db: &Db,
    app: Option<&str>,
    user: &User,
    tenant: String,
) -> Result<String, StoreError> {
    let Some(app) = app.filter(|a| id_like("applicationId", a).is_ok()) else {
        return Ok(tenant);
    };
    let usable = |t: &str| -> Result<bool, StoreError> {
        Ok(user
            .membership(t)
            .is_some_and(|m| !m.disabled && !m.pending_invitation)
            && assigned(db, app, t, &user.id)?)
    };
    if let Some(active) = db
        .get_raw(Tree::Applications, &active_key(&user.id, app))?
        .and_then(|v| String::from_utf8(v).ok())
        && usable(&active)?
    {
        return Ok(active);
    }
    if usable(&tenant)? {
        return Ok(tenant);
    }
    for m in &user.memberships {
        if usable(&m.tenant_id)? {
            return Ok(m.tenant_id.clone());
        }
    }
    Ok(tenant)
}

/// The `applicationId` of a token for `user` in `tenant` when the request names `requested`
/// (`frontegg-requested-application-id`): the default application (`default_app`, the
/// environment's client id) when none or that one is named, else the named one if the user
/// is assigned to it there — refused otherwise.
pub fn for_token(
    db: &Db,
    requested: Option<&str>,
    default_app: &str,
    user: &str,
    tenant: &str,
) -> Result<String, AppError> {
    match requested.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(default_app.to_owned()),
        Some(a) if a == default_app => Ok(default_app.to_owned()),
        Some(a) => {
            if id_like("applicationId", a).is_ok() && assigned(db, a, tenant, user)? {
                Ok(a.to_owned())
            } else {
                Err(AppError::NotAssigned)
            }
        }
    }
}
