//! Tessera's end-to-end tests: one binary (ripgrep's pattern). Servers run in-process on
//! port 0, or as real child processes where the test is about the process (crash, signals).

// A test binary: panicking on a broken precondition is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod api_tokens;
mod attacks_jwt;
mod bounds;
mod clock_skew;
mod conformance;
mod coverage;
mod crash;
mod disk_full;
mod distribution;
mod durability;
mod enumeration;
mod errors;
mod fd_exhaustion;
mod fsync_eio;
mod fuzz_corpus;
mod granting;
mod groups;
mod isolation;
mod keys;
mod layering;
mod lockout;
mod observability;
mod oracles;
mod outage;
mod overload;
mod passwords;
mod rbac;
mod removal;
mod request_facts;
mod restrictions;
mod routing;
mod sessions;
mod sidecar_shell;
mod signup;
mod slowloris;
mod smtp;
mod smuggling;
mod tenants;
mod users;
mod vendor_auth;
