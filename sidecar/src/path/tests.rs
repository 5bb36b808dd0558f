use proptest::prelude::*;

use super::*;
use crate::routes::Routes;

#[test]
fn spellings_of_one_path_have_one_canonical_form() {
    for (raw, canonical_form) in [
        ("/", "/"),
        ("/admin/x", "/admin/x"),
        ("/%61dmin/x", "/admin/x"),
        ("/%61%64%6D%69%6e/x", "/admin/x"),
        ("//admin/x", "/admin/x"),
        ("/admin//x", "/admin/x"),
        ("/./admin/x", "/admin/x"),
        ("/public/../admin/x", "/admin/x"),
        ("/public/%2e%2e/admin/x", "/admin/x"),
        ("/public/.%2E/admin/x", "/admin/x"),
        ("/../../admin", "/admin"),
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
        ("/a/", "/a/"),
        ("/a/.b/..c", "/a/.b/..c"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/a%20b", "/a%20B".replace('B', "b").as_str()),
        ("/100%25", "/100%25"),
        ("/%7euser", "/~user"),
        ("/Admin/x", "/Admin/x"),
    ] {
        assert_eq!(canonical(raw).unwrap(), canonical_form, "{raw}");
    }
}

#[test]
fn what_readers_could_disagree_on_is_refused() {
    for (raw, why) in [
        ("admin", PathError::NotAbsolute),
        ("", PathError::NotAbsolute),
        ("/a#b", PathError::NotAbsolute),
        ("/closed%2Fx", PathError::Separator),
        ("/closed%2fx", PathError::Separator),
        ("/closed%5Cx", PathError::Separator),
        ("/closed\\x", PathError::Separator),
        ("/admin;x/y", PathError::Parameter),
        ("/admin%3Bx", PathError::Parameter),
        ("/a%00b", PathError::Control),
        ("/a%0ab", PathError::Control),
        ("/a%7fb", PathError::Control),
        ("/a b", PathError::Control),
        ("/a\tb", PathError::Control),
        ("/caf\u{e9}", PathError::Control),
        ("/a%", PathError::Encoding),
        ("/a%4", PathError::Encoding),
        ("/a%zz", PathError::Encoding),
        ("/%c0%ae%c0%ae/admin", PathError::Encoding),
        ("/%e0%80%af", PathError::Encoding),
        ("/%ff", PathError::Encoding),
        ("/%c3", PathError::Encoding),
    ] {
        assert_eq!(canonical(raw), Err(why), "{raw:?}");
    }
}

#[test]
fn canonical_paths_are_borrowed_and_fixed_points() {
    for p in ["/", "/orders/7", "/a/b/", "/a.b/c-d_e~f"] {
        assert!(matches!(canonical(p), Ok(Cow::Borrowed(_))), "{p}");
    }
    for p in ["/%61", "//x", "/a/../b", "/x/%C3%A9"] {
        let once = canonical(p).unwrap().into_owned();
        assert_eq!(canonical(&once).unwrap(), once, "idempotent for {p}");
    }
}

const RULES: &str = r#"
default = "authenticated"
[[route]]
path = "/public/**"
public = true
[[route]]
path = "/closed/**"
deny = true
[[route]]
path = "/admin/**"
roles = ["Admin"]
[[route]]
methods = ["POST"]
path = "/orders/*/refund"
permissions = ["orders.refund"]
"#;

/// Path segments of the protected and public areas, with characters worth encoding.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("public".to_owned()),
        Just("closed".to_owned()),
        Just("admin".to_owned()),
        Just("orders".to_owned()),
        Just("refund".to_owned()),
        "[a-zA-Z0-9._~-]{1,6}".prop_filter("not a dot segment", |s| s != "." && s != ".."),
    ]
}

/// One way of writing a segment differently: percent-encoding some of its characters (hex in
/// either case), changing letter case.
fn respell(seg: &str, choices: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in seg.chars().enumerate() {
        match choices.get(i).copied().unwrap_or(0) % 4 {
            1 => out.push_str(&format!("%{:02X}", u32::from(c))),
            2 => out.push_str(&format!("%{:02x}", u32::from(c))),
            3 if c.is_ascii_alphabetic() => out.push(if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }),
            _ => out.push(c),
        }
    }
    out
}

/// A spelling of `segs`: re-spelled segments, with `//`, `/./` and `/x/../` inserted, or a
/// refused form (an encoded slash, a parameter, a NUL) spliced in.
fn spelling(segs: &[String], noise: &[u8]) -> String {
    let mut out = String::new();
    for (i, s) in segs.iter().enumerate() {
        let n = noise.get(i).copied().unwrap_or(0);
        match n % 9 {
            1 => out.push('/'),
            2 => out.push_str("/."),
            3 => out.push_str("/zz/.."),
            4 => out.push_str("/%2e"),
            5 => out.push_str("/zz/%2E%2e"),
            _ => {}
        }
        out.push('/');
        out.push_str(&respell(s, &noise[i.min(noise.len())..]));
        match n % 13 {
            7 => out.push_str("%2Fx"),
            8 => out.push_str(";x"),
            9 => out.push_str("%00"),
            _ => {}
        }
    }
    if segs.is_empty() {
        out.push('/');
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// L2 as a property: for a path and any spelling of it, the route decision is the same,
    /// or the spelling is refused.
    #[test]
    fn every_spelling_decides_like_the_path_or_is_refused(
        segs in proptest::collection::vec(segment(), 0..5),
        noise in proptest::collection::vec(any::<u8>(), 0..24),
        post in any::<bool>(),
    ) {
        let routes = Routes::parse(RULES).unwrap();
        let method = if post { "POST" } else { "GET" };
        let plain = format!("/{}", segs.join("/"));
        let want = routes.find(method, &canonical(&plain).unwrap());
        let spelled = spelling(&segs, &noise);
        // A refused spelling is fine: it decides nothing.
        if let Ok(c) = canonical(&spelled) {
            prop_assert_eq!(routes.find(method, &c), want, "{} vs {}", spelled, plain);
            let again = canonical(&c).unwrap();
            prop_assert_eq!(again.as_ref(), c.as_ref(), "canonical form is a fixed point");
        }
    }
}
