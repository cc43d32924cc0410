//! The BMC a node's `driver_info` names: Redfish or IPMI, with its login, and the host and port its
//! packets go to (what the egress gate checks).

use super::super::conductor::DriverCall;
use serde_json::{Map, Value};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use url::Host;

/// Where a Redfish BMC lives and how to log in.
#[derive(Clone, PartialEq)]
pub struct RedfishTarget {
    /// `http://host:port` (no trailing slash).
    pub address: String,
    /// `/redfish/v1/Systems/<id>` if given.
    pub system_id: Option<String>,
    /// Basic-auth user.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<String>,
    /// How the BMC's certificate is checked (`redfish_verify_ca`).
    pub verify_ca: VerifyCa,
}

/// What `redfish_verify_ca` asks for, as Ironic reads it: a path to an existing file or directory
/// is a CA bundle; otherwise a strict boolean (`true`, `yes`, `1`, `on`, … or their opposites).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VerifyCa {
    /// Certificates are not checked (`false`).
    Off,
    /// Checked against the system's trusted roots (`true`, the default).
    System,
    /// Checked against the certificates in this PEM file, or in the files of this directory.
    Bundle(PathBuf),
}

impl VerifyCa {
    fn from_driver_info(uuid: &str, value: Option<&Value>) -> Result<Self, String> {
        let invalid = |v: &dyn std::fmt::Display| {
            format!(
                "Invalid value type set in driver_info/redfish_verify_ca on node {uuid}. The \
                 value should be a Boolean or the path to a file/directory, not \"{v}\""
            )
        };
        match value {
            None | Some(Value::Null) => Ok(Self::System),
            Some(Value::Bool(true)) => Ok(Self::System),
            Some(Value::Bool(false)) => Ok(Self::Off),
            Some(Value::String(v)) => {
                let path = Path::new(v);
                if !v.is_empty() && (path.is_file() || path.is_dir()) {
                    return Ok(Self::Bundle(path.to_path_buf()));
                }
                match v.to_ascii_lowercase().as_str() {
                    "1" | "t" | "true" | "on" | "y" | "yes" => Ok(Self::System),
                    "0" | "f" | "false" | "off" | "n" | "no" => Ok(Self::Off),
                    _ => Err(invalid(v)),
                }
            }
            Some(other) => Err(invalid(other)),
        }
    }
}

impl std::fmt::Debug for RedfishTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedfishTarget")
            .field("address", &self.address)
            .field("system_id", &self.system_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("verify_ca", &self.verify_ca)
            .finish()
    }
}

impl RedfishTarget {
    /// Reads `redfish_*` keys from a node's driver_info.
    pub fn from_driver_info(uuid: &str, info: &Map<String, Value>) -> Result<Self, String> {
        let get = |k: &str| info.get(k).and_then(Value::as_str).map(str::to_string);
        let Some(mut address) = get("redfish_address") else {
            return Err(format!(
                "Missing the following Redfish properties in node {uuid} driver_info: redfish_address"
            ));
        };
        if !address.contains("://") {
            address = format!("https://{address}");
        }
        Ok(Self {
            address: address.trim_end_matches('/').to_string(),
            system_id: get("redfish_system_id"),
            username: get("redfish_username"),
            password: get("redfish_password"),
            verify_ca: VerifyCa::from_driver_info(uuid, info.get("redfish_verify_ca"))?,
        })
    }
}

/// Where an IPMI BMC lives and how to log in.
#[derive(Clone, PartialEq)]
pub struct IpmiTarget {
    /// UDP address of the BMC.
    pub socket: SocketAddr,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// RMCP+ cipher suite (Ironic's `ipmi_cipher_suite`, 17 unless given).
    pub cipher_suite: u8,
}

