//! Types exchanged between the Tessera control plane and its sidecars, and the shapes both
//! show to clients. No I/O lives here: no async runtime, no HTTP, no storage.
//!
//! This crate is the contract: access-token claims, the error body every component answers
//! with, and the push protocol's wire types and framing ([`wire`]).

#![warn(missing_docs)]

pub mod claims;
pub mod error;
pub mod json;
pub mod net;
pub mod rights;
pub mod wire;
