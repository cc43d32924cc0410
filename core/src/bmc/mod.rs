//! BMC addresses: `spec.bmc.address` parsed into a scheme, host, port and path, and the Ironic
//! driver, interfaces and `driver_info` each scheme implies.
//!
//! Accepted forms, as upstream accepts them: `scheme://host[:port][/path][?query]`,
//! `scheme:host` (no `//`), a plain host or IP (IPMI), `host:port` (IPMI) and bracketed IPv6
//! (`[fe80::1]:623`). Parsing is pure and never panics; every failure is a [`BmcError`] whose
//! text matches upstream's where upstream has one.

mod driver;

pub use driver::{DeployImages, Interfaces, SECRET_DRIVER_INFO_KEYS};

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a BMC address cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BmcError {
    #[error("missing BMC address")]
    MissingAddress,
    #[error("Unknown BMC type '{scheme}' for address {address}")]
    UnknownType { scheme: String, address: String },
    #[error("failed to parse BMC address information: {reason} in '{address}'")]
    Unparsable { address: String, reason: String },
    #[error("failed to parse BMC address information: missing host in '{address}'")]
    MissingHost { address: String },
    #[error("BMC address hostname/IP : [{host}] is invalid")]
    InvalidHost { host: String },
    #[error("BMC driver {driver} does not support fast (out-of-band) inspection")]
    NoFastInspection { driver: String },
}

/// Every BMC type upstream registers. Each redfish-family type also accepts `+http`/`+https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BmcKind {
    Ipmi,
    /// IPMI through VirtualBMC for libvirt domains; needs the boot MAC.
    Libvirt,
    Redfish,
    RedfishVirtualMedia,
    RedfishUefiHttp,
    IdracRedfish,
    IdracVirtualMedia,
    Ilo5Redfish,
    Ilo5VirtualMedia,
}

impl BmcKind {
    /// Every kind, for tables and tests.
    pub const ALL: [BmcKind; 9] = [
        BmcKind::Ipmi,
        BmcKind::Libvirt,
        BmcKind::Redfish,
        BmcKind::RedfishVirtualMedia,
        BmcKind::RedfishUefiHttp,
        BmcKind::IdracRedfish,
        BmcKind::IdracVirtualMedia,
        BmcKind::Ilo5Redfish,
        BmcKind::Ilo5VirtualMedia,
    ];

    /// The scheme name as written in addresses (without `+http`/`+https`).
    pub fn scheme(self) -> &'static str {
        match self {
            BmcKind::Ipmi => "ipmi",
            BmcKind::Libvirt => "libvirt",
            BmcKind::Redfish => "redfish",
            BmcKind::RedfishVirtualMedia => "redfish-virtualmedia",
            BmcKind::RedfishUefiHttp => "redfish-uefihttp",
            BmcKind::IdracRedfish => "idrac-redfish",
            BmcKind::IdracVirtualMedia => "idrac-virtualmedia",
            BmcKind::Ilo5Redfish => "ilo5-redfish",
            BmcKind::Ilo5VirtualMedia => "ilo5-virtualmedia",
        }
    }

    /// True for the kinds spoken over HTTP (they accept `+http`/`+https`).
    pub fn is_redfish(self) -> bool {
        !matches!(self, BmcKind::Ipmi | BmcKind::Libvirt)
    }

    fn from_scheme(name: &str) -> Option<BmcKind> {
        BmcKind::ALL.into_iter().find(|k| k.scheme() == name)
    }
}

/// HTTP or HTTPS for redfish-family addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    Http,
    Https,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Https => "https",
        }
    }
}

/// The host part of an address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BmcHost {
    Ipv4(Ipv4Addr),
    /// An IPv6 address, with its zone (`%eth0`) if one was given.
    Ipv6(Ipv6Addr, Option<String>),
    Dns(String),
}

impl fmt::Display for BmcHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BmcHost::Ipv4(a) => write!(f, "{a}"),
            BmcHost::Ipv6(a, None) => write!(f, "{a}"),
            BmcHost::Ipv6(a, Some(zone)) => write!(f, "{a}%{zone}"),
            BmcHost::Dns(name) => f.write_str(name),
        }
    }
}

