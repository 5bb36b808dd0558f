//! Reply shapes more than one area shows: a role and a permission as every API shows them
//! (a user's roles, a group's, a role list; a user's permissions, the permission list), and
//! an account (management routes, the caller's own accounts).

use serde::Serialize;

use crate::http::AppState;
use crate::model::rbac::{AssignmentType, Permission, Role};
use crate::model::tenant::Tenant;

/// `RoleResponse`: `permissions` are permission ids.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleReply {
    id: String,
    vendor_id: String,
    tenant_id: Option<String>,
    key: String,
    name: String,
    description: String,
    is_default: bool,
    first_user_role: bool,
    level: u16,
    created_at: String,
    updated_at: String,
    permissions: Vec<String>,
}

/// A role's reply.
pub fn role(state: &AppState, r: Role) -> RoleReply {
    RoleReply {
        id: r.id,
        vendor_id: state.env.client_id().to_owned(),
        tenant_id: r.tenant_id,
        key: r.key,
        name: r.name,
        description: r.description,
        is_default: r.is_default,
        first_user_role: r.first_user_role,
        level: r.level,
        created_at: r.created_at,
        updated_at: r.updated_at,
        permissions: r.permission_ids,
    }
}

/// `PermissionResponse`, with the ids of the roles holding it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionReply {
    id: String,
    key: String,
    name: String,
    description: String,
    category_id: Option<String>,
    fe_permission: bool,
    assignment_type: AssignmentType,
    role_ids: Vec<String>,
    created_at: String,
    updated_at: String,
}

/// A permission's reply; `roles` are every role (those holding it are listed).
pub fn permission(p: Permission, roles: &[Role]) -> PermissionReply {
    let role_ids = roles
        .iter()
        .filter(|r| r.permission_ids.contains(&p.id))
        .map(|r| r.id.clone())
        .collect();
    PermissionReply {
        id: p.id,
        key: p.key,
        name: p.name,
        description: p.description,
        category_id: p.category_id,
        fe_permission: p.fe_permission,
        assignment_type: p.assignment_type,
        role_ids,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

/// `TenantResponse`: an account as management routes and the caller's own account lists
/// show it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantReply {
    id: String,
    tenant_id: String,
    name: String,
    /// JSON-encoded object (`compat.md` §5.3).
    metadata: String,
    website: Option<String>,
    application_url: Option<String>,
    logo: Option<String>,
    creator_name: Option<String>,
    creator_email: Option<String>,
    is_reseller: bool,
    created_at: String,
    updated_at: String,
    deleted_at: Option<String>,
}

impl From<Tenant> for TenantReply {
    fn from(t: Tenant) -> Self {
        TenantReply {
            id: t.id,
            tenant_id: t.tenant_id,
            name: t.name,
            metadata: serde_json::Value::Object(t.metadata).to_string(),
            website: t.profile.website,
            application_url: t.profile.application_url,
            logo: t.profile.logo,
            creator_name: t.profile.creator_name,
            creator_email: t.profile.creator_email,
            is_reseller: t.profile.is_reseller,
            created_at: t.created_at,
            updated_at: t.updated_at,
            deleted_at: None,
        }
    }
}
