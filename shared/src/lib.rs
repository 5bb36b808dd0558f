//! Types exchanged between the Tessera control plane and its sidecars, and the shapes both
//! show to clients. No I/O lives here: no async runtime, no HTTP, no storage.
//!
//! This crate is the contract. It grows with the push protocol (claims, keys, rules,
//! snapshots); today it holds the error body every Tessera component answers with.

#![warn(missing_docs)]

pub mod claims;
pub mod error;
