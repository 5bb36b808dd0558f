//! Applying one push message to the state: whole or not at all. A message that does not
//! follow from the applied state (a rollback, a delta for another base) or does not build
//! ([`snapshot::BuildError`]) is an [`ApplyError`] and changes nothing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use shared::wire::PushMessage;

use crate::snapshot::{self, AccessTokens};
use crate::state::{Sidecar, unix_now};

/// Why a push message was not applied; the applied state is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A snapshot older than the applied one of the same control-plane epoch (a replay).
    #[error("snapshot version {offered} rolls back the applied {applied} of the same epoch")]
    Rollback {
        /// The message's version.
        offered: u64,
        /// The applied version.
        applied: u64,
    },
    /// A delta before any snapshot.
    #[error("a delta arrived before any snapshot")]
    NoSnapshot,
    /// A delta to a version not newer than the applied one.
    #[error("delta to version {offered} is not newer than the applied {applied}")]
    NotNewer {
        /// The delta's target version.
        offered: u64,
        /// The applied version.
        applied: u64,
    },
    /// A delta from another version than the applied one.
    #[error("delta from version {base} does not apply to version {applied}")]
    WrongBase {
        /// The delta's base.
        base: u64,
        /// The applied version.
        applied: u64,
    },
    /// The message's contents do not build (bad key, policy, revocation, rule, record).
    #[error(transparent)]
    Invalid(#[from] snapshot::BuildError),
}

