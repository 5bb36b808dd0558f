//! Reply shapes more than one area shows: a role and a permission as every API shows them
//! (a user's roles, a group's, a role list; a user's permissions, the permission list).

use serde::Serialize;

use crate::http::AppState;
use crate::model::rbac::{AssignmentType, Permission, Role};

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
