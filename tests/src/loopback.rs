//! Per-test loopback addresses: each stack gets its own 127.A.B.0/24, so tests (and other engineers'
//! runs) never fight over ports. The subnet is probed before use and another one drawn when taken.

use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use anyhow::bail;

/// First host number given to operators' metrics/health listeners (operator `i` gets `.200 + i`).
const OPERATOR_HOST: u8 = 200;
/// How many subnets are tried before giving up.
const ATTEMPTS: u32 = 16;

/// A 127.A.B.0/24 block owned by one stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    a: u8,
    b: u8,
}

/// What a stack binds in its subnet.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// BMCs at `.1 ..= .bmcs`.
    pub bmcs: usize,
    /// TCP port of the Redfish BMCs.
    pub redfish_port: u16,
    /// UDP port of the IPMI BMCs.
    pub ipmi_port: u16,
    /// Operators (metrics and health listeners at `.200 + i`).
    pub operators: usize,
}

/// The operators' metrics port (on each operator's own address).
pub const METRICS_PORT: u16 = 8080;
/// The operators' health-probe port.
pub const HEALTH_PORT: u16 = 9440;

impl Subnet {
    /// Draws a free subnet for `label`; `salt` changes the draw (the caller's retry count).
    pub fn reserve(label: &str, needs: Needs, salt: u32) -> anyhow::Result<Subnet> {
        if needs.bmcs > usize::from(OPERATOR_HOST - 1) || needs.operators > 50 {
            bail!(
                "a stack holds at most {} BMCs and 50 operators",
                OPERATOR_HOST - 1
            );
        }
        for attempt in 0..ATTEMPTS {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (label, std::process::id(), salt, attempt).hash(&mut h);
            let v = h.finish();
            // 127.100.0.0 – 127.163.255.0: away from 127.0.x (demo, defaults) and 127.0.0.1.
            let subnet = Subnet {
                a: 100 + (v % 64) as u8,
                b: ((v >> 8) % 256) as u8,
            };
            if subnet.is_free(needs) {
                return Ok(subnet);
            }
        }
        bail!("no free loopback subnet found for {label} after {ATTEMPTS} draws")
    }

    /// `127.A.B.host`.
    pub fn address(self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.a, self.b, host)
    }

    /// The base address of the fleet's BMCs (`.1`).
    pub fn bmc_base(self) -> Ipv4Addr {
        self.address(1)
    }

    /// Operator `index`'s metrics address.
    pub fn operator_metrics(self, index: usize) -> SocketAddr {
        SocketAddr::from((self.operator_ip(index), METRICS_PORT))
    }

    /// Operator `index`'s health-probe address.
    pub fn operator_health(self, index: usize) -> SocketAddr {
        SocketAddr::from((self.operator_ip(index), HEALTH_PORT))
    }

    fn operator_ip(self, index: usize) -> Ipv4Addr {
        let offset = u8::try_from(index).unwrap_or(u8::MAX - OPERATOR_HOST);
        self.address(OPERATOR_HOST.saturating_add(offset))
    }

    fn is_free(self, needs: Needs) -> bool {
        let bmcs = (1..=needs.bmcs).all(|i| {
            let ip = self.address(u8::try_from(i).unwrap_or(u8::MAX));
            TcpListener::bind((ip, needs.redfish_port)).is_ok()
                && UdpSocket::bind((ip, needs.ipmi_port)).is_ok()
        });
        bmcs && (0..needs.operators).all(|i| {
            TcpListener::bind(self.operator_metrics(i)).is_ok()
                && TcpListener::bind(self.operator_health(i)).is_ok()
        })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "127.{}.{}.0/24", self.a, self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_subnet_is_loopback_and_outside_the_demo_range() {
        let needs = Needs {
            bmcs: 3,
            redfish_port: 8000,
            ipmi_port: 6230,
            operators: 2,
        };
        let s = Subnet::reserve("unit", needs, 0).unwrap();
        assert!(s.bmc_base().is_loopback());
        assert!(s.a >= 100, "{s}");
        assert_eq!(
            s.operator_metrics(1).ip(),
            std::net::IpAddr::V4(s.address(201))
        );
    }
}
