//! Addresses and domains, parsed and matched one way for the control plane and the sidecar:
//! strict CIDR parsing, compiled IP sets (sorted, merged ranges; binary search), the
//! client-address rule behind trusted proxies, domain normalisation (IDNA A-labels) and
//! compiled domain sets with the public-email-domain list.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

/// A CIDR block: a network address (host bits zero) and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parse `a.b.c.d[/n]` or `x:y::z[/n]` strictly; a bare address is a host route. Refused:
/// whitespace anywhere, leading zeros (octal look-alikes), short, hex or integer IPv4 forms,
/// zone ids, empty, signed or zero-padded prefixes, prefixes out of range, host bits set,
/// and IPv4-mapped IPv6 blocks within `::ffff:0:0/96` (clients are matched by their
/// canonical IPv4 address, so such a rule could never match: write `a.b.c.d/n` instead).
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{s:?} is not an IP address or CIDR"));
    }
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    // std refuses leading zeros, `127.1`, `0x7f.1`, integers and `%zone`.
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address or CIDR"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match p {
        None => max,
        Some(p)
            if !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0')) =>
        {
            p.parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{s:?}: prefix out of range"))?
        }
        Some(_) => return Err(format!("{s:?}: invalid prefix")),
    };
    let (bits, width) = bits(addr);
    if bits & !mask(prefix, width) != 0 {
        return Err(format!("{s:?}: host bits are set"));
    }
    if let IpAddr::V6(v6) = addr
        && prefix >= 96
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        return Err(format!(
            "{s:?} is an IPv4-mapped IPv6 block; write it as {v4}/{}",
            prefix - 96
        ));
    }
    Ok(Cidr { addr, prefix })
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
        IpAddr::V6(v) => (u128::from(v), 128),
    }
}

/// The network mask of `prefix` within `width` bits, as the low `width` bits of a u128.
fn mask(prefix: u8, width: u8) -> u128 {
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let host = u32::from(width - prefix);
    if host >= 128 {
        0
    } else {
        all & (u128::MAX << host)
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as IPv4; everything else unchanged. IPv4-compatible
/// (`::a.b.c.d`), NAT64 and 6to4 addresses stay IPv6: only IPv6 rules match them.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v) => v.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Cidr {
    /// Whether `ip` (canonicalised) is inside. An IPv4 block never contains an IPv6 address
    /// and `::/0` contains no IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        let ((a, aw), (n, nw)) = (bits(ip), bits(self.addr));
        aw == nw && a & mask(self.prefix, aw) == n
    }

    fn range(&self) -> (u128, u128) {
        let (n, w) = bits(self.addr);
        (n, n | (mask(w, w) & !mask(self.prefix, w)))
    }
}

/// A compiled set of CIDR blocks: per family, sorted disjoint ranges; a lookup is a binary
/// search (O(log n)), whatever the number of rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

fn merge<T: Ord + Copy>(mut r: Vec<(T, T)>, next: impl Fn(T) -> Option<T>) -> Vec<(T, T)> {
    r.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if next(last.1).is_none_or(|n| lo <= n) => {
                if hi > last.1 {
                    last.1 = hi;
                }
            }
            _ => out.push((lo, hi)),
        }
    }
    out
}

impl IpSet {
    /// Compile blocks into a set.
    pub fn new(blocks: &[Cidr]) -> IpSet {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for b in blocks {
            let (lo, hi) = b.range();
            match b.addr {
                IpAddr::V4(_) => v4.push((
                    u32::try_from(lo).unwrap_or(u32::MAX),
                    u32::try_from(hi).unwrap_or(u32::MAX),
                )),
                IpAddr::V6(_) => v6.push((lo, hi)),
            }
        }
        IpSet {
            v4: merge(v4, |x: u32| x.checked_add(1)),
            v6: merge(v6, |x: u128| x.checked_add(1)),
        }
    }

