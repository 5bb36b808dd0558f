//! Password hashing: argon2id with tunable cost (cheap in tests, strong by default), run on
//! dedicated threads (one per core) so it never stalls the async workers — at most one hash
//! per core at a time, the rest waiting in a bounded line ([`Hasher`]): beyond it a request is shed with
//! 503 + `Retry-After` instead of queueing without bound (`security.md` R10: on two cores a
//! login flood would otherwise grow memory by a hash's worth per request and latency for
//! everyone).

pub mod imported;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Params, Version};

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every core is busy and the line of waiting checks is full: retry shortly (503).
    #[error("too many password checks are waiting; retry shortly")]
    Overloaded,
    /// The password is longer than is ever hashed (400).
    #[error("{0}")]
    TooLong(String),
    /// Hashing itself failed, or a stored hash is unreadable (500; the cause is logged).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

fn hashing(e: impl std::fmt::Display) -> PasswordError {
    PasswordError::Hashing(e.to_string())
}

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Cost {
    /// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Argon2Cost {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Cost {
    /// The cheapest valid cost (tests only).
    pub const fn cheap() -> Self {
        Argon2Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// Longest password accepted (hashing cost must not depend on attacker-chosen sizes).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// The cost, and the gate every hash goes through: one running per core, at most
/// `max_waiting` waiting for a core.
#[derive(Clone, Debug)]
pub struct Hasher {
    /// argon2id parameters.
    pub cost: Argon2Cost,
    running: Arc<tokio::sync::Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    shed: Arc<std::sync::atomic::AtomicU64>,
    shed_metric: Option<prometheus::IntCounter>,
    /// Verifications against a real stored hash (not the decoy of an unknown, locked or
    /// throttled account). In-process only, never a metric: it would tell which guesses met
    /// an account (`security.md` M7).
    evaluated: Arc<std::sync::atomic::AtomicU64>,
}

impl Hasher {
    /// A gate with one running hash per available core.
    pub fn new(cost: Argon2Cost, max_waiting: usize) -> Hasher {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Hasher {
            cost,
            running: Arc::new(tokio::sync::Semaphore::new(cores)),
            waiting: Arc::default(),
            max_waiting,
            shed: Arc::default(),
            shed_metric: None,
            evaluated: Arc::default(),
        }
    }

    /// Passwords checked against a real stored hash so far (tests; not exported).
    pub fn evaluated(&self) -> u64 {
        self.evaluated.load(Ordering::Relaxed)
    }

    /// Also count refusals on `metric` (a registered counter).
    pub fn counting(mut self, metric: prometheus::IntCounter) -> Hasher {
        self.shed_metric = Some(metric);
        self
    }

    /// Hash checks refused so far because the line was full.
    pub fn shed_count(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Run `work` on a hashing thread once a core is free, or refuse at once (503) when
    /// `max_waiting` are already waiting.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Argon2Cost) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = match self.running.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // In the line until a core is free — or until the request is dropped (its
                // client gone): the guard leaves the line either way.
                let place = InLine::join(&self.waiting);
                if place.ahead >= self.max_waiting {
                    drop(place);
                    self.shed.fetch_add(1, Ordering::Relaxed);
                    if let Some(m) = &self.shed_metric {
                        m.inc();
                    }
                    return Err(PasswordError::Overloaded);
                }
                let p = self.running.clone().acquire_owned().await;
                drop(place);
                p.map_err(hashing)?
            }
        };
        let cost = self.cost;
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The core is held by the hash itself, not by the request: a request dropped while
        // its hash runs (the client gone) frees nothing early, so disconnecting cannot stack
        // hashes up behind the gate.
        hash_threads().run(Box::new(move || {
            let _ = tx.send(work(cost));
            drop(permit);
        }));
        rx.await
            .map_err(|_| PasswordError::Hashing("password hashing thread failed".into()))?
    }
}

/// A place in the line of waiting checks, left when dropped (also when the waiting request
/// is cancelled, so the count never drifts up).
struct InLine<'a> {
    waiting: &'a AtomicUsize,
    /// How many were waiting before this one joined.
    ahead: usize,
}

