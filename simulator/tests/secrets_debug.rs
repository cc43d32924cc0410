//! No simulator type that holds a password or a token prints it with `{:?}`: BMC logins (fleet settings, the world's credentials, the endpoints file's entries, the
//! Redfish accounts, the IPMI users and clients, the mock Ironic's driver targets) and agent
//! tokens (lookups, agent sessions, agent calls).

use std::time::Duration;

use metal_sim::fleet::BmcSettings;
use metal_sim::ipmi::ClientConfig;
use metal_sim::ipmi::session::{Privilege, User};
use metal_sim::ironic::api::AgentLookup;
use metal_sim::ironic::conductor::{AgentCall, AgentOp};
use metal_sim::ironic::driver::{IpmiTarget, RedfishTarget};
use metal_sim::ironic::model::AgentSession;
use metal_sim::machine::Credentials;
use metal_sim::redfish::Account;
use metal_sim::serve::BmcEntry;
use uuid::Uuid;

const SECRET: &str = "s3cret-Value";

/// The secret is absent (some types print `<redacted>` in its place, others leave it out).
fn hides(printed: String) {
    assert!(!printed.contains(SECRET), "a secret in {printed}");
}

#[test]
fn bmc_logins_print_no_password() {
    hides(format!(
        "{:?}",
        BmcSettings {
            password: SECRET.into(),
            ..BmcSettings::default()
        }
    ));
    hides(format!(
        "{:?}",
        Credentials {
            username: "admin".into(),
            password: SECRET.into(),
        }
    ));
    hides(format!(
        "{:?}",
        BmcEntry {
            name: "h".into(),
            protocol: "redfish".into(),
            address: "redfish://127.0.0.1/redfish/v1/Systems/1".into(),
            username: "admin".into(),
            password: SECRET.into(),
            boot_mac: None,
        }
    ));
    hides(format!(
        "{:?}",
        Account::administrator("admin", SECRET, vec![])
    ));
    hides(format!(
        "{:?}",
        User {
            name: "admin".into(),
            password: SECRET.into(),
            max_privilege: Privilege::Administrator,
        }
    ));
    hides(format!(
        "{:?}",
        ClientConfig {
            target: "127.0.0.1:623".parse().unwrap(),
            username: "admin".into(),
            password: SECRET.into(),
            cipher_suite: 17,
            privilege: Privilege::Administrator,
            timeout: Duration::from_secs(1),
            retries: 0,
        }
    ));
    hides(format!(
        "{:?}",
        RedfishTarget {
            address: "http://127.0.0.1:8000".into(),
            system_id: None,
            username: Some("admin".into()),
            password: Some(SECRET.into()),
            verify_ca: metal_sim::ironic::driver::VerifyCa::System,
        }
    ));
    hides(format!(
        "{:?}",
        IpmiTarget {
            socket: "127.0.0.1:623".parse().unwrap(),
            username: "admin".into(),
            password: SECRET.into(),
            cipher_suite: 17,
        }
    ));
}

#[test]
fn agent_tokens_are_not_printed() {
    hides(format!(
        "{:?}",
        AgentLookup {
            node: Uuid::nil(),
            token: SECRET.into(),
        }
    ));
    hides(format!(
        "{:?}",
        AgentSession {
            token: Some(SECRET.into()),
            ..AgentSession::default()
        }
    ));
    hides(format!(
        "{:?}",
        AgentCall {
            id: 1,
            node: Uuid::nil(),
            callback_url: "http://127.0.0.1:9999".into(),
            token: Some(SECRET.into()),
            op: AgentOp::Status,
        }
    ));
}
