//! Changing users: creating one in an account, the one way to change a stored user
//! ([`update`], which records what a change takes away), and the changes built on it —
//! profile, flags, roles, memberships, address — plus removal with its cascade, moving an
//! account's users to another, and bulk role changes across accounts.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Loss, Membership, User, UserError};
use crate::hashing::{self, Hasher};
use crate::model::clock::{Clock, rfc3339};
use crate::model::event::Event;
use crate::model::text::Text;
use crate::store::{Db, Record, Tree};

/// Apply `change` to stored user `id` (a member of `tenant` when one is given) in one
/// transaction; what it takes away is recorded with it. Every change of a user's own fields
/// goes through here.
pub async fn update(
    db: &Db,
    clock: &Clock,
    id: &str,
    tenant: Option<&str>,
    change: impl Fn(&mut User) -> Result<Option<Loss>, UserError>,
) -> Result<User, UserError> {
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let mut u = tx.get::<User>(id.as_bytes())?.ok_or(UserError::NotFound)?;
        if tenant.is_some_and(|t| u.membership(t).is_none()) {
            return Err(UserError::NotFound);
        }
        let loss = change(&mut u)?;
        tx.put(&u)?;
        if let Some(loss) = loss {
            loss.event(&u.id).record(tx, &at)?;
        }
        Ok(u)
    })
    .await
}

/// The profile fields a user and the environment may both change; absent ones stay.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileChange {
    /// Display name.
    pub name: Option<Text<255>>,
    /// Phone number.
    pub phone_number: Option<Text<32>>,
    /// Avatar URL.
    pub profile_picture_url: Option<Text<2048>>,
    /// A JSON object (or its text).
    pub metadata: Option<Value>,
}

impl ProfileChange {
    /// Apply to a user record (metadata checked).
    pub fn apply(&self, u: &mut User) -> Result<(), UserError> {
        if let Some(v) = &self.name {
            u.name = v.as_str().to_owned();
        }
        if let Some(v) = &self.phone_number {
            u.phone_number = Some(v.as_str().to_owned());
        }
        if let Some(v) = &self.profile_picture_url {
            u.profile_picture_url = Some(v.as_str().to_owned());
        }
        if let Some(m) = &self.metadata {
            u.metadata = super::metadata_text(Some(m))?;
        }
        Ok(())
    }
}

/// The fields only the environment sets.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VendorFields {
    /// What the environment keeps about the user (a JSON object).
    pub vendor_metadata: Option<Value>,
    /// Exempt from MFA.
    pub mfa_bypass: Option<bool>,
    /// The environment's own id for the user.
    pub external_id: Option<Text<255>>,
}

impl VendorFields {
    /// Apply to a user record.
    pub fn apply(&self, u: &mut User) -> Result<(), UserError> {
        if let Some(m) = &self.vendor_metadata {
            u.vendor_metadata = crate::model::json::object_text("vendorMetadata", Some(m))?;
        }
        if let Some(v) = self.mfa_bypass {
            u.mfa_bypass = v;
        }
        if let Some(e) = &self.external_id {
            u.external_id = Some(e.as_str().to_owned());
        }
        Ok(())
    }
}

/// A user to create in an account.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    /// The address.
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<Text<255>>,
    /// A password (else the user sets one when activating).
    #[serde(default)]
    pub password: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone_number: Option<Text<32>>,
    /// Avatar URL.
    #[serde(default)]
    pub profile_picture_url: Option<Text<2048>>,
    /// A JSON object (or its text).
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Roles in the account (default: its default roles).
    #[serde(default)]
    pub role_ids: Option<Vec<String>>,
}

/// Create a user in `tenant` with `role_ids` (already checked against what the caller may
/// give) and `vendor` fields; the password follows the account's policy. A taken address
/// is [`UserError::EmailTaken`].
pub async fn create(
    db: &Db,
    clock: &Clock,
    hasher: &Hasher,
    tenant: &str,
    new: &NewUser,
    role_ids: Vec<String>,
    vendor: &VendorFields,
) -> Result<User, UserError> {
    crate::model::tenant::require(db, tenant)?;
    let email_norm = crate::model::email::normalize(&new.email)
        .map_err(|e| UserError::Invalid(e.to_string()))?;
    let password_hash = match new.password.clone() {
        Some(p) if p.is_empty() => {
            return Err(UserError::Invalid("password must not be empty".into()));
        }
        Some(p) => {
            crate::model::password_policy::enforce(db, Some(tenant), &p)?;
            Some(hashing::hash(hasher, p).await?)
        }
        None => None,
    };
    let now = rfc3339(clock.now());
    let mut u = User::new_member(&new.email, email_norm, tenant, role_ids, &now);
    ProfileChange {
        name: new.name.clone(),
        phone_number: new.phone_number.clone(),
        profile_picture_url: new.profile_picture_url.clone(),
        metadata: new.metadata.clone(),
    }
    .apply(&mut u)?;
    vendor.apply(&mut u)?;
    u.password_changed_at = password_hash.as_ref().map(|_| clock.unix());
    u.password_hash = password_hash;
    db.write(|tx| {
        if super::email_owner(tx, &u.email_norm)?.is_some() {
            return Err(UserError::EmailTaken);
        }
        tx.put(&u)?;
        Ok(())
    })
    .await?;
    Ok(u)
}

