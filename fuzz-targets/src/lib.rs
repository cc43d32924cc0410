//! Fuzz bodies. Each takes arbitrary bytes, drives one input surface through the entry point the
//! real server or parser calls on what it receives, and panics only when the surface breaks its
//! contract: a panic inside it, a broken round trip, a 500 for a bad request, a secret in an
//! answer. The cargo-fuzz project in `fuzz/` calls them from libFuzzer; the smoke test in
//! `tests/` runs them over the committed seeds, mutations of them and every regression input.

/// The agent's command API and image checksum files.
pub mod agent;
/// BMC addresses (`redfish+http://…`, `ipmi://…`).
pub mod bmc;
/// The embedded control plane: requests, patches, selectors and watch parameters.
pub mod controlplane;
/// Fleet and scenario files (YAML).
pub mod files;
/// Requests for the HTTP targets, written as text and sent through a router in-process.
pub mod http;
/// IPMI: the BMC engine (datagrams, sessions) and the client's reading of replies.
pub mod ipmi;
/// The mock Ironic's API.
pub mod ironic;
/// A seeded mutator for the smoke test (no libFuzzer needed).
pub mod mutate;
/// The fake Redfish service.
pub mod redfish;

/// One fuzz target: its name (the `fuzz/fuzz_targets/<name>.rs` file and the seed folder) and body.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Name of the target, its seed folder and its regression folder.
    pub name: &'static str,
    /// The body: returns for any input the surface handles as its contract says, panics otherwise.
    pub run: fn(&[u8]),
}

/// Every target, in the order `make fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "ipmi_bmc",
        run: ipmi::bmc_datagrams,
    },
    Target {
        name: "ipmi_session",
        run: ipmi::session_commands,
    },
    Target {
        name: "ipmi_client",
        run: ipmi::client_replies,
    },
    Target {
        name: "redfish",
        run: redfish::requests,
    },
    Target {
        name: "ironic",
        run: ironic::requests,
    },
    Target {
        name: "controlplane",
        run: controlplane::requests,
    },
    Target {
        name: "patch",
        run: controlplane::patches,
    },
    Target {
        name: "selector",
        run: controlplane::selectors,
    },
    Target {
        name: "bmc_address",
        run: bmc::addresses,
    },
    Target {
        name: "fleet",
        run: files::fleet,
    },
    Target {
        name: "scenario",
        run: files::scenario,
    },
    Target {
        name: "agent_command",
        run: agent::commands,
    },
    Target {
        name: "checksum",
        run: agent::checksums,
    },
];

/// The fleet the Redfish, IPMI and agent targets build a world from for each input: the demo
/// fleet's first Redfish host and its IPMI host, with the demo's layout and credentials (the
/// other two demo hosts only made each world twice as costly to build and drop).
pub const FUZZ_FLEET: &str = "\
seed: 42
time_scale: 0.1
namespace: metal3
layout: {mode: per-address, base: 127.0.1.1, redfish_port: 8000, redfish_tls_port: 8443, ipmi_port: 6230}
groups:
  - name: demo-rf-0
    profile: compute
    bmc: {protocol: redfish, username: admin, password: password}
  - name: demo-ipmi-0
    profile: small
    bmc: {protocol: ipmi, username: admin, password: password}
";

/// [`FUZZ_FLEET`], parsed once per process; each input builds its own world from it.
pub fn fuzz_fleet() -> &'static metal_sim::fleet::Fleet {
    static FLEET: std::sync::OnceLock<metal_sim::fleet::Fleet> = std::sync::OnceLock::new();
    FLEET.get_or_init(|| {
        metal_sim::fleet::Fleet::parse(FUZZ_FLEET, "<fuzz>").expect("the fuzz fleet is valid")
    })
}

/// The one instant the stateful targets' clocks show, so an input replays the same way.
pub(crate) fn fixed_now() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone as _;
    chrono::Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid time")
}
