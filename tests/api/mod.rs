//! The API, area by area: one module per `control-plane/src/api/<area>`.

mod applications;
mod approvals;
pub mod auth;
mod captcha;
mod delegation;
mod invitations;
mod jwt_templates;
mod messaging;
pub mod migrations;
mod platform;
mod profile;
mod providers;
mod rbac;
mod restrictions;
pub mod social;
mod tenants;
mod tessera;
mod tokens;
mod user_sources;
mod users;
