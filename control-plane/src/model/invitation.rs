//! Invitations (`compat-wave2.md` §8): shareable invitation *links* of an account
//! (`tenants/invites/*`), and invitations of an existing user to another account by email
//! (`users/v1/invitation/*`). Invariants:
//!
//! - Tokens are 256 random bits, looked up by SHA-256; a link's token is also kept sealed
//!   (AES-GCM, `mfa::seal`) because the portal reads it back to copy the link. Neither is
//!   stored in clear.
//! - A link is multi-use until it expires or is deleted; one link per (account, creating
//!   user): creating again replaces it. An email invitation is single use (consumed in the
//!   transaction that adds the membership) and bound to its user and account; re-issuing
//!   retires the previous token.
//! - The roles an invitation confers were checked against the inviter's own when it was
//!   made (`grant::roles`); only roles that still exist in the account are given.
//! - Removing the invitee from the account, deleting the user or the account voids its
//!   invitations (`cascade`).

use serde::{Deserialize, Serialize};

use crate::crypto::{ct_eq, hex, sha256};
use crate::model::clock::{Clock, UnixSecs, rfc3339};
use crate::model::message::{self, Links};
use crate::model::outbox;
use crate::model::user::{Membership, User};
use crate::store::{Db, Record, StoreError, Tree, Tx};

/// An account's invitation link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteLink {
    /// UUID.
    pub id: String,
    /// The account joined.
    pub tenant_id: String,
    /// The user who made it (`None`: made by the environment).
    pub user_id: Option<String>,
    /// Hex SHA-256 of the token.
    pub digest: String,
    /// The token, sealed for `id`.
    pub sealed: String,
    /// Unix seconds.
    pub expires_at: UnixSecs,
    /// Mail the creator when someone joins.
    pub should_send_email: bool,
    /// Roles given to who joins (empty: the account's default roles).
    pub role_ids: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl Record for InviteLink {
    const TREE: Tree = Tree::Invitations;
    fn key(&self) -> Vec<u8> {
        link_key(&self.id)
    }
}

fn link_key(id: &str) -> Vec<u8> {
    format!("link/{id}").into_bytes()
}

fn token_key(digest: &str) -> Vec<u8> {
    format!("tok/{digest}").into_bytes()
}

fn owner_key(tenant: &str, user: Option<&str>) -> Option<Vec<u8>> {
    user.map(|u| format!("owner/{tenant}/{u}").into_bytes())
}

/// An invitation of an existing user to another account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInvite {
    /// The user.
    pub user_id: String,
    /// The account.
    pub tenant_id: String,
    /// Hex SHA-256 of the token.
    pub digest: String,
    /// Hex SHA-256 of the code (code strategy).
    pub code_digest: Option<String>,
    /// Wrong codes so far.
    pub attempts: u32,
    /// Roles in the account.
    pub role_ids: Vec<String>,
    /// Unix seconds.
    pub expires_at: UnixSecs,
}

impl Record for PendingInvite {
    const TREE: Tree = Tree::Invitations;
    fn key(&self) -> Vec<u8> {
        pending_key(&self.user_id, &self.tenant_id)
    }
}

fn pending_key(user: &str, tenant: &str) -> Vec<u8> {
    format!("user/{user}/{tenant}").into_bytes()
}

/// Email invitations live this long.
pub const INVITE_TTL: i64 = 7 * 24 * 3600;
/// Wrong codes an invitation survives.
pub const MAX_CODE_ATTEMPTS: u32 = 5;

/// Why an invitation was refused.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// Unknown, used or replaced.
    #[error("The invitation is invalid or was replaced")]
    NotFound,
    /// Past its expiry.
    #[error("The invitation has expired")]
    Expired,
    /// The environment does not allow invitation links.
    #[error("Invitation links are disabled")]
    Disabled,
    /// A wrong code (counted).
    #[error("Invalid code")]
    WrongCode,
    /// Input that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// The account is gone.
    #[error(transparent)]
    Tenant(#[from] crate::model::tenant::TenantError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn digest(s: &str) -> String {
    hex(&sha256(s.as_bytes()))
}