impl<'a> InLine<'a> {
    fn join(waiting: &'a AtomicUsize) -> Self {
        let ahead = waiting.fetch_add(1, Ordering::AcqRel);
        InLine { waiting, ahead }
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// One thread per core that runs the hashes. Not the blocking pool: it starts a thread per
/// overlapping task, and each keeps its hash's memory cached in its own malloc arena, so
/// memory would grow with the number of threads the flood made, not with the cores.
struct HashThreads {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl HashThreads {
    fn run(&self, job: Job) {
        // Sending fails only if every thread is gone: the dropped reply answers 500.
        let _ = self.jobs.send(job);
    }
}

fn hash_threads() -> &'static HashThreads {
    static THREADS: std::sync::OnceLock<HashThreads> = std::sync::OnceLock::new();
    THREADS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        for i in 0..cores {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // A panicking hash drops its reply (the caller answers 500); the
                        // thread lives on.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        HashThreads { jobs: tx }
    })
}

/// argon2id over this thread's working memory: one buffer per hashing thread, grown to the
/// largest cost seen and reused, so memory is bounded by cores × cost however many hashes
/// run (allocating per hash let the allocator keep ~20 hashes' worth cached).
fn argon2id_into(
    params: Params,
    version: Version,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), PasswordError> {
    thread_local! {
        static MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        let blocks = params.block_count();
        if m.len() < blocks {
            m.resize(blocks, argon2::Block::new());
        }
        Argon2::new(Algorithm::Argon2id, version, params)
            .hash_password_into_with_memory(password, salt, out, &mut m[..blocks])
            .map_err(hashing)
    })
}

/// PHC's base64: the standard alphabet without padding.
fn phc_b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// A PHC string for a fresh salt.
fn hash_blocking(cost: Argon2Cost, password: &[u8]) -> Result<String, PasswordError> {
    let salt = crate::crypto::random_bytes::<16>();
    let mut out = [0u8; 32];
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, Some(32))
        .map_err(hashing)?;
    argon2id_into(params, Version::V0x13, password, &salt, &mut out)?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
        phc_b64(&salt),
        phc_b64(&out)
    ))
}

/// Whether `password` matches the stored hash: an argon2id PHC string (its own parameters;
/// constant-time compare) or a hash imported by a migration ([`imported`]).
fn verify_blocking(phc: &str, password: &[u8]) -> Result<bool, PasswordError> {
    if phc.starts_with(imported::PREFIX) {
        return imported::verify(phc, password).map_err(PasswordError::Hashing);
    }
    let parsed = PasswordHash::new(phc).map_err(hashing)?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(PasswordError::Hashing("stored hash is not argon2id".into()));
    }
    let params = Params::try_from(&parsed).map_err(hashing)?;
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .map_err(hashing)?;
    let mut salt_buf = [0u8; 64];
    let salt = parsed
        .salt
        .ok_or_else(|| PasswordError::Hashing("stored hash has no salt".into()))?
        .decode_b64(&mut salt_buf)
        .map_err(hashing)?;
    let expected = parsed
        .hash
        .ok_or_else(|| PasswordError::Hashing("stored hash has no output".into()))?;
    let mut out = vec![0u8; expected.len()];
    argon2id_into(params, version, password, salt, &mut out)?;
    Ok(crate::crypto::ct_eq(&out, expected.as_bytes()))
}

/// Whether a stored hash is to be replaced by an argon2id hash once the password is known
/// (an imported one).
pub fn needs_rehash(stored: &str) -> bool {
    stored.starts_with(imported::PREFIX)
}

