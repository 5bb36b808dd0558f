//! Moving a store to another backend (`tessera-control-plane migrate --from sled:DIR`): every
//! tree — records, their index trees, keys, the event log, the environment — copied byte for
//! byte, then verified by counts and a read-back of every pair.
//!
//! Invariants:
//! - The target must be empty: a move never merges two stores.
//! - Pairs are written in transactions of at most [`BATCH`] pairs; the copy is acknowledged
//!   only after the verification read every pair back from the target.

use super::{Kv, StoreError, Tree, TxnOutcome};

/// Pairs per transaction.
const BATCH: usize = 500;

/// What a move copied, per tree.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `(tree name, pairs)` for every tree that holds any.
    pub trees: Vec<(&'static str, usize)>,
}

impl Report {
    /// Pairs copied in all.
    pub fn total(&self) -> usize {
        self.trees.iter().map(|(_, n)| n).sum()
    }
}

/// Copy everything `from` holds into `to` (which must hold nothing), then verify.
pub fn copy(from: &dyn Kv, to: &dyn Kv) -> Result<Report, StoreError> {
    for tree in Tree::ALL {
        if !to.scan_from(*tree, b"", 1)?.is_empty() {
            return Err(StoreError::Backend(format!(
                "the target already holds data (tree {}): a move never merges stores",
                tree.as_str()
            )));
        }
    }
    let mut report = Report::default();
    for tree in Tree::ALL {
        let pairs = from.scan_prefix(*tree, b"")?;
        if pairs.is_empty() {
            continue;
        }
        for chunk in pairs.chunks(BATCH) {
            let outcome = to.transact(&mut |tx| {
                for (k, v) in chunk {
                    tx.insert(*tree, k, v)?;
                }
                Ok(())
            })?;
            if !matches!(outcome, TxnOutcome::Committed) {
                return Err(StoreError::Backend("a copy transaction was refused".into()));
            }
        }
        to.flush()?;
        // Verified: the same count, and every pair read back as it was.
        let copied = to.scan_prefix(*tree, b"")?;
        if copied != pairs {
            return Err(StoreError::Backend(format!(
                "tree {} does not read back as copied ({} pairs, {} read)",
                tree.as_str(),
                pairs.len(),
                copied.len()
            )));
        }
        report.trees.push((tree.as_str(), pairs.len()));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemKv;

    #[test]
    fn everything_is_copied_and_a_store_with_data_is_refused() {
        let from = MemKv::new();
        from.transact(&mut |tx| {
            for i in 0..1200u32 {
                tx.insert(Tree::Users, format!("u{i:05}").as_bytes(), &i.to_be_bytes())?;
            }
            tx.insert(Tree::UserEmails, b"a@x", b"u00001")?;
            tx.insert(Tree::Keys, b"kid", b"key")?;
            Ok(())
        })
        .unwrap();
        let to = MemKv::new();
        let report = copy(&from, &to).unwrap();
        assert_eq!(report.total(), 1202);
        assert!(report.trees.contains(&("users", 1200)));
        assert_eq!(
            to.get(Tree::Keys, b"kid").unwrap().as_deref(),
            Some(&b"key"[..])
        );
        // Again into the now full target: refused, nothing changes.
        assert!(copy(&from, &to).is_err());
        assert_eq!(to.scan_prefix(Tree::Users, b"").unwrap().len(), 1200);
    }
}
