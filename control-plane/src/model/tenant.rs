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