/// Hash a password (PHC string).
pub async fn hash(hasher: &Hasher, password: String) -> Result<String, PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong(format!(
            "password must be at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    hasher
        .run(move |cost| hash_blocking(cost, password.as_bytes()))
        .await
}

/// Check a password against a PHC string. With `None` (no such user) the same work is done
/// against a fixed hash, so both answers cost the same.
pub async fn verify(
    hasher: &Hasher,
    password: String,
    stored: Option<String>,
) -> Result<bool, PasswordError> {
    if stored.is_some() {
        hasher.evaluated.fetch_add(1, Ordering::Relaxed);
    }
    hasher
        .run(move |cost| {
            let (phc, real) = match stored {
                Some(s) => (s, true),
                None => (dummy_hash(cost)?, false),
            };
            let pw = &password.as_bytes()[..password.len().min(MAX_PASSWORD_BYTES)];
            Ok(verify_blocking(&phc, pw)? && real)
        })
        .await
}

/// A hash of a random password at the configured cost, made once per cost.
fn dummy_hash(cost: Argon2Cost) -> Result<String, PasswordError> {
    static CACHE: std::sync::Mutex<Vec<(Argon2Cost, String)>> = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE
        .lock()
        .map_err(|_| PasswordError::Hashing("dummy hash cache poisoned".into()))?;
    if let Some((_, h)) = cache.iter().find(|(c, _)| *c == cost) {
        return Ok(h.clone());
    }
    let h = hash_blocking(cost, &crate::crypto::random_bytes::<16>())?;
    cache.push((cost, h.clone()));
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let c = &Hasher::new(Argon2Cost::cheap(), 8);
        let h = hash(c, "correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify(c, "correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify(c, "wrong".into(), Some(h)).await.unwrap());
        assert!(!verify(c, "anything".into(), None).await.unwrap());
        assert!(hash(c, "x".repeat(300)).await.is_err());
    }

    #[tokio::test]
    async fn hashes_stored_by_the_argon2_crates_own_hasher_still_verify() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params::new(256, 2, 1, None).unwrap();
        let stored = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"old secret", &salt)
            .unwrap()
            .to_string();
        let c = &Hasher::new(Argon2Cost::cheap(), 8);
        assert!(
            verify(c, "old secret".into(), Some(stored.clone()))
                .await
                .unwrap()
        );
        assert!(!verify(c, "old secreT".into(), Some(stored)).await.unwrap());
        // And ours parse as standard PHC strings.
        let ours = hash(c, "new secret".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2::password_hash::PasswordVerifier::verify_password(
                &Argon2::default(),
                b"new secret",
                &parsed
            )
            .is_ok()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_line_sheds_instead_of_queueing() {
        // A slow cost, a line of 3: of 40 simultaneous checks, the ones finding every core
        // busy and 3 waiting are refused at once with 503; the rest are evaluated.
        let h = Hasher::new(
            Argon2Cost {
                memory_kib: 8 * 1024,
                iterations: 2,
                parallelism: 1,
            },
            3,
        );
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { verify(&h, "guess".into(), None).await })
            })
            .collect();
        let (mut evaluated, mut shed) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok(false) => evaluated += 1,
                Err(e) => {
                    assert!(matches!(e, PasswordError::Overloaded), "{e}");
                    shed += 1;
                }
                Ok(true) => unreachable!("no stored hash matches"),
            }
        }
        assert_eq!(evaluated + shed, 40);
        assert!(
            shed > 0 && evaluated >= cores + 3,
            "{evaluated} evaluated, {shed} shed"
        );
        assert_eq!(h.shed_count(), shed as u64);
        // The line drains: a later check is evaluated.
        assert!(!verify(&h, "later".into(), None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_dropped_while_waiting_leave_the_line() {
        let h = Hasher::new(
            Argon2Cost {
                memory_kib: 8 * 1024,
                iterations: 2,
                parallelism: 1,
            },
            3,
        );
        // Waiters whose clients give up: each dropped while in the line, many times over.
        for _ in 0..20 {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let h = h.clone();
                    tokio::spawn(async move { verify(&h, "guess".into(), None).await })
                })
                .collect();
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            for t in tasks {
                t.abort();
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(
            h.waiting.load(Ordering::Relaxed),
            0,
            "the line leaked places"
        );
        assert!(!verify(&h, "after".into(), None).await.unwrap());
    }
}
