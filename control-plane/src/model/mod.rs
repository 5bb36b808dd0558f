//! Stored records and their invariants, one file per resource. No HTTP, no sled: functions
//! here take a [`Tx`](crate::store::Tx) or [`Db`](crate::store::Db) and plain values.

pub mod builtin;
pub mod event;
pub mod rbac;
pub mod tenant;
pub mod vendor_config;