/// Apply one message. `Ok(Some(v))`: state moved to version `v`; `Ok(None)`: heartbeat.
/// Everything is checked and built before anything changes; the new view is stored in one
/// swap, after the revocations it brings (see [`crate::view`]).
pub fn apply(sc: &Sidecar, msg: PushMessage) -> Result<Option<u64>, ApplyError> {
    let now = unix_now();
    match msg {
        PushMessage::Snapshot(s) => {
            let v = sc.update(|view| {
                // Within one control-plane epoch versions only grow: an older snapshot is a
                // replay (a new epoch — the control plane restarted — may start lower).
                if let Some(cur) = &view.snapshot
                    && cur.epoch == s.epoch
                    && s.version < cur.version
                {
                    return Err(ApplyError::Rollback {
                        offered: s.version,
                        applied: cur.version,
                    });
                }
                let snap = snapshot::from_wire(&s)?;
                let v = snap.version;
                sc.revocations.replace(&s.revocations);
                let tokens = Arc::new(AccessTokens::of(&s.access_tokens));
                Ok((view.with_snapshot(snap, tokens), v))
            })?;
            sc.touch(now);
            Ok(Some(v))
        }
        PushMessage::Delta(d) => {
            sc.update(|view| {
                let cur = view.snapshot.as_ref().ok_or(ApplyError::NoSnapshot)?;
                if d.version <= cur.version {
                    return Err(ApplyError::NotNewer {
                        offered: d.version,
                        applied: cur.version,
                    });
                }
                if d.base != cur.version {
                    return Err(ApplyError::WrongBase {
                        base: d.base,
                        applied: cur.version,
                    });
                }
                let next = snapshot::next(cur, &d)?;
                for r in &d.revocations {
                    sc.revocations.insert(r);
                }
                let tokens = match &d.access_tokens {
                    Some(records) => Arc::new(AccessTokens::of(records)),
                    None => view.access_tokens.clone(),
                };
                Ok((view.with_snapshot(next, tokens), ()))
            })?;
            sc.touch(now);
            Ok(Some(d.version))
        }
        PushMessage::Heartbeat { now: theirs, .. } => {
            sc.touch(now);
            let skew = now.saturating_sub(theirs);
            let before = sc.clock_skew.swap(skew, Ordering::Relaxed);
            let leeway = sc.config.leeway;
            if skew.abs() > leeway && before.abs() <= leeway {
                tracing::warn!(
                    skew_seconds = skew,
                    leeway_seconds = leeway,
                    "this host's clock and the control plane's differ by more than the leeway: \
                     fresh tokens are refused (clock behind) or expired ones accepted (ahead)"
                );
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod fuzz {
    //! `security.md` §4: 100 % of corrupted, rolled-back or unsigned push messages rejected,
    //! the last good state unchanged, over a 10k-mutation run.

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use rsa::traits::PublicKeyParts;
    use shared::wire::{
        self, KeyState, Policy, PublicKey, PushMessage, Revocation, RevocationKind,
    };

    use super::apply;
    use crate::routes::Routes;
    use crate::state::Sidecar;

    const MAC: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn snapshot(version: u64, epoch: &str, revoked: usize) -> wire::Snapshot {
        static KEY: std::sync::OnceLock<PublicKey> = std::sync::OnceLock::new();
        let key = KEY.get_or_init(|| {
            let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("key");
            PublicKey {
                kid: "k0".into(),
                alg: "RS256".into(),
                n: B64.encode(private.n().to_bytes_be()),
                e: B64.encode(private.e().to_bytes_be()),
                state: KeyState::Active,
            }
        });
        wire::Snapshot {
            protocol: wire::PROTOCOL,
            version,
            epoch: epoch.into(),
            issued_at: 1_800_000_000,
            keys: vec![key.clone()],
            policy: Policy {
                issuer: "https://issuer".into(),
                audience: "aud".into(),
                access_token_ttl: 3600,
            },
            revocations: (0..revoked)
                .map(|i| Revocation {
                    kind: RevocationKind::Session,
                    id: format!("s{i}"),
                    tenant_id: None,
                    not_before: 1_800_000_000,
                    expires_at: i64::MAX / 2,
                })
                .collect(),
            restrictions: vec![],
            access_tokens: vec![],
        }
    }

    /// The observable state: version, epoch, key ids, revocation count.
    fn state(sc: &Sidecar) -> (u64, String, Vec<String>, usize) {
        let cur = sc.snapshot().expect("state");
        let mut kids: Vec<String> = cur.keys.keys().cloned().collect();
        kids.sort();
        (cur.version, cur.epoch.clone(), kids, sc.revocations.len())
    }

    /// What the link does with a frame: decode (size, MAC, shape, protocol), then apply.
    fn receive(sc: &Sidecar, frame: &[u8]) -> Result<(), String> {
        let msg = wire::decode(MAC, frame).map_err(|e| e.to_string())?;
        apply(sc, msg).map(drop).map_err(|e| e.to_string())
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
        }
    }

    #[test]
    fn ten_thousand_mutations_are_all_rejected_and_change_nothing() {
        let config = crate::Config::from_args(crate::config::Args::default()).unwrap();
        let sc = Sidecar::new(config, "fuzz".into(), Routes::default()).unwrap();
        let good = wire::encode(MAC, &PushMessage::Snapshot(snapshot(5, "e1", 3)));
        receive(&sc, &good[..good.len() - 1]).expect("the genuine snapshot applies");
        let lkg = state(&sc);
        let delta = wire::encode(
            MAC,
            &PushMessage::Delta(wire::Delta {
                protocol: wire::PROTOCOL,
                base: 5,
                version: 6,
                issued_at: 1_800_000_001,
                keys: None,
                policy: None,
                revocations: vec![],
                restrictions: vec![],
                access_tokens: None,
            }),
        );
        let sources = [good.clone(), delta];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut tried, mut rejected) = (0, 0);
        while tried < 10_000 {
            let src = &sources[rng.below(sources.len())];
            let mut f = src[..src.len() - 1].to_vec();
            match rng.below(6) {
                // Bit flips anywhere (MAC, JSON).
                0 | 1 => {
                    for _ in 0..=rng.below(8) {
                        let i = rng.below(f.len());
                        f[i] ^= 1 << rng.below(8);
                    }
                }
                // Truncation at a random byte.
                2 => f.truncate(rng.below(f.len())),
                // Random bytes inserted.
                3 => {
                    let i = rng.below(f.len());
                    let junk: Vec<u8> = (0..=rng.below(16)).map(|_| rng.next() as u8).collect();
                    f.splice(i..i, junk);
                }
                // Unsigned: a zero MAC, or no MAC at all.
                4 => {
                    if rng.below(2) == 0 {
                        f[..64].fill(b'0');
                    } else {
                        f.drain(..65);
                    }
                }
                // Signed but rolled back or for another base: a genuine MAC over a replay.
                _ => {
                    let old = if rng.below(2) == 0 {
                        PushMessage::Snapshot(snapshot(rng.below(5) as u64, "e1", 1))
                    } else {
                        PushMessage::Delta(wire::Delta {
                            protocol: wire::PROTOCOL,
                            base: rng.below(5) as u64,
                            version: 1 + rng.below(5) as u64,
                            issued_at: 1_800_000_001,
                            keys: None,
                            policy: None,
                            revocations: vec![],
                            restrictions: vec![],
                            access_tokens: None,
                        })
                    };
                    let e = wire::encode(MAC, &old);
                    f = e[..e.len() - 1].to_vec();
                }
            }
            if f == src[..src.len() - 1] {
                continue; // the mutation changed nothing
            }
            tried += 1;
            if receive(&sc, &f).is_err() {
                rejected += 1;
            }
            assert_eq!(state(&sc), lkg, "mutation {tried} changed the state");
        }
        println!("push fuzz: {tried} mutated messages, {rejected} rejected, state unchanged");
        assert_eq!(rejected, tried);
        // The genuine delta still applies afterwards.
        let next = wire::encode(
            MAC,
            &PushMessage::Delta(wire::Delta {
                protocol: wire::PROTOCOL,
                base: 5,
                version: 6,
                issued_at: 1_800_000_002,
                keys: None,
                policy: None,
                revocations: vec![],
                restrictions: vec![],
                access_tokens: None,
            }),
        );
        receive(&sc, &next[..next.len() - 1]).unwrap();
        assert_eq!(state(&sc).0, 6);
        // A new epoch may start lower (the control plane restarted).
        let fresh = wire::encode(MAC, &PushMessage::Snapshot(snapshot(2, "e2", 1)));
        receive(&sc, &fresh[..fresh.len() - 1]).unwrap();
        assert_eq!(state(&sc).0, 2);
    }

    /// One view: a reader never sees access tokens of one version with the keys of
    /// another (before, the access tokens and the snapshot were two cells stored one after
    /// the other).
    #[test]
    fn readers_see_keys_and_access_tokens_of_one_version() {
        let config = crate::Config::from_args(crate::config::Args::default()).unwrap();
        let sc =
            std::sync::Arc::new(Sidecar::new(config, "view".into(), Routes::default()).unwrap());
        let of = |v: u64| {
            let mut s = snapshot(v, "e1", 0);
            s.keys[0].kid = format!("k{v}");
            s.access_tokens = vec![wire::AccessTokenRecord {
                id: format!("at-{v}"),
                tenant_id: "t1".into(),
                user_id: None,
                roles: vec![],
                permissions: vec![],
                expires_at: None,
                email: None,
            }];
            PushMessage::Snapshot(s)
        };
        apply(&sc, of(1)).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (sc, stop) = (sc.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut seen = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let view = sc.view();
                        let snap = view.snapshot.as_ref().expect("held");
                        let v = snap.version;
                        assert!(snap.keys.contains_key(&format!("k{v}")));
                        assert!(
                            view.access_tokens.get(&format!("at-{v}")).is_some(),
                            "version {v}'s keys with another version's access tokens"
                        );
                        assert_eq!(view.access_tokens.len(), 1);
                        seen += 1;
                    }
                    seen
                })
            })
            .collect();
        for v in 2..3000 {
            apply(&sc, of(v)).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(reads > 0);
        assert_eq!(sc.version(), Some(2999));
    }
}