impl BmcHost {
    /// The host as it appears inside a URL: IPv6 in brackets.
    pub fn for_url(&self) -> String {
        match self {
            BmcHost::Ipv6(..) => format!("[{self}]"),
            _ => self.to_string(),
        }
    }
}

/// A parsed `spec.bmc.address`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcAddress {
    pub kind: BmcKind,
    /// `+http`/`+https` when written; redfish-family kinds default to HTTPS.
    pub transport: Option<Transport>,
    pub host: BmcHost,
    /// The port when written; see [`BmcAddress::effective_port`] for defaults.
    pub port: Option<u16>,
    /// The URL path, `""` when absent (for example `/redfish/v1/Systems/1`).
    pub path: String,
    /// `?privilegelevel=` for IPMI kinds.
    pub privilege_level: Option<String>,
}

/// The IPMI port when none is written.
pub const IPMI_DEFAULT_PORT: u16 = 623;
/// The IPMI privilege level when none is written.
pub const IPMI_DEFAULT_PRIVILEGE: &str = "ADMINISTRATOR";

impl BmcAddress {
    /// Parses an address in any form upstream accepts.
    pub fn parse(address: &str) -> Result<BmcAddress, BmcError> {
        if address.is_empty() {
            return Err(BmcError::MissingAddress);
        }
        let (scheme, rest) = split_scheme(address)?;
        let scheme = scheme.to_ascii_lowercase();
        let unknown = || BmcError::UnknownType {
            scheme: scheme.clone(),
            address: address.to_string(),
        };
        let (base, transport) = match scheme.rsplit_once('+') {
            Some((base, "http")) => (base, Some(Transport::Http)),
            Some((base, "https")) => (base, Some(Transport::Https)),
            Some(_) => return Err(unknown()),
            None => (scheme.as_str(), None),
        };
        let kind = BmcKind::from_scheme(base).ok_or_else(unknown)?;
        if transport.is_some() && !kind.is_redfish() {
            return Err(unknown());
        }

        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let before_query = before_query.split('#').next().unwrap_or_default();
        let (authority, path) = match before_query.find('/') {
            Some(i) => before_query.split_at(i),
            None => (before_query, ""),
        };
        // User information is accepted and ignored, as URL parsers do.
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(authority, address)?;
        let privilege_level = if kind.is_redfish() {
            None
        } else {
            query.and_then(privilege_from_query)
        };
        Ok(BmcAddress {
            kind,
            transport,
            host,
            port,
            path: path.to_string(),
            privilege_level,
        })
    }

    /// The port the BMC is reached on: the written one, else 623 for IPMI, 443/80 for Redfish.
    pub fn effective_port(&self) -> u16 {
        match (self.port, self.kind.is_redfish(), self.transport) {
            (Some(p), _, _) => p,
            (None, false, _) => IPMI_DEFAULT_PORT,
            (None, true, Some(Transport::Http)) => 80,
            (None, true, _) => 443,
        }
    }

    /// `redfish_address`: `http(s)://host[:port]` (HTTPS unless `+http`). None for IPMI kinds.
    pub fn redfish_address(&self) -> Option<String> {
        if !self.kind.is_redfish() {
            return None;
        }
        let scheme = self.transport.unwrap_or(Transport::Https).as_str();
        let host = self.host.for_url();
        Some(match self.port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        })
    }

    /// `redfish_system_id`: the path, unless it is empty or the service root (UEFI HTTP keeps
    /// any non-empty path). None for IPMI kinds.
    pub fn redfish_system_id(&self) -> Option<String> {
        if !self.kind.is_redfish() {
            return None;
        }
        let root = matches!(
            self.path.as_str(),
            "" | "/" | "/redfish/v1" | "/redfish/v1/"
        );
        let keep = match self.kind {
            BmcKind::RedfishUefiHttp => !matches!(self.path.as_str(), "" | "/"),
            _ => !root,
        };
        keep.then(|| self.path.clone())
    }

    /// The address written back in canonical `scheme://host:port/path` form.
    pub fn canonical(&self) -> String {
        let scheme = match self.transport {
            Some(t) => format!("{}+{}", self.kind.scheme(), t.as_str()),
            None => self.kind.scheme().to_string(),
        };
        format!(
            "{scheme}://{}:{}{}",
            self.host.for_url(),
            self.effective_port(),
            self.path
        )
    }
}