/// A link in clear: the record and its token.
pub struct OpenLink {
    /// The record.
    pub link: InviteLink,
    /// The token.
    pub token: String,
}

/// What a new link needs.
pub struct NewLink<'a> {
    /// The account.
    pub tenant_id: &'a str,
    /// The creating user (`None`: the environment; such links are never replaced).
    pub user_id: Option<&'a str>,
    /// Minutes until it expires (1 minute to 1 year).
    pub expires_in_minutes: u32,
    /// Mail the creator when someone joins.
    pub should_send_email: bool,
    /// Roles (checked by the caller against what it may give).
    pub role_ids: Vec<String>,
}

/// Create a link (replacing the creator's previous link of the account).
pub async fn create_link(
    db: &Db,
    clock: &Clock,
    new: NewLink<'_>,
) -> Result<OpenLink, InviteError> {
    crate::model::tenant::require(db, new.tenant_id)?;
    if !(1..=525_600).contains(&new.expires_in_minutes) {
        return Err(InviteError::Invalid(
            "expiresInMinutes must be between 1 and 525600".into(),
        ));
    }
    let token = crate::model::otp::new_token();
    let id = crate::crypto::new_uuid().to_string();
    let fresh = crate::model::mfa::seal::Fresh::new();
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let link = db
        .write(|tx| {
            let sealed = crate::model::mfa::seal::seal(tx, &id, token.as_bytes(), &fresh)?;
            let link = InviteLink {
                id: id.clone(),
                tenant_id: new.tenant_id.to_owned(),
                user_id: new.user_id.map(str::to_owned),
                digest: digest(&token),
                sealed,
                expires_at: now + i64::from(new.expires_in_minutes) * 60,
                should_send_email: new.should_send_email,
                role_ids: new.role_ids.clone(),
                created_at: at.clone(),
            };
            if let Some(k) = owner_key(new.tenant_id, new.user_id) {
                if let Some(old) = tx.get_raw(Tree::Invitations, &k)? {
                    let old = String::from_utf8_lossy(&old).into_owned();
                    remove_link(tx, &old)?;
                }
                tx.put_raw(Tree::Invitations, &k, id.as_bytes())?;
            }
            tx.put_raw(Tree::Invitations, &token_key(&link.digest), id.as_bytes())?;
            tx.put(&link)?;
            Ok::<_, InviteError>(link)
        })
        .await?;
    Ok(OpenLink { link, token })
}

fn remove_link(tx: &mut Tx<'_>, id: &str) -> Result<Option<InviteLink>, StoreError> {
    let Some(l) = tx.get::<InviteLink>(&link_key(id))? else {
        return Ok(None);
    };
    tx.delete::<InviteLink>(&link_key(id))?;
    tx.delete_raw(Tree::Invitations, &token_key(&l.digest))?;
    if let Some(k) = owner_key(&l.tenant_id, l.user_id.as_deref())
        && tx.get_raw(Tree::Invitations, &k)?.as_deref() == Some(id.as_bytes())
    {
        tx.delete_raw(Tree::Invitations, &k)?;
    }
    Ok(Some(l))
}

fn open(db: &Db, link: InviteLink) -> Result<OpenLink, StoreError> {
    let token = crate::model::mfa::seal::open(db, &link.id, &link.sealed)?
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    Ok(OpenLink { link, token })
}

/// The creator's link of the account.
pub fn link_of(db: &Db, tenant: &str, user: &str) -> Result<Option<OpenLink>, StoreError> {
    let Some(k) = owner_key(tenant, Some(user)) else {
        return Ok(None);
    };
    let Some(id) = db.get_raw(Tree::Invitations, &k)? else {
        return Ok(None);
    };
    match db.get::<InviteLink>(&link_key(&String::from_utf8_lossy(&id)))? {
        Some(l) => Ok(Some(open(db, l)?)),
        None => Ok(None),
    }
}