    /// Whether `ip` (canonicalised) is in the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn find<T: Ord + Copy>(r: &[(T, T)], x: T) -> bool {
            let i = r.partition_point(|(lo, _)| *lo <= x);
            i > 0 && x <= r[i - 1].1
        }
        match canonical(ip) {
            IpAddr::V4(v) => find(&self.v4, u32::from(v)),
            IpAddr::V6(v) => find(&self.v6, u128::from(v)),
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// The one forwarding header a deployment's trusted proxies write, and so the only one
/// believed for the client address (`security.md` L4): a client can add the other one to any
/// request, so reading both would let it choose its own address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …` (nginx, haproxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=…, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    /// The header's (lower-case) name.
    pub const fn name(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        }
    }
}

impl std::str::FromStr for ForwardedHeader {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            other => Err(format!(
                "{other:?} is not a forwarding header: x-forwarded-for or forwarded"
            )),
        }
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then the
/// right-most address of the configured forwarding header (`values`: every field of it, in
/// order) that is not itself a trusted proxy. An unparseable entry stops the walk at the last
/// good hop.
pub fn client_ip(
    peer: IpAddr,
    trusted: &[Cidr],
    header: ForwardedHeader,
    values: &[&str],
) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let chain: Vec<&str> = match header {
        ForwardedHeader::XForwardedFor => values
            .iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .collect(),
        ForwardedHeader::Forwarded => values
            .iter()
            .flat_map(|h| h.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|kv| {
                    let (k, v) = kv.trim().split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then_some(v.trim().trim_matches('"'))
                })
            })
            .collect(),
    };
    let mut client = peer;
    for entry in chain.iter().rev() {
        let entry = entry
            .strip_prefix('[')
            .and_then(|e| e.split_once(']').map(|(a, _)| a))
            .unwrap_or(entry);
        let parsed = entry.parse::<IpAddr>().ok().or_else(|| {
            // `1.2.3.4:5678`
            entry
                .rsplit_once(':')
                .filter(|(a, _)| a.contains('.'))
                .and_then(|(a, _)| a.parse::<Ipv4Addr>().ok().map(IpAddr::V4))
        });
        let Some(ip) = parsed else { break };
        client = canonical(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// Normalise a domain: trimmed, one trailing dot removed, IDNA/UTS-46 A-labels (which
/// lower-cases), at least two labels of 1–63 characters, at most 253 characters.
pub fn normalize_domain(raw: &str) -> Result<String, String> {
    let d = raw.trim();
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.is_empty() || d.len() > 253 || d.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{raw:?} is not a domain"));
    }
    let ascii = idna::domain_to_ascii_strict(d).map_err(|_| format!("{raw:?} is not a domain"))?;
    if ascii.len() > 253
        || !ascii.contains('.')
        || ascii.split('.').any(|l| l.is_empty() || l.len() > 63)
    {
        return Err(format!("{raw:?} is not a domain"));
    }
    Ok(ascii)
}

/// A domain rule as written: `example.com` (that domain only) or `*.example.com` (every
/// subdomain, not the apex). Returns the normalised text.
pub fn normalize_domain_rule(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    match t.strip_prefix("*.") {
        Some(rest) => Ok(format!("*.{}", normalize_domain(rest)?)),
        None => normalize_domain(t),
    }
}

/// The domain of an address already normalised (everything after the last `@`).
pub fn email_domain(email: &str) -> Option<&str> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty())
}

/// A compiled set of domain rules: exact domains, and parents whose subdomains match.
/// Matching walks the label boundaries of the queried domain (at most 127 lookups), so
/// `example.com` never matches `evilexample.com`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainSet {
    exact: HashSet<String>,
    subdomains_of: HashSet<String>,
}

impl DomainSet {
    /// Compile normalised rules (see [`normalize_domain_rule`]).
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a str>) -> DomainSet {
        let mut s = DomainSet::default();
        for r in rules {
            match r.strip_prefix("*.") {
                Some(parent) => s.subdomains_of.insert(parent.to_owned()),
                None => s.exact.insert(r.to_owned()),
            };
        }
        s
    }

    /// Whether a normalised domain matches.
    pub fn contains(&self, domain: &str) -> bool {
        if self.exact.contains(domain) {
            return true;
        }
        if self.subdomains_of.is_empty() {
            return false;
        }
        let mut rest = domain;
        while let Some((_, parent)) = rest.split_once('.') {
            if self.subdomains_of.contains(parent) {
                return true;
            }
            rest = parent;
        }
        false
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.subdomains_of.is_empty()
    }
}

