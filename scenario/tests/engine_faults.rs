//! Engine mode: faults from the BMC facade, the Ironic API and the agent, and recovery.

use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use metal_scenario::engine::{AgentFaults, Engine, EngineSettings, IronicFaults};
use metal_scenario::trace::{Happening, Protocol, TraceLine, to_jsonl};
use metal_sim::fault::{FaultSet, Window};
use metal_sim::fleet::Fleet;

const FLEET: &str = "\
seed: 5
time_scale: 1.0
namespace: metal3
groups:
  - {name: 'rf-{index}', count: 2, profile: compute, bmc: {protocol: redfish}}
  - {name: 'ipmi-{index}', count: 2, profile: small, bmc: {protocol: ipmi}}
";

fn setup(seed: u64) -> (Engine, Fleet) {
    let fleet = Fleet::parse(FLEET, "<test>").expect("fleet");
    let e = Engine::new(&fleet, seed, EngineSettings::default());
    (e, fleet)
}

fn window(from: u64, until: u64) -> Window {
    Window {
        from: Duration::from_secs(from),
        until: Some(Duration::from_secs(until)),
    }
}

fn records<'a>(e: &'a Engine, host: &'a str) -> impl Iterator<Item = &'a TraceLine> + 'a {
    e.trace()
        .iter()
        .filter(move |r| r.what.host() == Some(host))
}

fn dump(e: &Engine, host: &str) -> String {
    let mine: Vec<TraceLine> = records(e, host).cloned().collect();
    to_jsonl(&mine[mine.len().saturating_sub(80)..])
}

fn state(e: &Engine, key: &str) -> String {
    e.host(key)
        .and_then(|h| h.status.as_ref())
        .map(|s| s.provisioning.state.as_str().to_owned())
        .unwrap_or_default()
}

fn error_type(e: &Engine, key: &str) -> Option<String> {
    e.host(key)
        .and_then(|h| h.status.as_ref())
        .and_then(|s| s.error_type)
        .map(|t| t.as_str().to_owned())
}

fn secret(name: &str, user: &str, password: &str) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some("metal3".into());
    s.data = Some(
        [
            ("username".to_owned(), ByteString(user.as_bytes().to_vec())),
            (
                "password".to_owned(),
                ByteString(password.as_bytes().to_vec()),
            ),
        ]
        .into(),
    );
    s
}

fn all_available(e: &mut Engine, within: Duration) {
    let deadline = e.now() + within;
    e.advance_until(|e| e.count_in("available") == 4, deadline)
        .unwrap_or_else(|err| panic!("{err}: {:#?}\n{}", e.rows(), dump(e, "rf-0")));
}

#[test]
fn bad_credentials_give_a_registration_error_until_the_secret_is_fixed() {
    let (mut e, fleet) = setup(1);
    e.register_fleet(&fleet).expect("register");
    e.apply_secret(secret("rf-0-bmc-secret", "admin", "wrong"))
        .expect("secret");
    e.apply_secret(secret("ipmi-0-bmc-secret", "admin", "wrong"))
        .expect("secret");
    e.advance_by(Duration::from_secs(300)).expect("advance");
    for key in ["metal3/rf-0", "metal3/ipmi-0"] {
        assert_eq!(state(&e, key), "registering", "{}", dump(&e, key));
        assert_eq!(error_type(&e, key).as_deref(), Some("registration error"));
    }
    e.apply_secret(secret("rf-0-bmc-secret", "admin", "password"))
        .expect("secret");
    e.apply_secret(secret("ipmi-0-bmc-secret", "admin", "password"))
        .expect("secret");
    all_available(&mut e, Duration::from_secs(3600));
    assert_eq!(error_type(&e, "metal3/rf-0"), None);
}