impl std::fmt::Debug for IpmiTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpmiTarget")
            .field("socket", &self.socket)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl IpmiTarget {
    /// Reads `ipmi_*` keys from a node's driver_info.
    pub fn from_driver_info(uuid: &str, info: &Map<String, Value>) -> Result<Self, String> {
        let text = |k: &str| -> Option<String> {
            match info.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            }
        };
        let Some(address) = text("ipmi_address") else {
            return Err(format!(
                "Missing the following IPMI credentials in node's driver_info: ['ipmi_address'] (node {uuid})"
            ));
        };
        let ip: IpAddr = address.parse().map_err(|_| format!("Invalid IPMI address {address} for node {uuid}: only IP literals are supported by the mock"))?;
        let port: u16 = match text("ipmi_port") {
            Some(p) => p
                .parse()
                .map_err(|_| format!("Invalid IPMI port {p} for node {uuid}"))?,
            None => 623,
        };
        let cipher_suite: u8 = match text("ipmi_cipher_suite") {
            Some(c) => c
                .parse()
                .map_err(|_| format!("Invalid ipmi_cipher_suite {c} for node {uuid}"))?,
            None => 17,
        };
        Ok(Self {
            socket: SocketAddr::new(ip, port),
            username: text("ipmi_username").unwrap_or_default(),
            password: text("ipmi_password").unwrap_or_default(),
            cipher_suite,
        })
    }
}

/// The BMC one driver call goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Bmc {
    /// `redfish` hardware type.
    Redfish(RedfishTarget),
    /// `ipmi` hardware type.
    Ipmi(IpmiTarget),
}

impl Bmc {
    /// Reads the BMC of `driver` from a node's driver_info (Ironic's missing-property texts).
    pub fn of(node: &str, driver: &str, info: &Map<String, Value>) -> Result<Self, String> {
        match driver {
            "redfish" => RedfishTarget::from_driver_info(node, info).map(Self::Redfish),
            "ipmi" => IpmiTarget::from_driver_info(node, info).map(Self::Ipmi),
            other => Err(format!(
                "Driver {other} has no wire implementation in the mock"
            )),
        }
    }

    /// The BMC of a driver call.
    pub fn of_call(call: &DriverCall) -> Result<Self, String> {
        Self::of(&call.node.to_string(), &call.driver, &call.driver_info)
    }

    /// The address as the node's driver_info gives it (for error texts).
    pub fn address(&self) -> String {
        match self {
            Self::Redfish(t) => t.address.clone(),
            Self::Ipmi(t) => t.socket.ip().to_string(),
        }
    }

    /// The host and port the driver sends packets to.
    pub fn endpoint(&self, node: &str) -> Result<(Host<String>, u16), String> {
        match self {
            Self::Redfish(t) => {
                let invalid = || format!("Invalid redfish_address {} for node {node}", t.address);
                let url = url::Url::parse(&t.address).map_err(|_| invalid())?;
                let host = url.host().ok_or_else(invalid)?.to_owned();
                let port = url.port_or_known_default().ok_or_else(invalid)?;
                Ok((host, port))
            }
            Self::Ipmi(t) => Ok((
                match t.socket.ip() {
                    IpAddr::V4(a) => Host::Ipv4(a),
                    IpAddr::V6(a) => Host::Ipv6(a),
                },
                t.socket.port(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_redfish_address_is_named_in_the_error() {
        let err = RedfishTarget::from_driver_info("u1", &Map::new()).expect_err("must fail");
        assert!(err.contains("redfish_address"), "{err}");
    }

    #[test]
    fn a_bare_host_defaults_to_https() {
        let mut info = Map::new();
        info.insert("redfish_address".into(), json!("127.0.0.1:8000/"));
        let t = RedfishTarget::from_driver_info("u1", &info).expect("parse");
        assert_eq!(t.address, "https://127.0.0.1:8000");
    }

    #[test]
    fn the_endpoint_is_the_host_and_port_packets_go_to() {
        let mut info = Map::new();
        // (driver, driver_info, host, port)
        let table = [
            (
                "redfish",
                json!({"redfish_address": "http://192.168.1.100"}),
                "192.168.1.100",
                80,
            ),
            (
                "redfish",
                json!({"redfish_address": "bmc.lab:8443"}),
                "bmc.lab",
                8443,
            ),
            (
                "redfish",
                json!({"redfish_address": "https://[::1]"}),
                "[::1]",
                443,
            ),
            (
                "ipmi",
                json!({"ipmi_address": "192.168.1.101"}),
                "192.168.1.101",
                623,
            ),
            (
                "ipmi",
                json!({"ipmi_address": "::1", "ipmi_port": 6230}),
                "[::1]",
                6230,
            ),
        ];
        for (driver, given, host, port) in table {
            info.clear();
            info.extend(given.as_object().cloned().unwrap_or_default());
            let bmc = Bmc::of("u1", driver, &info).expect("parse");
            let (h, p) = bmc.endpoint("u1").expect("endpoint");
            assert_eq!((h.to_string(), p), (host.to_string(), port), "{given}");
        }
    }
}
