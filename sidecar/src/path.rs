//! The one canonical form of a request path, decided before any route rule is matched and,
//! in proxy mode, the path forwarded upstream — so the sidecar and the service behind it
//! cannot read one request as two different paths (`security.md` L2).
//!
//! RFC 3986 normalisation: percent-encodings of unreserved characters are decoded (`%61` is
//! `a`, `%2E` is `.`) and every other encoding is kept with upper-case hex; then `//` is
//! collapsed and dot segments are removed (§5.2.4: `/a/./b/../c` is `/a/c`, and `..` never
//! climbs above the root). What two readers could still disagree on is refused rather than
//! guessed at: an encoded `/` or `\` (`%2F`, `%5C`), a raw `\`, `;` path parameters (raw or
//! `%3B`), NUL and other control characters (raw or encoded), raw non-ASCII, malformed
//! percent-encodings, encoded bytes that are not UTF-8 (overlong forms included), a `#`, and
//! anything not starting with `/`. Case is kept; route matching decides how case counts
//! ([`crate::routes`]).

use std::borrow::Cow;

/// Why a path is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Not absolute (`/…`), or a fragment.
    NotAbsolute,
    /// An encoded or raw separator another reader may split on (`%2F`, `%5C`, `\`).
    Separator,
    /// A `;` parameter, raw or encoded.
    Parameter,
    /// NUL, control characters, raw non-ASCII or whitespace.
    Control,
    /// A malformed percent-encoding, or encoded bytes that are not UTF-8.
    Encoding,
}

impl PathError {
    /// A human-readable reason.
    pub const fn message(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the request path must start with / and carry no fragment",
            PathError::Separator => "encoded or backslash path separators are refused",
            PathError::Parameter => "path parameters (;) are refused",
            PathError::Control => "control characters, spaces and raw non-ASCII are refused",
            PathError::Encoding => "the path has an invalid percent-encoding",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Check the raw bytes; `true` when the path may need rewriting (an encoding, `//`, a dot
/// segment), `false` when it is already canonical.
fn scan(p: &[u8]) -> Result<bool, PathError> {
    if p.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut rewrite = false;
    let mut i = 0;
    while i < p.len() {
        let b = p[i];
        match b {
            b'#' => return Err(PathError::NotAbsolute),
            b'\\' => return Err(PathError::Separator),
            b';' => return Err(PathError::Parameter),
            b'%' => {
                rewrite = true;
                let (Some(h), Some(l)) = (
                    p.get(i + 1).copied().and_then(hex),
                    p.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::Encoding);
                };
                match h << 4 | l {
                    b'/' | b'\\' => return Err(PathError::Separator),
                    b';' => return Err(PathError::Parameter),
                    c if c < 0x20 || c == 0x7f => return Err(PathError::Control),
                    _ => {}
                }
                i += 3;
                continue;
            }
            b'/' => {
                // `//`, `/.` and `/..` segments need rewriting.
                match p.get(i + 1) {
                    Some(b'/') => rewrite = true,
                    Some(b'.') => {
                        let seg_end = p[i + 1..]
                            .iter()
                            .position(|&c| c == b'/')
                            .map_or(p.len(), |n| i + 1 + n);
                        if matches!(&p[i + 1..seg_end], b"." | b"..") {
                            rewrite = true;
                        }
                    }
                    _ => {}
                }
            }
            _ if !b.is_ascii_graphic() => return Err(PathError::Control),
            _ => {}
        }
        i += 1;
    }
    Ok(rewrite)
}

/// Decode unreserved encodings, normalise the rest to upper-case hex, and check that every
/// run of encoded non-ASCII bytes is UTF-8.
fn decode_unreserved(p: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(p.len());
    let mut run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut String| -> Result<(), PathError> {
        if run.is_empty() {
            return Ok(());
        }
        std::str::from_utf8(run).map_err(|_| PathError::Encoding)?;
        for b in run.drain(..) {
            out.push_str(&format!("%{b:02X}"));
        }
        Ok(())
    };
    let mut i = 0;
    while i < p.len() {
        if p[i] == b'%' {
            // `scan` checked the two hex digits.
            let v = hex(p[i + 1]).unwrap_or(0) << 4 | hex(p[i + 2]).unwrap_or(0);
            i += 3;
            if v >= 0x80 {
                run.push(v);
                continue;
            }
            flush(&mut run, &mut out)?;
            if unreserved(v) {
                out.push(char::from(v));
            } else {
                out.push_str(&format!("%{v:02X}"));
            }
            continue;
        }
        flush(&mut run, &mut out)?;
        out.push(char::from(p[i]));
        i += 1;
    }
    flush(&mut run, &mut out)?;
    Ok(out)
}

/// Collapse `//` and remove dot segments (RFC 3986 §5.2.4); a trailing `.`/`..` or `/`
/// leaves a trailing slash.
fn remove_dots(p: &str) -> String {
    let mut segs: Vec<&str> = Vec::new();
    let mut trailing = false;
    for s in p.split('/').skip(1) {
        trailing = false;
        match s {
            "" => trailing = true,
            "." => trailing = true,
            ".." => {
                segs.pop();
                trailing = true;
            }
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(p.len());
    for s in &segs {
        out.push('/');
        out.push_str(s);
    }
    if trailing || segs.is_empty() {
        out.push('/');
    }
    out
}

/// The canonical form of a request path (no query), or why it is refused. Borrowed when the
/// path is already canonical (the common case: no allocation).
pub fn canonical(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !scan(path.as_bytes())? {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path.as_bytes())?;
    Ok(Cow::Owned(remove_dots(&decoded)))
}

#[cfg(test)]
mod tests;