/// Change the creator's link: its lifetime (from now) and whether joins are mailed.
pub async fn update_link(
    db: &Db,
    clock: &Clock,
    tenant: &str,
    user: &str,
    expires_in_minutes: Option<u32>,
    should_send_email: Option<bool>,
) -> Result<OpenLink, InviteError> {
    if expires_in_minutes.is_some_and(|m| !(1..=525_600).contains(&m)) {
        return Err(InviteError::Invalid(
            "expiresInMinutes must be between 1 and 525600".into(),
        ));
    }
    let now = clock.unix();
    let k = owner_key(tenant, Some(user)).unwrap_or_default();
    let link = db
        .write(|tx| {
            let id = tx
                .get_raw(Tree::Invitations, &k)?
                .ok_or(InviteError::NotFound)?;
            let mut l = tx
                .get::<InviteLink>(&link_key(&String::from_utf8_lossy(&id)))?
                .ok_or(InviteError::NotFound)?;
            if let Some(m) = expires_in_minutes {
                l.expires_at = now + i64::from(m) * 60;
            }
            if let Some(s) = should_send_email {
                l.should_send_email = s;
            }
            tx.put(&l)?;
            Ok::<_, InviteError>(l)
        })
        .await?;
    Ok(open(db, link)?)
}

/// Delete the creator's link of the account (`false`: it had none).
pub async fn delete_link_of(db: &Db, tenant: &str, user: &str) -> Result<bool, StoreError> {
    let k = owner_key(tenant, Some(user)).unwrap_or_default();
    db.write(|tx| {
        let Some(id) = tx.get_raw(Tree::Invitations, &k)? else {
            return Ok(false);
        };
        Ok(remove_link(tx, &String::from_utf8_lossy(&id))?.is_some())
    })
    .await
}

/// Delete a link by id (`false`: no such link).
pub async fn delete_link(db: &Db, id: &str) -> Result<bool, StoreError> {
    db.write(|tx| Ok(remove_link(tx, id)?.is_some())).await
}

/// Every link, in id order.
pub fn all_links(db: &Db) -> Result<Vec<OpenLink>, StoreError> {
    db.scan::<InviteLink>(b"link/")?
        .into_iter()
        .map(|l| open(db, l))
        .collect()
}

/// The ids of an account's links (for the cascade).
pub fn link_ids_of_tenant(db: &Db, tenant: &str) -> Result<Vec<String>, StoreError> {
    Ok(db
        .scan::<InviteLink>(b"link/")?
        .into_iter()
        .filter(|l| l.tenant_id == tenant)
        .map(|l| l.id)
        .collect())
}

/// The live link `token` names: [`InviteError::Expired`] past its expiry.
pub fn find(db: &Db, clock: &Clock, token: &str) -> Result<InviteLink, InviteError> {
    let id = db
        .get_raw(Tree::Invitations, &token_key(&digest(token)))?
        .ok_or(InviteError::NotFound)?;
    let l = db
        .get::<InviteLink>(&link_key(&String::from_utf8_lossy(&id)))?
        .ok_or(InviteError::NotFound)?;
    if l.expires_at <= clock.unix() {
        return Err(InviteError::Expired);
    }
    Ok(l)
}

/// Add `user_id` to `tenant` with `roles` inside a transaction (a pending invitation's
/// membership is enabled); the user becomes active there.
fn add_membership(
    tx: &mut Tx<'_>,
    user_id: &str,
    tenant: &str,
    roles: &[String],
    at: &str,
) -> Result<Option<User>, StoreError> {
    let Some(mut u) = tx.get::<User>(user_id.as_bytes())? else {
        return Ok(None);
    };
    match u.membership_mut(tenant) {
        Some(m) if m.pending_invitation => {
            m.pending_invitation = false;
            m.disabled = false;
        }
        Some(_) => {}
        None => u.memberships.push(Membership {
            tenant_id: tenant.to_owned(),
            role_ids: roles.to_vec(),
            disabled: false,
            pending_invitation: false,
            created_at: at.to_owned(),
        }),
    }
    u.active_tenant_id = Some(tenant.to_owned());
    tx.put(&u)?;
    Ok(Some(u))
}

