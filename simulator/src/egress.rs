//! Egress: which addresses metal-sim may send packets to. Loopback always; any other network only when
//! the user names it (`metal-sim serve --allow-bmc-network CIDR`).
//!
//! Fleet and seed files name BMCs such as `redfish://192.168.1.100`; a simulator that followed them
//! would probe real networks. So the rule is decided here, once, by pure functions — [`admit`] for an
//! address, [`admit_resolved`] for a name and the addresses it resolved to — and every client that
//! opens a socket (the mock Ironic's BMC drivers and agent client, the fake agent) asks it first.
//! [`resolve`] is the one place a name is looked up, so the addresses checked are the addresses used.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use url::Host;

/// An IP network in CIDR notation, e.g. `10.0.0.0/8` or `fd00::/8` (a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Network {
    /// The first address (host bits cleared).
    base: IpAddr,
    /// Leading bits that must match.
    prefix: u8,
}

/// Why a text is not a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// Neither `ADDRESS/PREFIX` nor a bare address.
    #[error("{text:?} is not a network in CIDR notation (e.g. 10.0.0.0/8)")]
    Syntax {
        /// The text given.
        text: String,
    },
    /// The prefix is longer than the address.
    #[error("{text:?} has a prefix longer than {max} bits")]
    Prefix {
        /// The text given.
        text: String,
        /// Bits in the address family.
        max: u8,
    },
}

/// Keeps the leading `prefix` bits of `bits` (a `width`-bit address).
fn mask(bits: u128, prefix: u8, width: u8) -> u128 {
    match prefix {
        0 => 0,
        p => bits & (u128::MAX << (width - p)) & (u128::MAX >> (128 - width)),
    }
}