const PUBLIC_DOMAINS: &str = include_str!("../data/public-email-domains.txt");

/// Whether a normalised domain is a public (free) email provider's, per the list shipped in
/// `shared/data/public-email-domains.txt` (subdomains of a listed domain count too).
pub fn is_public_email_domain(domain: &str) -> bool {
    static SET: OnceLock<DomainSet> = OnceLock::new();
    let set = SET.get_or_init(|| {
        let mut s = DomainSet::default();
        for l in PUBLIC_DOMAINS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            s.exact.insert(l.to_owned());
            s.subdomains_of.insert(l.to_owned());
        }
        s
    });
    set.contains(domain)
}

#[cfg(test)]
mod tests;

/// One scope's restrictions compiled for lookups: the same meaning at the control plane
/// and at every sidecar.
#[derive(Clone, Debug, Default)]
pub struct ScopePolicy {
    ip: Option<(crate::wire::ListType, IpSet)>,
    domains: Option<(crate::wire::ListType, bool, DomainSet)>,
}

impl ScopePolicy {
    /// Compile (and validate) a scope's wire form.
    pub fn compile(w: &crate::wire::ScopeRestrictions) -> Result<ScopePolicy, String> {
        let ip = match &w.ip {
            None => None,
            Some(p) => {
                let blocks = p
                    .cidrs
                    .iter()
                    .map(|c| parse_cidr(c))
                    .collect::<Result<Vec<_>, _>>()?;
                Some((p.strategy, IpSet::new(&blocks)))
            }
        };
        let domains = match &w.domains {
            None => None,
            Some(d) => {
                for r in &d.domains {
                    if normalize_domain_rule(r).as_deref() != Ok(r.as_str()) {
                        return Err(format!("domain rule {r:?} is not normalised"));
                    }
                }
                Some((
                    d.list_type,
                    d.block_public,
                    DomainSet::new(d.domains.iter().map(String::as_str)),
                ))
            }
        };
        Ok(ScopePolicy { ip, domains })
    }

    /// Whether `ip` may pass: no active rules, an ALLOW list holding it, or a BLOCK list
    /// not holding it. An empty ALLOW list admits nobody.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        match &self.ip {
            None => true,
            Some((crate::wire::ListType::Allow, set)) => set.contains(ip),
            Some((crate::wire::ListType::Block, set)) => !set.contains(ip),
        }
    }

    /// Whether a normalised email domain may pass (same list semantics; public providers
    /// refused when configured).
    pub fn domain_allowed(&self, domain: &str) -> bool {
        match &self.domains {
            None => true,
            Some((list, block_public, set)) => {
                if *block_public && is_public_email_domain(domain) {
                    return false;
                }
                match list {
                    crate::wire::ListType::Allow => set.contains(domain),
                    crate::wire::ListType::Block => !set.contains(domain),
                }
            }
        }
    }

    /// Whether anything is active.
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.domains.is_none()
    }
}

/// The listen backlog both servers ask for; the kernel caps it at `net.core.somaxconn`
/// (4,096 by default since Linux 5.4). The 128 that the standard library and tokio ask for
/// lets a burst of connects (a pool warming up, a thousand clients reconnecting after a
/// restart, a slowloris flood) overflow the accept queue: the kernel then drops handshakes
/// the client already believes complete, and those clients wait out retransmissions of 1 s,
/// 3 s, 7 s before the server ever sees them.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Pacing for a listener's accept errors (out of file descriptors and the like): the loop
/// pauses [`AcceptErrors::PAUSE`] and retries, and logs at most once a second — a flood that
/// exhausts descriptors must not also flood the log.
#[derive(Debug, Default)]
pub struct AcceptErrors {
    last_logged: Option<std::time::Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    /// How long the accept loop waits after an error.
    pub const PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

    /// Count an error at `now`: `Some(n)` if it should be logged (`n` earlier ones were not).
    pub fn record(&mut self, now: std::time::Instant) -> Option<u64> {
        match self.last_logged {
            Some(t) if now.duration_since(t) < std::time::Duration::from_secs(1) => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.last_logged = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}
