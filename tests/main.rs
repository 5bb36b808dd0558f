//! Tessera's end-to-end tests: one binary (ripgrep's pattern). Servers run in-process on
//! port 0, or as real child processes where the test is about the process (crash, signals).

// A test binary: panicking on a broken precondition is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

pub mod api;
mod clients;
mod contract;
mod enforcement;
mod security;
mod system;
