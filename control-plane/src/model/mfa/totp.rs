//! TOTP (RFC 6238 over RFC 4226's HOTP) as authenticator apps implement it: HMAC-SHA1,
//! six digits, 30-second steps, a 160-bit secret shown as unpadded base32. A code is
//! accepted in the current step or one either side, and only for a step after the last one
//! accepted (a code cannot be replayed inside its window).

use ring::hmac;

/// Seconds per step.
pub const STEP: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps of clock skew tolerated either side.
pub const SKEW: i64 = 1;

/// HOTP (RFC 4226 §5.3): the `digits`-digit code of `secret` at `counter`.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    bin % 10u32.pow(digits)
}

/// The step `unix` falls in.
pub fn step_of(unix: i64) -> i64 {
    unix.div_euclid(STEP)
}

/// The code of `secret` for `step`, zero-padded.
pub fn code(secret: &[u8], step: i64) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    format!(
        "{:0width$}",
        hotp(secret, counter, DIGITS),
        width = DIGITS as usize
    )
}

/// The step a `given` code matches at `now` (±[`SKEW`]), if it is after `last_step`. Every
/// candidate is compared, in constant time, whatever matched first.
pub fn check(secret: &[u8], given: &str, now: i64, last_step: i64) -> Option<i64> {
    let given = given.trim();
    if given.len() != DIGITS as usize || !given.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_of(now);
    let mut found = None;
    for step in (current - SKEW)..=(current + SKEW) {
        let ok = crate::crypto::ct_eq(code(secret, step).as_bytes(), given.as_bytes());
        if ok && step > last_step && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A new 160-bit secret.
pub fn new_secret() -> [u8; 20] {
    crate::crypto::random_bytes::<20>()
}

/// The secret as authenticator apps take it: unpadded base32.
pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

fn uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Google Authenticator's key URI: `otpauth://totp/<issuer>:<account>?secret=…&issuer=…`.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        uri_component(issuer),
        uri_component(account),
        base32(secret),
        uri_component(issuer),
    )
}

/// The QR code of `uri` as an image data URL (`<img src>` is how the login box shows it).
pub fn qr_data_url(uri: &str) -> String {
    use base64::Engine;
    let svg = match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build(),
        Err(_) => String::new(),
    };
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits, the ASCII secret "12345678901234567890").
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(hotp(secret, t / 30, 8), want, "T = {t}");
        }
        // RFC 4226 Appendix D: six digits.
        let want = [755_224, 287_082, 359_152, 969_429, 338_314];
        for (c, w) in want.iter().enumerate() {
            assert_eq!(hotp(secret, c as u64, 6), *w);
        }
    }

    #[test]
    fn skew_replay_and_malformed_codes() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let s = step_of(now);
        assert_eq!(check(&secret, &code(&secret, s), now, 0), Some(s));
        assert_eq!(check(&secret, &code(&secret, s - 1), now, 0), Some(s - 1));
        assert_eq!(check(&secret, &code(&secret, s + 1), now, 0), Some(s + 1));
        assert_eq!(check(&secret, &code(&secret, s - 2), now, 0), None);
        assert_eq!(check(&secret, &code(&secret, s + 2), now, 0), None);
        // Accepted once: a step at or before the last accepted is refused.
        assert_eq!(check(&secret, &code(&secret, s), now, s), None);
        assert_eq!(check(&secret, &code(&secret, s + 1), now, s), Some(s + 1));
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦"] {
            assert_eq!(check(&secret, bad, now, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn uri_and_qr() {
        let uri = otpauth_uri("Acme Inc", "a+b@x.io", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Inc:a%2Bb%40x.io?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Inc&algorithm=SHA1&digits=6&period=30"
        );
        let qr = qr_data_url(&uri);
        assert!(qr.starts_with("data:image/svg+xml;base64,"));
        assert!(qr.len() > 1000);
    }
}
