//! Email addresses: one normalisation used everywhere (uniqueness, login, lockout counters,
//! domain rules). The address as entered is kept for display.
//!
//! Rules: trimmed; the local part is printable ASCII without spaces (so look-alike Unicode,
//! zero-width and bidi characters cannot make a second account that displays like an
//! existing one) and compared case-insensitively, as Frontegg does; the domain is converted
//! to IDNA A-labels (UTS-46, which also lower-cases it) with any trailing dot removed.

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid email address: {0}")]
pub struct EmailError(&'static str);

/// The normalised form (lower-case ASCII local part, A-label domain).
pub fn normalize(raw: &str) -> Result<String, EmailError> {
    let s = raw.trim();
    if s.len() > 320 {
        return Err(EmailError("too long"));
    }
    let (local, domain) = s.rsplit_once('@').ok_or(EmailError("missing @"))?;
    if local.is_empty() || local.len() > 64 {
        return Err(EmailError("the part before @ must be 1 to 64 characters"));
    }
    if !local
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'@' && b != b'"' && b != b'\\')
    {
        return Err(EmailError(
            "the part before @ must be printable ASCII without spaces or quotes",
        ));
    }
    // The one domain normalisation, shared with the sidecar and the domain rules.
    let ascii = shared::net::normalize_domain(domain).map_err(|_| EmailError("bad domain"))?;
    Ok(format!("{}@{ascii}", local.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_idn_variants_meet_and_lookalikes_are_refused() {
        let n = |s| normalize(s).unwrap();
        assert_eq!(n("Alice@Example.COM"), "alice@example.com");
        assert_eq!(n("  alice@EXAMPLE.com. "), "alice@example.com");
        assert_eq!(n("bob@Bücher.example"), "bob@xn--bcher-kva.example");
        assert_eq!(n("bob@xn--bcher-kva.example"), "bob@xn--bcher-kva.example");
        assert_eq!(n("alice+1@example.com"), "alice+1@example.com");
        for bad in [
            "alİce@example.com",
            "alıce@example.com",
            "\u{ff41}lice@example.com",
            "ali\u{200d}ce@example.com",
            "\u{212a}elvin@example.com",
            "al ice@example.com",
            "alice@",
            "@example.com",
            "alice",
            "alice@localhost",
            "alice@exa mple.com",
            "alice@-bad-.com.",
            // security.md G5: the domain mail would go to is the one checked, or nothing.
            "\"a@example.com\"@evil.com",
            "a@example.com@evil.com",
            "a@evil.com(example.com)",
            "a@[127.0.0.1]",
        ] {
            assert!(normalize(bad).is_err(), "{bad}");
        }
        assert_eq!(n("a%example.com@evil.com"), "a%example.com@evil.com");
        // Idempotent.
        assert_eq!(n(&n("Bob@Bücher.Example")), n("Bob@Bücher.Example"));
    }
}