/// Join the account of `link` (the account must still exist; the user becomes active there);
/// the link's owner is mailed when it asks to be.
pub async fn join(
    db: &Db,
    clock: &Clock,
    link: &InviteLink,
    user_id: &str,
    roles: &[String],
) -> Result<User, InviteError> {
    let account = crate::model::tenant::get(db, &link.tenant_id)?.name;
    let at = rfc3339(clock.now());
    let id = link.id.clone();
    db.write(|tx| {
        // Deleted meanwhile: nothing to join.
        if tx.get::<InviteLink>(&link_key(&id))?.is_none() {
            return Err(InviteError::NotFound);
        }
        let joins = tx
            .get::<User>(user_id.as_bytes())?
            .is_some_and(|u| u.membership(&link.tenant_id).is_none());
        let u = add_membership(tx, user_id, &link.tenant_id, roles, &at)?
            .ok_or(InviteError::NotFound)?;
        // The link's owner is told of a new member, if the link says so.
        if joins
            && link.should_send_email
            && let Some(owner) = link.user_id.as_deref()
            && let Some(o) = tx.get::<User>(owner.as_bytes())?
        {
            outbox::queue(
                tx,
                &message::invitation_used(&o.email, &account, &u.email)
                    .about(&o.id)
                    .issued_by(&u.id),
            )?;
        }
        Ok(u)
    })
    .await
}

/// A fresh email invitation of `user` to `tenant` (the previous one stops working): a
/// membership pending the invitation (disabled until accepted), and the mail with the link
/// and, with the code strategy, the code — in one transaction.
async fn invite(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    user: &User,
    tenant: &str,
    role_ids: Vec<String>,
    issuer: Option<&str>,
) -> Result<(), InviteError> {
    let with_code = crate::model::identity_settings::current(db)?
        .invitation
        .strategy
        == crate::model::identity_settings::LinkOrCode::Code;
    let token = crate::model::otp::new_token();
    let code = with_code.then(crate::model::otp::new_code);
    let user_id = user.id.as_str();
    let p = PendingInvite {
        user_id: user_id.to_owned(),
        tenant_id: tenant.to_owned(),
        digest: digest(&token),
        code_digest: code.as_deref().map(digest),
        attempts: 0,
        role_ids,
        expires_at: clock.unix() + INVITE_TTL,
    };
    let account = crate::model::tenant::get(db, tenant)?.name;
    let mail = message::invitation_accept(
        links,
        &user.email,
        &account,
        user_id,
        &token,
        code.as_deref(),
    )
    .about(user_id);
    let mail = match issuer {
        Some(i) => mail.issued_by(i),
        None => mail,
    };
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let mut u = tx
            .get::<User>(user_id.as_bytes())?
            .ok_or(InviteError::NotFound)?;
        match u.membership(tenant) {
            Some(m) if !m.pending_invitation => {
                return Err(InviteError::Invalid(
                    "the user is already a member of this account".into(),
                ));
            }
            Some(_) => {}
            None => {
                u.memberships.push(Membership {
                    tenant_id: tenant.to_owned(),
                    role_ids: p.role_ids.clone(),
                    disabled: true,
                    pending_invitation: true,
                    created_at: at.clone(),
                });
                tx.put(&u)?;
            }
        }
        tx.put(&p)?;
        outbox::queue(tx, &mail)?;
        Ok(())
    })
    .await
}

/// The user's pending email invitations.
pub fn pending_of(db: &Db, user_id: &str) -> Result<Vec<PendingInvite>, StoreError> {
    db.scan::<PendingInvite>(format!("user/{user_id}/").as_bytes())
}

/// Whether `user_id`'s pending invitation `token` wants the mailed code beside it (`None`:
/// no such live invitation). Reads only: the page that opens the link asks for what accepting
/// needs.
pub fn wants_code(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    token: &str,
) -> Result<Option<bool>, StoreError> {
    let d = digest(token);
    let now = clock.unix();
    Ok(pending_of(db, user_id)?
        .into_iter()
        .find(|p| ct_eq(p.digest.as_bytes(), d.as_bytes()) && p.expires_at > now)
        .map(|p| p.code_digest.is_some()))
}

