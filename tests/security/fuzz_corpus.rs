//! The fuzz targets' corpus, replayed on stable in every CI run: each committed input of
//! `fuzz/corpus/<target>/` (seeds plus what `cargo fuzz` found worth keeping) and the
//! hand-made seeds go through the very functions the fuzzers call (`fuzz/src/lib.rs`), whose
//! oracles panic on a broken property. `.ci/run` also builds the targets and runs each for a
//! short time when a nightly toolchain and cargo-fuzz are present.
//!
//! `TESSERA_WRITE_FUZZ_SEEDS=1 cargo test -p tessera-tests --test e2e -- fuzz_corpus` writes
//! the seeds into the corpus directories.

#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::path::{Path, PathBuf};

/// Each target, and whether an input reached the far side of its oracle (an allowed
/// request, an applied message, a parsed name, a 2xx): replaying only refusals would prove
/// little.
/// A target's body: whether the input got past the checks.
type Target = fn(&[u8]) -> bool;

const TARGETS: [(&str, Target); 5] = [
    ("token", harness::token),
    ("push", |d| harness::push(d) == Some(true)),
    ("net", |d| {
        harness::net(d);
        std::str::from_utf8(d).is_ok_and(|s| shared::net::parse_cidr(s).is_ok())
    }),
    ("body", |d| (200..300).contains(&harness::body(d))),
    ("webauthn", harness::webauthn),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn name_of(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref()[..20]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn the_committed_fuzz_corpus_replays_cleanly() {
    let seeds = harness::seeds();
    if std::env::var_os("TESSERA_WRITE_FUZZ_SEEDS").is_some() {
        for (target, bytes) in &seeds {
            let dir = corpus_dir(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name_of(bytes)), bytes).unwrap();
        }
    }
    for (target, run) in TARGETS {
        let started = std::time::Instant::now();
        let mut inputs: Vec<Vec<u8>> = seeds
            .iter()
            .filter(|(t, _)| *t == target)
            .map(|(_, b)| b.clone())
            .collect();
        let seeded = inputs.len();
        let mut files: Vec<_> = std::fs::read_dir(corpus_dir(target))
            .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        inputs.extend(files.iter().map(|f| std::fs::read(f).unwrap()));
        let passed = inputs.iter().filter(|input| run(input)).count();
        println!(
            "fuzz corpus {target}: {} committed inputs + {seeded} seeds replayed in {} ms, \
             {passed} got through",
            files.len(),
            started.elapsed().as_millis()
        );
        assert!(passed > 0, "no {target} input got past the checks");
        assert!(
            files.len() >= seeded,
            "fuzz/corpus/{target} holds {} inputs; expected at least the {seeded} seeds",
            files.len()
        );
    }
}
