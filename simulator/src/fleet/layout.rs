//! Where each BMC listens: one loopback address per BMC, or one address for all.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::machine::BmcProtocol;

/// Address layout of the BMCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutMode {
    /// Each BMC at its own `127.x.y.z` (counting up from `base`), on fixed ports.
    PerAddress,
    /// Every BMC at `base`: Redfish systems share one port, IPMI BMCs take consecutive ports.
    SingleAddress,
}

/// The `layout:` section of a fleet file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Layout {
    /// per-address or single-address.
    pub mode: LayoutMode,
    /// First address (per-address) or the address (single-address); must be in 127.0.0.0/8.
    pub base: Ipv4Addr,
    /// Redfish over HTTP port.
    pub redfish_port: u16,
    /// Redfish over HTTPS port.
    pub redfish_tls_port: u16,
    /// IPMI port (per-address), or the first of the consecutive IPMI ports (single-address).
    /// Default 623 per-address, 6230 single-address.
    pub ipmi_port: Option<u16>,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            mode: LayoutMode::PerAddress,
            base: Ipv4Addr::new(127, 0, 1, 1),
            redfish_port: 8000,
            redfish_tls_port: 8443,
            ipmi_port: None,
        }
    }
}

/// A layout that cannot place every BMC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// The base address is not loopback.
    #[error("layout base {0} is not in 127.0.0.0/8 (BMCs listen on loopback only)")]
    NotLoopback(Ipv4Addr),
    /// Per-address layout ran past 127.255.255.254.
    #[error("per-address layout runs out of loopback addresses at BMC number {0}")]
    OutOfAddresses(usize),
    /// Single-address layout ran past port 65535.
    #[error("single-address layout runs out of UDP ports at IPMI BMC number {0}")]
    OutOfPorts(usize),
}

impl Layout {
    /// The IPMI port in effect (explicit, or the mode's default).
    pub fn ipmi_port(&self) -> u16 {
        self.ipmi_port.unwrap_or(match self.mode {
            LayoutMode::PerAddress => 623,
            LayoutMode::SingleAddress => 6230,
        })
    }

    /// Places BMCs in order. Returns one socket per entry of `bmcs` (protocol, tls).
    pub fn assign(&self, bmcs: &[(BmcProtocol, bool)]) -> Result<Vec<SocketAddr>, LayoutError> {
        if self.base.octets()[0] != 127 {
            return Err(LayoutError::NotLoopback(self.base));
        }
        let redfish_port = |tls: bool| {
            if tls {
                self.redfish_tls_port
            } else {
                self.redfish_port
            }
        };
        match self.mode {
            LayoutMode::PerAddress => {
                let mut next = u32::from(self.base);
                let mut out = Vec::with_capacity(bmcs.len());
                for (n, &(protocol, tls)) in bmcs.iter().enumerate() {
                    // Skip .0 and .255 so no BMC sits on a network or broadcast-looking address.
                    while matches!(next & 0xff, 0 | 255) {
                        next += 1;
                    }
                    if next >= u32::from(Ipv4Addr::new(127, 255, 255, 255)) {
                        return Err(LayoutError::OutOfAddresses(n + 1));
                    }
                    let port = if protocol == BmcProtocol::Ipmi {
                        self.ipmi_port()
                    } else {
                        redfish_port(tls)
                    };
                    out.push(SocketAddr::from((Ipv4Addr::from(next), port)));
                    next += 1;
                }
                Ok(out)
            }
            LayoutMode::SingleAddress => {
                let mut ipmi = 0usize;
                bmcs.iter()
                    .map(|&(protocol, tls)| {
                        let port = if protocol == BmcProtocol::Ipmi {
                            let p = usize::from(self.ipmi_port()) + ipmi;
                            ipmi += 1;
                            u16::try_from(p).map_err(|_| LayoutError::OutOfPorts(ipmi))?
                        } else {
                            redfish_port(tls)
                        };
                        Ok(SocketAddr::from((self.base, port)))
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: (BmcProtocol, bool) = (BmcProtocol::Redfish, false);
    const I: (BmcProtocol, bool) = (BmcProtocol::Ipmi, false);

    #[test]
    fn per_address_counts_up_and_skips_dot_255_and_dot_0() {
        let l = Layout {
            base: Ipv4Addr::new(127, 0, 1, 254),
            ..Layout::default()
        };
        let s = l.assign(&[R, I, R]).unwrap();
        assert_eq!(s[0].to_string(), "127.0.1.254:8000");
        assert_eq!(s[1].to_string(), "127.0.2.1:623");
        assert_eq!(s[2].to_string(), "127.0.2.2:8000");
    }

    #[test]
    fn single_address_shares_redfish_and_spreads_ipmi_over_ports() {
        let l = Layout {
            mode: LayoutMode::SingleAddress,
            base: Ipv4Addr::LOCALHOST,
            ..Layout::default()
        };
        let s = l.assign(&[R, I, R, I]).unwrap();
        let s: Vec<String> = s.iter().map(ToString::to_string).collect();
        assert_eq!(
            s,
            [
                "127.0.0.1:8000",
                "127.0.0.1:6230",
                "127.0.0.1:8000",
                "127.0.0.1:6231"
            ]
        );
    }

    #[test]
    fn non_loopback_base_is_refused() {
        let l = Layout {
            base: Ipv4Addr::new(10, 0, 0, 1),
            ..Layout::default()
        };
        assert_eq!(
            l.assign(&[R]),
            Err(LayoutError::NotLoopback(Ipv4Addr::new(10, 0, 0, 1)))
        );
    }

    #[test]
    fn single_address_reports_port_exhaustion() {
        let l = Layout {
            mode: LayoutMode::SingleAddress,
            ipmi_port: Some(65535),
            ..Layout::default()
        };
        assert_eq!(l.assign(&[I, I]), Err(LayoutError::OutOfPorts(2)));
    }
}