/// Accept `user_id`'s invitation with `token` (and `code` under the code strategy): the
/// membership is added and the invitation consumed in one transaction. A wrong code counts;
/// the fifth voids the invitation.
pub async fn accept(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    token: &str,
    code: Option<&str>,
) -> Result<User, InviteError> {
    let d = digest(token);
    let Some(found) = pending_of(db, user_id)?
        .into_iter()
        .find(|p| ct_eq(p.digest.as_bytes(), d.as_bytes()))
    else {
        return Err(InviteError::NotFound);
    };
    crate::model::tenant::require(db, &found.tenant_id)?;
    let now = clock.unix();
    let at = rfc3339(clock.now());
    let key = found.key();
    db.write(|tx| -> Result<Result<User, InviteError>, InviteError> {
        let Some(mut p) = tx.get::<PendingInvite>(&key)? else {
            return Ok(Err(InviteError::NotFound));
        };
        if !ct_eq(p.digest.as_bytes(), d.as_bytes()) {
            return Ok(Err(InviteError::NotFound));
        }
        if p.expires_at <= now {
            tx.delete::<PendingInvite>(&key)?;
            return Ok(Err(InviteError::Expired));
        }
        if let Some(cd) = &p.code_digest {
            let ok = code.is_some_and(|c| ct_eq(digest(c.trim()).as_bytes(), cd.as_bytes()));
            if !ok {
                p.attempts += 1;
                if p.attempts >= MAX_CODE_ATTEMPTS {
                    tx.delete::<PendingInvite>(&key)?;
                } else {
                    tx.put(&p)?;
                }
                return Ok(Err(InviteError::WrongCode));
            }
        }
        tx.delete::<PendingInvite>(&key)?;
        // Removed from the account meanwhile: the invitation is void.
        let pending = tx
            .get::<User>(p.user_id.as_bytes())?
            .and_then(|u| u.membership(&p.tenant_id).map(|m| m.pending_invitation));
        if pending != Some(true) {
            return Ok(Err(InviteError::NotFound));
        }
        match add_membership(tx, &p.user_id, &p.tenant_id, &p.role_ids, &at)? {
            Some(u) => Ok(Ok(u)),
            None => Ok(Err(InviteError::NotFound)),
        }
    })
    .await?
}

/// Delete the user's pending invitations (to `tenant`, or all) inside a cascade.
pub fn void_pending(
    tx: &mut Tx<'_>,
    pending: &[PendingInvite],
    tenant: Option<&str>,
) -> Result<(), StoreError> {
    for p in pending {
        if tenant.is_none_or(|t| t == p.tenant_id) {
            tx.delete::<PendingInvite>(&p.key())?;
        }
    }
    Ok(())
}

/// Delete links by id inside a cascade.
pub fn void_links(tx: &mut Tx<'_>, ids: &[String]) -> Result<(), StoreError> {
    for id in ids {
        remove_link(tx, id)?;
    }
    Ok(())
}

/// Mail existing user `user` an invitation to `tenant` — with `roles`, a new one; without,
/// the pending one re-issued, keeping its roles (the strategy decides link, or link and
/// code), from `issuer` (the inviting user, if a user invites).
/// [`InviteError::NotFound`] when there is nothing to re-issue.
pub async fn mail_for(
    db: &Db,
    clock: &Clock,
    links: Links<'_>,
    user: &User,
    tenant: &str,
    roles: Option<Vec<String>>,
    issuer: Option<&str>,
) -> Result<(), InviteError> {
    let roles = match roles {
        Some(r) => r,
        None => {
            db.get::<PendingInvite>(&pending_key(&user.id, tenant))?
                .ok_or(InviteError::NotFound)?
                .role_ids
        }
    };
    invite(db, clock, links, user, tenant, roles, issuer).await
}