fn bits(address: IpAddr) -> (u128, u8) {
    match address {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

impl Network {
    /// The network of `address` with `prefix` leading bits (host bits are cleared).
    pub fn new(address: IpAddr, prefix: u8) -> Option<Self> {
        let address = address.to_canonical();
        let (value, width) = bits(address);
        if prefix > width {
            return None;
        }
        let value = mask(value, prefix, width);
        let base = match address {
            // The masked value of a 32-bit address fits in 32 bits.
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(value as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(value)),
        };
        Some(Self { base, prefix })
    }

    /// True when `address` (IPv4-mapped IPv6 counts as IPv4) lies in this network.
    pub fn contains(&self, address: IpAddr) -> bool {
        let (value, width) = bits(address.to_canonical());
        let (base, base_width) = bits(self.base);
        width == base_width && mask(value, self.prefix, width) == base
    }
}

impl FromStr for Network {
    type Err = NetworkError;

    fn from_str(text: &str) -> Result<Self, NetworkError> {
        let syntax = || NetworkError::Syntax {
            text: text.to_string(),
        };
        let (address, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let address: IpAddr = address.parse().map_err(|_| syntax())?;
        let width = bits(address.to_canonical()).1;
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().unwrap_or(u8::MAX)
            }
            Some(_) => return Err(syntax()),
            None => width,
        };
        Self::new(address, prefix).ok_or(NetworkError::Prefix {
            text: text.to_string(),
            max: width,
        })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// Why a destination is refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The address is neither loopback nor in an allowed network.
    #[error("{address} is neither loopback nor in an allowed network")]
    Address {
        /// The refused address.
        address: IpAddr,
    },
    /// A name resolved to an address that is refused.
    #[error("{name} resolves to {address}, which is neither loopback nor in an allowed network")]
    Resolved {
        /// The name.
        name: String,
        /// The first refused address.
        address: IpAddr,
    },
    /// A name resolved to nothing.
    #[error("{name} resolves to no address")]
    NoAddress {
        /// The name.
        name: String,
    },
    /// A name that only a lookup could check, where no lookup is done (the fake agent's URLs).
    #[error("{name} is not an address and not localhost")]
    Unresolved {
        /// The name.
        name: String,
    },
    /// The lookup failed.
    #[error("cannot resolve {name}")]
    Lookup {
        /// The name.
        name: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// The rule for an address: loopback (127.0.0.0/8, ::1, and their IPv4-mapped forms) or inside one of
/// `allowed`.
pub fn admit(address: IpAddr, allowed: &[Network]) -> Result<(), Refusal> {
    let canonical = address.to_canonical();
    if canonical.is_loopback() || allowed.iter().any(|n| n.contains(canonical)) {
        Ok(())
    } else {
        Err(Refusal::Address { address })
    }
}

/// The rule for a name: it resolved to at least one address and [`admit`] admits every one (a name
/// that also points off loopback could be sent there by any later lookup).
pub fn admit_resolved(
    name: &str,
    addresses: &[IpAddr],
    allowed: &[Network],
) -> Result<(), Refusal> {
    if addresses.is_empty() {
        return Err(Refusal::NoAddress {
            name: name.to_string(),
        });
    }
    match addresses.iter().find(|a| admit(**a, allowed).is_err()) {
        Some(address) => Err(Refusal::Resolved {
            name: name.to_string(),
            address: *address,
        }),
        None => Ok(()),
    }
}

/// What `localhost` (and `*.localhost`) resolve to without a lookup (RFC 6761 reserves them for
/// loopback), so checking them sends no DNS query.
const LOCALHOST: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Checks a URL host without a lookup: an address by [`admit`], `localhost` by its fixed loopback
/// addresses; any other name is refused (callers that cannot resolve use this).
pub fn admit_host<S: AsRef<str>>(
    host: &Host<S>,
    allowed: &[Network],
) -> Result<Vec<IpAddr>, Refusal> {
    match host {
        Host::Ipv4(a) => admit(IpAddr::V4(*a), allowed).map(|()| vec![IpAddr::V4(*a)]),
        Host::Ipv6(a) => admit(IpAddr::V6(*a), allowed).map(|()| vec![IpAddr::V6(*a)]),
        Host::Domain(name) if is_localhost(name.as_ref()) => {
            admit_resolved(name.as_ref(), &LOCALHOST, allowed).map(|()| LOCALHOST.to_vec())
        }
        Host::Domain(name) => Err(Refusal::Unresolved {
            name: name.as_ref().to_string(),
        }),
    }
}

/// The socket addresses to connect to for `host:port`, every one admitted. Names other than
/// `localhost` are looked up (system resolver) and must resolve only to admitted addresses.
pub async fn resolve<S: AsRef<str>>(
    host: &Host<S>,
    port: u16,
    allowed: &[Network],
) -> Result<Vec<SocketAddr>, Refusal> {
    let addresses = match host {
        Host::Domain(name) if !is_localhost(name.as_ref()) => {
            let name = name.as_ref();
            let found: Vec<IpAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|source| Refusal::Lookup {
                    name: name.to_string(),
                    source,
                })?
                .map(|s| s.ip())
                .collect();
            admit_resolved(name, &found, allowed)?;
            found
        }
        _ => admit_host(host, allowed)?,
    };
    Ok(addresses
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

/// Confines a reqwest client to the rule: names resolve only to admitted addresses (checked when the
/// client connects, so a name cannot re-resolve elsewhere after a caller checked it) and redirects
/// (at most 10) never lead to a refused address.
pub fn confine(builder: reqwest::ClientBuilder, allowed: &[Network]) -> reqwest::ClientBuilder {
    let allowed: Arc<[Network]> = allowed.into();
    let resolver = Arc::new(Resolver {
        allowed: Arc::clone(&allowed),
    });
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let verdict = match attempt.url().host() {
            // Names are checked by the resolver when the client connects.
            Some(Host::Domain(_)) | None => Ok(()),
            Some(host) => admit_host(&host, &allowed).map(|_| ()),
        };
        match verdict {
            Ok(()) => attempt.follow(),
            Err(refusal) => attempt.error(refusal),
        }
    });
    builder.dns_resolver(resolver).redirect(redirects)
}

/// Redirects a confined client follows (reqwest's default limit).
const MAX_REDIRECTS: usize = 10;

/// A reqwest resolver that answers only with admitted addresses.
#[derive(Debug)]
struct Resolver {
    allowed: Arc<[Network]>,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = Arc::clone(&self.allowed);
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port on the addresses it gets back.
            let found = resolve(&Host::Domain(name.as_str()), 0, &allowed).await?;
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Network> {
        list.iter()
            .map(|n| n.parse().expect("test network"))
            .collect()
    }

    #[test]
    fn addresses_are_admitted_only_on_loopback_or_in_an_allowed_network() {
        // (address, allowed networks, admitted)
        let table: &[(&str, &[&str], bool)] = &[
            ("127.0.0.1", &[], true),
            ("127.255.3.4", &[], true),
            ("::1", &[], true),
            ("::ffff:127.0.0.1", &[], true),
            ("::ffff:127.9.9.9", &[], true),
            ("192.168.1.100", &[], false),
            ("::ffff:192.168.1.100", &[], false),
            ("10.1.2.3", &[], false),
            ("10.1.2.3", &["10.0.0.0/8"], true),
            ("::ffff:10.1.2.3", &["10.0.0.0/8"], true),
            ("11.1.2.3", &["10.0.0.0/8"], false),
            ("192.168.1.100", &["10.0.0.0/8", "192.168.1.0/24"], true),
            ("192.168.2.100", &["192.168.1.0/24"], false),
            ("192.168.1.100", &["192.168.1.100"], true),
            ("192.168.1.101", &["192.168.1.100"], false),
            ("0.0.0.0", &[], false),
            ("::", &[], false),
            ("::2", &[], false),
            ("fd00::5", &["fd00::/8"], true),
            ("fd00::5", &["10.0.0.0/8"], false),
            ("10.0.0.1", &["::/0"], false),
            ("8.8.8.8", &["0.0.0.0/0"], true),
        ];
        for (address, allowed, admitted) in table {
            let ip: IpAddr = address.parse().expect("test address");
            let verdict = admit(ip, &nets(allowed));
            assert_eq!(
                verdict.is_ok(),
                *admitted,
                "{address} with {allowed:?}: {verdict:?}"
            );
        }
    }

    #[test]
    fn a_refused_address_names_itself() {
        let err = admit("192.168.1.100".parse().expect("ip"), &[]).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "192.168.1.100 is neither loopback nor in an allowed network"
        );
    }

    #[test]
    fn a_name_is_admitted_only_when_every_address_it_resolves_to_is() {
        let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let private: IpAddr = "192.168.1.100".parse().expect("ip");
        let ten: IpAddr = "10.0.0.7".parse().expect("ip");
        // (resolved addresses, allowed networks, admitted)
        let table: &[(&[IpAddr], &[&str], bool)] = &[
            (&[lo4], &[], true),
            (&[lo4, lo6], &[], true),
            (&[private], &[], false),
            (&[lo4, private], &[], false),
            (&[ten, lo4], &["10.0.0.0/8"], true),
            (&[], &[], false),
        ];
        for (addresses, allowed, admitted) in table {
            let verdict = admit_resolved("bmc.lab", addresses, &nets(allowed));
            assert_eq!(
                verdict.is_ok(),
                *admitted,
                "{addresses:?} with {allowed:?}: {verdict:?}"
            );
        }
        let err = admit_resolved("bmc.lab", &[lo4, private], &[]).expect_err("refused");
        assert!(
            err.to_string()
                .contains("bmc.lab resolves to 192.168.1.100"),
            "{err}"
        );
    }

    #[test]
    fn hosts_are_checked_without_a_lookup() {
        // (host, admitted)
        let table: &[(&str, bool)] = &[
            ("127.0.0.1", true),
            ("[::1]", true),
            ("[::ffff:127.0.0.1]", true),
            ("localhost", true),
            ("LOCALHOST.", true),
            ("bmc.localhost", true),
            ("192.168.1.100", false),
            ("[fe80::1]", false),
            ("bmc.example.com", false),
            ("localhost.example.com", false),
        ];
        for (text, admitted) in table {
            let host = Host::parse(text).expect("test host");
            let verdict = admit_host(&host, &[]);
            assert_eq!(verdict.is_ok(), *admitted, "{text}: {verdict:?}");
        }
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback_without_a_lookup_and_literals_keep_their_port() {
        let addrs = resolve(&Host::Domain("localhost"), 8000, &[])
            .await
            .expect("localhost");
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8000),
            "{addrs:?}"
        );
        let refused = resolve(
            &Host::<&str>::Ipv4(Ipv4Addr::new(192, 168, 1, 101)),
            623,
            &[],
        )
        .await;
        assert!(
            matches!(refused, Err(Refusal::Address { .. })),
            "{refused:?}"
        );
        let allowed = resolve(
            &Host::<&str>::Ipv4(Ipv4Addr::new(10, 0, 0, 1)),
            623,
            &nets(&["10.0.0.0/8"]),
        )
        .await
        .expect("allowed");
        assert_eq!(allowed, vec![SocketAddr::from(([10, 0, 0, 1], 623))]);
    }

    #[test]
    fn networks_parse_from_cidr_text() {
        // (text, canonical form or None when refused)
        let table: &[(&str, Option<&str>)] = &[
            ("10.0.0.0/8", Some("10.0.0.0/8")),
            ("10.1.2.3/8", Some("10.0.0.0/8")),
            ("192.168.1.100", Some("192.168.1.100/32")),
            ("0.0.0.0/0", Some("0.0.0.0/0")),
            ("fd00::/8", Some("fd00::/8")),
            ("::1", Some("::1/128")),
            ("::ffff:10.0.0.0/8", Some("10.0.0.0/8")),
            ("10.0.0.0/33", None),
            ("10.0.0.0/", None),
            ("10.0.0.0/-1", None),
            ("10.0.0.0/999", None),
            ("bmc.lab/24", None),
            ("", None),
        ];
        for (text, want) in table {
            let got = text.parse::<Network>().map(|n| n.to_string()).ok();
            assert_eq!(got.as_deref(), *want, "{text}");
        }
    }
}
