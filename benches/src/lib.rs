//! Tessera's benchmarks: criterion micro-benchmarks over the libraries (`cargo bench -p
//! tessera-benches`) and the load harness (`cargo run --release -p tessera-benches --bin
//! load -- <scenario>`). Results and how to read them: `docs/PERFORMANCE.md`.
//!
//! The modules are the harness's parts: minted tokens and pushed state ([`tokens`]), the
//! binaries under test as child processes with their CPU time and memory ([`procs`]), the
//! closed-loop and fixed-rate load generators ([`load`]) and a small JSON client for setup
//! calls ([`client`]).

// A benchmark: a broken setup should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod client;
pub mod load;
pub mod procs;
pub mod tokens;

/// Median of a non-empty list.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// (min, max) of a list.
pub fn spread(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}
