//! The small set of primitives the control plane uses, all from `ring`: randomness, SHA-256,
//! HMAC and constant-time comparison. One crypto stack (`design.md` §3).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // getrandom(2) does not fail on any supported Linux once the pool is initialised; a
    // failure here would mean no secure randomness at all, where continuing is worse.
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the OS random number generator failed");
    buf
}

/// A random 128-bit id as a lower-case hyphenated UUID (version 4).
pub fn new_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(random_bytes::<16>()).into_uuid()
}

/// A random secret of 256 bits as lower-case hex.
pub fn random_secret_hex() -> String {
    hex(&random_bytes::<32>())
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Equality in time independent of where the inputs differ (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Decode lower- or upper-case hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

/// base64url without padding.
pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Decode base64url without padding (strict: padding and other alphabets are refused).
pub fn unb64url(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_roundtrip() {
        let b = random_bytes::<32>();
        assert_eq!(unhex(&hex(&b)).unwrap(), b);
        assert_eq!(unb64url(&b64url(&b)).unwrap(), b);
        assert!(unb64url("ab==").is_none());
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"ab", b"abc"));
        assert_ne!(new_uuid(), new_uuid());
        assert_eq!(new_uuid().get_version_num(), 4);
    }

    /// `security.md` A18: how long a comparison takes must not tell where the inputs first
    /// differ. Interleaved samples over 64 KiB inputs differing in the first or in the last
    /// byte; the same measurement of a plain `==` (which stops at the first difference) shows
    /// the test can see an early exit.
    #[test]
    fn comparison_time_does_not_depend_on_where_inputs_differ() {
        use std::hint::black_box;
        use std::time::{Duration, Instant};
        const N: usize = 64 * 1024;
        let a = vec![0x5au8; N];
        let mut first = a.clone();
        first[0] ^= 1;
        let mut last = a.clone();
        last[N - 1] ^= 1;
        let median = |cmp: &dyn Fn(&[u8], &[u8]) -> bool, other: &[u8]| {
            let mut t: Vec<Duration> = (0..301)
                .map(|_| {
                    let at = Instant::now();
                    black_box(cmp(black_box(&a), black_box(other)));
                    at.elapsed()
                })
                .collect();
            t.sort();
            t[t.len() / 2]
        };
        let ratio = |cmp: &dyn Fn(&[u8], &[u8]) -> bool| {
            // Interleaved rounds, the median of the per-round ratios.
            let mut r: Vec<f64> = (0..5)
                .map(|_| median(cmp, &last).as_secs_f64() / median(cmp, &first).as_secs_f64())
                .collect();
            r.sort_by(f64::total_cmp);
            r[2]
        };
        let constant = ratio(&|x: &[u8], y: &[u8]| ct_eq(x, y));
        let naive = ratio(&|x: &[u8], y: &[u8]| x == y);
        println!(
            "64 KiB compare, differing last vs first byte: ct_eq {constant:.2}x, plain == {naive:.0}x"
        );
        assert!(
            naive > 3.0,
            "the measurement cannot see an early exit (plain == ratio {naive:.2})"
        );
        assert!(
            (0.7..=1.43).contains(&constant),
            "ct_eq takes {constant:.2}x as long when the inputs differ last (plain == {naive:.1}x)"
        );
    }
}
