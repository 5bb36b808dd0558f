//! Restriction lookups: the per-request cost of IP and email-domain rules with 10,000 rules
//! each, against the same lookups with no rules (the baseline, measured in the same run),
//! and the cost of compiling 10,000 rules (done once per change, off the request path).

// A benchmark: a failed precondition should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use shared::net::ScopePolicy;
use shared::wire::{DomainPolicy, IpPolicy, ListType, ScopeRestrictions};

fn scope(cidrs: Vec<String>, domains: Vec<String>) -> ScopeRestrictions {
    ScopeRestrictions {
        tenant_id: None,
        ip: Some(IpPolicy {
            strategy: ListType::Block,
            cidrs,
        }),
        domains: Some(DomainPolicy {
            list_type: ListType::Block,
            block_public: false,
            domains,
        }),
    }
}

/// `n` CIDRs (three quarters IPv4 /24s, a quarter IPv6 /48s) and `n` domains (a fifth of
/// them `*.` rules).
fn rules(n: u32) -> ScopeRestrictions {
    let mut cidrs: Vec<String> = (0..n * 3 / 4)
        .map(|i| format!("{}.{}.{}.0/24", 10 + i / 65_536, (i / 256) % 256, i % 256))
        .collect();
    cidrs.extend((0..n / 4).map(|i| format!("2001:db8:{i:x}::/48")));
    let domains = (0..n)
        .map(|i| {
            if i % 5 == 0 {
                format!("*.corp{i}.example")
            } else {
                format!("blocked{i}.example")
            }
        })
        .collect();
    scope(cidrs, domains)
}

fn lookups(c: &mut Criterion) {
    let empty = ScopePolicy::compile(&scope(vec![], vec![])).unwrap();
    let ten = ScopePolicy::compile(&rules(10)).unwrap();
    let full = ScopePolicy::compile(&rules(10_000)).unwrap();
    let probes: Vec<IpAddr> = [
        "10.1.2.3",
        "198.51.100.7",
        "2001:db8:100::1",
        "2001:db9::1",
        "::ffff:10.20.30.40",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let domains = [
        "blocked77.example",
        "a.b.corp5.example",
        "example.com",
        "deep.sub.domain.of.something.example",
    ];
    let mut g = c.benchmark_group("restrictions");
    for (name, p) in [("empty", &empty), ("10", &ten), ("10k", &full)] {
        g.bench_function(format!("ip_lookup/{name}"), |b| {
            b.iter(|| {
                for ip in &probes {
                    black_box(p.ip_allowed(*ip));
                }
            })
        });
        g.bench_function(format!("domain_lookup/{name}"), |b| {
            b.iter(|| {
                for d in &domains {
                    black_box(p.domain_allowed(d));
                }
            })
        });
    }
    let many = rules(10_000);
    g.sample_size(10);
    g.bench_function("compile/10k+10k", |b| {
        b.iter(|| black_box(ScopePolicy::compile(&many).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
