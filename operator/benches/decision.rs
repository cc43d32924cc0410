//! The cost of one state-machine decision, for `make bench`: a plain timing loop (no harness), median
//! of batches, for three representative hosts. Printed, never asserted.

use std::hint::black_box;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use metal_operator::api::BareMetalHost;
use metal_operator::provisioner::{Credentials, NodeView, Observation};
use metal_operator::statemachine::{
    CapacityView, ConfigData, CredentialsView, HardwareFetch, Input, Settings, decide, registration,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const HOST: &str = r#"
apiVersion: metal3.io/v1alpha1
kind: BareMetalHost
metadata:
  name: worker-0
  namespace: metal3
  uid: 6f1c1a8e-0000-4000-8000-000000000001
  finalizers: [baremetalhost.metal3.io]
spec:
  online: true
  bootMACAddress: "52:54:00:12:34:56"
  bmc:
    address: redfish+http://127.0.1.1:8000/redfish/v1/Systems/1
    credentialsName: worker-0-bmc-secret
  image:
    url: http://images.local/os.qcow2
    checksum: http://images.local/os.qcow2.sha256sum
    checksumType: sha256
"#;

fn host_in(state: &str, node_id: &str) -> BareMetalHost {
    let mut h: BareMetalHost = serde_yaml::from_str(HOST).expect("bench host parses");
    let status = serde_json::json!({
        "operationalStatus": "OK", "errorMessage": "", "errorCount": 0, "poweredOn": true,
        "provisioningFailCount": 0,
        "provisioning": {"state": state, "ID": node_id,
            "image": if state == "provisioned" { serde_json::json!({"url": "http://images.local/os.qcow2",
                "checksum": "http://images.local/os.qcow2.sha256sum", "checksumType": "sha256"}) }
                else { serde_json::Value::Null }},
        "goodCredentials": {"credentials": {"name": "worker-0-bmc-secret", "namespace": "metal3"}, "credentialsVersion": "1"},
        "triedCredentials": {"credentials": {"name": "worker-0-bmc-secret", "namespace": "metal3"}, "credentialsVersion": "1"},
        "lastUpdated": "2026-11-22T10:00:00Z",
    });
    h.status = Some(serde_json::from_value(status).expect("bench status parses"));
    h
}

fn credentials() -> Credentials {
    Credentials {
        username: "admin".into(),
        password: "password".into(),
    }
}

/// The node as Ironic reports it after a registration with the host's current BMC details.
fn node(host: &BareMetalHost, state: &str) -> Observation {
    let fingerprint = registration(host, &credentials(), "1")
        .expect("bench host registers")
        .fingerprint;
    Observation::Node(NodeView {
        uuid: "9a0e0000-0000-4000-8000-000000000001".into(),
        provision_state: state.into(),
        power_state: Some("power on".into()),
        registration_fingerprint: Some(fingerprint),
        ..NodeView::default()
    })
}

fn median_ns(host: &BareMetalHost, observation: &Observation) -> (f64, String) {
    let settings = Settings::default();
    let input = Input {
        host,
        credentials: CredentialsView::Ok {
            credentials: credentials(),
            secret_version: "1".into(),
        },
        observation,
        now: Utc
            .with_ymd_and_hms(2026, 11, 22, 12, 0, 0)
            .single()
            .expect("valid time"),
        capacity: CapacityView::default(),
        hardware: HardwareFetch::NotFetched,
        config_data: Ok(ConfigData::default()),
        firmware: Default::default(),
        action_failure: None,
        settings: &settings,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let cause = decide(&input, &mut rng).cause;
    let rounds = 2_000u32;
    let mut batches: Vec<f64> = (0..15)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..rounds {
                let decision = decide(black_box(&input), &mut rng);
                black_box(&decision);
            }
            started.elapsed().as_nanos() as f64 / f64::from(rounds)
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    (batches[batches.len() / 2], cause)
}

fn main() {
    println!("{:<44} {:>12}  decision", "host", "median/decision");
    let provisioned = host_in("provisioned", "9a0e0000-0000-4000-8000-000000000001");
    let available = host_in("available", "9a0e0000-0000-4000-8000-000000000001");
    let cases = [
        (
            "provisioned, steady-state power poll",
            node(&provisioned, "active"),
            provisioned,
        ),
        (
            "available with an image: start provisioning",
            node(&available, "available"),
            available,
        ),
        (
            "registering, no node yet: register",
            Observation::NotRegistered,
            host_in("registering", ""),
        ),
    ];
    for (name, obs, host) in &cases {
        let (ns, cause) = median_ns(host, obs);
        println!("{name:<44} {:>9.2} µs  {cause}", ns / 1000.0);
    }
}