/// Change a user's address (unique once normalised; to be verified again when it changed).
pub async fn change_email(db: &Db, id: &str, email: &str) -> Result<User, UserError> {
    let norm =
        crate::model::email::normalize(email).map_err(|e| UserError::Invalid(e.to_string()))?;
    let display = email.trim().to_owned();
    db.write(|tx| {
        let mut u = tx.get::<User>(id.as_bytes())?.ok_or(UserError::NotFound)?;
        if super::email_owner(tx, &norm)?.is_some_and(|owner| owner != u.id) {
            return Err(UserError::EmailTaken);
        }
        if u.email_norm != norm {
            u.verified = false;
        }
        u.email = display.clone();
        u.email_norm = norm.clone();
        tx.put(&u)?;
        Ok(u)
    })
    .await
}

/// Add roles to a user in `tenant` (checked by the caller against its own level).
pub async fn add_roles(
    db: &Db,
    clock: &Clock,
    id: &str,
    tenant: &str,
    roles: &[String],
) -> Result<User, UserError> {
    update(db, clock, id, Some(tenant), |u| {
        let m = u.membership_mut(tenant).ok_or(UserError::NotFound)?;
        crate::model::add_unique(&mut m.role_ids, roles);
        Ok(None)
    })
    .await
}

/// Take roles from a user in `tenant`; its earlier tokens there carry too much from now on.
pub async fn remove_roles(
    db: &Db,
    clock: &Clock,
    id: &str,
    tenant: &str,
    roles: &[String],
) -> Result<User, UserError> {
    update(db, clock, id, Some(tenant), |u| {
        let m = u.membership_mut(tenant).ok_or(UserError::NotFound)?;
        m.role_ids.retain(|r| !roles.contains(r));
        Ok(Some(Loss::Roles(tenant.to_owned())))
    })
    .await
}

/// Add `add` and take `remove` from a user's roles in `tenant`, in one transaction (both
/// checked by the caller against its own level); a removal ends what earlier tokens carry.
pub async fn change_roles(
    db: &Db,
    clock: &Clock,
    id: &str,
    tenant: &str,
    add: &[String],
    remove: &[String],
) -> Result<User, UserError> {
    update(db, clock, id, Some(tenant), |u| {
        let m = u.membership_mut(tenant).ok_or(UserError::NotFound)?;
        crate::model::add_unique(&mut m.role_ids, add);
        m.role_ids.retain(|r| !remove.contains(r));
        Ok((!remove.is_empty()).then(|| Loss::Roles(tenant.to_owned())))
    })
    .await
}

/// Add a user to another account with `roles` (its default roles).
pub async fn join(
    db: &Db,
    clock: &Clock,
    id: &str,
    tenant: &str,
    roles: &[String],
) -> Result<User, UserError> {
    crate::model::tenant::require(db, tenant)?;
    let now = rfc3339(clock.now());
    update(db, clock, id, None, |u| {
        if u.membership(tenant).is_some() {
            return Err(UserError::Conflict(
                "the user is already a member of this account".into(),
            ));
        }
        u.memberships.push(Membership {
            tenant_id: tenant.to_owned(),
            role_ids: roles.to_vec(),
            disabled: false,
            pending_invitation: false,
            created_at: now.clone(),
        });
        Ok(None)
    })
    .await
}

/// Make `tenant` the account the user's tokens are issued for; with `enabled_only` (the
/// user itself switching), it must be an enabled membership.
pub async fn set_active_tenant(
    db: &Db,
    clock: &Clock,
    id: &str,
    tenant: &str,
    enabled_only: bool,
) -> Result<User, UserError> {
    update(db, clock, id, None, |u| {
        match u.membership(tenant) {
            Some(m) if !(enabled_only && m.disabled) => {}
            _ if enabled_only => {
                return Err(UserError::Invalid(
                    "not an active member of this account".into(),
                ));
            }
            _ => {
                return Err(UserError::Invalid(
                    "the user is not a member of this account".into(),
                ));
            }
        }
        u.active_tenant_id = Some(tenant.to_owned());
        Ok(None)
    })
    .await
}

