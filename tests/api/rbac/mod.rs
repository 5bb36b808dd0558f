//! `api/rbac`: the catalogue (roles, permissions, categories) and groups.

mod catalog;
mod groups;
