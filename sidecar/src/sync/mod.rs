//! The control link: open the push stream ([`link`]) over TCP or TLS ([`tls`]), apply each
//! message whole or not at all ([`apply`]), persist the last good state atomically
//! ([`persist`]), acknowledge what is applied and persisted, heartbeat, and reconnect with
//! jittered exponential backoff.

mod apply;
mod link;
mod persist;
mod tls;

pub use apply::{ApplyError, apply};
pub use link::Link;
pub use persist::{load_persisted, sidecar_id};
pub use tls::Endpoint;