/// Disable (its tokens there stop) or enable a user in `tenant`.
pub async fn set_disabled(
    db: &Db,
    clock: &Clock,
    id: &str,
    tenant: &str,
    disabled: bool,
) -> Result<User, UserError> {
    update(db, clock, id, Some(tenant), |u| {
        let m = u.membership_mut(tenant).ok_or(UserError::NotFound)?;
        m.disabled = disabled;
        Ok(disabled.then(|| Loss::Disabled(tenant.to_owned())))
    })
    .await
}

/// Remove a user from `tenant` with everything that hangs on it there (a user left without
/// any account is deleted), or — without an account — delete it with everything.
pub async fn remove(
    db: &Db,
    clock: &Clock,
    id: &str,
    tenant: Option<&str>,
) -> Result<(), UserError> {
    let deps = crate::model::cascade::UserDependents::read(db, id, tenant)?;
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let u = tx.get::<User>(id.as_bytes())?.ok_or(UserError::NotFound)?;
        match tenant {
            Some(t) => {
                if u.membership(t).is_none() {
                    return Err(UserError::NotFound);
                }
                crate::model::cascade::remove_from_tenant(tx, u, t, &deps, &at)?;
            }
            None => crate::model::cascade::delete_user(tx, &u, &deps, &at)?,
        }
        Ok(())
    })
    .await
}

/// Move every user of account `src` to `dst`. Roles of the source account do not exist in
/// the target and are dropped; users already in the target keep their membership there;
/// what hangs on each in the source ends with its membership there.
pub async fn migrate(db: &Db, clock: &Clock, src: &str, dst: &str) -> Result<(), UserError> {
    if src == dst {
        return Err(UserError::Invalid(
            "source and target accounts are the same".into(),
        ));
    }
    crate::model::tenant::require(db, src)?;
    crate::model::tenant::require(db, dst)?;
    let src_roles: Vec<String> = crate::model::rbac::all_roles(db)?
        .into_iter()
        .filter(|r| r.tenant_id.as_deref() == Some(src))
        .map(|r| r.id)
        .collect();
    let members = super::member_ids(db, src)?;
    let deps = members
        .iter()
        .map(|id| crate::model::cascade::UserDependents::read(db, id, Some(src)))
        .collect::<Result<Vec<_>, _>>()?;
    let at = rfc3339(clock.now());
    db.write(|tx| {
        for (id, deps) in members.iter().zip(&deps) {
            let Some(u) = tx.get::<User>(id.as_bytes())? else {
                continue;
            };
            let Some(m) = u.membership(src).cloned() else {
                continue;
            };
            let mut moved = u.clone();
            if moved.membership(dst).is_none() {
                let mut m: Membership = m;
                m.tenant_id = dst.to_owned();
                m.role_ids.retain(|r| !src_roles.contains(r));
                moved.memberships.push(m);
            }
            if moved.active_tenant_id.as_deref() == Some(src) {
                moved.active_tenant_id = Some(dst.to_owned());
            }
            crate::model::cascade::remove_from_tenant(tx, moved, src, deps, &at)?;
        }
        Ok(())
    })
    .await
}

/// A completed bulk role change, kept so its status can be read back.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRolesTask {
    /// The task's id.
    pub id: String,
    /// The user.
    pub user_id: String,
    /// Always `Completed` (the change is one transaction).
    pub status: String,
    /// The user's accounts.
    pub total_tenants: usize,
    /// Accounts whose roles changed.
    pub processed_tenants: usize,
    /// Role ids added.
    pub added_role_ids: Vec<String>,
    /// Role ids removed.
    pub removed_role_ids: Vec<String>,
}

impl Record for BulkRolesTask {
    const TREE: Tree = Tree::Meta;
    fn key(&self) -> Vec<u8> {
        bulk_key(&self.id)
    }
}

fn bulk_key(id: &str) -> Vec<u8> {
    format!("bulk-roles/{id}").into_bytes()
}

/// What a bulk role change asks for.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRoles {
    /// Roles to add where they apply.
    #[serde(default)]
    pub add_role_ids: Vec<String>,
    /// Roles to remove.
    #[serde(default)]
    pub remove_role_ids: Vec<String>,
    /// Only these accounts (default: every account of the user).
    pub tenant_ids: Option<Vec<String>>,
}