#[test]
fn an_unreachable_bmc_during_inspection_fails_it_and_the_host_recovers_afterwards() {
    let (mut e, fleet) = setup(2);
    e.set_bmc_faults(
        "rf-1",
        FaultSet {
            unreachable: vec![window(2, 240)],
            ..FaultSet::default()
        },
    )
    .expect("faults");
    e.register_fleet(&fleet).expect("register");
    all_available(&mut e, Duration::from_secs(3 * 3600));
    let failed = records(&e, "rf-1")
        .any(|r| matches!(&r.what, Happening::IronicNode { to, .. } if to == "inspect failed"));
    let bmc_errors = records(&e, "rf-1")
        .filter(|r| {
            matches!(
                &r.what,
                Happening::Call { protocol: Protocol::Redfish | Protocol::Ipmi, detail: Some(d), .. }
                    if d.starts_with("error")
            )
        })
        .count();
    assert!(
        failed,
        "inspection failed while unreachable\n{}",
        dump(&e, "rf-1")
    );
    assert!(bmc_errors > 0, "the conductor saw BMC errors");
}

#[test]
fn hosts_behind_lossy_ipmi_still_reach_available() {
    let (mut e, fleet) = setup(3);
    for h in ["ipmi-0", "ipmi-1"] {
        e.set_bmc_faults(
            h,
            FaultSet {
                ipmi_packet_loss: 0.2,
                ..FaultSet::default()
            },
        )
        .expect("faults");
    }
    e.register_fleet(&fleet).expect("register");
    all_available(&mut e, Duration::from_secs(6 * 3600));
}

#[test]
fn lost_heartbeats_during_provisioning_time_it_out_and_the_retry_provisions() {
    let (mut e, fleet) = setup(4);
    e.register_fleet(&fleet).expect("register");
    all_available(&mut e, Duration::from_secs(3600));
    let start = e.now().since_start();
    e.set_agent_faults(
        "rf-0",
        AgentFaults {
            heartbeat_loss: vec![Window {
                from: start,
                until: Some(start + Duration::from_secs(45 * 60)),
            }],
        },
    )
    .expect("faults");
    e.edit_host("metal3/rf-0", "set image", |h| {
        h.spec.image = Some(metal_core::api::Image {
            url: "http://images.example/os.img".into(),
            checksum: Some("http://images.example/os.img.sha256sum".into()),
            ..Default::default()
        });
    })
    .expect("edit");
    let deadline = e.now() + Duration::from_secs(4 * 3600);
    e.advance_until(|e| state(e, "metal3/rf-0") == "provisioned", deadline)
        .unwrap_or_else(|err| panic!("{err}\n{}", dump(&e, "rf-0")));
    // The agent's wait (cleaning before the deploy, or the deploy itself) times out.
    let timed_out = records(&e, "rf-0").any(|r| {
        matches!(&r.what, Happening::IronicNode { to, .. } if to == "deploy failed" || to == "clean failed")
    });
    let all: Vec<TraceLine> = records(&e, "rf-0")
        .filter(|r| {
            matches!(
                r.what,
                Happening::IronicNode { .. } | Happening::HostState { .. }
            )
        })
        .cloned()
        .collect();
    assert!(
        timed_out,
        "Ironic timed out waiting for the agent\n{}",
        to_jsonl(&all)
    );
    let lost = records(&e, "rf-0")
        .filter(
            |r| matches!(&r.what, Happening::Call { target, detail: Some(d), .. } if target == "agent" && d == "lost (fault)"),
        )
        .count();
    assert!(lost > 10, "heartbeats were lost: {lost}");
}

#[test]
fn ironic_api_failures_slow_registration_down_but_every_host_gets_there() {
    let (mut e, fleet) = setup(5);
    e.set_ironic_faults(IronicFaults {
        http_5xx_rate: 0.3,
        status: Some(503),
        unavailable: vec![window(0, 30)],
    });
    e.register_fleet(&fleet).expect("register");
    all_available(&mut e, Duration::from_secs(6 * 3600));
    let refused = e.trace().iter().any(|r| {
        matches!(
            &r.what,
            Happening::Call { protocol: Protocol::Ironic, target, detail: Some(d), .. }
                if target.starts_with("/v1/") && (d.contains("503") || d.contains("unreachable"))
        )
    });
    assert!(refused, "some provisioner calls failed");
}
