use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn cidrs_are_parsed_strictly() {
    assert_eq!(parse_cidr("10.0.0.0/8").unwrap().prefix, 8);
    assert_eq!(parse_cidr("10.1.2.3").unwrap().prefix, 32);
    assert_eq!(parse_cidr("::1").unwrap().prefix, 128);
    assert_eq!(parse_cidr("fd00::/8").unwrap().prefix, 8);
    assert_eq!(parse_cidr("0.0.0.0/0").unwrap().prefix, 0);
    assert_eq!(parse_cidr("::/0").unwrap().prefix, 0);
    assert_eq!(parse_cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
    for bad in [
        "10.0.0.1/8",
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/",
        "10.0.0.0/08",
        "10.0.0.0/-8",
        "10.0.0.0/+8",
        "010.0.0.0/8",
        "010.0.0.1",
        "0x7f.1",
        "0x7f000001",
        "127.1",
        "2130706433",
        " 10.0.0.1",
        "10.0.0.1 ",
        "10.0.0.1\0",
        "fe80::1%eth0",
        "fe80::1%25eth0",
        "١٠.0.0.1",
        "fd00::1/8",
        "",
        "x",
    ] {
        assert!(parse_cidr(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn ipv4_mapped_blocks_are_refused_with_their_ipv4_form() {
    // Found by the `net` fuzz target: clients are matched by their canonical IPv4 address,
    // so `::ffff:127.0.0.1` did not even contain itself — a BLOCK rule that never blocks.
    for (mapped, v4) in [
        ("::ffff:127.0.0.1", "127.0.0.1/32"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
        ("::ffff:0:0/96", "0.0.0.0/0"),
    ] {
        let err = parse_cidr(mapped).unwrap_err();
        assert!(err.contains(v4), "{mapped}: {err}");
    }
    // IPv4-compatible, NAT64 and wider blocks stay IPv6 rules.
    for ok in ["::10.0.0.1", "64:ff9b::/96", "::/0", "::fffe:0:0/95"] {
        assert!(parse_cidr(ok).is_ok(), "{ok}");
    }
}

#[test]
fn containment_at_the_edges() {
    let c = |s| parse_cidr(s).unwrap();
    assert!(c("10.0.0.0/8").contains(ip("10.0.0.0")));
    assert!(c("10.0.0.0/8").contains(ip("10.255.255.255")));
    assert!(!c("10.0.0.0/8").contains(ip("11.0.0.0")));
    assert!(!c("10.0.0.0/8").contains(ip("9.255.255.255")));
    assert!(c("0.0.0.0/0").contains(ip("255.255.255.255")));
    assert!(!c("::/0").contains(ip("1.2.3.4")), "::/0 holds no IPv4");
    assert!(c("::/0").contains(ip("2001:db8::1")));
    assert!(
        c("127.0.0.1/32").contains(ip("::ffff:127.0.0.1")),
        "mapped IPv6 is IPv4"
    );
    assert!(
        !c("10.0.0.1/32").contains(ip("::10.0.0.1")),
        "IPv4-compatible stays IPv6"
    );
    assert!(
        !c("10.0.0.1/32").contains(ip("64:ff9b::a00:1")),
        "NAT64 stays IPv6"
    );
    assert!(c("2001:db8::/128").contains(ip("2001:db8::")));
    assert!(!c("2001:db8::/128").contains(ip("2001:db8::1")));
}

#[test]
fn ip_sets_agree_with_the_blocks_they_are_built_from() {
    let blocks: Vec<Cidr> = [
        "10.0.0.0/8",
        "10.1.0.0/16",
        "192.168.1.0/24",
        "192.168.2.0/24",
        "203.0.113.7",
        "255.255.255.255/32",
        "2001:db8::/32",
        "::1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
    .iter()
    .map(|s| parse_cidr(s).unwrap())
    .collect();
    let set = IpSet::new(&blocks);
    // A deterministic sweep of addresses near every boundary.
    let mut probes = vec![];
    for b in &blocks {
        let (lo, hi) = b.range();
        for x in [
            lo.wrapping_sub(1),
            lo,
            lo.wrapping_add(1),
            hi.wrapping_sub(1),
            hi,
            hi.wrapping_add(1),
        ] {
            probes.push(match b.addr {
                IpAddr::V4(_) => {
                    IpAddr::V4(Ipv4Addr::from(u32::try_from(x & 0xffff_ffff).unwrap()))
                }
                IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(x)),
            });
        }
    }
    for p in probes {
        assert_eq!(set.contains(p), blocks.iter().any(|b| b.contains(p)), "{p}");
    }
    assert!(set.contains(ip("::ffff:10.9.9.9")));
    assert!(IpSet::new(&[]).is_empty());
    assert!(!IpSet::new(&[]).contains(ip("1.2.3.4")));
    let all = IpSet::new(&[parse_cidr("0.0.0.0/0").unwrap()]);
    assert!(all.contains(ip("0.0.0.0")) && all.contains(ip("255.255.255.255")));
    assert!(!all.contains(ip("::1")));
}

#[test]
fn forwarded_headers_count_only_from_trusted_proxies() {
    use ForwardedHeader::{Forwarded, XForwardedFor as Xff};
    let trusted = [parse_cidr("10.0.0.0/8").unwrap()];
    assert_eq!(
        client_ip(ip("203.0.113.9"), &trusted, Xff, &["1.2.3.4"]),
        ip("203.0.113.9")
    );
    assert_eq!(
        client_ip(
            ip("10.0.0.1"),
            &trusted,
            Xff,
            &["6.6.6.6, 198.51.100.7, 10.0.0.2"]
        ),
        ip("198.51.100.7")
    );
    assert_eq!(
        client_ip(ip("10.0.0.1"), &trusted, Xff, &["6.6.6.6", "198.51.100.7"]),
        ip("198.51.100.7"),
        "several headers form one chain"
    );
    assert_eq!(
        client_ip(ip("::ffff:10.0.0.1"), &trusted, Xff, &["198.51.100.7"]),
        ip("198.51.100.7")
    );
    assert_eq!(
        client_ip(
            ip("10.0.0.1"),
            &trusted,
            Forwarded,
            &["for=192.0.2.60;proto=http, for=\"[2001:db8::1]:4711\""]
        ),
        ip("2001:db8::1")
    );
    assert_eq!(
        client_ip(
            ip("10.0.0.1"),
            &trusted,
            Forwarded,
            &["proto=https;For=192.0.2.61;by=10.0.0.1"]
        ),
        ip("192.0.2.61"),
        "for= anywhere in an element, any case"
    );
    assert_eq!(
        client_ip(ip("10.0.0.1"), &trusted, Xff, &["1.1.1.1, junk"]),
        ip("10.0.0.1")
    );
    assert_eq!(
        client_ip(ip("10.0.0.1"), &trusted, Xff, &["1.1.1.1:80"]),
        ip("1.1.1.1")
    );
    assert_eq!("Forwarded".parse::<ForwardedHeader>(), Ok(Forwarded));
    assert!("x-real-ip".parse::<ForwardedHeader>().is_err());
}

#[test]
fn domains_normalise_and_match_on_label_boundaries() {
    let n = |s| normalize_domain(s).unwrap();
    assert_eq!(n("EXAMPLE.COM"), "example.com");
    assert_eq!(n("Example.Com."), "example.com");
    assert_eq!(n("exämple.com"), "xn--exmple-cua.com");
    assert_eq!(n("xn--exmple-cua.com"), "xn--exmple-cua.com");
    assert_eq!(
        n("ｅｘａｍｐｌｅ.com"),
        "example.com",
        "fullwidth is the same name (UTS-46)"
    );
    assert_ne!(
        n("exаmple.com"),
        "example.com",
        "a Cyrillic а is another name"
    );
    for bad in [
        "",
        "localhost",
        "exa mple.com",
        "a..com",
        "[127.0.0.1]",
        "example.com(x)",
    ] {
        assert!(normalize_domain(bad).is_err(), "{bad:?}");
    }
    let rules: Vec<String> = ["example.com", "*.corp.example"]
        .iter()
        .map(|r| normalize_domain_rule(r).unwrap())
        .collect();
    let set = DomainSet::new(rules.iter().map(String::as_str));
    assert!(set.contains("example.com"));
    assert!(
        !set.contains("sub.example.com"),
        "subdomains only by a *. rule"
    );
    assert!(!set.contains("evilexample.com"));
    assert!(!set.contains("example.com.evil.com"));
    assert!(set.contains("a.corp.example") && set.contains("b.a.corp.example"));
    assert!(
        !set.contains("corp.example"),
        "*. does not include the apex"
    );
    assert!(!set.contains("evilcorp.example"));
    assert_eq!(email_domain("a+x@example.com"), Some("example.com"));
}

#[test]
fn the_public_list_is_loaded() {
    assert!(is_public_email_domain("gmail.com"));
    assert!(is_public_email_domain("yahoo.com"));
    assert!(!is_public_email_domain("example.com"));
    assert!(!is_public_email_domain("gmail.com.evil.test"));
}

/// A small deterministic generator for the property checks.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn property_ip_sets_equal_a_linear_scan() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for round in 0..50 {
        let blocks: Vec<Cidr> = (0..(round % 40))
            .map(|_| {
                let v4 = !rng.next().is_multiple_of(4);
                let (width, raw) = if v4 {
                    (32u8, u128::from(rng.next() as u32))
                } else {
                    (128, (u128::from(rng.next()) << 64) | u128::from(rng.next()))
                };
                let prefix = (rng.next() % (u64::from(width) + 1)) as u8;
                let net = raw & mask(prefix, width);
                let addr = if v4 {
                    IpAddr::V4(Ipv4Addr::from(u32::try_from(net).unwrap()))
                } else {
                    IpAddr::V6(std::net::Ipv6Addr::from(net))
                };
                parse_cidr(&format!("{addr}/{prefix}")).unwrap()
            })
            .collect();
        let set = IpSet::new(&blocks);
        for _ in 0..200 {
            // Probe near a block's edges half the time, anywhere otherwise.
            let ip = match blocks.get((rng.next() as usize) % (blocks.len() + 1)) {
                Some(b) if rng.next().is_multiple_of(2) => {
                    let (lo, hi) = b.range();
                    let x = if rng.next().is_multiple_of(2) {
                        lo.wrapping_sub(u128::from(rng.next() % 2))
                    } else {
                        hi.wrapping_add(u128::from(rng.next() % 2))
                    };
                    match b.addr {
                        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from((x & 0xffff_ffff) as u32)),
                        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(x)),
                    }
                }
                _ if rng.next().is_multiple_of(2) => IpAddr::V4(Ipv4Addr::from(rng.next() as u32)),
                _ => IpAddr::V6(std::net::Ipv6Addr::from(
                    (u128::from(rng.next()) << 64) | u128::from(rng.next()),
                )),
            };
            assert_eq!(
                set.contains(ip),
                blocks.iter().any(|b| b.contains(ip)),
                "{ip} in {blocks:?}"
            );
        }
    }
}

#[test]
fn property_domains_match_only_on_label_boundaries() {
    let mut rng = Rng(7);
    let label = |rng: &mut Rng| -> String {
        (0..1 + rng.next() % 6)
            .map(|_| (b'a' + (rng.next() % 4) as u8) as char)
            .collect()
    };
    for _ in 0..500 {
        let listed = format!("{}.{}", label(&mut rng), label(&mut rng));
        let set = DomainSet::new([listed.as_str(), &format!("*.{listed}")]);
        let probe = match rng.next() % 3 {
            0 => listed.clone(),
            1 => format!("{}.{listed}", label(&mut rng)),
            _ => format!("{}{listed}", label(&mut rng)),
        };
        let expected = probe == listed || probe.ends_with(&format!(".{listed}"));
        assert_eq!(set.contains(&probe), expected, "{probe} vs {listed}");
    }
}

#[test]
fn scope_policies_mean_the_same_everywhere() {
    use crate::wire::{DomainPolicy, IpPolicy, ListType, ScopeRestrictions};
    let p = ScopePolicy::compile(&ScopeRestrictions {
        tenant_id: None,
        ip: Some(IpPolicy {
            strategy: ListType::Allow,
            cidrs: vec![],
        }),
        domains: Some(DomainPolicy {
            list_type: ListType::Allow,
            block_public: true,
            domains: vec!["gmail.com".into()],
        }),
    })
    .unwrap();
    assert!(
        !p.ip_allowed(ip("10.0.0.1")),
        "an empty ALLOW list admits nobody"
    );
    assert!(
        !p.domain_allowed("gmail.com"),
        "public domains are refused even when listed"
    );
    assert!(
        ScopePolicy::compile(&ScopeRestrictions {
            tenant_id: None,
            ip: None,
            domains: None
        })
        .unwrap()
        .is_empty()
    );
    assert!(
        ScopePolicy::compile(&ScopeRestrictions {
            tenant_id: None,
            ip: Some(IpPolicy {
                strategy: ListType::Block,
                cidrs: vec!["10.0.0.1/8".into()]
            }),
            domains: None,
        })
        .is_err()
    );
}

#[test]
fn accept_errors_are_logged_at_most_once_a_second() {
    let mut e = AcceptErrors::default();
    let t0 = std::time::Instant::now();
    assert_eq!(e.record(t0), Some(0));
    for i in 1..20 {
        assert_eq!(e.record(t0 + AcceptErrors::PAUSE * i), None);
    }
    assert_eq!(e.record(t0 + std::time::Duration::from_secs(1)), Some(19));
}
