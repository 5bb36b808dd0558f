//! Tessera's benchmarks: criterion micro-benchmarks over the libraries (`cargo bench -p
//! tessera-benches`) and, later, the load harness. Results and how to read them:
//! `docs/PERFORMANCE.md`.
