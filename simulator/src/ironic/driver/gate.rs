//! The BMC gate: the egress rule ([`crate::egress`]) applied to the mock Ironic's BMC drivers, so no
//! packet leaves for a BMC off loopback unless `--allow-bmc-network` names its network.
//!
//! [`Gate::check`] runs once per driver call, before the driver opens any socket, and its refusal is
//! the call's error (the node's `last_error`, the `validate` reason). The Redfish HTTP clients carry
//! the same rule underneath ([`Gate::confine`]: names resolve through it, redirects are checked), so a
//! name that re-resolves elsewhere or a BMC that redirects cannot route around the check.

use super::target::Bmc;
use crate::egress::{self, Network, Refusal};
use std::sync::Arc;

/// Checks BMC destinations against loopback and the allowed networks.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    allowed: Arc<[Network]>,
}

/// The text Ironic-style clients read when the gate refuses a BMC.
fn refused(node: &str, address: &str, refusal: &Refusal) -> String {
    format!(
        "Refused to contact the BMC at {address} for node {node}: {refusal}. The simulator only talks to loopback BMCs (127.0.0.0/8, ::1) unless --allow-bmc-network CIDR is given"
    )
}

impl Gate {
    /// A gate admitting loopback and `allowed`.
    pub fn new(allowed: &[Network]) -> Self {
        Self {
            allowed: allowed.into(),
        }
    }

    /// Admits `bmc` (resolving a name) or returns the driver error naming its address.
    pub async fn check(&self, node: &str, bmc: &Bmc) -> Result<(), String> {
        let (host, port) = bmc.endpoint(node)?;
        egress::resolve(&host, port, &self.allowed)
            .await
            .map(|_| ())
            .map_err(|r| refused(node, &bmc.address(), &r))
    }

    /// Confines a BMC HTTP client to the same rule (names resolved through it, redirects checked).
    /// Reads a node's BMC from its driver and `driver_info` and passes it through the gate:
    /// the error a BMC call would fail with before sending anything (`validate` reports it).
    pub async fn check_node(
        &self,
        node: &str,
        driver: &str,
        info: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Bmc, String> {
        let bmc = Bmc::of(node, driver, info)?;
        self.check(node, &bmc).await?;
        Ok(bmc)
    }

    pub fn confine(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        egress::confine(builder, &self.allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ironic::driver::{IpmiTarget, RedfishTarget};
    use std::net::SocketAddr;

    fn redfish(address: &str) -> Bmc {
        Bmc::Redfish(RedfishTarget {
            address: address.to_string(),
            system_id: None,
            username: None,
            password: None,
            verify_ca: crate::ironic::driver::VerifyCa::System,
        })
    }

    fn ipmi(socket: &str) -> Bmc {
        Bmc::Ipmi(IpmiTarget {
            socket: socket.parse::<SocketAddr>().expect("socket"),
            username: String::new(),
            password: String::new(),
            cipher_suite: 17,
        })
    }

    #[tokio::test]
    async fn bmcs_pass_the_gate_only_on_loopback_unless_their_network_is_allowed() {
        let ten: Network = "10.0.0.0/8".parse().expect("net");
        // (bmc, allowed networks, admitted)
        let table = [
            (redfish("http://127.0.0.1:8000"), vec![], true),
            (redfish("https://[::1]:8443"), vec![], true),
            (redfish("http://localhost:8000"), vec![], true),
            (redfish("http://192.168.1.100"), vec![], false),
            (redfish("https://10.1.2.3"), vec![], false),
            (redfish("https://10.1.2.3"), vec![ten], true),
            (ipmi("127.0.0.1:623"), vec![], true),
            (ipmi("192.168.1.101:623"), vec![], false),
            (ipmi("10.0.0.9:623"), vec![ten], true),
        ];
        for (bmc, allowed, admitted) in table {
            let verdict = Gate::new(&allowed).check("n1", &bmc).await;
            assert_eq!(verdict.is_ok(), admitted, "{bmc:?}: {verdict:?}");
        }
    }

    #[tokio::test]
    async fn a_refused_bmc_reads_as_a_driver_error_naming_the_address_and_the_flag() {
        let err = Gate::default()
            .check("n1", &redfish("http://192.168.1.100"))
            .await
            .expect_err("refused");
        assert_eq!(
            err,
            "Refused to contact the BMC at http://192.168.1.100 for node n1: 192.168.1.100 is neither loopback nor in an allowed network. The simulator only talks to loopback BMCs (127.0.0.0/8, ::1) unless --allow-bmc-network CIDR is given"
        );
    }
}