/// Add and remove roles in every account of the user (or the listed ones), in one
/// transaction. A role applies in an account when it is environment-wide or that
/// account's own.
pub async fn bulk_roles(
    db: &Db,
    clock: &Clock,
    id: &str,
    req: &BulkRoles,
) -> Result<BulkRolesTask, UserError> {
    if req.add_role_ids.len() + req.remove_role_ids.len() > 200 {
        return Err(UserError::Invalid("at most 200 role ids".into()));
    }
    let roles = crate::model::rbac::all_roles(db)?;
    if let Some(r) = req
        .add_role_ids
        .iter()
        .chain(&req.remove_role_ids)
        .find(|r| !roles.iter().any(|x| x.id == **r))
    {
        return Err(UserError::Invalid(format!("role {r} does not exist")));
    }
    let applies = |role: &str, tenant: &str| {
        roles
            .iter()
            .any(|r| r.id == role && r.tenant_id.as_deref().is_none_or(|t| t == tenant))
    };
    let task_id = crate::crypto::new_uuid().to_string();
    let at = rfc3339(clock.now());
    db.write(|tx| {
        let mut u = tx.get::<User>(id.as_bytes())?.ok_or(UserError::NotFound)?;
        let mut affected = 0;
        let total = u.memberships.len();
        for m in &mut u.memberships {
            if req
                .tenant_ids
                .as_ref()
                .is_some_and(|ts| !ts.contains(&m.tenant_id))
            {
                continue;
            }
            let before = m.role_ids.clone();
            let add: Vec<String> = req
                .add_role_ids
                .iter()
                .filter(|r| applies(r, &m.tenant_id))
                .cloned()
                .collect();
            crate::model::add_unique(&mut m.role_ids, &add);
            m.role_ids.retain(|r| !req.remove_role_ids.contains(r));
            if m.role_ids != before {
                affected += 1;
                if before.iter().any(|r| !m.role_ids.contains(r)) {
                    Event::UserRolesRemoved {
                        tenant: &m.tenant_id,
                        user: id,
                    }
                    .record(tx, &at)?;
                }
            }
        }
        tx.put(&u)?;
        let task = BulkRolesTask {
            id: task_id.clone(),
            user_id: u.id.clone(),
            status: "Completed".into(),
            total_tenants: total,
            processed_tenants: affected,
            added_role_ids: req.add_role_ids.clone(),
            removed_role_ids: req.remove_role_ids.clone(),
        };
        tx.put(&task)?;
        Ok(task)
    })
    .await
}

/// A bulk role change's record.
pub fn bulk_task(db: &Db, id: &str) -> Result<BulkRolesTask, UserError> {
    db.get::<BulkRolesTask>(&bulk_key(id))?
        .ok_or(UserError::Missing("Task"))
}

/// One user of a bulk invitation and what became of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkResult {
    /// The address.
    pub email: String,
    /// `Success` or `Failed`.
    pub status: String,
    /// The user invited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A bulk invitation, kept so its status can be read back.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkInviteTask {
    /// The task id.
    pub id: String,
    /// The account.
    pub tenant_id: String,
    /// Always `Completed` (the invitations run before the reply).
    pub status: String,
    /// Users asked for.
    pub total: usize,
    /// Users invited.
    pub succeeded: usize,
    /// Users refused.
    pub failed: usize,
    /// Each user's outcome, in request order.
    pub results: Vec<BulkResult>,
}

impl Record for BulkInviteTask {
    const TREE: Tree = Tree::Meta;
    fn key(&self) -> Vec<u8> {
        format!("bulk-invite/{}", self.id).into_bytes()
    }
}

impl BulkResult {
    /// An invited user.
    pub fn ok(email: &str, user_id: String) -> Self {
        BulkResult {
            email: email.to_owned(),
            status: "Success".into(),
            user_id: Some(user_id),
            error: None,
        }
    }

    /// A refused one, and why.
    pub fn failed(email: &str, why: &str) -> Self {
        BulkResult {
            email: email.to_owned(),
            status: "Failed".into(),
            user_id: None,
            error: Some(why.to_owned()),
        }
    }
}

/// Keep a bulk invitation's report to read back.
pub async fn record_bulk_invite(
    db: &Db,
    tenant_id: String,
    results: Vec<BulkResult>,
) -> Result<BulkInviteTask, UserError> {
    let succeeded = results.iter().filter(|r| r.user_id.is_some()).count();
    let task = BulkInviteTask {
        id: crate::crypto::new_uuid().to_string(),
        tenant_id,
        status: "Completed".into(),
        total: results.len(),
        succeeded,
        failed: results.len() - succeeded,
        results,
    };
    db.write(|tx| tx.put(&task)).await?;
    Ok(task)
}

/// A bulk invitation's report.
pub fn bulk_invite(db: &Db, id: &str) -> Result<Option<BulkInviteTask>, UserError> {
    Ok(db.get::<BulkInviteTask>(format!("bulk-invite/{id}").as_bytes())?)
}