/// Splits `scheme://rest`, `scheme:rest`, `host:port` and plain hosts. Plain and `host:port`
/// forms are IPMI.
fn split_scheme(address: &str) -> Result<(&str, &str), BmcError> {
    if let Some((scheme, rest)) = address.split_once("://") {
        if !is_scheme_token(scheme) {
            return Err(BmcError::Unparsable {
                address: address.to_string(),
                reason: format!("invalid scheme '{scheme}'"),
            });
        }
        return Ok((scheme, rest));
    }
    if address.starts_with('[') {
        // A bare bracketed IPv6 is only accepted as `[addr]:port`, as upstream.
        if !address.contains("]:") {
            return Err(BmcError::Unparsable {
                address: address.to_string(),
                reason: "missing port in address".to_string(),
            });
        }
        return Ok(("ipmi", address));
    }
    match address.split_once(':') {
        None => Ok(("ipmi", address)),
        Some((before, after)) => {
            let port_like = !after.is_empty() && after.bytes().all(|b| b.is_ascii_digit());
            if port_like && BmcKind::from_scheme(&before.to_ascii_lowercase()).is_none() {
                Ok(("ipmi", address))
            } else if is_scheme_token(before) {
                Ok((before, after))
            } else {
                Err(BmcError::Unparsable {
                    address: address.to_string(),
                    reason: "first path segment in URL cannot contain colon".to_string(),
                })
            }
        }
    }
}

fn is_scheme_token(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

fn split_host_port(authority: &str, address: &str) -> Result<(BmcHost, Option<u16>), BmcError> {
    let unparsable = |reason: &str| BmcError::Unparsable {
        address: address.to_string(),
        reason: reason.to_string(),
    };
    if authority.is_empty() {
        return Err(BmcError::MissingHost {
            address: address.to_string(),
        });
    }
    if let Some(inner) = authority.strip_prefix('[') {
        let (literal, after) = inner
            .split_once(']')
            .ok_or_else(|| unparsable("missing ']' in host"))?;
        let (ip, zone) = match literal.split_once('%') {
            Some((ip, zone)) => (ip, Some(zone.strip_prefix("25").unwrap_or(zone))),
            None => (literal, None),
        };
        let parsed: Ipv6Addr = ip.parse().map_err(|_| BmcError::InvalidHost {
            host: literal.to_string(),
        })?;
        let port = match after {
            "" => None,
            _ => {
                let digits = after
                    .strip_prefix(':')
                    .ok_or_else(|| unparsable("unexpected text after ']'"))?;
                parse_port(digits, address)?
            }
        };
        let zone = zone.filter(|z| !z.is_empty()).map(str::to_string);
        return Ok((BmcHost::Ipv6(parsed, zone), port));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, digits)) => {
            if host.contains(':') {
                return Err(unparsable("IPv6 address must be in brackets"));
            }
            (host, parse_port(digits, address)?)
        }
        None => (authority, None),
    };
    if host.is_empty() {
        return Err(BmcError::MissingHost {
            address: address.to_string(),
        });
    }
    Ok((parse_host(host)?, port))
}

fn parse_port(digits: &str, address: &str) -> Result<Option<u16>, BmcError> {
    if digits.is_empty() {
        return Ok(None);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BmcError::Unparsable {
            address: address.to_string(),
            reason: format!("invalid port ':{digits}'"),
        });
    }
    digits
        .parse::<u16>()
        .map(Some)
        .map_err(|_| BmcError::Unparsable {
            address: address.to_string(),
            reason: format!("port {digits} out of range"),
        })
}

fn parse_host(host: &str) -> Result<BmcHost, BmcError> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(BmcHost::Ipv4(ip));
    }
    if is_dns_name(host) {
        return Ok(BmcHost::Dns(host.to_string()));
    }
    Err(BmcError::InvalidHost {
        host: host.to_string(),
    })
}

/// Dot-separated labels of letters, digits and inner hyphens, each 1..=63 long.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

fn privilege_from_query(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("privilegelevel"))
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}
