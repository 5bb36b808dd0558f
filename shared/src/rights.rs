//! Role and permission keys, read one way by the control plane and by every sidecar: what a
//! key may look like, and what a held permission grants.
//!
//! Keys travel in token claims and in the sidecar's comma-separated identity headers
//! (`x-user-roles`, `x-user-permissions`), so a key is a single header-list element: visible
//! ASCII without commas, quotes or spaces. A held key ending in `.*` is a wildcard that grants
//! every key under its prefix, on segment boundaries; a *wanted* key that is itself a wildcard
//! (a route rule requiring `fe.secure.*`) is granted only by that wildcard or a wider one.

/// Longest key, bytes.
pub const MAX_KEY_LEN: usize = 255;

/// What [`is_valid_key`] accepts, for error messages.
pub const KEY_RULE: &str =
    "1 to 255 visible ASCII characters without commas, quotes, backslashes or spaces";

/// Whether `key` can be a role or permission key: 1 to [`MAX_KEY_LEN`] bytes of visible ASCII
/// (`!` to `~`) other than `,` (the identity headers' list separator), `"` and `\` (list
/// quoting). Whitespace, control characters and non-ASCII are refused: none could be carried
/// in a header unambiguously.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b',' | b'"' | b'\\'))
}

/// Whether a held permission `held` grants `wanted`: the same key, or `held` is a wildcard
/// `prefix.*` and `wanted` lies under `prefix.` (`fe.secure.*` grants `fe.secure.read.users`
/// and `fe.secure.read.*`; `fe.secure.read.*` grants neither `fe.secure.*` nor
/// `fe.secure.readX`).
pub fn grants(held: &str, wanted: &str) -> bool {
    if held == wanted {
        return true;
    }
    match held.strip_suffix('*') {
        Some(prefix) if prefix.ends_with('.') => wanted.starts_with(prefix),
        _ => false,
    }
}

/// Whether any of `held` grants `wanted`.
pub fn any_grants<S: AsRef<str>>(held: &[S], wanted: &str) -> bool {
    held.iter().any(|h| grants(h.as_ref(), wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_grant_on_segment_boundaries_only() {
        for (held, wanted, expected) in [
            ("fe.secure.*", "fe.secure.read.users", true),
            ("fe.secure.*", "fe.secure.read.*", true),
            ("fe.secure.*", "fe.secure.*", true),
            ("fe.secure.read.*", "fe.secure.read.users", true),
            ("fe.secure.read.*", "fe.secure.write.users", false),
            ("fe.secure.read.*", "fe.secure.*", false),
            ("fe.secure*", "fe.secureX.read", false),
            ("fe.secure.read.users", "fe.secure.read.usersX", false),
            ("fe.secure.read.users", "fe.secure.read.*", false),
            ("*", "anything", false),
            ("a.b", "a.b", true),
        ] {
            assert_eq!(grants(held, wanted), expected, "{held} grants {wanted}");
        }
    }

    #[test]
    fn keys_are_single_header_list_elements() {
        for ok in ["Admin", "fe.secure.*", "orders:read", "a/b@c+d", "x-y_z~1"] {
            assert!(is_valid_key(ok), "{ok}");
        }
        let long = "k".repeat(256);
        for bad in [
            "",
            "SuperAdmin,Admin",
            "Super Admin",
            "tab\there",
            "nl\n",
            "q\"uote",
            "back\\slash",
            "caf\u{e9}",
            "nul\0",
            long.as_str(),
        ] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
    }
}
