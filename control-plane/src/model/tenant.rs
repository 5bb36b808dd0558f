//! Tenants (accounts). Ids are UUIDs; the record is keyed by its `tenant_id`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::store::{Db, Record, StoreError, Tree};

/// A stored tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// Internal record id (UUID).
    pub id: String,
    /// The account id clients use everywhere (UUID, lower case).
    pub tenant_id: String,
    /// Display name.
    pub name: String,
    /// Free-form metadata.
    pub metadata: Map<String, Value>,
    /// Optional profile fields Frontegg clients send.
    #[serde(default)]
    pub profile: TenantProfile,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Optional descriptive fields of a tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantProfile {
    /// Website URL.
    pub website: Option<String>,
    /// Application URL.
    pub application_url: Option<String>,
    /// Logo URL.
    pub logo: Option<String>,
    /// Creator's name.
    pub creator_name: Option<String>,
    /// Creator's email.
    pub creator_email: Option<String>,
    /// Whether the account is a reseller.
    #[serde(default)]
    pub is_reseller: bool,
}

impl Record for Tenant {
    const TREE: Tree = Tree::Tenants;
    fn key(&self) -> Vec<u8> {
        self.tenant_id.as_bytes().to_vec()
    }
}

/// Why an account cannot be acted on.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// No such account.
    #[error("Tenant not found")]
    NotFound,
    /// An id that is not a UUID.
    #[error("{0} must be a UUID")]
    BadId(&'static str),
    /// The id is another account's.
    #[error("a tenant with this tenantId already exists")]
    Exists,
    /// Input that breaks a rule.
    #[error("{0}")]
    Invalid(String),
    /// A text field out of bounds.
    #[error(transparent)]
    Text(#[from] crate::model::text::TextError),
    /// Metadata that is not an object or is too large.
    #[error(transparent)]
    Json(#[from] crate::model::json::JsonError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The account `id` (`NotFound` if there is none).
pub fn get(db: &Db, id: &str) -> Result<Tenant, TenantError> {
    db.get::<Tenant>(id.as_bytes())?
        .ok_or(TenantError::NotFound)
}

/// Refuse an account that does not exist.
pub fn require(db: &Db, id: &str) -> Result<(), TenantError> {
    get(db, id).map(drop)
}

/// `s` as an account id (`field` names it in the error).
pub fn id_of(field: &'static str, s: &str) -> Result<String, TenantError> {
    parse_id(s).ok_or(TenantError::BadId(field))
}

/// Most metadata keys an account has.
pub const MAX_METADATA_KEYS: usize = 100;

/// Metadata arrives as an object, or as a string holding a JSON object (the DTO form).
pub fn metadata_object(v: &Value) -> Result<Map<String, Value>, TenantError> {
    let obj = crate::model::json::object("metadata", Some(v), crate::model::json::MAX_STORED_JSON)?;
    if obj.len() > MAX_METADATA_KEYS {
        return Err(TenantError::Invalid(format!(
            "metadata may have at most {MAX_METADATA_KEYS} keys"
        )));
    }
    Ok(obj)
}

impl TenantProfile {
    /// The profile's texts (URLs, names, an address), each bounded like any stored text.
    pub fn checked(self) -> Result<TenantProfile, TenantError> {
        let text = |field: &str, v: Option<String>| -> Result<Option<String>, TenantError> {
            Ok(
                v.map(|v| crate::model::text::checked(field, &v, 2048, false))
                    .transpose()?,
            )
        };
        Ok(TenantProfile {
            website: text("website", self.website)?,
            application_url: text("applicationUrl", self.application_url)?,
            logo: text("logo", self.logo)?,
            creator_name: text("creatorName", self.creator_name)?,
            creator_email: text("creatorEmail", self.creator_email)?,
            is_reseller: self.is_reseller,
        })
    }
}

/// An account to create.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTenant {
    /// A chosen UUID (409 if taken); else one is drawn.
    pub tenant_id: Option<String>,
    /// 1 to 255 characters.
    pub name: crate::model::text::Required<255>,
    /// A JSON object (or its text).
    pub metadata: Option<Value>,
    /// The optional profile fields.
    #[serde(flatten)]
    pub profile: TenantProfile,
}

/// Every account, by id.
pub fn all(db: &Db) -> Result<Vec<Tenant>, TenantError> {
    Ok(db.scan::<Tenant>(b"")?)
}

/// Create an account.
pub async fn create(
    db: &Db,
    clock: &crate::model::clock::Clock,
    new: NewTenant,
) -> Result<Tenant, TenantError> {
    let tenant_id = match new.tenant_id.as_deref() {
        Some(raw) => id_of("tenantId", raw)?,
        None => crate::crypto::new_uuid().to_string(),
    };
    let now = crate::model::clock::rfc3339(clock.now());
    let record = Tenant {
        id: crate::crypto::new_uuid().to_string(),
        tenant_id,
        name: new.name.into_string(),
        metadata: metadata_object(&new.metadata.unwrap_or(Value::Null))?,
        profile: new.profile.checked()?,
        created_at: now.clone(),
        updated_at: now,
    };
    db.write(|tx| {
        if tx.get::<Tenant>(record.tenant_id.as_bytes())?.is_some() {
            return Err(TenantError::Exists);
        }
        tx.put(&record)?;
        Ok(())
    })
    .await?;
    Ok(record)
}

/// Delete an account with everything that hangs on it (`model::cascade`): its users' ties
/// to it, roles, groups, tokens, sessions, settings and restrictions. Every token of the
/// account becomes void.
pub async fn delete(
    db: &Db,
    clock: &crate::model::clock::Clock,
    id: &str,
) -> Result<(), TenantError> {
    let at = crate::model::clock::rfc3339(clock.now());
    let snapshot = crate::model::cascade::TenantSnapshot::read(db, id)?;
    let restrictions = crate::model::restrictions::ScopeKeys::read(db, id)?;
    db.write(|tx| {
        if tx.get::<Tenant>(id.as_bytes())?.is_none() {
            return Err(TenantError::NotFound);
        }
        crate::model::cascade::delete_tenant(tx, id, &snapshot, &at)?;
        // The account's restrictions go with it (sidecars drop the scope).
        crate::model::restrictions::delete_scope(tx, &restrictions)?;
        tx.delete::<Tenant>(id.as_bytes())?;
        crate::model::event::Event::TenantDeleted { tenant: id }.record(tx, &at)?;
        if !restrictions.is_empty() {
            crate::model::event::Event::RestrictionsChanged { tenant: Some(id) }.record(tx, &at)?;
        }
        Ok(())
    })
    .await
}

/// Change an account's metadata with `change` (the merged result bounded as a whole).
pub async fn update_metadata(
    db: &Db,
    clock: &crate::model::clock::Clock,
    id: &str,
    change: impl Fn(&mut Map<String, Value>),
) -> Result<Tenant, TenantError> {
    let now = crate::model::clock::rfc3339(clock.now());
    db.write(|tx| {
        let mut t = tx
            .get::<Tenant>(id.as_bytes())?
            .ok_or(TenantError::NotFound)?;
        change(&mut t.metadata);
        if t.metadata.len() > MAX_METADATA_KEYS {
            return Err(TenantError::Invalid(format!(
                "metadata may have at most {MAX_METADATA_KEYS} keys"
            )));
        }
        crate::model::json::bounded("metadata", &t.metadata, crate::model::json::MAX_STORED_JSON)?;
        t.updated_at = now.clone();
        tx.put(&t)?;
        Ok(t)
    })
    .await
}

/// A fresh id (UUID), as every record's.
pub fn new_id() -> String {
    crate::crypto::new_uuid().to_string()
}

/// Parse a tenant id: a UUID in any case, returned in canonical lower-case hyphenated form.
pub fn parse_id(s: &str) -> Option<String> {
    // Only the hyphenated form: braces, URNs and the simple form are not ids we hand out.
    if s.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(s)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_canonical_hyphenated_uuids() {
        let id = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
        assert_eq!(parse_id(id).unwrap(), id.to_lowercase());
        for bad in [
            "",
            "x",
            "3f2504e04f8911d39a0c0305e82c3301",
            "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}",
            "3f2504e0-4f89-11d3-9a0c-0305e82c330g",
        ] {
            assert!(parse_id(bad).is_none(), "{bad}");
        }
    }
}
